"""The run lifecycle as a model-based test: any sequence of train, extend (by epochs or by steps), stop and
resume ends with the vectors of the same train and extend commands run without a stop.

The model is the uninterrupted sequence: each command (the first trains, the later ones extend the finished
run) runs to its end. The system under test runs the same commands, but each one is stopped at random
global steps and resumed, on both kernels (deterministic mode) and with checkpoint.dir set. In-process
stops (``stop_at``, as a preempted job would) cover the matrix; real processes take real signals
(Ctrl-C, SIGTERM, kill -9) in the tests at the end.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import planted_corpus, small_config
from w2v import config as config_lib
from w2v import meta, runs, state, trainer

TABLES = (state.EMBEDDING, state.OUTPUT_WEIGHTS)


def tables(run_dir: Path) -> list[np.ndarray]:
    reader = tf.train.load_checkpoint(str(runs.checkpoint_dir(run_dir)))
    return [reader.get_tensor(name) for name in TABLES]


def config(corpus: Path, root: Path, kernel: str, first: list[str], checkpoint_dir: bool):
    sets = {"train__kernel": kernel, "train__threads": 2, "checkpoint__every_n_steps": 7,
            "checkpoint__dir": str(root / "ckpts") if checkpoint_dir else "null"}
    return config_lib.apply_overrides(small_config(corpus, root, **sets), first)


def uninterrupted(cfg, run_dir: Path, extensions: list[list[str]]) -> list[int]:
    """The model: train, then each extension, each to its end; the global step where each ended."""
    ends = [trainer.train(cfg, run_dir, show_progress=False).step]
    for overrides in extensions:
        ends.append(trainer.resume(run_dir, overrides, show_progress=False).step)
    return ends


def interrupted(cfg, run_dir: Path, extensions: list[list[str]], stops: list[list[int]]) -> int:
    """The same commands, the i-th stopped at each of ``stops[i]`` and resumed (without overrides, as
    `w2v resume RUN` does) until it ends; the final step."""
    commands = [None, *extensions]
    result = None
    for overrides, at in zip(commands, stops, strict=True):
        for i, stop in enumerate([*at, None]):
            if overrides is None and i == 0:
                result = trainer.train(cfg, run_dir, show_progress=False, stop_at=stop)
            else:
                result = trainer.resume(run_dir, overrides if i == 0 else [], show_progress=False, stop_at=stop)
            assert result.step == (stop if stop is not None else result.step)
    return result.step


def random_stops(rng: random.Random, ends: list[int], most: int) -> list[list[int]]:
    """Up to ``most`` distinct stop steps inside each command's span of steps."""
    stops, start = [], 0
    for end in ends:
        span = list(range(start + 1, end))
        stops.append(sorted(rng.sample(span, min(len(span), rng.randint(0, most)))))
        start = end
    return stops


# Each: the first command's overrides, then the extensions (a finished run given more epochs or steps).
SEQUENCES = {
    "epochs, extended twice by epochs": (["train.epochs=1"], [["train.epochs=2"], ["train.epochs=3"]]),
    "steps, extended by steps": (["train.steps=40"], [["train.steps=90"]]),
    "epochs, extended by steps": (["train.epochs=1"], [["train.steps=200"]]),
}


@pytest.mark.slow
@pytest.mark.parametrize("kernel, checkpoint_dir", [("fused", False), ("tf", True)])
@pytest.mark.parametrize("sequence", list(SEQUENCES))
def test_stops_anywhere_in_any_sequence_change_nothing(tmp_path, kernel, checkpoint_dir, sequence):
    corpus = planted_corpus(tmp_path / "planted.txt", sentences=500)
    first, extensions = SEQUENCES[sequence]
    model_dir, tested = tmp_path / "model", tmp_path / "tested"
    ends = uninterrupted(config(corpus, tmp_path / "a", kernel, first, checkpoint_dir), model_dir, extensions)
    assert ends == sorted(set(ends)), ends  # every extension trained more
    rng = random.Random(f"{kernel}{checkpoint_dir}{sequence}")
    stops = random_stops(rng, ends, most=2)
    stops[-1] = stops[-1] or [ends[-2] + 1 if len(ends) > 1 else 1]  # the last command is always stopped
    final = interrupted(config(corpus, tmp_path / "b", kernel, first, checkpoint_dir), tested, extensions, stops)
    assert final == ends[-1], (stops, ends)
    for want, got in zip(tables(model_dir), tables(tested), strict=True):
        np.testing.assert_array_equal(want, got, err_msg=f"stops {stops}, ends {ends}")
    assert meta.read(tested)["status"] == "completed"


def _w2v(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "w2v", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _stop_after_progress(proc: subprocess.Popen, run_dir: Path, how: int, past: int, rng: random.Random) -> None:
    """Send ``how`` once the process has trained past step ``past``, a random moment later."""
    deadline = time.time() + 120
    while proc.poll() is None and meta.read(run_dir).get("step", 0) <= past and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(rng.uniform(0, 0.3))
    assert proc.poll() is None, "the extension ended before it could be stopped"
    proc.send_signal(how)
    proc.communicate(timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "kill-9"])
def test_an_extension_stopped_by_a_real_signal_resumes_to_the_same_vectors(tmp_path, how):
    """The workflow users hit: a finished run extended with `w2v resume RUN --set train.epochs=N`, that
    process stopped by a signal, then `w2v resume RUN` without overrides."""
    corpus = planted_corpus(tmp_path / "planted.txt", sentences=1500)
    cfg = config(corpus, tmp_path, "auto", ["train.epochs=1", "train.steps_per_call=2"], checkpoint_dir=False)
    ends = uninterrupted(cfg, tmp_path / "model", [["train.epochs=4"]])
    run_dir = tmp_path / "tested"
    assert trainer.train(cfg, run_dir, show_progress=False).step == ends[0]
    proc = _w2v("resume", str(run_dir), "--quiet", "--set", "train.epochs=4")
    _stop_after_progress(proc, run_dir, how, ends[0] + 3, random.Random(int(how)))
    assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -9}[how]
    assert runs.load_config(run_dir).train.epochs == 4
    done = _w2v("resume", str(run_dir), "--quiet")
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    assert f"step {ends[-1]}," in out
    for want, got in zip(tables(tmp_path / "model"), tables(run_dir), strict=True):
        np.testing.assert_array_equal(want, got)
