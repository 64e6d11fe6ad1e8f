"""w2v against gensim's word2vec on the same corpus, cores and hyper-parameters, side by side: the
speed and the quality benchmark in one table.

Each side trains in its own subprocess (so peak RSS is its own) and all are scored by the same code
(w2v.evaluate, which agrees with gensim's evaluators; see tests/test_evaluate.py). Prints one table:
analogy accuracy (top 30k, 3CosAdd), WordSim-353 and SimLex-999 Spearman, corpus preparation,
training and whole-process wall time, words/s (raw corpus words per second of training, as gensim
counts them), peak RSS, and the ratios to gensim. The sides: w2v as it runs by default (deterministic
threads), w2v with train.hogwild, and gensim; all get the same threads (--workers, default the cores).

    python benchmarks/speed_vs_gensim.py [--epochs 5] [--cbow] [--config configs/base.yaml] [--corpus PATH]

The corpus defaults to ../shared/corpora/gutenberg17m.txt.gz when present, else the embedded
default (gensim:all); the evaluation files to ../shared/eval when present, else gensim's copies.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))


def default_corpus() -> str:
    path = SHARED / "corpora" / "gutenberg17m.txt.gz"
    return str(path) if path.exists() else "gensim:all"


def eval_files() -> tuple[list[Path], list[Path]]:
    from w2v import evaluate

    shared = SHARED / "eval"
    if (shared / "questions-words.txt").exists():
        return [shared / "questions-words.txt"], [shared / "wordsim353.tsv", shared / "simlex999.txt"]
    return evaluate.default_files()


def score(words: list[str], vectors, unseen=None) -> dict:
    """Analogy accuracy and similarity Spearman; with ``unseen`` (subword models: a word's vector from its
    n-grams), also the Spearman over every pair, words outside the vocabulary included."""
    from w2v import evaluate

    analogy_files, similarity_files = eval_files()
    report = evaluate.Evaluator(analogy_files, similarity_files)(evaluate.Vectors(words, vectors, True, unseen), 0)
    ws, simlex = report.similarity
    analogy = report.analogies[0]
    return {"analogy": analogy.accuracy, "ws353": ws.spearman, "simlex": simlex.spearman,
            "analogy_all": analogy.accuracy_all, "analogy_total_all": analogy.total_all, "analogy_total": analogy.total,
            "ws353_all": ws.spearman_all, "simlex_all": simlex.spearman_all, "skipped": ws.skipped + simlex.skipped}


def w2v_config(args: argparse.Namespace, cache: str):
    """The w2v side's config: ``--config`` as shipped (pointed at the corpus, for ``--epochs``), or one
    made of the command line's settings."""
    from w2v import config

    common = [f"data.corpus={args.corpus}", f"train.epochs={args.epochs}", f"data.cache_dir={cache}",
              f"run.seed={args.seed}", f"train.hogwild={args.hogwild}", f"run.output_dir={cache}/runs"]
    if args.config:
        return config.load(args.config, [*common, "checkpoint.dir=null"])
    overrides = [f"data.min_count={args.min_count}", f"data.window={args.window}", f"data.subsample={args.sample}",
                 f"data.tokenizer={args.tokenizer}", f"model.embedding_dim={args.dim}", f"model.loss={args.loss}",
                 f"model.architecture={'cbow' if args.cbow else 'skipgram'}", f"train.kernel={args.kernel}",
                 f"model.subwords={args.subwords}", f"model.buckets={args.buckets}",
                 "checkpoint.every_n_steps=1000000", "summary.histograms_every_n_steps=1000000",
                 "summary.scalars_every_n_steps=1000"]
    overrides += [f"train.{k}={v}" for k, v in (("batch_size", args.batch_size), ("learning_rate", args.lr),
                                                 ("threads", args.workers)) if v is not None]
    return config.apply_overrides(config.Config(), [*common, *overrides])


def run_w2v(args: argparse.Namespace) -> dict:
    from w2v import meta, runs, trainer

    with tempfile.TemporaryDirectory() as tmp:
        # An empty cache, so the corpus is read, tokenised and counted here as gensim's side does.
        cfg = w2v_config(args, f"{tmp}/cache")
        start = time.perf_counter()
        trainer.load_corpus(cfg)
        prep = time.perf_counter() - start
        result = trainer.train(cfg, Path(tmp) / "run", show_progress=False)
        wall = time.perf_counter() - start
        record = meta.read(Path(tmp) / "run")
        e = runs.read_embedding(Path(tmp) / "run")
        quality = score(e.vocab.words, e.vectors, e.unseen if e.ngrams is not None else None)
    return {"wall_s": wall, "prep_s": prep, "train_s": record["wall_time_s"], "words_per_s": result.words_per_sec,
            "threads": record.get("threads"), **quality}


