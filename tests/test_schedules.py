import numpy as np
import pytest
import tensorflow as tf

from w2v import schedules


def test_linear_decay_falls_to_its_floor_and_stays():
    done = tf.constant([0.0, 0.25, 0.5, 0.99, 1.0, 1.5])
    got = schedules.linear_decay(0.025, 0.0001, done).numpy()
    np.testing.assert_allclose(got, [0.025, 0.01875, 0.0125, 0.00025, 0.025 * 0.0001, 0.025 * 0.0001], rtol=1e-6)


def test_progress_is_by_step_when_steps_are_set_else_by_position():
    assert float(schedules.progress(tf.constant(30, tf.int64), tf.constant(999, tf.int64), 120, 10_000)) == 0.25
    assert float(schedules.progress(tf.constant(30, tf.int64), tf.constant(2_500, tf.int64), None, 10_000)) == 0.25


@pytest.mark.parametrize("floor", [0.0, 0.3])
def test_the_schedule_never_rises(floor):
    rates = schedules.linear_decay(1.0, floor, tf.linspace(0.0, 2.0, 50)).numpy()
    assert (np.diff(rates) <= 0).all() and rates.min() == pytest.approx(floor)
