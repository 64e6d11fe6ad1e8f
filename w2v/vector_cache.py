"""A checkpoint's embedding table kept as ``.npy`` beside it, so that the commands that read a finished run's
vectors (neighbors, eval, export) need neither TensorFlow (seconds to import) nor a checkpoint read.

An entry is ``<checkpoint dir>/vectors/<checkpoint name>.npy``, memory-mapped when read, and a ``.json``
naming the checkpoint files it was read from (their size and modification time, which a copy that keeps
times keeps too) and the step. An entry is used only while those still describe the checkpoint on disk, so
it can never disagree with the checkpoint it claims to be: a checkpoint written again under the same name
(a run deleted and trained again, a file restored from a backup) makes its entry stale, and it is read
from the checkpoint anew. Entries are written atomically (fileio.replacing), the table first and its
description last.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from w2v import fileio

DIR = "vectors"


def _files(checkpoint: str) -> list[Path]:
    prefix = Path(checkpoint)
    return [prefix.with_name(prefix.name + ".index"), *sorted(prefix.parent.glob(prefix.name + ".data-*"))]


def identity(checkpoint: str) -> list[list[object]] | None:
    """What identifies a checkpoint's files on disk (None when its index is missing)."""
    out = []
    for path in _files(checkpoint):
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        out.append([path.name, st.st_size, st.st_mtime_ns])
    return out


def _entry(checkpoint: str) -> tuple[Path, Path]:
    prefix = Path(checkpoint)
    base = prefix.parent / DIR / prefix.name
    return base.with_name(base.name + ".npy"), base.with_name(base.name + ".json")


def load(checkpoint: str) -> tuple[int, np.ndarray] | None:
    """The step and embedding table of a checkpoint (memory-mapped, read-only) when a current entry
    holds them; None otherwise."""
    table_path, about_path = _entry(checkpoint)
    try:
        about = json.loads(about_path.read_text())
        if about["checkpoint"] != identity(checkpoint):
            return None
        table = np.load(table_path, mmap_mode="r")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if list(table.shape) != about["shape"]:
        return None
    return int(about["step"]), table


def store(checkpoint: str, step: int, table: np.ndarray) -> None:
    """Keep a checkpoint's table (read from that checkpoint), and drop the entries of checkpoints that
    are gone. A failure to write (a read-only run directory) costs only speed, so it is not an error."""
    files = identity(checkpoint)
    if files is None:
        return
    table_path, about_path = _entry(checkpoint)
    try:
        table_path.parent.mkdir(exist_ok=True)
        with fileio.replacing(table_path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(table, dtype=np.float32))
        fileio.write_text(about_path, json.dumps({"step": int(step), "shape": list(table.shape),
                                                  "checkpoint": files}))
        for old in table_path.parent.glob("*.json"):
            name = old.name.removesuffix(".json")
            if not (Path(checkpoint).parent / (name + ".index")).exists():
                old.unlink(missing_ok=True)
                old.with_name(name + ".npy").unlink(missing_ok=True)
    except OSError:
        pass

