"""Scalars for TensorBoard written without TensorFlow, for the commands that record something in a
finished run (``w2v eval``): importing TensorFlow for ``tf.summary`` would cost them 5 s.

TensorBoard's own record writer and protos write an event file of the run, as ``tf.summary.scalar``
would (a float tensor with the scalars plugin's metadata), which TensorBoard reads beside the
training's events.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import time
from pathlib import Path

from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.scalar import summary_v2
from tensorboard.summary.writer.record_writer import RecordWriter

_files = itertools.count()


class ScalarEvents:
    """An event file of its own in ``run_dir``, opened when the first scalars are written."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self._file = None
        self._writer: RecordWriter | None = None

    def _write(self, event: event_pb2.Event) -> None:
        if self._writer is None:
            # TensorFlow's naming, with a suffix of w2v's own: never an existing file's name.
            while self._file is None:
                name = (f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}."
                        f"w2v{next(_files)}.v2")
                with contextlib.suppress(FileExistsError):
                    self._file = open(self.run_dir / name, "xb")
            self._writer = RecordWriter(self._file)
            self._writer.write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
                               .SerializeToString())
        self._writer.write(event.SerializeToString())

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """One scalar per tag at ``step``."""
        for tag, value in values.items():
            self._write(event_pb2.Event(wall_time=time.time(), step=step, summary=summary_v2.scalar_pb(tag, value)))

    def flush(self) -> None:
        """Write what is buffered, and close the file (a later scalar opens another)."""
        if self._file is not None:
            self._file.close()
            self._file, self._writer = None, None
