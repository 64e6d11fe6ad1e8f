"""w2v's fast settings against gensim, side by side: words/s and their ratio, wall time, peak RSS and
analogy accuracy for both (the same table as quality_vs_gensim.py, which this runs).

The fast settings: negative sampling with a shared pool of 64 noise words per batch (one matrix
product) and batches of 16384 pairs. Extra arguments are passed on, e.g. ``--epochs 1``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.quality_vs_gensim import main  # noqa: E402

if __name__ == "__main__":
    sys.argv[1:1] = ["--negative-pool", "64", "--batch-size", "16384"]
    main()
