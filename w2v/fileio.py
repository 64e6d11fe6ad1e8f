"""Files that are never seen half-written: every file or directory w2v must not leave torn (configs,
vocabularies, meta.json, exports, tokenised corpora, downloads, built ops) is written under a
temporary name beside its target and renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    # Reading the umask means setting it; done once, before any thread could create files.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _umask()


def _sync(path: Path) -> None:
    """Flush a file, or a directory's entries, to the disk (os.replace alone orders nothing: after a power
    loss the new name can point at data never written)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_tree(directory: Path) -> None:
    """Sync every file of a directory, then each directory after its contents (one bottom-up walk)."""
    for here, _, files in os.walk(directory, topdown=False):
        for name in sorted(files):
            if not os.path.islink(os.path.join(here, name)):
                _sync(Path(here, name))
        _sync(Path(here))


@contextlib.contextmanager
def replacing(target: str | Path, directory: bool = False, exclusive: bool = False) -> Iterator[Path]:
    """A temporary path beside ``target`` (a file, or with ``directory`` an empty directory) to
    write; when the block ends without an error it replaces ``target`` atomically, else it is
    removed. The result gets the permissions of a file created normally (mkstemp's are private).

    As SQLite and LevelDB do, the new contents are synced before the rename and the directory after
    it, so that a power loss leaves the old file or the new one, never an empty one. ``exclusive``
    (files only): a FileExistsError instead of replacing a target that exists, even one another
    process creates meanwhile."""
    target = Path(target)
    prefix, suffix = f".{target.name}.", ".part"
    if directory:
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=prefix, suffix=suffix))
    else:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=suffix)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, (0o777 if directory else 0o666) & ~UMASK)
        if directory:
            _sync_tree(tmp)
        else:
            _sync(tmp)
        if directory and target.exists():
            shutil.rmtree(target)
        if exclusive:
            os.link(tmp, target)  # fails if the name exists: the check and the creation are one step
        else:
            os.replace(tmp, target)
        _sync(target.parent)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_text(target: str | Path, text: str, exclusive: bool = False) -> None:
    """Write a UTF-8 text file atomically (``exclusive``: never over an existing file; see ``replacing``)."""
    with replacing(target, exclusive=exclusive) as tmp:
        tmp.write_text(text, encoding="utf-8")
