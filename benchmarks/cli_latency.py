"""How fast the command line answers: the median of several runs of each command, as a user types it.

Trains the default run (`make train`: configs/base.yaml) into a temporary runs/ folder, timing the
start-up (the command to the first step, read from the run's meta.json as it trains) with a warm and
with a cold corpus cache; then runs every `--help`, usage and config errors, an error about a run that
does not exist, and the commands that read a finished run (neighbors, eval, export, runs, compare).
For each: the time to its first byte of output and to its exit, medians over ``--repeat`` runs.

    python benchmarks/cli_latency.py [--repeat 5] [--w2v PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
W2V = str(Path(sys.executable).with_name("w2v"))


def timed(w2v: str, args: list[str], cwd: Path) -> tuple[float, float, int]:
    """Seconds to the first byte on stdout or stderr, seconds to exit, and the exit code."""
    start = time.perf_counter()
    proc = subprocess.Popen([w2v, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stderr, selectors.EVENT_READ)
        open_pipes = 2
        while open_pipes:
            for key, _ in sel.select():
                if os.read(key.fileobj.fileno(), 65536):
                    first = first or time.perf_counter() - start
                else:
                    sel.unregister(key.fileobj)
                    open_pipes -= 1
    code = proc.wait()
    return first or time.perf_counter() - start, time.perf_counter() - start, code


def startup(w2v: str, cwd: Path, run: str, cache: Path) -> float:
    """Seconds from `w2v train` to the run's first step (its meta.json records step 1), then the run
    is stopped."""
    meta = cwd / "runs" / run / "meta.json"
    start = time.perf_counter()
    proc = subprocess.Popen([w2v, "train", "--config", str(ROOT / "configs/base.yaml"), "--name", run, "--quiet",
                             "--set", f"data.cache_dir={cache}"], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None:
            try:
                if json.loads(meta.read_text()).get("step", 0) >= 1:
                    return time.perf_counter() - start
            except (OSError, ValueError):
                pass
            time.sleep(0.005)
        raise SystemExit(f"w2v train exited ({proc.returncode}) before its first step")
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--w2v", default=W2V, help="The w2v command to time (default: this environment's).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cwd, cache = Path(tmp), Path(tmp) / "cache"
        subprocess.run([args.w2v, "train", "--config", str(ROOT / "configs/base.yaml"), "--name", "default", "--quiet",
                        "--set", f"data.cache_dir={cache}"], cwd=cwd, check=True, capture_output=True)
        rows = []
        for kind in ("warm", "cold"):
            times = [startup(args.w2v, cwd, f"{kind}{i}", cache if kind == "warm" else cwd / f"cold{i}")
                     for i in range(args.repeat)]
            label = f"w2v train --config configs/base.yaml: command to first step, {kind} cache"
            rows.append((label, statistics.median(times), None, None))
        (cwd / "words.txt").write_text("king queen 0.8\nman woman 0.7\n")
        commands = [
            ["--help"], ["train", "--help"], ["resume", "--help"], ["eval", "--help"], ["neighbors", "--help"],
            ["export", "--help"], ["visualize", "--help"], ["runs", "--help"], ["compare", "--help"],
            ["sweep", "--help"], ["config", "--help"],
            ["export", "default", "--format", "bogus", "-o", "x"], ["train", "--config", "missing.yaml"],
            ["train", "--config", str(ROOT / "configs/base.yaml"), "--set", "train.epochs=zero"],
            ["resume", "nosuchrun"], ["neighbors", "nosuchrun", "the"], ["eval", "nosuchrun"],
            ["export", "nosuchrun", "-o", "x"], ["visualize", "nosuchrun"],
            ["neighbors", "default", "the"], ["neighbors", "default", "--analogy", "man", "king", "woman"],
            ["eval", "default"], ["eval", "default", "--similarity", "words.txt"],
            ["export", "default", "-o", "vectors.txt"], ["export", "default", "--format", "npy", "-o", "v.npy"],
            ["runs"], ["compare", "default", "default"],
        ]
        for command in commands:
            times = [timed(args.w2v, command, cwd) for _ in range(args.repeat)]
            rows.append(("w2v " + " ".join(c if len(c) < 40 else "…" + c[-20:] for c in command),
                         statistics.median(t[1] for t in times), statistics.median(t[0] for t in times),
                         times[-1][2]))
        shutil.rmtree(cwd / "runs", ignore_errors=True)
    print(f"median of {args.repeat} runs each; {sys.platform}, {os.cpu_count()} cores")
    print(f"{'command':72} {'first out s':>11} {'exit s':>7} {'code':>4}")
    for label, whole, first, code in rows:
        shown_first = "" if first is None else f"{first:.2f}"
        print(f"{label:72} {shown_first:>11} {whole:7.2f} {'' if code is None else code:>4}")


if __name__ == "__main__":
    main()
