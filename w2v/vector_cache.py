"""A checkpoint's embedding table readable without TensorFlow, so that the commands that read a finished run's
vectors (neighbors, eval, export) need neither TensorFlow (seconds to import) nor a checkpoint read; and the
words' unit vectors (each word's vector divided by its length), which every query reads, so that a query maps
them instead of normalising the whole table first (3.7 s and 3.5 GB for one `w2v neighbors` of a 957k x 300 run
that did; mapped, a tenth of a second).

An entry is ``<checkpoint dir>/vectors/<checkpoint name>.json``: the checkpoint files it describes (their size
and modification time, which a copy that keeps times keeps too), the step, the table's shape and where its
values are, and the shape of the unit vectors in ``<name>.unit.npy`` beside it. A checkpoint holds a float32
table as its raw bytes, so the entry can point into the checkpoint's own data file (found there and compared
with the table byte for byte when the entry is written): nothing is copied, where a ``<name>.npy`` copy was a
table's size more to write at the end of every run (1.1 GB at a million words x 300) and to keep; the copy is
written only where the table is not found so (a table sharded over ps tasks is saved in pieces). An entry is
used only while those files still describe the checkpoint on disk, so it can never disagree with the checkpoint
it claims to be: a checkpoint written again under the same name (a run deleted and trained again, a file
restored from a backup) makes its entry stale, and it is read from the checkpoint anew. Entries are written
atomically (fileio.replacing), the arrays first and their description last. A training run writes its final
checkpoint's entry from the tables in memory; an entry is written on first read for any other checkpoint, and
the unit vectors on the first query.
"""

from __future__ import annotations

import json
import mmap
import sys
from pathlib import Path
from typing import BinaryIO

import numpy as np

from w2v import fileio
from w2v.vectors import unit_blocks, unit_rows

DIR = "vectors"
SEARCH_BYTES = 64 << 20  # a checkpoint's data file is searched for its table this much at a time
NEEDLE_BYTES = 4096  # the table's first bytes, what is searched for


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


def _entry(checkpoint: str) -> tuple[Path, Path, Path]:
    """The table copy's, the unit vectors' and the description's paths."""
    prefix = Path(checkpoint)
    base = prefix.parent / DIR / prefix.name
    return (base.with_name(base.name + ".npy"), base.with_name(base.name + ".unit.npy"),
            base.with_name(base.name + ".json"))


def _about(checkpoint: str) -> dict | None:
    """The description of a current entry (None when there is none, or it describes other files)."""
    try:
        about = json.loads(_entry(checkpoint)[2].read_text())
        return about if about["checkpoint"] == identity(checkpoint) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _map(path: Path, offset: int, shape: list[int], populate: bool = False) -> np.ndarray | None:
    """``shape`` float32 values at ``offset`` of a file, memory-mapped read-only; None when the file is shorter.
    ``populate`` maps all the pages at once (MAP_POPULATE): a query reads every row, and a page fault each of
    4 KB made the first product with a 1.1 GB table take 1.1 s, against 0.1 s for the mapped pages and the
    product."""
    count = int(np.prod(shape))
    if count == 0:
        return np.zeros(shape, np.float32)
    start = offset - offset % mmap.ALLOCATIONGRANULARITY  # mmap's offset must be a multiple of that
    flags = mmap.MAP_SHARED | (getattr(mmap, "MAP_POPULATE", 0) if populate else 0)
    try:
        with open(path, "rb") as f:
            if f.seek(0, 2) < offset + 4 * count:
                return None
            pages = mmap.mmap(f.fileno(), offset + 4 * count - start, flags=flags, prot=mmap.PROT_READ,
                              offset=start)
    except (OSError, ValueError):
        return None
    return np.frombuffer(pages, np.float32, count=count, offset=offset - start).reshape(shape)


