import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from w2v.summaries import Summaries, histogram_buckets


def histograms(run_dir):
    """Every histogram in a run directory's event files: {tag: [buckets, 3] array}."""
    out = {}
    for path in run_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "histograms":
                    out[value.tag] = tf.make_ndarray(value.tensor)
    return out


def test_histograms_are_tensorboards_over_every_value(tmp_path):
    table = tf.Variable(tf.random.stateless_normal([20000, 16], seed=[1, 2]))
    ones = tf.ones([5, 4])
    summaries = Summaries(tmp_path / "ours")
    summaries.histograms(7, {"table": table, "ones": ones, "empty": tf.zeros([0])})
    summaries.writer.flush()
    with tf.summary.create_file_writer(str(tmp_path / "theirs")).as_default(step=7):
        tf.summary.histogram("table", table)
        tf.summary.histogram("ones", ones)
    ours, theirs = histograms(tmp_path / "ours"), histograms(tmp_path / "theirs")
    assert ours["table"].shape == (30, 3)
    assert ours["table"][:, 2].sum() == 20000 * 16  # every value: more than the 2^18 a strided sample kept
    np.testing.assert_allclose(ours["table"][:, :2], theirs["table"][:, :2])
    np.testing.assert_array_equal(ours["table"][:, 2], theirs["table"][:, 2])
    np.testing.assert_array_equal(ours["ones"], theirs["ones"])  # one value: all in the last bucket
    assert not ours["empty"].any()


def test_a_large_tables_histogram_counts_an_even_sample_of_its_rows_and_says_so(tmp_path, monkeypatch):
    import w2v.summaries

    monkeypatch.setattr(w2v.summaries, "HISTOGRAM_VALUES", 5000)
    rows = np.repeat(np.arange(3000, dtype=np.float32)[:, None], 10, axis=1)  # row i holds i
    table = tf.Variable(rows)
    summaries = Summaries(tmp_path)
    summaries.histograms(3, {"table": table})
    summaries.writer.flush()
    buckets = histograms(tmp_path)["table"]
    assert buckets[:, 2].sum() == 500 * 10  # every 6th row
    assert buckets[0, 0] == 0 and buckets[-1, 1] == 2994  # from the first row to the last one taken
    (description,) = [v.metadata.summary_description for path in tmp_path.glob("events.out.tfevents.*")
                      for e in tf.compat.v1.train.summary_iterator(str(path)) for v in e.summary.value]
    assert description == "a sample: every 6th row, 500 of 3,000 rows"
    # Read as a whole, not gathered from: the variable still gives reads of its own memory (a gather from it
    # would make every later read, each checkpoint's, copy the whole table).
    first, second = (np.asarray(tf.convert_to_tensor(table)) for _ in range(2))
    assert np.shares_memory(first, second)


@pytest.mark.parametrize("chunk", [1000, 1 << 20])
def test_histogram_counts_agree_with_numpy_whatever_the_chunk(chunk):
    values = tf.random.stateless_uniform([777, 13], seed=[3, 4], minval=-2.0, maxval=5.0)
    buckets = histogram_buckets(values, chunk=chunk).numpy()
    counts, edges = np.histogram(values.numpy(), bins=30, range=(values.numpy().min(), values.numpy().max()))
    np.testing.assert_array_equal(buckets[:, 2], counts)
    np.testing.assert_allclose(buckets[:, 0], edges[:-1], rtol=1e-6)
    np.testing.assert_allclose(buckets[:, 1], edges[1:], rtol=1e-6)


SUMMARIES_WITHOUT_KERAS = """
import sys
from pathlib import Path
from w2v import quiet
quiet.tensorflow()
from w2v.config import Config
from w2v.summaries import Summaries
s = Summaries(Path(sys.argv[1]))
s.hparams(Config(), "run")
s.scalars(1, {"loss": 1.0})
s.histograms(1, {"w": [1.0, 2.0]})
s.flush()
print(sorted({"keras", "matplotlib", "sklearn"} & {m.split(".")[0] for m in sys.modules}))
"""


def test_a_runs_summaries_import_no_keras(tmp_path):
    # Keras, and matplotlib and scikit-learn with it, were 80 MB of a training process's peak memory.
    done = subprocess.run([sys.executable, "-c", SUMMARIES_WITHOUT_KERAS, str(tmp_path)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert list(tmp_path.glob("events.out.tfevents.*"))
