"""Stopping a run by signal, on the shipped default config: the first Ctrl-C is answered at once and
ends the run with a checkpoint within seconds; a second one aborts at once. Then the handlers themselves, in
this process: what a notebook or a Python caller gets back."""

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import tensorflow as tf

from w2v import meta, runs, state
from w2v.interrupts import StopSignals, caller_handlers

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


@pytest.mark.timing
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_is_answered_at_once_and_stops_with_a_checkpoint(tmp_path, how):
    run = Watched(tmp_path, checkpoints=100000)
    try:
        while meta.read(run.run_dir).get("step", 0) < 1:  # the first step is recorded
            assert run.proc.poll() is None
            time.sleep(0.05)
        time.sleep(2)
        sent = time.monotonic()
        run.proc.send_signal(how)
        assert run.said_after(f"{how.name}: stopping after the current steps", sent, within=1.0) is not None
        run.proc.wait(timeout=10)
        assert run.proc.returncode == 128 + how
        assert time.monotonic() - sent < 5
    finally:
        run.proc.kill()
    record = meta.read(run.run_dir)
    assert record["status"] == "interrupted"
    assert tf.train.latest_checkpoint(str(runs.checkpoint_dir(run.run_dir))).endswith(f"ckpt-{record['step']}")


@pytest.mark.timing
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
        assert run.said_after("aborted", second, within=1.5) is not None
    finally:
        run.proc.kill()
    record = meta.read(run.run_dir)
    assert record["status"] == "interrupted" and record["error"] == "aborted by a second interrupt"
    assert state.read(runs.checkpoint_path(run.run_dir)).step >= 10


@pytest.mark.timing
@pytest.mark.parametrize("delay", [0.3, 0.8])
def test_a_second_ctrl_c_aborts_at_once_wherever_the_stop_has_got_to(tmp_path, delay):
    """The second Ctrl-C may come while the checkpoint is saved, the projector written, the record closed or
    the interpreter shutting down: it aborts at once all the same, with no traceback."""
    run = Watched(tmp_path, checkpoints=5)
    try:
        run.wait_for_checkpoint(10)
        first = time.monotonic()
        run.proc.send_signal(signal.SIGINT)
        time.sleep(delay)
        if run.proc.poll() is None:
            second = time.monotonic()
            run.proc.send_signal(signal.SIGINT)
            run.proc.wait(timeout=5)
            assert time.monotonic() - second < 1.5
        run.proc.wait(timeout=10)
        # Exit code 130, or killed by the SIGINT itself when it came as the interpreter was shutting down
        # (Python restores the default handler there): a shell reads 130 for both.
        assert run.proc.returncode in (130, -signal.SIGINT)
    finally:
        run.proc.kill()
    said = "".join(line for _, line in run.lines)
    assert "Traceback" not in said and "Exception ignored" not in said and "KeyboardInterrupt" not in said, said
    assert any("stopping after the current steps" in line and t - first < 1 for t, line in run.lines), said
    assert meta.read(run.run_dir)["status"] == "interrupted"


STOPPED = """
import os, signal, sys, time
from w2v.interrupts import StopSignals
with StopSignals(on_abort=lambda: print("on_abort", flush=True)) as signals:
    os.kill(os.getpid(), signal.SIGINT)
    while signals.received is None:
        time.sleep(0.01)
print("training loop left", flush=True)
os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, while the run saves and shuts down
time.sleep(5)
print("still running", flush=True)
"""


@pytest.mark.timing
def test_a_second_ctrl_c_after_the_training_loop_still_aborts_at_once():
    """Deterministically in the window that a whole run hits only sometimes: after the loop has stopped,
    while the process finishes. Python's own handler would raise KeyboardInterrupt wherever the main thread
    is (in interpreter shutdown: printed as 'Exception ignored' and lost)."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", STOPPED], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert proc.returncode == 130, proc.stderr
    assert time.monotonic() - started < 4
    assert proc.stdout.split() == ["training", "loop", "left", "on_abort"]
    assert "aborted; the last checkpoint stays" in proc.stderr and "Traceback" not in proc.stderr


def received(signals: StopSignals, within: float = 5) -> int | None:
    """The stop signal the watcher thread has taken, waiting for it up to ``within`` seconds."""
    deadline = time.monotonic() + within
    while signals.received is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return signals.received


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_is_said_at_once_and_a_caller_gets_its_handlers_and_the_signal_back(capfd, how):
    got = []

    def handler(signum: int, frame: object) -> None:
        got.append(signum)

    previous = signal.signal(how, handler)
    try:
        with caller_handlers():
            with StopSignals() as signals:
                assert signal.getsignal(how) == StopSignals._handle
                signal.raise_signal(how)
                assert received(signals) == how
                assert got == []  # the caller's handler waits for the checkpoint
            assert got == []  # the stopping run's handlers stay until the caller's block ends
        assert got == [how]  # then the caller's own handler acts on the stop
        assert signal.getsignal(how) is handler
        assert signal.set_wakeup_fd(-1) == -1  # and no wakeup pipe left behind
    finally:
        signal.signal(how, previous)
    name = signal.Signals(how).name
    assert f"{name}: stopping after the current steps and saving a checkpoint" in capfd.readouterr().err


def test_ctrl_c_raises_keyboard_interrupt_for_a_caller_after_the_run_stops():
    with pytest.raises(KeyboardInterrupt):
        with caller_handlers():
            with StopSignals() as signals:
                signal.raise_signal(signal.SIGINT)
                assert received(signals) == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_without_a_stop_the_handlers_and_wakeup_fd_are_put_back_and_nothing_is_raised():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with caller_handlers():
        with StopSignals() as signals:
            assert all(signal.getsignal(s) is not h for s, h in before.items())
    assert signals.received is None
    assert {s: signal.getsignal(s) for s in before} == before
    assert signal.set_wakeup_fd(-1) == -1


def test_other_signals_are_no_stop_and_other_threads_install_nothing():
    seen = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: seen.append(signum))
    try:
        with StopSignals() as signals:
            signal.raise_signal(signal.SIGUSR1)  # its number reaches the wakeup pipe too
            assert received(signals, within=0.5) is None
        assert seen == [signal.SIGUSR1]
    finally:
        signal.signal(signal.SIGUSR1, previous)
    handlers = {}

    def in_a_thread() -> None:
        with StopSignals():
            handlers["during"] = signal.getsignal(signal.SIGINT)

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert handlers["during"] is signal.default_int_handler