def _mapped_npy(path: Path, shape: list[int], populate: bool = False) -> np.ndarray | None:
    """A float32 .npy of exactly ``shape``, memory-mapped read-only (``_map``); None for any other file."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            found, fortran, dtype = read_header(f)
            offset = f.tell()
            if list(found) != list(shape) or fortran or dtype != np.float32 or \
                    f.seek(0, 2) != offset + 4 * int(np.prod(shape)):
                return None
    except (OSError, ValueError):
        return None
    return _map(path, offset, shape, populate)


def load(checkpoint: str) -> tuple[int, np.ndarray] | None:
    """The step and embedding table of a checkpoint (memory-mapped, read-only) when a current entry
    holds them; None otherwise."""
    about = _about(checkpoint)
    if about is None:
        return None
    shape, inside = about.get("shape"), about.get("table")
    if inside is None:
        table = _mapped_npy(_entry(checkpoint)[0], shape)
    else:
        table = _map(Path(checkpoint).parent / inside["file"], inside["offset"], shape)
    return None if table is None else (int(about["step"]), table)


def load_unit(checkpoint: str, shape: tuple[int, int]) -> np.ndarray | None:
    """The unit vectors of a checkpoint's words, of ``shape``, memory-mapped read-only with every page
    mapped, when a current entry holds them; None otherwise."""
    about = _about(checkpoint)
    if about is None or about.get("unit") != list(shape):
        return None
    return _mapped_npy(_entry(checkpoint)[1], list(shape), populate=True)


def _equal(f: BinaryIO, offset: int, table: np.ndarray) -> bool:
    """Whether a file holds ``table``'s bytes from ``offset``, read into one buffer a block at a time, the first a
    small one (read, not mapped: a mapped file's pages would count in the process's memory)."""
    flat = table.reshape(-1).view(np.uint8)
    buffer = np.empty(min(SEARCH_BYTES, len(flat)), np.uint8)
    f.seek(offset)
    start, size = 0, 1 << 20
    while start < len(flat):
        block = flat[start:start + size]
        read = f.readinto(memoryview(buffer)[:len(block)])
        if read != len(block) or not np.array_equal(buffer[:read], block):
            return False
        start, size = start + size, SEARCH_BYTES
    return True


def _find(checkpoint: str, table: np.ndarray, tries: int = 8) -> dict | None:
    """Where a checkpoint's data files hold ``table`` (float32) as its raw bytes: the file and the offset, or
    None (also after ``tries`` places that began like it but were not it: a table of zeros begins like much)."""
    if table.dtype != np.float32 or not table.flags.c_contiguous or table.nbytes < NEEDLE_BYTES or \
            sys.byteorder != "little":  # TensorFlow writes little-endian values
        return None
    needle = table.reshape(-1).view(np.uint8)[:NEEDLE_BYTES].tobytes()
    for path in _files(checkpoint)[1:]:
        with open(path, "rb") as f:
            at = 0
            while block := f.read(SEARCH_BYTES + NEEDLE_BYTES - 1):
                hit = block.find(needle)
                while hit >= 0:
                    if _equal(f, at + hit, table):
                        return {"file": path.name, "offset": at + hit}
                    tries -= 1
                    if tries == 0:
                        return None
                    hit = block.find(needle, hit + 1)
                at += SEARCH_BYTES
                f.seek(at)
    return None


def _write_unit(path: Path, words: np.ndarray) -> None:
    """The unit rows of ``words`` as a .npy, a block at a time (written, not mapped, for the reason ``_equal``
    gives)."""
    with fileio.replacing(path) as tmp, open(tmp, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": words.shape})
        for block in unit_blocks(words):
            f.write(block.tobytes())


def _describe(checkpoint: str, about: dict) -> None:
    fileio.write_text(_entry(checkpoint)[2], json.dumps(about))


def write_unit(checkpoint: str, words: np.ndarray) -> None:
    """Write the unit vectors of a checkpoint's words (``words``: their vectors) into its entry, before the entry
    is described (``store``): the checkpoint need not be written yet. OSError when they cannot be."""
    path = _entry(checkpoint)[1]
    path.parent.mkdir(parents=True, exist_ok=True)  # before a run's first checkpoint, its directory too
    _write_unit(path, words)


def store(checkpoint: str, step: int, table: np.ndarray, words: np.ndarray | None = None,
          unit_written: bool = False) -> None:
    """Describe where a checkpoint's table is (the checkpoint's own bytes, ``table`` as that checkpoint holds it
    being compared with them; a copy where they are not found so) and, given ``words`` (the words' vectors: for a
    subword model each the mean of its rows), their unit vectors, written now unless ``unit_written`` says
    ``write_unit`` did; drop what the entries of checkpoints that are gone left. Written a block of rows at a time
    from the arrays given (no copy of a table in memory). A failure to write (a read-only run directory) costs
    only speed, so it is not an error."""
    files = identity(checkpoint)
    if files is None:
        return
    table_path, unit_path, _ = _entry(checkpoint)
    about = {"step": int(step), "shape": list(table.shape), "checkpoint": files}
    try:
        table_path.parent.mkdir(exist_ok=True)
        inside = _find(checkpoint, table)
        if inside is None:
            with fileio.replacing(table_path) as tmp, open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(table, dtype=np.float32))
        else:
            about["table"] = inside
            table_path.unlink(missing_ok=True)  # an earlier entry's copy, under this checkpoint's name
        if words is not None:
            if not unit_written:
                _write_unit(unit_path, words)
            about["unit"] = list(words.shape)
        _describe(checkpoint, about)
        for old in table_path.parent.iterdir():  # not another process's file being written (.<name>...part)
            if not old.name.startswith(".") and \
                    not (Path(checkpoint).parent / (old.name.split(".")[0] + ".index")).exists():
                old.unlink(missing_ok=True)
    except OSError:
        pass


def unit(checkpoint: str, words: np.ndarray) -> np.ndarray:
    """The unit vectors of ``words`` (a checkpoint's words' vectors): its entry's, else computed and added to
    its entry (when it has a current one and the directory can be written), so the next query maps them."""
    cached = load_unit(checkpoint, words.shape)
    if cached is not None:
        return cached
    about = _about(checkpoint)
    if about is not None:
        try:
            _write_unit(_entry(checkpoint)[1], words)
            _describe(checkpoint, {**about, "unit": list(words.shape)})
        except OSError:
            pass
        else:
            cached = load_unit(checkpoint, words.shape)
            if cached is not None:
                return cached
    return unit_rows(words)
