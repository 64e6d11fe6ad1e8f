"""Learning-rate schedules: pure functions of training progress, so they can be tested alone."""

from __future__ import annotations

import tensorflow as tf


def progress(step: tf.Tensor, position: tf.Tensor, steps: int | None, positions: int) -> tf.Tensor:
    """How far training is, from 0 to 1: by global step when train.steps fixes the length, else by the
    stream position over all epochs (as word2vec.c counts words)."""
    if steps is not None:
        return tf.cast(step, tf.float32) / steps
    return tf.cast(position, tf.float32) / float(positions)


def linear_decay(initial: float, floor: float, done: tf.Tensor | float) -> tf.Tensor:
    """word2vec's schedule: ``initial`` falling linearly as ``done`` goes from 0 to 1, to ``floor``
    times ``initial``, then staying there."""
    return initial * tf.maximum(floor, 1.0 - tf.cast(done, tf.float32))
