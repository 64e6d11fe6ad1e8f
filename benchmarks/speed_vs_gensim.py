"""w2v against gensim's skip-gram on the same corpus, cores and hyper-parameters, side by side: the
speed and the quality benchmark in one table.

Each side trains in its own subprocess (so peak RSS is its own) and both are scored by the same
code (w2v.evaluate, which agrees with gensim's evaluators; see tests/test_evaluate.py). Prints one
table: analogy accuracy (top 30k, 3CosAdd), WordSim-353 and SimLex-999 Spearman, training and total
wall time, words/s (raw corpus words per second of training, as gensim counts them), peak RSS, and
the words/s ratio. Both sides get the same number of threads (--workers: gensim's workers, w2v's
fused-step threads).

    python benchmarks/speed_vs_gensim.py [--epochs 5] [--corpus PATH] [--kernel fused|tf] [--batch-size N]

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


def score(words: list[str], vectors) -> dict:
    from w2v import evaluate

    analogy_files, similarity_files = eval_files()
    report = evaluate.Evaluator(analogy_files, similarity_files)(evaluate.Vectors(words, vectors), 0)
    return {"analogy": report.analogies[0].accuracy, "ws353": report.similarity[0].spearman,
            "simlex": report.similarity[1].spearman}


def run_w2v(args: argparse.Namespace) -> dict:
    from w2v import config, meta, runs, trainer

    overrides = [f"data.corpus={args.corpus}", f"data.min_count={args.min_count}", f"data.window={args.window}",
                 f"data.subsample={args.sample}", f"data.tokenizer={args.tokenizer}",
                 f"model.embedding_dim={args.dim}", f"model.loss={args.loss}",
                 f"model.num_sampled={args.negative if args.loss == 'neg' else args.num_sampled}",
                 f"train.epochs={args.epochs}", f"train.batch_size={args.batch_size}",
                 f"train.kernel={args.kernel}", f"train.threads={args.workers}",
                 f"train.learning_rate={args.lr}", "checkpoint.every_n_steps=1000000",
                 "summary.histograms_every_n_steps=1000000", "summary.scalars_every_n_steps=1000",
                 f"run.seed={args.seed}"]
    with tempfile.TemporaryDirectory() as tmp:
        # An empty cache, so the corpus is read, tokenised and counted here as gensim's side does.
        cfg = config.apply_overrides(config.Config(), [*overrides, f"data.cache_dir={tmp}/cache"])
        start = time.perf_counter()
        trainer.load_corpus(cfg)
        prep = time.perf_counter() - start
        result = trainer.train(cfg, Path(tmp) / "run", show_progress=False)
        wall = time.perf_counter() - start
        train_s = meta.read(Path(tmp) / "run")["wall_time_s"]
        vocab, vectors, _ = runs.load_embedding(Path(tmp) / "run")
    return {"wall_s": wall, "prep_s": prep, "train_s": train_s, "words_per_s": result.words_per_sec,
            **score(vocab.words, vectors)}


def run_gensim(args: argparse.Namespace) -> dict:
    from gensim.models import Word2Vec

    from w2v import corpus

    tokenize = corpus.tokenizer(args.tokenizer, True)
    start = time.perf_counter()
    sentences = [t for t in (tokenize(line) for line in corpus.iter_lines(args.corpus)) if t]
    model = Word2Vec(vector_size=args.dim, window=args.window, min_count=args.min_count, sample=args.sample,
                     sg=1, negative=args.negative, workers=args.workers, seed=args.seed, epochs=args.epochs)
    vocab_start = time.perf_counter()
    model.build_vocab(sentences)
    train_start = time.perf_counter()
    words, _ = model.train(sentences, total_examples=model.corpus_count, epochs=args.epochs)
    train_time = time.perf_counter() - train_start
    raw = sum(len(s) for s in sentences) * args.epochs
    return {"wall_s": time.perf_counter() - start, "prep_s": train_start - start, "vocab_s": train_start - vocab_start,
            "train_s": train_time, "words_per_s": raw / train_time, **score(model.wv.index_to_key, model.wv.vectors)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", choices=["w2v", "gensim"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", default=default_corpus())
    parser.add_argument("--tokenizer", default="whitespace")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--sample", type=float, default=1e-4)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--loss", default="neg", help="w2v loss (neg is gensim's objective)")
    parser.add_argument("--num-sampled", type=int, default=64, help="w2v negatives for nce/sampled_softmax")
    # The fused step does per-pair SGD, so its batch is a unit of work only: large ones spread the per-step
    # cost (a tf.function loop turn, two thread hand-offs) over more pairs. The tf kernel wants 1024-4096.
    parser.add_argument("--batch-size", type=int, default=65536)
    parser.add_argument("--kernel", default="auto", help="w2v train.kernel (auto: fused for neg)")
    parser.add_argument("--lr", type=float, default=0.025)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.side:
        result = run_w2v(args) if args.side == "w2v" else run_gensim(args)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    rows = {}
    for side in ("w2v", "gensim"):
        out = subprocess.run([sys.executable, __file__, "--side", side] + sys.argv[1:], check=True,
                             capture_output=True, text=True)
        rows[side] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"corpus {args.corpus}, {args.epochs} epochs, dim {args.dim}, window {args.window}, "
          f"sample {args.sample}, min_count {args.min_count}; w2v loss {args.loss}, kernel {args.kernel}, "
          f"batch {args.batch_size}, lr {args.lr}; gensim sg negative {args.negative}; {args.workers} threads each")
    print(f"{'':8} {'analogy':>8} {'ws353':>7} {'simlex':>7} {'prep s':>7} {'train s':>8} {'wall s':>8} "
          f"{'words/s':>10} {'peak MB':>8}")
    for side, r in rows.items():
        print(f"{side:8} {100 * r['analogy']:7.2f}% {r['ws353']:7.3f} {r['simlex']:7.3f} {r['prep_s']:7.1f} "
              f"{r['train_s']:8.1f} {r['wall_s']:8.1f} {r['words_per_s']:10,.0f} {r['peak_rss_mb']:8.0f}")
    print(f"w2v/gensim words/s ratio: {rows['w2v']['words_per_s'] / rows['gensim']['words_per_s']:.2f}")
    print(f"prep s: reading, tokenising and counting the corpus (w2v: into its shard cache, which later runs "
          f"reuse; gensim: into lists, then build_vocab, which alone took {rows['gensim']['vocab_s']:.1f} s)")


if __name__ == "__main__":
    main()
