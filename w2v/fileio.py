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


@contextlib.contextmanager
def replacing(target: str | Path, directory: bool = False) -> Iterator[Path]:
    """A temporary path beside ``target`` (a file, or with ``directory`` an empty directory) to
    write; when the block ends without an error it replaces ``target`` atomically, else it is
    removed. The result gets the permissions of a file created normally (mkstemp's are private)."""
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
        if directory and target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_text(target: str | Path, text: str) -> None:
    """Write a UTF-8 text file atomically."""
    with replacing(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
