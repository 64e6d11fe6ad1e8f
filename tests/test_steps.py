"""The pieces of a training step: clipping, the learning rate it applies, and the kernel registry."""

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import small_config
from w2v import steps

DENSE = tf.constant([3.0, 4.0])  # norm 5
SPARSE = tf.IndexedSlices(tf.constant([[6.0, 8.0]]), tf.constant([1]), tf.constant([3, 2]))  # norm 10


def values(grads):
    return [g.values.numpy() if isinstance(g, tf.IndexedSlices) else g.numpy() for g in grads]


@pytest.mark.parametrize("mode, threshold, dense, sparse", [
    ("none", 1.0, [3, 4], [[6, 8]]),
    ("value", 4.0, [3, 4], [[4, 4]]),
    ("norm", 5.0, [3, 4], [[3, 4]]),
    ("global_norm", 5.0, np.array([3, 4]) * 5 / np.sqrt(125), np.array([[6, 8]]) * 5 / np.sqrt(125)),
])
def test_clipping_modes(mode, threshold, dense, sparse):
    clipped, norm = steps.clip([DENSE, SPARSE], mode, threshold)
    assert float(norm) == pytest.approx(np.sqrt(125))  # the norm before clipping, for the summaries
    got = values(clipped)
    np.testing.assert_allclose(got[0], dense, rtol=1e-6)
    np.testing.assert_allclose(got[1], sparse, rtol=1e-6)
    assert isinstance(clipped[1], tf.IndexedSlices)  # sparse gradients stay sparse


def test_every_kernel_says_what_it_cannot_train(tmp_path):
    strategy = tf.distribute.get_strategy()
    config = small_config("x", tmp_path, model__loss="softmax")
    assert steps.KERNELS["tf"].cannot(config, strategy) is None
    assert "it trains the losses nce, neg" in steps.KERNELS["fused"].cannot(config, strategy)
    assert steps.KERNELS["fused"].cannot(small_config("x", tmp_path, train__clip="norm"), strategy)
    assert steps.KERNELS["fused"].cannot(small_config("x", tmp_path), strategy) is None


def test_the_config_offers_the_registered_kernels():
    # The schema loads without TensorFlow, so it names the kernels itself; this keeps the two in step.
    from w2v import schema

    choices = schema.TrainConfig.__dataclass_fields__["kernel"].metadata["choices"]
    assert set(choices) == {"auto", *steps.KERNELS}
