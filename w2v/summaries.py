"""TensorBoard summaries: scalars, histograms and the graph of one training step."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from w2v import config as config_lib
from w2v.schema import Config


def histogram_buckets(values: tf.Tensor, buckets: int = 30, chunk: int = 1 << 20) -> tf.Tensor:
    """TensorBoard's histogram of every element of ``values``: [buckets, 3] (left edge, right edge, count),
    ``buckets`` of equal width from the least value to the greatest, the last closed, as
    ``tf.summary.histogram`` makes them. Counted ``chunk`` values at a time: the summary op builds a [values,
    buckets] one-hot matrix of float64, so that a histogram of a whole embedding table took gigabytes (and
    one of a strided sample of 2^18 values, 63 MB at the end of every run)."""
    flat = tf.reshape(values, [-1])
    if tf.size(flat) == 0:
        return tf.zeros([buckets, 3], tf.float64)
    low, high = tf.reduce_min(flat), tf.reduce_max(flat)
    if low == high:
        counts = tf.concat([tf.zeros([buckets - 1], tf.float64), [tf.cast(tf.size(flat), tf.float64)]], 0)
        edges = tf.fill([buckets], tf.cast(high, tf.float64))
        return tf.stack([edges, edges, counts], axis=1)
    counts = tf.zeros([buckets], tf.int64)
    for start in range(0, int(tf.size(flat)), chunk):
        counts += tf.cast(tf.histogram_fixed_width(flat[start:start + chunk], [low, high], nbins=buckets), tf.int64)
    low, high = tf.cast(low, tf.float64), tf.cast(high, tf.float64)
    edges = tf.concat([tf.linspace(low, high, buckets + 1)[:-1], [high]], 0)
    return tf.stack([edges[:-1], edges[1:], tf.cast(counts, tf.float64)], axis=1)


class Summaries:
    """Event files written into the run directory itself, so each run is one TensorBoard run."""

    def __init__(self, run_dir: Path) -> None:
        self.writer = tf.summary.create_file_writer(str(run_dir))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """One scalar per tag at ``step``."""
        with self.writer.as_default(step=step):
            for tag, value in values.items():
                tf.summary.scalar(tag, value)

    def histograms(self, step: int, values: dict[str, tf.Tensor]) -> None:
        """One histogram per tag at ``step``, of every value (``histogram_buckets``)."""
        from tensorboard.plugins.histogram import metadata

        with self.writer.as_default(step=step):
            for tag, value in values.items():
                tf.summary.write(tag, histogram_buckets(tf.convert_to_tensor(value)),
                                 metadata=metadata.create_summary_metadata(display_name=None, description=None))

    def hparams(self, config: Config, trial_id: str) -> None:
        """The run's hyper-parameters for TensorBoard's HParams tab, as flat ``section.key`` names.

        No root-level experiment summary is written: the plugin then builds the experiment from all
        runs' hyper-parameters and scalar tags, so it stays valid as runs are added. None values are
        left out (the plugin cannot type them).
        """
        # summary_v2, not the plugin's ``api``: that module imports Keras (a Keras callback lives there), and with
        # it matplotlib and scikit-learn: 1,500 modules and 80 MB of a training process's peak.
        from tensorboard.plugins.hparams import summary_v2

        values = {k: v for k, v in config_lib.flat(config).items() if v is not None}
        with self.writer.as_default():
            summary_v2.hparams(values, trial_id=trial_id)

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
