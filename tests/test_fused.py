"""The fused step (w2v/fused_op.cc): the same arithmetic as word2vec's per-pair SGD, exact resume,
and a clear choice between it and the TensorFlow step."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import small_config
from w2v import fused, meta, runs, trainer
from w2v.errors import W2VError
from w2v.model import alias_table

GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(z: np.ndarray) -> np.ndarray:
    z = z + GOLDEN
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def noise(seed, step, shape, accept, alias):
    """The op's draw, written again: draw n of the (seed, step) stream is the alias column of the
    hash's high half, or its alias when the low half (a uniform) is at or above accept."""
    with np.errstate(over="ignore"):
        stream = splitmix64(splitmix64(np.array([seed], np.uint64)) ^ np.uint64(step))
        h = splitmix64(stream + np.arange(np.prod(shape), dtype=np.uint64) * GOLDEN)
    column = ((h >> np.uint64(32)) * np.uint64(len(accept)) >> np.uint64(32)).astype(np.int64)
    u = (h & np.uint64(0xFFFFFFFF)).astype(np.float64) * 2.0**-32
    return np.where(u < accept[column], column, alias[column]).reshape(shape)


def reference(emb, out, inputs, labels, negatives, lr):
    """word2vec.c's loop in numpy: per pair, output rows move at once, the centre row at the end; a
    pair scored beyond +-6 moves nothing (gensim's rule). Also returns how many pairs that skipped."""
    emb, out, losses, skipped = emb.copy(), out.copy(), [], 0
    softplus = lambda x: np.logaddexp(0, x)  # noqa: E731
    for w, c, negs in zip(inputs, labels, negatives, strict=True):
        v, neu1e, loss = emb[w].copy(), np.zeros_like(emb[w]), 0.0
        for j, t in enumerate([c, *negs]):
            if j and t == c:
                continue
            f = v @ out[t]
            loss += softplus(-f) if j == 0 else softplus(f)
            if abs(f) >= 6:
                skipped += 1
                continue
            g = ((j == 0) - 1 / (1 + np.exp(-f))) * lr
            neu1e += g * out[t]
            out[t] += g * v
        emb[w] += neu1e
        losses.append(loss)
    return emb, out, np.array(losses), skipped


def test_the_noise_stream_draws_the_noise_distribution():
    probs = np.random.default_rng(0).zipf(1.5, 40).astype(float)
    probs /= probs.sum()
    accept, alias = alias_table(probs)
    drawn = noise(3, 11, [1_000_000], accept, alias)
    np.testing.assert_allclose(np.bincount(drawn, minlength=40) / drawn.size, probs, atol=2e-3)
    assert not np.array_equal(drawn[:100], noise(3, 12, [100], accept, alias))  # each step draws anew


def test_the_op_does_word2vec_per_pair_sgd():
    rng = np.random.default_rng(0)
    V, D, B, K = 30, 16, 64, 4
    emb0, out0 = rng.normal(0, 0.3, (V, D)).astype(np.float32), rng.normal(0, 0.3, (V, D)).astype(np.float32)
    inputs, labels = rng.integers(0, V, B), rng.integers(0, V, B)
    # The first pair's rows point apart, scoring far below -6: wrong, and too far to learn from.
    emb0[inputs[0]] = 1.0
    labels[0] = (inputs[0] + 1) % V
    out0[labels[0]] = -1.0
    # A peaked noise distribution, so some negatives equal the context word (those are skipped).
    accept, alias = alias_table(np.array([20.0] + [1.0] * (V - 1)))
    negatives = noise(5, 9, [B, K], accept, alias)
    assert (negatives == labels[:, None]).any()
    emb, out = tf.Variable(emb0), tf.Variable(out0)
    snapshot = tf.convert_to_tensor(emb)  # a read taken before the step must not change
    loss = fused.step(emb, out, inputs, labels, (accept, alias), K, [5, 9], 0.1, threads=1).numpy()
    want_emb, want_out, want_loss, skipped = reference(emb0, out0, inputs, labels, negatives, 0.1)
    assert skipped >= 1 and want_loss[0] > 16  # the skipped pair's loss still counts
    np.testing.assert_allclose(emb.numpy(), want_emb, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.numpy(), want_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-4)
    np.testing.assert_array_equal(snapshot.numpy(), emb0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="id out of range"):
        fused.step(emb, out, [V], [0], (accept, alias), K, [5, 9], 0.1, threads=1)


def test_fused_runs_resume_bit_identical(tmp_path, planted):
    cfg = small_config(planted, tmp_path, model__loss="neg", train__kernel="fused", train__steps=60)
    whole = trainer.train(cfg, tmp_path / "whole", show_progress=False)
    trainer.train(cfg, tmp_path / "parts", show_progress=False, stop_at=20)
    resumed = trainer.resume(tmp_path / "parts", show_progress=False)
    assert whole.step == resumed.step == 60
    assert meta.read(whole.run_dir)["kernel"] == "fused"
    np.testing.assert_array_equal(runs.load_embedding(whole.run_dir)[1], runs.load_embedding(resumed.run_dir)[1])


def test_threads_train_too(tmp_path, planted):
    cfg = small_config(planted, tmp_path, model__loss="neg", train__kernel="fused", train__threads=2, train__epochs=1)
    result = trainer.train(cfg, tmp_path / "run", show_progress=False)
    assert result.finished and np.isfinite(result.loss)


def test_fused_is_refused_where_it_cannot_apply_and_auto_falls_back(tmp_path, planted):
    strategy = tf.distribute.get_strategy()
    with pytest.raises(W2VError, match="config key train.kernel: fused cannot train this run: it trains loss neg"):
        fused.enabled(small_config(planted, tmp_path, model__loss="nce", train__kernel="fused"), strategy)
    with pytest.raises(W2VError, match="plain sgd without clipping"):
        fused.enabled(small_config(planted, tmp_path, model__loss="neg", train__kernel="fused",
                                   train__optimizer="adagrad"), strategy)
    assert not fused.enabled(small_config(planted, tmp_path, model__loss="nce"), strategy)
    assert fused.enabled(small_config(planted, tmp_path, model__loss="neg"), strategy)


def test_small_fused_batches_get_advice(tmp_path, planted, caplog):
    strategy = tf.distribute.get_strategy()
    with caplog.at_level(logging.WARNING):
        assert fused.enabled(small_config(planted, tmp_path, model__loss="neg", train__batch_size=16384), strategy)
        assert "small for the fused step" not in caplog.text
        assert fused.enabled(small_config(planted, tmp_path, model__loss="neg", train__batch_size=1024), strategy)
    assert "train.batch_size 1024 is small for the fused step" in caplog.text


def test_a_failed_build_is_one_line_or_a_fallback(tmp_path, planted, monkeypatch, caplog):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CXX", "false")  # a compiler that always fails
    fused.load.cache_clear()
    try:
        cfg = small_config(planted, tmp_path, model__loss="neg", train__kernel="fused")
        with pytest.raises(W2VError, match="train.kernel fused: building fused_op.cc failed"):
            fused.enabled(cfg, tf.distribute.get_strategy())
        with caplog.at_level(logging.WARNING):
            auto = small_config(planted, tmp_path, model__loss="neg")
            assert not fused.enabled(auto, tf.distribute.get_strategy())
        assert "training with TensorFlow ops instead" in caplog.text
        assert not list((tmp_path / "cache").rglob("*.so"))
    finally:
        fused.load.cache_clear()
