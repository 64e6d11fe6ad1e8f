"""Peak memory does not grow with the corpus: w2v on a corpus and on one several times larger.

Writes a corpus k times the base one (the base's lines, repeated), then for each, in a fresh
process with an empty cache: tokenises it into shards (timed: the vocabulary build), and trains a
fixed number of steps. Prints tokens, encoding time and tokens/s, and peak RSS for both, and their
RSS ratio (target: within 10%).

    python benchmarks/memory_scaling.py [--corpus PATH] [--times 4] [--steps 300]
"""

from __future__ import annotations

import argparse
import gzip
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
sys.path.insert(0, str(ROOT))
from benchmarks.speed_vs_peers import default_corpus  # noqa: E402


def measure(corpus: str, steps: int, cache: str) -> dict:
    from w2v import config, trainer

    cfg = config.apply_overrides(config.Config(), [
        f"data.corpus={corpus}", "data.tokenizer=whitespace", f"data.cache_dir={cache}", "data.subsample=1e-4",
        "model.loss=neg", "model.num_sampled=5", "train.batch_size=65536",
        f"train.steps={steps}", "checkpoint.every_n_steps=100000", "summary.histograms_every_n_steps=100000"])
    start = time.perf_counter()
    encoded = trainer.load_corpus(cfg)
    encode_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        trainer.train(cfg, Path(tmp) / "run", show_progress=False)
    return {"tokens": encoded.raw_tokens, "vocab": len(encoded.vocab), "encode_s": encode_s,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=default_corpus())
    parser.add_argument("--times", type=int, default=4)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.steps, args.cache)))
        return
    from w2v import corpus

    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / f"x{args.times}.txt.gz"
        with gzip.open(big, "wt", encoding="utf-8", compresslevel=1) as out:
            for _ in range(args.times):
                for line in corpus.iter_lines(args.corpus):
                    out.write(line if line.endswith("\n") else line + "\n")
        rows = {}
        for name, path in (("1x", args.corpus), (f"{args.times}x", str(big))):
            out = subprocess.run([sys.executable, __file__, "--measure", path, "--steps", str(args.steps),
                                  "--cache", str(Path(tmp) / f"cache-{name}")], check=True, capture_output=True,
                                 text=True)
            rows[name] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{'corpus':8} {'tokens':>12} {'vocab':>8} {'encode s':>9} {'tokens/s':>11} {'peak MB':>8}")
    for name, r in rows.items():
        print(f"{name:8} {r['tokens']:12,} {r['vocab']:8,} {r['encode_s']:9.1f} {r['tokens'] / r['encode_s']:11,.0f} "
              f"{r['peak_rss_mb']:8.0f}")
    a, b = rows["1x"]["peak_rss_mb"], rows[f"{args.times}x"]["peak_rss_mb"]
    print(f"peak RSS {args.times}x / 1x: {b / a:.3f}")


if __name__ == "__main__":
    main()
