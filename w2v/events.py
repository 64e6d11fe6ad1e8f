"""Scalars (and text) for TensorBoard written without TensorFlow, for the commands that record something
after training (``w2v eval``, a sweep's seeds): importing TensorFlow for ``tf.summary`` would cost them 5 s.

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

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as custom_scalar
from tensorboard.plugins.scalar import summary_v2
from tensorboard.plugins.text import summary_v2 as text_summary
from tensorboard.summary.writer.record_writer import RecordWriter
from tensorboard.util import tensor_util

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
            self.summary(step, summary_v2.scalar_pb(tag, value))

    def text(self, step: int, tag: str, markdown: str) -> None:
        """Text for TensorBoard's Text dashboard (markdown)."""
        self.summary(step, text_summary.text_pb(tag, markdown))

    def layout(self, layout: layout_pb2.Layout) -> None:
        """The Custom Scalars dashboard's layout (the plugin's own ``summary.pb`` imports TensorFlow to make
        the same proto)."""
        tensor = tensor_util.make_tensor_proto(layout.SerializeToString())
        self.summary(0, summary_pb2.Summary(value=[summary_pb2.Summary.Value(
            tag=custom_scalar.CONFIG_SUMMARY_TAG, metadata=custom_scalar.create_summary_metadata(), tensor=tensor)]))

    def summary(self, step: int, summary: summary_pb2.Summary) -> None:
        """A summary proto made by a TensorBoard plugin, at ``step``."""
        self._write(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))

    def flush(self) -> None:
        """Write what is buffered, and close the file (a later scalar opens another)."""
        if self._file is not None:
            self._file.close()
            self._file, self._writer = None, None
