"""Stopping a run by signal, on the shipped default config: the first Ctrl-C is answered at once and
ends the run with a checkpoint within seconds; a second one aborts at once."""

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import tensorflow as tf

from w2v import meta, runs, state

pytestmark = pytest.mark.timing

ROOT = Path(__file__).resolve().parents[1]


class Watched:
    """A `w2v train` process of configs/base.yaml run for many epochs, its stderr lines timestamped."""

    def __init__(self, tmp_path: Path, checkpoints: int) -> None:
        self.run_dir = tmp_path / "run"
        # Nothing due but checkpoints, and no limit on a call's steps: only its time bound ends a call.
        sets = ["train.epochs=100", f"run.output_dir={tmp_path}", "checkpoint.dir=null",
                f"checkpoint.every_n_steps={checkpoints}", "summary.scalars_every_n_steps=100000",
                "summary.histograms_every_n_steps=100000",
                "train.steps_per_call=100000"]
        args = [sys.executable, "-m", "w2v", "train", "--config", str(ROOT / "configs" / "base.yaml"), "--quiet",
                "--run-dir", str(self.run_dir)] + [a for s in sets for a in ("--set", s)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line))

    def wait_for_checkpoint(self, step: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not (runs.checkpoint_dir(self.run_dir) / f"ckpt-{step}.index").exists():
            assert self.proc.poll() is None and time.monotonic() < deadline, "".join(line for _, line in self.lines)
            time.sleep(0.05)

    def said_after(self, text: str, since: float, within: float) -> float | None:
        """Seconds after ``since`` that a stderr line holding ``text`` came, waiting up to ``within``."""
        deadline = since + within
        while time.monotonic() < deadline:
            found = [t for t, line in self.lines if text in line and t >= since]
            if found:
                return found[0] - since
            time.sleep(0.01)
        return None


def test_ctrl_c_is_answered_at_once_and_stops_with_a_checkpoint(tmp_path):
    run = Watched(tmp_path, checkpoints=100000)
    try:
        while meta.read(run.run_dir).get("step", 0) < 1:  # the first step is recorded
            assert run.proc.poll() is None
            time.sleep(0.05)
        time.sleep(2)
        sent = time.monotonic()
        run.proc.send_signal(signal.SIGINT)
        assert run.said_after("stopping after the current steps", sent, within=1.0) is not None
        run.proc.wait(timeout=10)
        assert run.proc.returncode == 130
        assert time.monotonic() - sent < 5
    finally:
        run.proc.kill()
    record = meta.read(run.run_dir)
    assert record["status"] == "interrupted"
    assert tf.train.latest_checkpoint(str(runs.checkpoint_dir(run.run_dir))).endswith(f"ckpt-{record['step']}")


def test_a_second_ctrl_c_aborts_at_once_and_the_last_checkpoint_stays(tmp_path):
    run = Watched(tmp_path, checkpoints=5)
    try:
        run.wait_for_checkpoint(10)
        first = time.monotonic()
        run.proc.send_signal(signal.SIGINT)
        assert run.said_after("stopping after the current steps", first, within=1.0) is not None
        second = time.monotonic()
        run.proc.send_signal(signal.SIGINT)
        run.proc.wait(timeout=5)
        assert time.monotonic() - second < 1.5
        assert run.proc.returncode == 130
        assert run.said_after("aborted", first, within=0.1) is not None
    finally:
        run.proc.kill()
    record = meta.read(run.run_dir)
    assert record["status"] == "interrupted" and record["error"] == "aborted by a second interrupt"
    assert state.read(runs.checkpoint_path(run.run_dir)).step >= 10
