import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from w2v.events import ScalarEvents


def read_scalars(run_dir):
    """What TensorBoard shows: every scalar tag's (step, value), from all of a run's event files."""
    found = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(path))
        acc.Reload()
        for tag in acc.Tags()["tensors"]:
            found.setdefault(tag, []).extend((e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag))
    return {tag: sorted(values) for tag, values in found.items()}


def test_scalars_read_back_as_tf_summary_writes_them(tmp_path):
    with tf.summary.create_file_writer(str(tmp_path)).as_default(step=3):
        tf.summary.scalar("eval/a", 0.25)
    events = ScalarEvents(tmp_path)
    events.scalars(7, {"eval/a": 0.5, "eval/b": 2.0})
    events.flush()
    events.scalars(9, {"eval/b": 3.0})
    events.flush()
    ScalarEvents(tmp_path).scalars(11, {"eval/b": 4.0})
    assert read_scalars(tmp_path) == {"eval/a": [(3, 0.25), (7, 0.5)], "eval/b": [(7, 2.0), (9, 3.0), (11, 4.0)]}
