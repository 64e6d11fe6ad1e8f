"""Each loss of the registry against its formula written in numpy, on fixed negatives."""

import numpy as np
import pytest
import tensorflow as tf

from w2v import config as config_lib
from w2v import huffman, losses, schema
from w2v.model import Word2Vec

V, D, B, K = 30, 6, 12, 4


def model(loss):
    cfg = config_lib.resolve(config_lib.apply_overrides(config_lib.Config(), [
        f"model.loss={loss}", f"model.embedding_dim={D}", f"model.num_sampled={K}"])).model
    counts = np.arange(V, 0, -1)
    noise = counts.astype(np.float64) ** 0.75
    m = Word2Vec(V, cfg, noise / noise.sum(), seed=3, counts=counts)
    rng = np.random.default_rng(0)
    m.output_weights.assign(rng.normal(0, 0.5, (V, D)).astype(np.float32))
    m.output_biases.assign(rng.normal(0, 0.5, V).astype(np.float32))
    return m, noise / noise.sum()


def examples():
    """A batch of B random (input, label) ids, the same for every test."""
    rng = np.random.default_rng(1)
    return rng.integers(0, V, B), rng.integers(0, V, B)


def softplus(x):
    return np.logaddexp(0, x)


@pytest.mark.parametrize("loss", ["nce", "neg"])
def test_logistic_losses_match_their_formula(loss):
    m, noise = model(loss)
    inputs, labels = examples()
    negatives = m.negatives(B, 7).numpy()  # keyed on the step and batch size, not on the examples
    labels[0] = negatives[0, 0]  # an accidental hit, which must not count
    got = m.loss({"inputs": tf.constant(inputs), "labels": tf.constant(labels)}, step=7).numpy()
    x, w, b = m.embedding.numpy()[inputs], m.output_weights.numpy(), m.output_biases.numpy()
    shift = (b - np.log(K * noise)) if loss == "nce" else np.zeros(V)
    positive = (x * w[labels]).sum(axis=1) + shift[labels]
    negative = np.einsum("bd,bkd->bk", x, w[negatives]) + shift[negatives]
    want = softplus(-positive) + (softplus(negative) * (negatives != labels[:, None])).sum(axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_softmax_matches_its_formula():
    m, _ = model("softmax")
    inputs, labels = examples()
    got = m.loss({"inputs": tf.constant(inputs), "labels": tf.constant(labels)}).numpy()
    logits = m.embedding.numpy()[inputs] @ m.output_weights.numpy().T + m.output_biases.numpy()
    want = np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(B), labels]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_hierarchical_softmax_is_a_logistic_loss_per_node_of_the_label_path():
    m, _ = model("hs")
    inputs, labels = examples()
    got = m.loss({"inputs": tf.constant(inputs), "labels": tf.constant(labels)}).numpy()
    paths, codes = huffman.tree(np.arange(V, 0, -1))
    x, w = m.embedding.numpy()[inputs], m.output_weights.numpy()
    want = np.zeros(B)
    for b, label in enumerate(labels):
        for node, code in zip(paths[label], codes[label], strict=True):
            if node >= 0:  # P(branch) = s(z) for code 0, s(-z) for code 1
                want[b] += softplus(x[b] @ w[node] if code else -(x[b] @ w[node]))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # The probabilities of all words given one input sum to one: it is a softmax.
    every = m.loss({"inputs": tf.fill([V], 3), "labels": tf.range(V)}).numpy()
    assert np.exp(-every).sum() == pytest.approx(1.0, rel=1e-5)


def test_sampled_softmax_is_softmax_over_the_label_and_the_shared_noise_words():
    m, noise = model("sampled_softmax")
    inputs, labels = examples()
    got = m.loss({"inputs": tf.constant(inputs), "labels": tf.constant(labels)}, step=3).numpy()
    sampled = m.draw_noise([K], 3).numpy()
    x, w, b = m.embedding.numpy()[inputs], m.output_weights.numpy(), m.output_biases.numpy()
    # Logits corrected by the log of each word's expected count; a noise word equal to the label is removed
    # (TensorFlow's remove_accidental_hits removes it once when it was drawn twice: the first draw here).
    true = (x * w[labels]).sum(axis=1) + b[labels] - np.log(K * noise[labels])
    noisy = x @ w[sampled].T + b[sampled] - np.log(K * noise[sampled])
    for row, label in enumerate(labels):
        hits = np.flatnonzero(sampled == label)
        noisy[row, hits[:1]] = -np.inf
    assert (sampled[None, :] == labels[:, None]).sum(axis=1).max() == 2  # the case above occurs
    all_logits = np.concatenate([true[:, None], noisy], axis=1)
    want = np.log(np.exp(all_logits).sum(axis=1)) - true
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_the_registry_decides_biases_and_their_start():
    noise = np.array([0.5, 0.25, 0.25])
    np.testing.assert_allclose(losses.get("nce").biases_at_start(noise, 5), np.log(5 * noise), rtol=1e-6)
    assert not losses.get("neg").biases_at_start(noise, 5).any() and not losses.get("neg").biases
    assert {name for name, loss in losses.LOSSES.items() if loss.fused} == {"nce", "neg", "hs"}
    assert schema.ModelConfig.__dataclass_fields__["loss"].metadata["choices"] == tuple(losses.LOSSES)
