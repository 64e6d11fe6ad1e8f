"""Shared fixtures: a synthetic corpus with planted structure and small configs."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

# One OpenMP and BLAS thread a test process (set before numpy loads OpenBLAS): `-n 2` already keeps both
# cores busy, and t-SNE's OpenMP threads waiting on each other beside the other worker's training made one
# map test take 50 s instead of 2.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The built engine is the same whoever builds it (its cache key is its source and TensorFlow's version):
# keep it where w2v keeps it, so a test session builds it at most once per source.
os.environ.setdefault("XDG_CACHE_HOME", str(Path.home() / ".cache"))
# Encoded corpora are cached under ~/.cache/w2v: give the tests (and the processes they start) a
# home of their own so they neither read a user's corpora nor leave entries among them.
os.environ["HOME"] = tempfile.mkdtemp(prefix="w2v-tests-home-")
# TensorFlow as the w2v command imports it (w2v/quiet.py): oneDNN's ops, and with them its memory pool, off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import tensorflow as tf  # noqa: E402

# Two logical CPU devices, so MirroredStrategy can be tested in this process; the split must come
# before TensorFlow starts its runtime, and the default strategy keeps using the first device only.
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)

from w2v import config as config_lib  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long end-to-end tests first: `-n 2` then spreads them over both workers from the start instead of
    leaving one worker to finish the longest alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


GROUPS = 12
GROUP_SIZE = 3
FILLERS = 30


def planted_corpus(path: Path, sentences: int = 3000, seed: int = 0, groups: list[str] | None = None,
                   filler: str = "filler") -> Path:
    """Sentences that each mix the words of one group (g<i>w<j>, or <prefix><j> for the ``groups``
    prefixes given) with random filler words.

    Words of a group only ever share sentences with each other, so after training the nearest
    neighbours of a group word must be its own group's words.
    """
    rng = np.random.default_rng(seed)
    groups = groups or [f"g{g}w" for g in range(GROUPS)]
    lines = []
    for _ in range(sentences):
        prefix = groups[rng.integers(len(groups))]
        words = [f"{prefix}{rng.integers(GROUP_SIZE)}" for _ in range(6)]
        words += [f"{filler}{rng.integers(FILLERS)}" for _ in range(3)]
        rng.shuffle(words)
        lines.append(" ".join(words))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def small_config(corpus: Path | str, output_dir: Path, **overrides: object) -> config_lib.Config:
    """A config that trains on a small corpus in seconds; keyword overrides use section__key names."""
    sets = [
        f"data.corpus={corpus}", "data.min_count=1", "data.window=3", "data.subsample=0",
        "data.chunk_tokens=4096", "model.embedding_dim=16", "model.num_sampled=8",
        "train.batch_size=256", "train.epochs=2", "checkpoint.every_n_steps=20",
        "summary.scalars_every_n_steps=10", "summary.histograms_every_n_steps=20",
        f"run.output_dir={output_dir}", "train.steps_per_call=10",
    ]
    sets += [f"{k.replace('__', '.')}={v}" for k, v in overrides.items()]
    return config_lib.apply_overrides(config_lib.Config(), sets)


def scalars(run_dir: Path, tag: str = "loss") -> list[tuple[int, float]]:
    """(step, value) of every scalar event with this tag in a run's event files, in file order."""
    found = []
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            found += [(event.step, float(tf.make_ndarray(v.tensor))) for v in event.summary.value if v.tag == tag]
    return found


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    return planted_corpus(tmp_path / "planted.txt")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One run of configs/tiny.yaml (gensim's Lee corpus, real English words), shared by read-only tests."""
    from w2v import trainer

    root = Path(__file__).resolve().parents[1]
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    cfg = config_lib.load(root / "configs" / "tiny.yaml", ["train.steps=200", "checkpoint.every_n_steps=100",
                                                             "model.embedding_dim=32"])
    trainer.train(cfg, run_dir, show_progress=False)
    return run_dir


def imported_packages(*args: object, cwd: Path | None = None) -> tuple[int, set[str]]:
    """Run `python -m w2v ARGS` in a process of its own; its exit code and the top-level packages it imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "w2v", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)
    return done.returncode, {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()
                             if line.startswith("import time:")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, body: dict | None = None) -> bytes:
    """GET, or POST a JSON body, on loopback."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


@contextlib.contextmanager
def start_tensorboard(logdir: Path):
    """A real TensorBoard on a free loopback port; always stopped afterwards."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
                             "--host", "127.0.0.1", "--port", str(port), "--load_fast=false"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                http_get(base + "/data/logdir")
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("tensorboard did not start") from None
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` (a directory) and everything under it unwritable for this test, also as root (whom permission
    bits do not stop, and whom CI runs as): the immutable flag (``chattr +i``) where this user may set it,
    else the permission bits; the test is skipped where neither holds."""
    flagged = os.geteuid() == 0 and subprocess.run(["chattr", "-R", "+i", str(path)],
                                                    capture_output=True).returncode == 0
    if not flagged:
        for here, _, files in os.walk(path):
            for name in files:
                os.chmod(os.path.join(here, name), 0o444)
            os.chmod(here, 0o555)
    try:
        probe = Path(path) / ".probe"
        try:
            probe.touch()
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.skip("no way to make a directory read-only here (root without chattr +i)")
        yield path
    finally:
        if flagged:
            subprocess.run(["chattr", "-R", "-i", str(path)], check=True)
        else:
            for here, _, files in os.walk(path):
                os.chmod(here, 0o755)
                for name in files:
                    os.chmod(os.path.join(here, name), 0o644)
