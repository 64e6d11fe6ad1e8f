"""Stopping a run by signal: SIGINT or SIGTERM ask training to stop after the current call (which
then saves a checkpoint); a second SIGINT aborts at once, until the process ends.

Python runs its signal handlers in the main thread between bytecodes, so a handler alone would wait
for the TensorFlow call in progress. The C-level handler also writes the signal number to a wakeup
pipe; a watcher thread reads it, says at once what will happen, and on a second SIGINT ends the
process there and then (the last checkpoint stays; ``w2v resume`` continues from it).

After a stop the handlers stay installed, for a process that is about to exit (the command line): a second
Ctrl-C while it saves and shuts down still aborts. A caller that goes on (the Python API, a notebook) wraps
training in ``caller_handlers``, which puts its own handlers back and then hands it the stop signal.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)

# StopSignals left installed after a stop, for caller_handlers to remove.
_lingering: list[StopSignals] = []


class StopSignals:
    """While active (main thread only): ``received`` is the first stop signal, or None."""

    def __init__(self, on_abort: Callable[[], None] = lambda: None) -> None:
        self.received: int | None = None
        self._on_abort = on_abort
        self._previous: dict[int, object] = {}
        self._pipe: tuple[int, int] | None = None
        self._previous_fd = -1

    @staticmethod
    def _handle(signum: int, frame: object) -> None:
        """Replaces the default handlers (KeyboardInterrupt, termination); the watcher does the work."""

    def _watch(self, read_fd: int) -> None:
        newline = "\n" if sys.stderr.isatty() else ""  # off the progress bar's line
        while chunk := os.read(read_fd, 64):
            for signum in chunk:
                if signum not in SIGNALS:
                    continue
                if self.received is None:
                    self.received = signum
                    print(f"{newline}{signal.Signals(signum).name}: stopping after the current steps and saving a "
                          f"checkpoint (press Ctrl-C again to abort at once)", file=sys.stderr, flush=True)
                elif signum == signal.SIGINT:
                    print("aborted; the last checkpoint stays, continue with `w2v resume`", file=sys.stderr,
                          flush=True)
                    self._on_abort()
                    os._exit(128 + signum)
        os.close(read_fd)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        self._pipe = (read_fd, write_fd)
        self._previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        threading.Thread(target=self._watch, args=(read_fd,), daemon=True, name="w2v-signals").start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pipe is None:
            return
        if self.received is not None:
            # The process is stopping: a second Ctrl-C while it saves, writes its record or shuts down must
            # still abort at once. Python's own handler would raise KeyboardInterrupt wherever the main
            # thread is then, and in interpreter shutdown that is printed as "Exception ignored" and lost.
            _lingering.append(self)
            return
        self._release()

    def _release(self) -> None:
        """Put back the handlers and wakeup fd found on entry and end the watcher."""
        assert self._pipe is not None
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._pipe[1])  # ends the watcher, which then closes its end
        self._pipe = None


@contextmanager
def caller_handlers() -> Iterator[None]:
    """Training for a caller that goes on afterwards: on the way out, whatever happened, the caller's own
    signal handlers are back; a stop signal that ended training is then raised again, once its checkpoint is
    saved, for the caller's handler to act on: Ctrl-C raises KeyboardInterrupt in Python's main thread (and
    ends a notebook cell's loop), SIGTERM ends the process unless the caller handles it, an ignored signal
    stays ignored."""
    stopped: int | None = None
    try:
        yield
    finally:
        while _lingering:
            signals = _lingering.pop()
            stopped = signals.received
            signals._release()
    if stopped is not None:
        signal.raise_signal(stopped)
