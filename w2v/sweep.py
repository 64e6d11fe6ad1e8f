"""``w2v sweep``: a grid of overrides run as separate runs under one sweep directory.

Each run is its own ``w2v train`` (or ``w2v resume``) subprocess, so one failing combination is
recorded and the others go on, and ``--parallel`` is plain process parallelism. The sweep directory
name is derived from the config and the grid, so running the same sweep again finds it: completed
and failed runs are skipped, interrupted ones resumed.

Ctrl-C (or SIGTERM) stops a sweep as it stops a run: each run in its own session, so that the terminal's
Ctrl-C reaches the sweep alone, which passes each signal on to the running runs once (a second Ctrl-C aborts
them at once, as it would one run), starts no more, and records the stopped ones as interrupted.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from w2v import config as config_lib
from w2v import fileio, runs
from w2v import meta as meta_lib
from w2v import seeds as seeds_lib
from w2v.errors import W2VError

SWEEP_FILE = "sweep.json"
SEEDS_DIR = "seeds"  # TensorBoard runs of the settings' means over seeds


@dataclass
class Trial:
    name: str
    overrides: list[str]
    run_dir: Path
    status: str = "pending"
    error: str | None = None


def parse_grid(grid: list[str]) -> list[tuple[str, list[str]]]:
    """``key=v1,v2`` items into (key, values)."""
    axes = []
    for item in grid:
        key, sep, values = item.partition("=")
        if not sep or not values:
            raise W2VError(f"--grid {item!r}: expected section.key=value1,value2")
        axes.append((key.strip(), [v.strip() for v in values.split(",")]))
    return axes


def _slug(overrides: list[str]) -> str:
    return "_".join(o.split(".", 1)[-1].replace("=", "-").replace("/", "-") for o in overrides)


def seed_axis(base_seed: int, seeds: int, grid: list[str]) -> str:
    """``run.seed=S,S+1,...``: ``seeds`` seeds from the config's own, as a grid axis."""
    if any(key == "run.seed" for key, _ in parse_grid(grid)):
        raise W2VError("sweep: give the seeds with --seeds N or with --grid run.seed=..., not both")
    return "run.seed=" + ",".join(str(base_seed + i) for i in range(seeds))


def plan(config_path: Path, grid: list[str], overrides: list[str], name: str | None = None,
         seeds: int | None = None) -> tuple[Path, list[Trial]]:
    """The sweep directory and its trials (``seeds``: each combination with that many seeds, the config's
    run.seed and the next ones); every combination is validated before anything runs."""
    base = config_lib.load(config_path, overrides)
    if seeds:
        grid = list(grid) + [seed_axis(base.run.seed, seeds, grid)]
    axes = parse_grid(grid)
    digest = hashlib.sha1(json.dumps([str(config_path), grid, overrides]).encode()).hexdigest()[:8]
    root = Path(base.run.output_dir).expanduser() / (name or f"{Path(config_path).stem}-sweep-{digest}")
    if root.exists() and not root.is_dir():
        raise W2VError(f"sweep directory {root}: is a file")
    trials = []
    for values in itertools.product(*(v for _, v in axes)):
        combo = [f"{key}={value}" for (key, _), value in zip(axes, values, strict=True)]
        config_lib.apply_overrides(base, combo)
        trials.append(Trial(_slug(combo), combo, root / _slug(combo)))
    return root, trials


class Stop:
    """The sweep's stop signals: the first one, and the runs in progress to pass each one on to."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()

    def _handle(self, signum: int, frame: object) -> None:
        with self._lock:
            self.signal = self.signal or signum
            for proc in self._procs:
                proc.send_signal(signum)

    @contextmanager
    def installed(self, report: Callable[[str], None]) -> Iterator[Stop]:
        """SIGINT and SIGTERM handled while the sweep runs (in the main thread; elsewhere left alone)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handle(signum: int, frame: object) -> None:
            if self.signal is None:
                report(f"{signal.Signals(signum).name}: stopping the running runs after their current steps (each "
                       f"saves a checkpoint) and starting no more; Ctrl-C again aborts them at once")
            self._handle(signum, frame)

        previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def run(self, cmd: list[str]) -> subprocess.CompletedProcess:
        """``cmd`` to its end in a session of its own, sent the stop signals that come meanwhile."""
        with self._lock:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    start_new_session=True)
            self._procs.add(proc)
            if self.signal is not None:  # came while it started
                proc.send_signal(self.signal)
        try:
            out, err = proc.communicate()
        finally:
            with self._lock:
                self._procs.discard(proc)
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


STOPPED = {128 + signal.SIGINT, 128 + signal.SIGTERM, -signal.SIGINT, -signal.SIGTERM}  # exit codes


