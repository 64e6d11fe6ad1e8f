"""Run directories: creation without overwriting, the files every run holds, and reading them back."""

from __future__ import annotations

import codecs
import contextlib
import datetime
import fcntl
import itertools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from w2v import config as config_lib
from w2v import subwords, vector_cache
from w2v.config import Config
from w2v.errors import W2VError
from w2v.vocab import Vocab

CONFIG = "config.yaml"
VOCAB = "vocab.tsv"
CHECKPOINTS = "checkpoints"
CHECKPOINT_PREFIX = "ckpt"  # tf.train.CheckpointManager's default checkpoint_name: ckpt-<step>
BEST = "best"  # --checkpoint best, and the directory under checkpoints/ that holds it


def default_name(config_path: str | Path | None, overrides: list[str] = ()) -> str:
    """``<config stem>-<timestamp>``, then a short slug of the overrides (``batch_size4096-lossneg``)."""
    stem = Path(config_path).stem if config_path else "w2v"
    name = f"{stem}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    slug = "-".join(re.sub(r"[^A-Za-z0-9_.]", "", o.split(".", 1)[-1].replace("=", "")) for o in overrides
                    if not o.startswith("run."))
    return f"{name}-{slug[:40].rstrip('-')}" if slug else name


@contextlib.contextmanager
def new_run_dir(config: Config, config_path: str | Path | None, overrides: list[str] = (),
                run_dir: str | Path | None = None) -> Iterator[Path]:
    """Where a new run goes: ``run_dir`` as given, else ``run.output_dir/run.name``; refuses an existing
    run or a file. A default name (no run.name) is claimed by creating its directory, so two runs started
    in the same second get two names (``-2`` for the second), and the directory is removed again when
    the run fails before writing anything into it."""
    if run_dir is not None:
        yield Path(run_dir)
        return
    root = Path(config.run.output_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise W2VError(f"output directory {root}: is a file, not a directory")
    check_writable(root, f"output directory {root}")
    if config.run.name:
        check_new(root / config.run.name)
        yield root / config.run.name
        return
    made = [p for p in (root, *root.parents) if not p.exists()]
    claimed = _claim(root, default_name(config_path, overrides))
    try:
        yield claimed
    except BaseException:
        with contextlib.suppress(OSError):
            for path in (claimed, *made):
                path.rmdir()  # only while empty: never anything the run wrote
        raise


def _claim(root: Path, name: str) -> Path:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise W2VError(f"output directory {root}: cannot be created ({e.strerror})") from None
    for n in itertools.count(1):
        run_dir = root / (name if n == 1 else f"{name}-{n}")
        try:
            run_dir.mkdir()  # atomic: of two processes, one gets it
            return run_dir
        except FileExistsError:
            continue
        except OSError as e:
            raise W2VError(f"run directory {run_dir}: cannot be created ({e.strerror})") from None


def checkpoint_dir(run_dir: Path) -> Path:
    """Where a run's checkpoints are: its ``checkpoints`` directory, or the link there to them."""
    return Path(run_dir) / CHECKPOINTS


def best_checkpoint_dir(run_dir: Path) -> Path:
    """Where checkpoint.keep_best keeps the best checkpoint of a run."""
    return checkpoint_dir(run_dir) / BEST


def _checkpoint_home(run_dir: Path, config: Config) -> Path | None:
    """With checkpoint.dir set, where this run's checkpoints go: that directory, then the run's path
    under run.output_dir (its name, or sweep/member), else its name."""
    if not config.checkpoint.dir:
        return None
    run, output = Path(run_dir).expanduser().resolve(), Path(config.run.output_dir).expanduser().resolve()
    return Path(config.checkpoint.dir).expanduser().resolve() / (run.relative_to(output) if run.is_relative_to(output)
                                                               else run.name)


def check_new(run_dir: Path, config: Config | None = None) -> None:
    """Refuse a path that is a file or an existing run (pointing to ``w2v resume``), and checkpoints
    that would land on another run's."""
    if run_dir.exists() and not run_dir.is_dir():
        raise W2VError(f"run directory {run_dir}: is a file, not a directory")
    if (run_dir / CONFIG).exists():
        raise W2VError(f"run directory {run_dir}: already holds a run; continue it with `w2v resume {run_dir}`")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise W2VError(f"run directory {run_dir}: exists and is not empty")
    home = _checkpoint_home(run_dir, config) if config else None
    if home is not None and home.exists() and any(home.iterdir()):
        raise W2VError(f"config key checkpoint.dir: {home} already holds checkpoints of another run; "
                       f"name this run differently or move them")


def create(run_dir: Path, config: Config, vocab: Vocab, link_checkpoints: bool = True) -> None:
    """Create the run directory with its resolved config and vocabulary, and with checkpoint.dir set
    (``link_checkpoints``) the link to where its checkpoints go."""
    home = _checkpoint_home(run_dir, config) if link_checkpoints else None
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        if home is not None:
            home.mkdir(parents=True, exist_ok=True)
            checkpoint_dir(run_dir).symlink_to(home, target_is_directory=True)
    except OSError as e:
        raise W2VError(f"run directory {run_dir}: cannot be created ({e.strerror}: {e.filename})") from None
    try:
        config_lib.dump(config, run_dir / CONFIG, exclusive=True)
    except FileExistsError:
        # Another process started a run here since check_new looked.
        raise W2VError(f"run directory {run_dir}: already holds a run; continue it with `w2v resume {run_dir}`") \
            from None
    vocab.save(run_dir / VOCAB)


def find(name: str | Path, root: str | Path = "runs") -> Path:
    """A run directory given as a path, or as a name under ``root`` (as ``w2v runs`` lists it; a sweep's
    members as sweep/member)."""
    path = Path(name)
    if not path.exists() and not path.is_absolute() and (Path(root) / path).exists():
        return Path(root) / path
    return path


def named_run(name: str | Path, key: str) -> Path:
    """The run a config key names (a path, or a name under runs/); a W2VError naming the key when there
    is none."""
    path = find(name)
    if not (path / CONFIG).exists():
        raise W2VError(f"config key {key}: {name} is not a run directory (no {path / CONFIG})")
    return path


def _why(path: Path, error: OSError | None = None) -> str:
    """Why a directory cannot be written, in the OS's words."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError:
        pass
    return error.strerror if error is not None and error.strerror else "permission denied"


def check_writable(path: Path, what: str) -> None:
    """A W2VError naming ``what`` (``run directory X``, ``--output X``) when ``path``, or the nearest directory
    above it that exists, cannot be written: a read-only disk, an immutable or another user's directory. Said
    before any work (and before TensorFlow loads)."""
    existing = next(p for p in (Path(path), *Path(path).parents) if p.exists())
    if not os.access(existing, os.W_OK):
        where = "" if existing == Path(path) else f" ({existing})"
        raise W2VError(f"{what}: cannot be written{where}: {_why(existing)}")


def check_run(run_dir: Path) -> None:
    """A W2VError, worded the same for every command, when ``run_dir`` is not a run directory."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise W2VError(f"run directory {run_dir}: does not exist")
    if not run_dir.is_dir() or not (run_dir / CONFIG).exists():
        hint = ""
        if (run_dir / "sweep.json").exists():
            hint = f"; it is a sweep: run `w2v sweep` again to resume its runs, or give one of them ({run_dir}/NAME)"
        raise W2VError(f"run directory {run_dir}: not a w2v run (no {CONFIG}){hint}")


def load_config(run_dir: Path, overrides: list[str] = ()) -> Config:
    """The saved config of a run, with overrides applied."""
    check_run(run_dir)
    return config_lib.load(Path(run_dir) / CONFIG, overrides)


def load_vocab(run_dir: Path) -> Vocab:
    """The saved vocabulary of a run."""
    check_run(run_dir)
    path = Path(run_dir) / VOCAB
    if not path.exists():
        raise W2VError(f"run directory {run_dir}: no {VOCAB}")
    return Vocab.load(path)


def latest_checkpoint(directory: Path) -> str | None:
    """The newest checkpoint that a CheckpointManager's state file names and whose index exists, as
    ``tf.train.latest_checkpoint`` finds it. The state file is a one-message text proto, read here by
    hand: importing TensorFlow to parse it would cost 5 s of every command that reads a run."""
    try:
        text = (Path(directory) / "checkpoint").read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    found = re.search(r'^model_checkpoint_path:\s*"((?:[^"\\]|\\.)*)"', text, re.MULTILINE)
    if found is None:
        return None
    name = codecs.escape_decode(found.group(1).encode("utf-8"))[0].decode("utf-8")
    path = name if os.path.isabs(name) else os.path.join(directory, name)
    return path if os.path.exists(path + ".index") else None


def checkpoint_path(run_dir: Path, which: str | None = None) -> str:
    """A run's checkpoint: the newest (``which`` None), the best one (``which`` "best", kept by
    checkpoint.keep_best), or one named as the export card and ``w2v runs`` name it (``ckpt-134``), by its
    step (``134``) or by its path prefix; a W2VError saying when there is none."""
    run_dir = Path(run_dir)
    check_run(run_dir)
    if which not in (None, BEST):
        return _named_checkpoint(run_dir, which)
    path = latest_checkpoint(best_checkpoint_dir(run_dir) if which else checkpoint_dir(run_dir))
    if path is None and which:
        raise W2VError(f"run directory {run_dir}: has no best checkpoint (it is kept when the run sets "
                       f"checkpoint.keep_best)")
    if path is None:
        raise W2VError(f"run directory {run_dir}: has no checkpoint yet")
    return path


def checkpoint_step(path: str, default: int | None = None) -> int | None:
    """The step in a checkpoint's name (``.../ckpt-134`` -> 134), ``default`` for a name without one."""
    found = re.fullmatch(r".*-(\d+)", os.path.basename(path))
    return int(found.group(1)) if found else default


def resume_step(run_dir: Path) -> int:
    """The step ``w2v resume`` starts a run from: its newest checkpoint's, 0 when it has none."""
    path = latest_checkpoint(checkpoint_dir(run_dir))
    return checkpoint_step(path, 0) if path else 0


def _named_checkpoint(run_dir: Path, which: str) -> str:
    """A checkpoint given as a path prefix, a name in the run's checkpoints (``ckpt-134``) or a step."""
    name = f"{CHECKPOINT_PREFIX}-{which}" if which.isdigit() else which
    for candidate in (Path(which), checkpoint_dir(run_dir) / name, best_checkpoint_dir(run_dir) / name):
        if candidate.with_name(candidate.name + ".index").exists():
            return str(candidate)
    kept = sorted((p.name.removesuffix(".index") for p in checkpoint_dir(run_dir).glob("*.index")),
                  key=lambda name: checkpoint_step(name, -1))
    raise W2VError(f"run directory {run_dir}: no checkpoint {which} (give best, a step, a name or a path "
                   f"prefix; it keeps {', '.join(kept) or 'none'})")


def embedding_table(checkpoint: str) -> tuple[int, np.ndarray]:
    """A checkpoint's step and embedding table: from its vector cache entry when it has a current one
    (no TensorFlow), else read from the checkpoint, which then gets one."""
    cached = vector_cache.load(checkpoint)
    if cached is not None:
        return cached
    from w2v import quiet

    quiet.tensorflow()
    from w2v import state

    step, table = state.read_embedding(checkpoint)
    vector_cache.store(checkpoint, step, table)
    return step, table


@dataclass
class Embedding:
    """A run's vectors at one checkpoint: the words' (with subwords, each the mean of its rows), and
    for a subword model the n-gram rows that give unseen words theirs."""

    vocab: Vocab
    vectors: np.ndarray
    step: int
    checkpoint: str  # its path prefix
    ngrams: np.ndarray | None = None
    settings: subwords.Settings | None = None

    def unit(self) -> np.ndarray:
        """The words' unit vectors, which queries read: the vector cache's, memory-mapped (else computed, and kept
        there for the next query)."""
        return vector_cache.unit(self.checkpoint, self.vectors)

    def unseen(self, word: str) -> np.ndarray:
        """The vector of a word outside the vocabulary, from its n-grams (subword models only)."""
        assert self.ngrams is not None and self.settings is not None
        return subwords.unseen(word, self.ngrams, self.settings)


def read_embedding(run_dir: Path, checkpoint: str | None = None) -> Embedding:
    """A run's vectors at a checkpoint (the latest, the best or a path prefix: see ``checkpoint_path``)."""
    vocab = load_vocab(run_dir)
    path = checkpoint_path(run_dir, checkpoint)
    step, table = embedding_table(path)
    model = load_config(run_dir).model
    rows = len(vocab) + (model.buckets if model.subwords else 0)
    if len(table) != rows:
        raise W2VError(f"checkpoint {path}: {len(table)} rows for {len(vocab)} words in "
                       f"{Path(run_dir) / VOCAB}" + (f" and {model.buckets} n-gram buckets" if model.subwords else ""))
    if not model.subwords:
        return Embedding(vocab, table, step, path)
    settings = subwords.settings(model)
    vectors = subwords.compose(table, *subwords.table(vocab.words, settings))
    return Embedding(vocab, vectors, step, path, table[len(vocab):], settings)


def load_embedding(run_dir: Path, checkpoint: str | None = None) -> tuple[Vocab, np.ndarray, int]:
    """The vocabulary, word vectors and global step of a run's checkpoint (see ``read_embedding``)."""
    embedding = read_embedding(run_dir, checkpoint)
    return embedding.vocab, embedding.vectors, embedding.step


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
    with open(path) as f:  # read-only: a run on a read-only disk can still be asked
        holder = _take(f)
        if holder is None:
            fcntl.flock(f, fcntl.LOCK_UN)
        return holder


def _in_use(run_dir: Path, holder: str) -> W2VError:
    return W2VError(f"run directory {run_dir}: in use by another w2v process (pid {holder})")


def check_free(run_dir: Path) -> None:
    """A W2VError when another live process holds the run's lock (asked without taking it)."""
    if (holder := lock_holder(run_dir)) is not None:
        raise _in_use(run_dir, holder)


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
        try:
            f = open(self.path, "a+")
        except OSError as e:
            raise W2VError(f"run directory {self.path.parent}: cannot be written ({_why(self.path.parent, e)})") \
                from None
        holder = _take(f)
        if holder is not None:
            f.close()
            raise _in_use(self.path.parent, holder)
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
