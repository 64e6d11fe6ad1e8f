"""C++ parts built with the system's compiler on first use, and cached by their source and build command: the
fused engine (w2v/fused.py) and the tokeniser's loop (w2v/tokens.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from w2v import fileio


class BuildError(Exception):
    """The library could not be built; the message says why in a few words."""


class NoCompiler(BuildError):
    """There is no compiler to build it with; the message names the one looked for."""


def cache_dir() -> Path:
    """Where built libraries are kept: $XDG_CACHE_HOME/w2v/ops, else ~/.cache/w2v/ops."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "w2v" / "ops"


def library(stem: str, sources: list[Path], command: Callable[[Path], list[str]], version: str = "",
            announce: Callable[[str, Path], None] | None = None) -> Path:
    """The path of the library that ``command(output)`` builds from ``sources`` (headers included), built first
    when this source, command and ``version`` have not been built yet (``announce(compiler, directory)`` is
    called before a build). Raises NoCompiler without a compiler, BuildError when the build fails."""
    probe = command(Path("out"))
    key = hashlib.sha256(b"".join(p.read_bytes() for p in sources)
                         + f"{version} {sys.platform} {' '.join(probe)}".encode())
    path = cache_dir() / f"{stem}-{key.hexdigest()[:16]}.so"
    if path.exists():
        return path
    if shutil.which(probe[0]) is None:
        raise NoCompiler(f"no C++ compiler ({probe[0]})")
    path.parent.mkdir(parents=True, exist_ok=True)
    if announce is not None:
        announce(probe[0], path.parent)
    # Concurrent builders each publish a whole file.
    with fileio.replacing(path) as built:
        done = subprocess.run(command(built), capture_output=True, text=True)
        if done.returncode != 0:
            raise BuildError((done.stderr.strip().splitlines() or ["no output"])[-1])
    return path