def _run(config_path: Path, overrides: list[str], trial: Trial, stop: Stop) -> Trial:
    if (trial.run_dir / runs.CONFIG).exists():
        cmd = [sys.executable, "-m", "w2v", "resume", str(trial.run_dir), "--quiet"]
    else:
        sets = [a for o in overrides + trial.overrides for a in ("--set", o)]
        cmd = [sys.executable, "-m", "w2v", "train", "--config", str(config_path), *sets,
               "--run-dir", str(trial.run_dir), "--quiet"]
    proc = stop.run(cmd)
    if proc.returncode == 0:
        trial.status = "completed"
    elif proc.returncode in STOPPED and stop.signal is not None:
        trial.status = "interrupted"
    else:
        trial.status = "failed"
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        fallback = lines[-1] if lines else f"exit code {proc.returncode}"
        trial.error = meta_lib.read(trial.run_dir).get("error") or fallback
    return trial


@dataclass
class Sweep:
    """A sweep's directory, its trials with their status, the completed runs grouped by setting
    (``seeds.group``), and the signal that stopped it (None when it ran to its end)."""

    root: Path
    trials: list[Trial]
    groups: list[seeds_lib.Group]
    signal: int | None = None


def run_sweep(config_path: Path, grid: list[str], overrides: list[str] = (), parallel: int = 1,
              name: str | None = None, report: Callable[[str], None] = lambda line: None,
              every: float = 10.0, seeds: int | None = None) -> Sweep:
    """Run every trial not yet done, until done or stopped by a signal (see the module's docstring).
    ``report`` hears which trial starts and how it ended, and every ``every`` seconds how far the running ones
    are. Settings run with several seeds get their mean ± std in TensorBoard (``seeds/``)."""
    root, trials = plan(Path(config_path), grid, list(overrides), name, seeds)
    root.mkdir(parents=True, exist_ok=True)
    previous = {t["name"]: t for t in _read_sweep(root)}
    for trial in trials:
        record = meta_lib.read(trial.run_dir)
        if record.get("status") in ("completed", "failed"):  # done: neither run nor announced again
            trial.status, trial.error = record["status"], record.get("error")
        elif previous.get(trial.name, {}).get("status") == "failed" and not trial.run_dir.exists():
            trial.status, trial.error = "failed", previous[trial.name]["error"]
    todo = [t for t in trials if t.status == "pending"]
    report(f"sweep {root}: {len(todo)} of {len(trials)} runs to do, {max(1, parallel)} at a time")
    running: set[str] = set()

    stop = Stop()

    def run(trial: Trial) -> Trial:
        if stop.signal is not None:
            return trial  # stays pending: the next run of the sweep starts it
        running.add(trial.name)
        report(f"  {'resuming' if (trial.run_dir / runs.CONFIG).exists() else 'starting'} {trial.name}")
        _run(Path(config_path), list(overrides), trial, stop)
        running.discard(trial.name)
        record = meta_lib.read(trial.run_dir)
        loss = record.get("last_loss")
        report(f"  {trial.status} {trial.name}: step {record.get('step', 0)}, loss "
               + (f"{loss:.4f}" if isinstance(loss, float) else "-")
               if trial.status != "failed" else f"  failed {trial.name}: {trial.error}")
        return trial

    done = threading.Event()

    def watch() -> None:
        while not done.wait(every):
            progress = [f"{n} {100 * meta_lib.read(root / n).get('progress', 0):.0f}%" for n in sorted(running)]
            if progress:
                report(f"  running: {', '.join(progress)}")

    threading.Thread(target=watch, daemon=True).start()
    try:
        with stop.installed(report), ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            for _ in pool.map(run, todo):
                _write_sweep(root, trials)
    finally:
        done.set()
    _write_sweep(root, trials)
    groups = seeds_lib.group([t.run_dir for t in trials if t.status == "completed"])
    if groups:
        seeds_lib.write_summaries(root / SEEDS_DIR, groups)
    return Sweep(root, trials, groups, stop.signal)


def _read_sweep(root: Path) -> list[dict]:
    try:
        return json.loads((root / SWEEP_FILE).read_text())["trials"]
    except (OSError, ValueError, KeyError):
        return []


def _write_sweep(root: Path, trials: list[Trial]) -> None:
    data = {"trials": [{"name": t.name, "overrides": t.overrides, "run_dir": str(t.run_dir), "status": t.status,
                        "error": t.error} for t in trials]}
    fileio.write_text(root / SWEEP_FILE, json.dumps(data, indent=2))


def records(trials: list[Trial]) -> list[dict]:
    """The sweep's table rows: every trial, those that failed before their run directory held a run too."""
    from w2v import experiments

    rows = []
    for trial in trials:
        row = experiments.describe(trial.run_dir)
        if trial.status == "failed":
            row.update(status="failed", error=trial.error)
        rows.append(row)
    return rows