def run_gensim(args: argparse.Namespace) -> dict:
    from gensim.models import FastText, Word2Vec

    from w2v import corpus

    # The same data and model settings as the w2v side (from --config when given).
    cfg = w2v_config(args, "/nonexistent")
    data, model = cfg.data, cfg.model
    tokenize = corpus.tokenizer(data.tokenizer, data.lowercase)
    start = time.perf_counter()
    sentences = [t for t in (tokenize(line) for line in corpus.iter_lines(data.corpus)) if t]
    cbow, hs = model.architecture == "cbow", model.loss == "hs"
    common = dict(vector_size=model.embedding_dim, window=data.window, min_count=data.min_count, sample=data.subsample,
                  sg=0 if cbow else 1, hs=int(hs), negative=0 if hs else args.negative, workers=args.workers,
                  seed=args.seed, epochs=args.epochs, alpha=0.05 if cbow else 0.025)
    w2v = FastText(min_n=model.min_n, max_n=model.max_n, bucket=model.buckets, **common) if model.subwords \
        else Word2Vec(**common)
    vocab_start = time.perf_counter()
    w2v.build_vocab(sentences)
    train_start = time.perf_counter()
    w2v.train(sentences, total_examples=w2v.corpus_count, epochs=args.epochs)
    train_time = time.perf_counter() - train_start
    raw = sum(len(s) for s in sentences) * args.epochs
    return {"wall_s": time.perf_counter() - start, "prep_s": train_start - start, "vocab_s": train_start - vocab_start,
            "train_s": train_time, "words_per_s": raw / train_time, "threads": args.workers,
            **score(w2v.wv.index_to_key, w2v.wv.vectors, w2v.wv.get_vector if model.subwords else None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--config", help="w2v trains this config as shipped (pointed at --corpus, for --epochs)")
    parser.add_argument("--corpus", default=default_corpus())
    parser.add_argument("--tokenizer", default="whitespace")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5, help="gensim's negatives (w2v: its loss's default)")
    parser.add_argument("--sample", type=float, default=1e-4)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--cbow", action="store_true", help="CBOW on both sides (gensim sg=0)")
    parser.add_argument("--workers", type=int, default=None, help="threads on both sides (default: the cores)")
    parser.add_argument("--loss", default="neg", help="w2v loss (neg is gensim's objective; with hs gensim trains "
                        "hs=1, negative=0)")
    parser.add_argument("--subwords", action="store_true", help="subword models: w2v model.subwords, gensim FastText")
    parser.add_argument("--buckets", type=int, default=2000000, help="n-gram buckets with --subwords")
    parser.add_argument("--batch-size", type=int, default=None, help="w2v batch (default: its kernel's)")
    parser.add_argument("--kernel", default="auto", help="w2v train.kernel")
    parser.add_argument("--lr", type=float, default=None, help="w2v learning rate (default: its objective's)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sides", default="w2v,w2v-hogwild,gensim",
                        help="comma-separated: w2v (deterministic), w2v-hogwild, gensim")
    args = parser.parse_args()
    from w2v.fused import default_threads

    args.workers = args.workers or default_threads()
    args.hogwild = False
    if args.side:
        args.hogwild = args.side == "w2v-hogwild"
        result = run_gensim(args) if args.side == "gensim" else run_w2v(args)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    rows = {}
    for side in args.sides.split(","):
        out = subprocess.run([sys.executable, __file__, "--side", side] + sys.argv[1:], check=True,
                             capture_output=True, text=True)
        rows[side] = json.loads(out.stdout.strip().splitlines()[-1])
    cfg = w2v_config(args, "/nonexistent")
    objective = "hs=1, negative=0" if cfg.model.loss == "hs" else f"negative {args.negative}"
    if args.subwords:
        objective = f"FastText, n-grams {cfg.model.min_n}-{cfg.model.max_n}, {cfg.model.buckets:,} buckets, {objective}"
    print(f"corpus {cfg.data.corpus}, {args.epochs} epochs, {cfg.model.architecture}, dim {cfg.model.embedding_dim}, "
          f"window {cfg.data.window}, sample {cfg.data.subsample}, min_count {cfg.data.min_count}; w2v "
          f"{args.config or 'loss ' + cfg.model.loss}; gensim "
          f"{objective}; {args.workers} threads each")
    print(f"{'':12} {'analogy':>8} {'ws353':>7} {'simlex':>7} {'prep s':>7} {'train s':>8} {'wall s':>8} "
          f"{'words/s':>10} {'peak MB':>8} {'words/s ratio':>14} {'wall ratio':>11}")
    base = rows.get("gensim")
    for side, r in rows.items():
        ratio = f"{r['words_per_s'] / base['words_per_s']:.2f}" if base else "-"
        wall = f"{base['wall_s'] / r['wall_s']:.2f}" if base else "-"
        print(f"{side:12} {100 * r['analogy']:7.2f}% {r['ws353']:7.3f} {r['simlex']:7.3f} {r['prep_s']:7.1f} "
              f"{r['train_s']:8.1f} {r['wall_s']:8.1f} {r['words_per_s']:10,.0f} {r['peak_rss_mb']:8.0f} "
              f"{ratio:>14} {wall:>11}")
    if args.subwords:
        first = next(iter(rows.values()))
        print(f"with words outside the vocabulary scored too (their vectors from their n-grams): the "
              f"{first['skipped']} WS-353/SimLex pairs that have one, and analogy questions whose answer is known "
              f"({first['analogy_total_all']:,} instead of {first['analogy_total']:,}): "
              + "; ".join(f"{side} analogy {100 * r['analogy_all']:.2f}%, WS-353 {r['ws353_all']:.3f}, SimLex "
                          f"{r['simlex_all']:.3f}" for side, r in rows.items()))
    print("ratios: against gensim (words/s of training; wall: gensim's whole-process time over this side's). prep s: "
          "reading, tokenising and counting the corpus (w2v: into its shard cache, which later runs reuse; gensim: "
          "into lists, then build_vocab" + (f", which alone took {base['vocab_s']:.1f} s)" if base else ")"))


if __name__ == "__main__":
    main()
