"""How long `w2v compare A B --top N` takes to compare what two runs learned at a large vocabulary: the
orthogonal Procrustes alignment over every shared word, and each of the top N words' nearest neighbours in
both runs (searched over all shared words) with their overlap.

Two 100,000 × 128 spaces stand in for two runs: the second is the first rotated, with noise, and with a
tenth of its words moved elsewhere, so that the ranking has real work to do. Whole ``drift.compare`` calls,
from the two runs' vectors to the ranked report (reading the runs from disk is not included: that is
``w2v export``'s and ``w2v neighbors``' cost too), the median of ``--repeat`` calls for each N.

    python benchmarks/alignment_speed.py [--words 100000] [--dim 128] [--top 1000,10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from w2v import drift
from w2v.vectors import Vectors


def spaces(words: int, dim: int) -> tuple[Vectors, Vectors, set[str]]:
    """Two runs' vectors over the same words: the second rotated, noisy, a tenth of its words moved."""
    rng = np.random.default_rng(0)
    names = [f"w{i}" for i in range(words)]
    a = rng.normal(size=(words, dim)).astype(np.float32)
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    b = (a + 0.3 * rng.normal(size=a.shape)).astype(np.float32) @ rotation.astype(np.float32)
    moved = rng.choice(words, words // 10, replace=False)
    b[moved] = rng.normal(size=(len(moved), dim))
    return Vectors(names, a), Vectors(names, b), {names[i] for i in moved}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--top", default="1000,10000", help="N most frequent shared words, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    a, b, moved = spaces(args.words, args.dim)
    print(f"{args.words:,} words × {args.dim}, {os.cpu_count()} CPUs; median of {args.repeat} calls")
    print(f"{'top N':>8}  {'seconds':>8}  {'moved words ranked first':>24}")
    for top in (int(n) for n in args.top.split(",")):
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            report = drift.compare([a, b], ["a", "b"], top=top, k=10)
            times.append(time.perf_counter() - start)
        expected = sum(w in moved for w in a.words[:top])
        found = sum(w.word in moved for w in report.words[:expected])
        print(f"{top:>8,}  {statistics.median(times):8.2f}  {found:>11,} of {expected:,}")


if __name__ == "__main__":
    main()
