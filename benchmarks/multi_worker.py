"""Multi-worker training on the fused engine against one process, side by side on this machine: N loopback
workers (`distribute.strategy: multi_worker`, a TF_CONFIG cluster on localhost) of C/N threads each against one
process of C threads, same corpus and settings (speed_vs_peers.py's: skip-gram `neg`, dimension 128, window 5,
sample 1e-4, min_count 5), then a scaling model for real clusters from what was measured.

Every side is timed as a whole, from starting its processes to the last one's exit (wall seconds and the peak
of the summed RSS of its processes), after the corpus was tokenised once into a cache they share (as a
cluster's workers would point at one that holds it), and scored by the same evaluator as speed_vs_peers.py.
For the workers, the chief's meta.json gives what their syncs exchanged: syncs, bytes and their wall time.

    python benchmarks/multi_worker.py [--epochs 1] [--workers 2] [--sync-every 10,50] [--corpus PATH]

The scaling model: a machine of C cores trains at C times the per-core rate measured here (the single process's
words/s over its threads); every sync a machine sends and receives about 2 (N - 1) / N of the payload measured
per sync (a ring all-reduce), at the network's rate plus a latency per ring step, after the software time a
sync took here. It prints, for 10, 25 and 100 Gb/s, the traffic per second and the predicted speed-up up to
64 machines, and how long syncs of whole tables take (where scaling stops).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import speed_vs_peers as peers  # noqa: E402  (the shared settings, timing and scoring)

# Each ring step on a real network costs at least a round trip and a kernel-to-kernel copy.
LATENCY_S = 50e-6


def launch(spec: str) -> None:
    """The launcher process: start one `w2v` process per worker of a loopback cluster, wait for all of them,
    exit non-zero when any failed (its log's tail on stderr)."""
    workers, args, logs = json.loads(spec)

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    cluster = {"worker": [f"localhost:{free_port()}" for _ in range(workers)]}
    procs = []
    for i in range(workers):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})}
        with open(f"{logs}.{i}", "w") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "w2v", *args], env=env, stdout=log,
                                          stderr=subprocess.STDOUT))
    codes = [p.wait() for p in procs]
    for i, code in enumerate(codes):
        if code:
            sys.stderr.write(Path(f"{logs}.{i}").read_text()[-2000:])
    sys.exit(max(codes))


def run_side(args: argparse.Namespace, tmp: Path, cache: str, workers: int, sync_every: int | None) -> dict:
    """One side: ``workers`` processes (1: no cluster) sharing the cores; its times, traffic and scores."""
    from w2v import config, meta, runs

    threads = args.threads // workers
    cfg = peers.w2v_config(args, cache)
    sets = [f"train.threads={threads}"]
    if workers > 1:
        sets += ["distribute.strategy=multi_worker", f"distribute.sync_every_n_steps={sync_every}"]
    cfg = config.apply_overrides(cfg, sets)
    name = f"side-{workers}-{sync_every}"
    config.dump(cfg, tmp / f"{name}.yaml")
    w2v = ["train", "--config", str(tmp / f"{name}.yaml"), "--run-dir", str(tmp / name), "--quiet"]
    if workers == 1:
        command = [sys.executable, "-m", "w2v", *w2v]
    else:
        command = [sys.executable, __file__, "--launch", json.dumps([workers, w2v, str(tmp / f"{name}.log")])]
    wall, peak = peers.timed(command, tmp / f"{name}.log")
    record = meta.read(tmp / name)
    e = runs.read_embedding(tmp / name)
    return {"workers": workers, "threads": threads, "sync_every": sync_every, "wall_s": wall, "peak_mb": peak,
            "train_s": record["wall_time_s"], "words": record["words"], "steps": record["step"],
            "averaging": record.get("averaging"), **peers.score(e.vocab.words, e.vectors)}


