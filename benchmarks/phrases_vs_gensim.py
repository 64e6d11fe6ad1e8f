"""Phrase detection, w2v against gensim's ``Phrases``, on the same tokens; then what phrases do to the vectors.

Part 1, in this process: the corpus is tokenised once (w2v's shard cache, and the same tokens as lists
for gensim), then one pass of detection and joining on each side: w2v's ``phrases.write`` (count the
pairs, score, join every shard) and gensim's ``Phrases`` (count) + ``freeze`` + applying it to every
sentence. Both use word2phrase's score with the same min_count; gensim's default scorer multiplies by
its vocabulary size where word2phrase multiplies by the corpus's tokens, so its threshold is scaled to
give the same cut. Prints the times, how many phrases each found and how many both found.

Part 2 (``--train``): trains w2v with ``data.phrases`` 0 and 2 (skip-gram neg, 1 epoch by default) and
prints the Google analogy accuracy (single words) of each.

    python benchmarks/phrases_vs_gensim.py [--corpus PATH] [--threshold 100] [--train] [--epochs 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.speed_vs_peers import default_corpus, score  # noqa: E402


def detection(args: argparse.Namespace) -> None:
    from gensim.models.phrases import Phrases

    from w2v import corpus, phrases, shards

    tokenize = corpus.tokenizer("words", True)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        sharded = shards.write(corpus.iter_lines(args.corpus), tokenize, Path(tmp) / "encoded")
        tokenised = time.perf_counter() - start
        settings = phrases.Settings(args.min_count, args.threshold, "mikolov", "_")
        start = time.perf_counter()
        joined = phrases.write(sharded, settings, Path(tmp) / "joined")
        w2v_s = time.perf_counter() - start
        ours = {line.split("\t")[0] for line in (joined.directory / phrases.PHRASES).read_text().splitlines()}
    sentences = [t for t in (tokenize(line) for line in corpus.iter_lines(args.corpus)) if t]
    start = time.perf_counter()
    model = Phrases(sentences, min_count=args.min_count, threshold=1.0, delimiter="_")
    counted = time.perf_counter() - start
    model.threshold = args.threshold * len(model.vocab) / sharded.raw_tokens
    start = time.perf_counter()
    frozen = model.freeze()
    applied = sum(len(s) for s in frozen[sentences])
    gensim_s = counted + time.perf_counter() - start
    theirs = set(frozen.phrasegrams)
    print(f"corpus {args.corpus}: {sharded.raw_tokens:,} tokens (w2v tokenised them into shards in {tokenised:.1f} s)")
    print(f"one pass, min_count {args.min_count}, word2phrase threshold {args.threshold:g} (gensim's: "
          f"{model.threshold:.4g} over its {len(model.vocab):,} vocabulary entries)")
    print(f"{'':8} {'phrases':>8} {'detect + join s':>16}")
    print(f"{'w2v':8} {len(ours):8,} {w2v_s:16.1f}")
    print(f"{'gensim':8} {len(theirs):8,} {gensim_s:16.1f}   (counting {counted:.1f} s; {applied:,} tokens out)")
    print(f"found by both: {len(ours & theirs):,}; speed ratio {gensim_s / w2v_s:.1f}x")


def training(args: argparse.Namespace) -> None:
    from w2v import config, runs, trainer

    print(f"\nw2v skip-gram neg, {args.epochs} epoch(s), dim 128, window 5, subsample 1e-4: Google analogies "
          "(single words, top 30k)")
    for passes in (0, 2):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = config.apply_overrides(config.Config(), [
                f"data.corpus={args.corpus}", f"data.cache_dir={tmp}/cache", "data.subsample=1e-4",
                f"data.phrases={passes}", f"data.phrase_threshold={args.threshold}", "model.loss=neg",
                f"train.epochs={args.epochs}", "checkpoint.every_n_steps=1000000",
                "summary.histograms_every_n_steps=1000000", f"run.output_dir={tmp}/runs"])
            start = time.perf_counter()
            trainer.train(cfg, Path(tmp) / "run", show_progress=False)
            wall = time.perf_counter() - start
            vocab, vectors, _ = runs.load_embedding(Path(tmp) / "run")
            found = sum(1 for w in vocab.words if "_" in w)
            result = score(vocab.words, vectors)
            print(f"phrases {passes}: analogy {100 * result['analogy']:.2f}%, WS-353 {result['ws353']:.3f}, "
                  f"vocabulary {len(vocab):,} ({found:,} phrases), whole process {wall:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=default_corpus())
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=100.0)
    parser.add_argument("--train", action="store_true", help="also train with phrases off and on")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    detection(args)
    if args.train:
        training(args)


if __name__ == "__main__":
    main()
