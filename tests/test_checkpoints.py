"""The checkpoint schedule, torn-save cleanup and the choice of a checkpoint to restore."""

import pytest
import tensorflow as tf

from w2v.checkpoints import Checkpoints
from w2v.errors import W2VError


def manager(directory, every=10, keep=3):
    step = tf.Variable(0, dtype=tf.int64)
    value = tf.Variable(0.0)
    return Checkpoints(tf.train.Checkpoint(step=step, value=value), directory, every, keep, step), step, value


def test_saves_fall_on_multiples_of_the_period_and_are_numbered_by_step(tmp_path):
    checkpoints, step, _ = manager(tmp_path)
    assert [s for s in range(0, 31) if checkpoints.due(s)] == [10, 20, 30]
    for s in (10, 20, 30, 40):
        step.assign(s)
        checkpoints.save(s)
    assert [p.rsplit("/", 1)[1] for p in checkpoints.manager.checkpoints] == ["ckpt-20", "ckpt-30", "ckpt-40"]


def test_restore_takes_the_newest_readable_and_removes_torn_saves(tmp_path):
    checkpoints, step, value = manager(tmp_path)
    for s in (10, 20, 30):
        step.assign(s)
        value.assign(float(s))
        checkpoints.save(s)
    (tmp_path / "ckpt-40_temp").mkdir()
    data = tmp_path / "ckpt-30.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:10])
    fresh, step, value = manager(tmp_path)
    assert fresh.restore_latest().endswith("ckpt-20")
    assert int(step.numpy()) == 20 and float(value.numpy()) == 20.0
    assert not (tmp_path / "ckpt-40_temp").exists()


def test_nothing_to_restore_and_nothing_readable(tmp_path):
    assert manager(tmp_path)[0].restore_latest() is None
    checkpoints, step, _ = manager(tmp_path)
    step.assign(10)
    checkpoints.save(10)
    for path in tmp_path.glob("ckpt-10.*"):
        path.write_bytes(b"torn")
    with pytest.raises(W2VError, match="none of 1 can be read"):
        manager(tmp_path)[0].restore_latest()
