"""The fused engine alone, its deterministic mode against its Hogwild mode (and deterministic group sizes)
in one process, on the same batches: what the engine's changes do, without the input pipeline, the
training loop or another process's timing in the figure.

The batches are taken from the pipeline first and kept in memory; then each round trains every mode once
over all of them, on the same model (its values do not change the arithmetic's cost), and the table gives
each mode's median examples/s over the rounds after the first (which builds and warms the engine) and the
median of the per-round ratios to the first mode. A shared machine swings by 10-20% from minute to minute;
modes measured in the same round share its weather.

    python benchmarks/engine_modes.py [--cbow] [--loss nce] [--dim 100] [--sample 1e-3] \
        [--modes det,hogwild,det512] [--threads 1] [--batches 60] [--rounds 12]

With --threads 1 the two modes do the same work on one core, with no barrier and no other core's
cache: what the deterministic mode's two passes over a group (score, then apply) cost by themselves.

The corpus defaults to ../shared/corpora/gutenberg17m.txt.gz when present, else the embedded default.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from speed_vs_peers import default_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=default_corpus())
    parser.add_argument("--cbow", action="store_true")
    parser.add_argument("--loss", default="neg")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--sample", type=float, default=1e-4)
    parser.add_argument("--modes", default="det,hogwild",
                        help="comma-separated: det (its default group), detN (groups of N windows), hogwild")
    parser.add_argument("--threads", type=int, help="the engine's threads (default: the cores)")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()

    import tensorflow as tf

    from w2v import config, fused, pipeline, runs, trainer
    from w2v.loop import Trainer

    architecture = "cbow" if args.cbow else "skipgram"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config.apply_overrides(config.Config(), [
            f"data.corpus={args.corpus}", f"data.cache_dir={tmp}/cache", f"run.output_dir={tmp}/runs",
            f"data.subsample={args.sample}", f"model.embedding_dim={args.dim}", f"model.loss={args.loss}",
            f"model.architecture={architecture}", "train.kernel=fused",
            *([f"train.threads={args.threads}"] if args.threads else [])])
        cfg = config.resolve(cfg, "fused")
        corpus = trainer.load_corpus(cfg)
        runs.create(Path(tmp) / "run", cfg, corpus.vocab, link_checkpoints=True)
        engine = Trainer(cfg, corpus, Path(tmp) / "run", "fused")
        batches = [b for b, _ in zip(pipeline.make_dataset(corpus, cfg), range(args.batches), strict=False)]
    examples = sum(int(b["labels"].shape[0]) for b in batches)
    table = "HS_GROUP" if args.loss == "hs" else "GROUP"  # the groups the engine takes for this loss
    default_group = dict(getattr(fused, table))
    modes = args.modes.split(",")
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(args.rounds + 1):
        for mode in modes:
            group = int(mode[3:]) if mode.startswith("det") and mode != "det" else default_group[architecture]
            setattr(fused, table, {**default_group, architecture: group})
            start = time.perf_counter()
            for i, b in enumerate(batches):
                rows, mask, targets = ((b["inputs"], b["input_mask"], b["labels"]) if args.cbow
                                       else (b["labels"], tf.zeros([0]), b["inputs"]))
                loss = fused.train(engine.model, rows, mask, targets, b["position"], tf.constant(i, tf.int64),
                                   tf.constant(cfg.train.learning_rate), engine.threads, mode == "hogwild")
            loss.numpy()
            rates[mode].append(examples / (time.perf_counter() - start))
    print(f"corpus {cfg.data.corpus}, {architecture}, loss {args.loss}, dim {args.dim}, sample {args.sample}, "
          f"{engine.threads} threads; {len(batches)} batches of {cfg.train.batch_size} ({examples:,} examples), "
          f"{args.rounds} rounds after a warm-up")
    print(f"{'mode':10} {'examples/s':>12} {'best':>12} {'ratio to ' + modes[0]:>16}")
    for mode in modes:
        kept, first = rates[mode][1:], rates[modes[0]][1:]
        ratio = statistics.median(a / b for a, b in zip(kept, first, strict=True))
        print(f"{mode:10} {statistics.median(kept):12,.0f} {max(kept):12,.0f} {ratio:16.3f}")


if __name__ == "__main__":
    main()
