"""Optimizers that update only the embedding rows a batch touched.

Keras 3's optimizers turn the IndexedSlices gradients of an embedding lookup into dense updates
of the whole table (Adam tens of times slower than sparse SGD here), so the three optimizers
word2vec users compare are written against scatter ops instead. Adam is the "lazy" variant:
moments of rows absent from a batch are not decayed, as in TF1's LazyAdam.
"""

from __future__ import annotations

import tensorflow as tf


def _dedupe(grad: tf.IndexedSlices) -> tuple[tf.Tensor, tf.Tensor]:
    """Sum the rows of repeated indices, so per-row state (accumulators, moments) updates once."""
    unique, position = tf.unique(grad.indices)
    values = tf.math.unsorted_segment_sum(grad.values, position, tf.size(unique))
    return unique, values


class SparseOptimizer(tf.Module):
    """SGD, Adagrad or lazy Adam over a fixed list of variables; slots are checkpointed with it."""

    def __init__(self, kind: str, variables: list[tf.Variable], beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, initial_accumulator: float = 0.1) -> None:
        super().__init__(name="optimizer")
        self.kind = kind
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")
        self.slots: list[dict[str, tf.Variable]] = []
        colocate = tf.distribute.get_strategy().extended.colocate_vars_with
        for var in variables:
            name = var.name.split(":")[0].replace("/", "_")
            # Next to their variable: on its device, mirrored like it, on the same ps shard (and never
            # sharded again).
            with colocate(var):
                if kind == "adagrad":
                    slots = {"accumulator": tf.Variable(tf.fill(var.shape, initial_accumulator),
                                                        name=f"{name}_acc")}
                elif kind == "adam":
                    slots = {"m": tf.Variable(tf.zeros(var.shape), name=f"{name}_m"),
                             "v": tf.Variable(tf.zeros(var.shape), name=f"{name}_v")}
                else:
                    slots = {}
            self.slots.append(slots)

    def apply(self, grads: list[tf.Tensor | tf.IndexedSlices], variables: list[tf.Variable],
              learning_rate: tf.Tensor) -> None:
        """One update of every variable with its gradient."""
        self.iterations.assign_add(1)
        for grad, var, slots in zip(grads, variables, self.slots, strict=True):
            if grad is None:
                continue
            if not isinstance(grad, tf.IndexedSlices):
                indices, values = tf.range(tf.shape(grad)[0]), grad
            else:
                # Repeated rows summed first: a scatter with repeated indices adds them in an order that
                # depends on TensorFlow's threads, so the same seed would not give the same vectors.
                indices, values = _dedupe(grad)
            if self.kind == "sgd":
                var.scatter_sub(tf.IndexedSlices(learning_rate * values, indices))
                continue
            if self.kind == "adagrad":
                self._adagrad(var, slots["accumulator"], indices, values, learning_rate)
            else:
                self._adam(var, slots["m"], slots["v"], indices, values, learning_rate)

    def _adagrad(self, var: tf.Variable, acc: tf.Variable, indices: tf.Tensor, values: tf.Tensor,
                 lr: tf.Tensor) -> None:
        acc.scatter_add(tf.IndexedSlices(tf.square(values), indices))
        rows = tf.gather(acc, indices)
        var.scatter_sub(tf.IndexedSlices(lr * values / (tf.sqrt(rows) + self.epsilon), indices))

    def _adam(self, var: tf.Variable, m: tf.Variable, v: tf.Variable, indices: tf.Tensor, values: tf.Tensor,
              lr: tf.Tensor) -> None:
        t = tf.cast(self.iterations, tf.float32)
        m_rows = self.beta_1 * tf.gather(m, indices) + (1 - self.beta_1) * values
        v_rows = self.beta_2 * tf.gather(v, indices) + (1 - self.beta_2) * tf.square(values)
        m.scatter_update(tf.IndexedSlices(m_rows, indices))
        v.scatter_update(tf.IndexedSlices(v_rows, indices))
        step = lr * tf.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        var.scatter_sub(tf.IndexedSlices(step * m_rows / (tf.sqrt(v_rows) + self.epsilon), indices))
