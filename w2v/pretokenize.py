"""A new corpus tokenised while TensorFlow loads: ``import tensorflow`` keeps one core busy for about 5 s,
and a corpus's first read (tokenising and counting it into its shard cache, w2v/shards.py) takes several
more. ``alongside(data)`` forks a child that writes the cache while the block imports TensorFlow on the other
core; training then finds the cache written.

The child is forked before TensorFlow's threads exist (forking a process that has them is unsafe). It only
writes the cache, which is published whole or not at all: whatever goes wrong in it, the parent's own read of
the corpus afterwards does the work again and reports the error as it would have.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Iterator

from w2v import corpus
from w2v.schema import DataConfig

_PR_SET_PDEATHSIG = 1


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _die_with_parent(parent: int) -> None:
    """Ask Linux to signal this child when its parent ends, so that a killed ``w2v train`` leaves no tokeniser
    running; a parent already gone is noticed at once."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the child ends when the cache is written
        return
    if os.getppid() != parent:
        raise KeyboardInterrupt


def _child(data: DataConfig, progress: bool, parent: int) -> None:
    code = 1
    try:
        # Interrupted by either signal, even where the shell ignores SIGINT (a background job): the way out
        # removes the half-written cache.
        signal.signal(signal.SIGINT, _interrupted)
        signal.signal(signal.SIGTERM, _interrupted)
        _die_with_parent(parent)
        corpus.encoded(data, progress)
        code = 0
    except BaseException:  # noqa: BLE001 (the parent reads the corpus again and reports what went wrong)
        pass
    finally:
        sys.stderr.flush()
        os._exit(code)  # not the parent's exit handlers


@contextlib.contextmanager
def alongside(data: DataConfig, progress: bool = False) -> Iterator[None]:
    """While the block runs, a child process tokenises ``data``'s corpus into its cache if it is not there
    yet (with a progress bar if asked); the block's end waits for it. Where processes cannot be forked,
    nothing happens here and training tokenises as before."""
    if not hasattr(os, "fork") or "tensorflow" in sys.modules:
        yield
        return
    parent = os.getpid()
    sys.stdout.flush()  # or the child would write what the parent's buffers hold a second time
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(data, progress, parent)
    try:
        yield
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        raise
    finally:
        os.waitpid(pid, 0)
