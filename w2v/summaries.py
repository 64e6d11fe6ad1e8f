"""TensorBoard summaries: scalars, histograms and the graph of one training step."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from w2v import config as config_lib
from w2v.schema import Config


class Summaries:
    """Event files written into the run directory itself, so each run is one TensorBoard run."""

    def __init__(self, run_dir: Path) -> None:
        self.writer = tf.summary.create_file_writer(str(run_dir))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """One scalar per tag at ``step``."""
        with self.writer.as_default(step=step):
            for tag, value in values.items():
                tf.summary.scalar(tag, value)

    def histograms(self, step: int, values: dict[str, tf.Tensor], max_values: int = 1 << 18) -> None:
        """One histogram per tag at ``step``, of at most ``max_values`` evenly strided values: the
        summary op builds a [values, buckets] one-hot matrix, gigabytes for a whole embedding table."""
        with self.writer.as_default(step=step):
            for tag, value in values.items():
                flat = tf.reshape(tf.convert_to_tensor(value), [-1])
                stride = max(1, -(-int(tf.size(flat)) // max_values))
                tf.summary.histogram(tag, flat[::stride])

    def hparams(self, config: Config, trial_id: str) -> None:
        """The run's hyper-parameters for TensorBoard's HParams tab, as flat ``section.key`` names.

        No root-level experiment summary is written: the plugin then builds the experiment from all
        runs' hyper-parameters and scalar tags, so it stays valid as runs are added. None values are
        left out (the plugin cannot type them).
        """
        from tensorboard.plugins.hparams import api as hp

        values = {k: v for k, v in config_lib.flat(config).items() if v is not None}
        with self.writer.as_default():
            hp.hparams(values, trial_id=trial_id)

    def start_graph_trace(self) -> None:
        """Record the graph of the next tf.function call."""
        tf.summary.trace_on(graph=True, profiler=False)

    def export_graph(self, step: int) -> None:
        """Write the graph recorded since ``start_graph_trace``."""
        with self.writer.as_default(step=step):
            tf.summary.trace_export(name="train_step", step=step)

    def flush(self) -> None:
        """Push pending events to disk."""
        self.writer.flush()
