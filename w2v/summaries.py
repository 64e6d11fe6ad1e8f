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


# Values a histogram counts at most: a larger table is shown by an even sample of its rows. Counting both tables
# of a 957k x 300 model took 2-4 s a histogram (every 500 steps, a sixth of the run's time); a sample of 4M
# values each, 67 ms for the two, 1M a quarter of that. Rows at an even stride through a table ordered by
# frequency cover every frequency alike, and a million values fill TensorBoard's 30 buckets smoothly.
HISTOGRAM_VALUES = 1 << 20


def row_sample(values: tf.Tensor) -> tuple[tf.Tensor, str | None]:
    """``values``, or when it holds more than HISTOGRAM_VALUES values every k-th of its rows (k the least that
    brings it under), and a description saying which rows. Taken from a read of the tensor, never by a gather
    from a variable, which would leave the variable copying all of itself on every later read (checkpoints)."""
    rows = int(values.shape[0]) if values.shape.rank else 0
    size = int(tf.size(values))
    if size <= HISTOGRAM_VALUES or rows < 2:
        return values, None
    stride = -(-size // HISTOGRAM_VALUES)
    taken = tf.gather(values, tf.range(0, rows, stride))
    return taken, f"a sample: every {stride}th row, {int(taken.shape[0]):,} of {rows:,} rows"


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
        """One histogram per tag at ``step`` (``histogram_buckets``), of every value, or of a sample of the rows
        of a large table (``row_sample``), which its description then names."""
        from tensorboard.plugins.histogram import metadata

        with self.writer.as_default(step=step):
            for tag, value in values.items():
                sample, description = row_sample(tf.convert_to_tensor(value))
                tf.summary.write(tag, histogram_buckets(sample),
                                 metadata=metadata.create_summary_metadata(display_name=None,
                                                                           description=description))

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
