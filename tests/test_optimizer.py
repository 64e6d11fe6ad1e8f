import numpy as np
import pytest
import tensorflow as tf

from w2v.optimizer import SparseOptimizer


def sparse_grad():
    return tf.IndexedSlices(tf.constant([[1.0, 2.0], [3.0, 4.0], [1.0, 1.0]]), tf.constant([1, 3, 1]),
                            tf.constant([5, 2]))


def test_sgd_subtracts_lr_times_gradient_rows_summing_repeats():
    var = tf.Variable(tf.zeros([5, 2]))
    SparseOptimizer("sgd", [var]).apply([sparse_grad()], [var], tf.constant(0.5))
    expected = np.zeros([5, 2])
    expected[1] = [-1.0, -1.5]
    expected[3] = [-1.5, -2.0]
    np.testing.assert_allclose(var.numpy(), expected)


@pytest.mark.parametrize("kind", ["adagrad", "adam"])
def test_adaptive_optimizers_touch_only_the_batch_rows(kind):
    var = tf.Variable(tf.ones([5, 2]))
    opt = SparseOptimizer(kind, [var])
    for _ in range(3):
        opt.apply([sparse_grad()], [var], tf.constant(0.1))
    after = var.numpy()
    assert (after[[0, 2, 4]] == 1).all()
    assert (after[[1, 3]] < 1).all()


def test_adam_matches_the_dense_formula_for_a_dense_gradient():
    var = tf.Variable([1.0, -1.0])
    opt = SparseOptimizer("adam", [var])
    g = tf.constant([0.5, -0.25])
    opt.apply([g], [var], tf.constant(0.01))
    # After one step Adam moves each coordinate by lr * sign(g) (bias-corrected m / sqrt(v)).
    np.testing.assert_allclose(var.numpy(), [1.0 - 0.01, -1.0 + 0.01], rtol=1e-4)


def test_adagrad_dense_matches_formula():
    var = tf.Variable([1.0])
    opt = SparseOptimizer("adagrad", [var])
    opt.apply([tf.constant([2.0])], [var], tf.constant(0.1))
    np.testing.assert_allclose(var.numpy(), [1.0 - 0.1 * 2.0 / np.sqrt(0.1 + 4.0)], rtol=1e-5)


def reference(kind, steps, lr, rows=5, beta_1=0.9, beta_2=0.999, eps=1e-7, acc0=0.1):
    """Sparse Adagrad / lazy Adam in numpy: repeated rows of a step summed first; rows absent from a step
    keep their slots as they are."""
    var, acc, m, v = np.ones((rows, 2)), np.full((rows, 2), acc0), np.zeros((rows, 2)), np.zeros((rows, 2))
    for t, (indices, values) in enumerate(steps, 1):
        summed = {}
        for i, g in zip(indices, values, strict=True):
            summed[i] = summed.get(i, 0) + np.asarray(g, float)
        for i, g in summed.items():
            if kind == "adagrad":
                acc[i] += g * g
                var[i] -= lr * g / (np.sqrt(acc[i]) + eps)
            else:
                m[i] = beta_1 * m[i] + (1 - beta_1) * g
                v[i] = beta_2 * v[i] + (1 - beta_2) * g * g
                var[i] -= lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t) * m[i] / (np.sqrt(v[i]) + eps)
    return var


@pytest.mark.parametrize("kind", ["adagrad", "adam"])
def test_several_sparse_steps_with_repeated_rows_follow_the_formula(kind):
    steps = [([1, 3, 1], [[1.0, 2.0], [3.0, 4.0], [1.0, 1.0]]), ([3, 3, 0], [[0.5, -1.0], [0.5, 0.0], [2.0, 2.0]]),
             ([1], [[-1.0, 0.5]])]
    var = tf.Variable(tf.ones([5, 2]))
    opt = SparseOptimizer(kind, [var])
    for indices, values in steps:
        opt.apply([tf.IndexedSlices(tf.constant(values), tf.constant(indices), tf.constant([5, 2]))], [var],
                  tf.constant(0.1))
    np.testing.assert_allclose(var.numpy(), reference(kind, steps, 0.1), rtol=1e-5)