def scaling_model(single: dict, side: dict, vocab: int, dim: int) -> None:
    """The predicted speed-up of N machines of ``--threads`` cores from what was measured: the per-core rate,
    the payload and the software time of a sync; and where it stops scaling."""
    per_core = single["words"] / single["train_s"] / single["threads"]
    avg = side["averaging"]
    payload = avg["bytes"] / avg["syncs"]
    overhead = avg["seconds"] / avg["syncs"]  # marks, gathers and collectives of a sync, on loopback
    whole = 2 * vocab * dim * 4  # both tables whole: the most a sync can carry
    cores = single["threads"]
    train_s = side["words"] / avg["syncs"] / (per_core * cores)  # a machine's training between syncs
    print(f"\nscaling model: {per_core:,.0f} words/s a core (one process of {cores} threads); a sync every "
          f"{train_s:.2f} s of training, {payload / 2**20:.2f} MB all-reduced (both whole tables: "
          f"{whole / 2**20:.1f} MB) and {overhead:.3f} s of software time a sync (measured on loopback); a "
          f"machine of {cores} cores sends 2 (N - 1) / N of the payload a sync, plus {LATENCY_S * 1e6:.0f} us "
          f"a ring step")
    print(f"{'machines':>8} " + " ".join(f"{f'{g} Gb/s: MB/s, speed-up':>28}" for g in (10, 25, 100)))
    for n in (1, 2, 4, 8, 16, 32, 64):
        cells = []
        for gbps in (10, 25, 100):
            sent = 2 * (n - 1) / n * payload
            sync_s = (overhead + sent * 8 / (gbps * 1e9) + 2 * (n - 1) * LATENCY_S) if n > 1 else 0.0
            cells.append(f"{sent / (train_s + sync_s) / 2**20:15,.1f} {n * train_s / (train_s + sync_s):12.1f}")
        print(f"{n:>8} " + " ".join(f"{c:>28}" for c in cells))
    # Where it stops scaling: a sync of whole tables sends about twice both tables; keeping it under a tenth
    # of the time needs syncs at least ten times that far apart.
    for label, rows, width in ((f"this vocabulary x dimension ({vocab:,} x {dim})", vocab, dim),
                               ("1M words x 300", 1_000_000, 300)):
        seconds = [2 * 2 * rows * width * 4 * 8 / (gbps * 1e9) for gbps in (10, 25, 100)]
        print(f"whole-table sync, {label}: " + ", ".join(f"{t:.3f} s at {g} Gb/s" for t, g in
                                                         zip(seconds, (10, 25, 100), strict=True))
              + "; under a tenth of the time with syncs at least ten times that apart")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--launch", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", default=peers.default_corpus())
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="loopback workers of the cluster side")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="threads in all, a side")
    parser.add_argument("--sync-every", default="10", help="comma-separated distribute.sync_every_n_steps, one "
                        "cluster side each")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.launch:
        launch(args.launch)
        return
    # speed_vs_peers.w2v_config's settings.
    args.config, args.tokenizer, args.dim, args.window = None, "whitespace", 128, 5
    args.sample, args.min_count = 1e-4, 5
    args.cbow, args.loss, args.subwords, args.buckets, args.kernel = False, "neg", False, 2000000, "fused"
    args.batch_size, args.lr = None, None
    args.workers, cluster = 1, args.workers
    from w2v import fused, trainer

    fused.load()
    with tempfile.TemporaryDirectory() as tmp:
        cache = str(Path(tmp) / "cache")
        corpus = trainer.load_corpus(peers.w2v_config(args, cache))  # tokenised once, outside every side's time
        rows = [run_side(args, Path(tmp), cache, 1, None)]
        rows += [run_side(args, Path(tmp), cache, cluster, int(k)) for k in args.sync_every.split(",")]
    single = rows[0]
    print(f"corpus {args.corpus}, {args.epochs} epoch(s), skip-gram neg, dim 128, window 5, sample 1e-4, "
          f"min_count 5, vocabulary {len(corpus.vocab):,}; {args.threads} threads a side")
    print(f"{'side':24} {'wall s':>7} {'train s':>8} {'words/s':>10} {'vs one':>7} {'analogy':>8} {'peak MB':>8} "
          f"{'syncs':>6} {'MB/sync':>8} {'MB/epoch':>9} {'sync share':>10}")
    for r in rows:
        side = "1 process" if r["workers"] == 1 else f"{r['workers']} workers, sync {r['sync_every']}"
        side += f" x {r['threads']} thr"
        rate = r["words"] / r["train_s"]
        traffic = ""
        if r["averaging"]:
            a = r["averaging"]
            traffic = (f"{a['syncs']:6d} {a['bytes'] / a['syncs'] / 2**20:8.2f} "
                       f"{a['bytes'] / args.epochs / 2**20:9.1f} {a['seconds'] / r['train_s']:10.1%}")
        print(f"{side:24} {r['wall_s']:7.1f} {r['train_s']:8.1f} {rate:10,.0f} "
              f"{rate / (single['words'] / single['train_s']):7.2f} {100 * r['analogy']:7.2f}% {r['peak_mb']:8.0f} "
              f"{traffic}")
    print(json.dumps(rows))
    scaling_model(single, rows[-1], len(corpus.vocab), 128)


if __name__ == "__main__":
    main()
