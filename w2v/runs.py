"""Run directories: creation without overwriting, the files every run holds, and reading them back."""

from __future__ import annotations

import datetime
import fcntl
import os
import re
from pathlib import Path
from typing import IO

import numpy as np

from w2v import config as config_lib
from w2v.config import Config
from w2v.errors import W2VError
from w2v.vocab import Vocab

CONFIG = "config.yaml"
VOCAB = "vocab.tsv"
CHECKPOINTS = "checkpoints"


def default_name(config_path: str | Path | None, overrides: list[str] = ()) -> str:
    """``<config stem>-<timestamp>``, then a short slug of the overrides (``batch_size4096-lossneg``)."""
    stem = Path(config_path).stem if config_path else "w2v"
    name = f"{stem}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    slug = "-".join(re.sub(r"[^A-Za-z0-9_.]", "", o.split(".", 1)[-1].replace("=", "")) for o in overrides
                    if not o.startswith("run."))
    return f"{name}-{slug[:40].rstrip('-')}" if slug else name


def resolve_run_dir(config: Config, config_path: str | Path | None, overrides: list[str] = ()) -> Path:
    """Where a new run goes: ``run.output_dir/run.name``; refuses an existing run or a file."""
    root = Path(config.run.output_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise W2VError(f"output directory {root}: is a file, not a directory")
    run_dir = root / (config.run.name or default_name(config_path, overrides))
    check_new(run_dir)
    return run_dir


def check_new(run_dir: Path) -> None:
    """Refuse a path that is a file or an existing run (pointing to ``w2v resume``)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise W2VError(f"run directory {run_dir}: is a file, not a directory")
    if (run_dir / CONFIG).exists():
        raise W2VError(f"run directory {run_dir}: already holds a run; continue it with `w2v resume {run_dir}`")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise W2VError(f"run directory {run_dir}: exists and is not empty")


def create(run_dir: Path, config: Config, vocab: Vocab) -> None:
    """Create the run directory with its resolved config and vocabulary."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise W2VError(f"run directory {run_dir}: cannot be created ({e.strerror})") from None
    config_lib.dump(config, run_dir / CONFIG)
    vocab.save(run_dir / VOCAB)


def load_config(run_dir: Path, overrides: list[str] = ()) -> Config:
    """The saved config of a run, with overrides applied."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not (run_dir / CONFIG).exists():
        raise W2VError(f"run directory {run_dir}: not a w2v run (no {CONFIG})")
    return config_lib.load(run_dir / CONFIG, overrides)


def load_vocab(run_dir: Path) -> Vocab:
    """The saved vocabulary of a run."""
    path = Path(run_dir) / VOCAB
    if not path.exists():
        raise W2VError(f"run directory {run_dir}: no {VOCAB}")
    return Vocab.load(path)


EMBEDDING_KEY = "model/embedding/.ATTRIBUTES/VARIABLE_VALUE"
STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"


def latest_checkpoint(run_dir: Path) -> str:
    """The newest checkpoint of a run, or a W2VError saying there is none."""
    import tensorflow as tf

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists():
        raise W2VError(f"run directory {run_dir}: not a w2v run (no {CONFIG})")
    path = tf.train.latest_checkpoint(str(run_dir / CHECKPOINTS))
    if path is None:
        raise W2VError(f"run directory {run_dir}: has no checkpoint yet")
    return path


def load_embedding(run_dir: Path, checkpoint: str | None = None) -> tuple[Vocab, np.ndarray, int]:
    """The vocabulary, input embedding and global step of a run's checkpoint (latest by default)."""
    import tensorflow as tf

    vocab = load_vocab(run_dir)
    path = checkpoint or latest_checkpoint(run_dir)
    try:
        reader = tf.train.load_checkpoint(path)
        vectors = reader.get_tensor(EMBEDDING_KEY)
        step = int(reader.get_tensor(STEP_KEY))
    except (tf.errors.OpError, ValueError) as e:
        raise W2VError(f"checkpoint {path}: cannot be read ({e.__class__.__name__})") from None
    if len(vectors) != len(vocab):
        raise W2VError(f"checkpoint {path}: {len(vectors)} rows for {len(vocab)} words in {run_dir / VOCAB}")
    return vocab, vectors, step


LOCK = ".lock"


def _take(f: IO[str]) -> str | None:
    """Try to flock an open lock file: None when taken, else the holder's pid as written inside."""
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        return f.read().strip() or "unknown"
    return None


def lock_holder(run_dir: Path) -> str | None:
    """The pid holding a run's lock, or None when no live process holds it."""
    path = Path(run_dir) / LOCK
    if not path.exists():
        return None
    with open(path, "a+") as f:
        holder = _take(f)
        if holder is None:
            fcntl.flock(f, fcntl.LOCK_UN)
        return holder


class RunLock:
    """Keeps two processes from writing one run directory.

    An flock on ``.lock`` (released by the kernel when its process dies, even by kill -9), with the
    holder's pid written inside for the message. A lock file left by a dead process is taken over.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK
        self._file: IO[str] | None = None
        self.took_over: str | None = None

    def __enter__(self) -> RunLock:
        f = open(self.path, "a+")
        holder = _take(f)
        if holder is not None:
            f.close()
            raise W2VError(f"run directory {self.path.parent}: in use by another w2v process (pid {holder})")
        f.seek(0)
        self.took_over = f.read().strip() or None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            self._file.close()
            self._file = None
