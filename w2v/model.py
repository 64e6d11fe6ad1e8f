"""The word2vec model as a tf.Module, built the way CS20 lecture 5 teaches: embedding, loss weights,
loss, each under its own name scope so the step's graph reads well in TensorBoard.

Negatives are drawn here from the model's own ``tf.random.Generator`` (saved with the checkpoint)
and handed to ``tf.nn.nce_loss`` / ``tf.nn.sampled_softmax_loss`` as ``sampled_values``: their
built-in candidate samplers keep random state that no checkpoint holds, which would make a
resumed run drift from an uninterrupted one.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from w2v.config import ModelConfig


class SkipGramModel(tf.Module):
    """Skip-gram or CBOW word2vec with NCE, negative sampling, sampled softmax or full softmax."""

    def __init__(self, vocab_size: int, config: ModelConfig, noise: np.ndarray, seed: int) -> None:
        super().__init__(name="word2vec")
        self.config = config
        self.vocab_size = vocab_size
        dim = config.embedding_dim
        with self.name_scope:
            with tf.name_scope("embedding"):
                # word2vec.c's initialisation: small uniform input vectors, zero output vectors.
                self.embedding = tf.Variable(
                    tf.random.stateless_uniform([vocab_size, dim], seed=[seed, 0], minval=-0.5 / dim,
                                                maxval=0.5 / dim),
                    name="embedding")
            with tf.name_scope("nce"):
                self.nce_weights = tf.Variable(tf.zeros([vocab_size, dim]), name="weights")
                # NCE subtracts log(k q(w)) from every logit; biases starting at that value cancel it, so
                # training starts where negative sampling does instead of with every rare word's
                # positive logit saturated (which stalls learning for most of the vocabulary).
                bias = np.log(config.num_sampled * noise) if config.loss == "nce" else np.zeros(vocab_size)
                self.nce_biases = tf.Variable(bias.astype(np.float32), name="biases")
            with tf.name_scope("noise"):
                self.noise_cdf = tf.constant(np.cumsum(noise).astype(np.float64), name="cdf")
                self.noise_probs = tf.constant(noise.astype(np.float32), name="probs")
                self.generator = tf.random.Generator.from_seed(seed + 1)

    @property
    def trainable(self) -> list[tf.Variable]:
        """The variables the optimizer updates (``neg`` has no use for the biases)."""
        if self.config.loss == "neg":
            return [self.embedding, self.nce_weights]
        return [self.embedding, self.nce_weights, self.nce_biases]

    def _draw_noise(self, shape: list[int] | tf.Tensor) -> tf.Tensor:
        """Ids drawn from the noise distribution by inverse CDF of a checkpointed uniform draw."""
        u = self.generator.uniform(shape, dtype=tf.float64)
        flat = tf.searchsorted(self.noise_cdf, tf.reshape(u, [-1]), side="right")
        return tf.reshape(tf.minimum(flat, self.vocab_size - 1), tf.shape(u))

    def embed(self, inputs: tf.Tensor, input_mask: tf.Tensor | None) -> tf.Tensor:
        """Input vectors: the centre word's (skipgram) or the mean of the context's (cbow)."""
        with tf.name_scope("embed"):
            vectors = tf.gather(self.embedding, inputs)
            if input_mask is None:
                return vectors
            total = tf.reduce_sum(vectors * input_mask[..., None], axis=1)
            return total / tf.maximum(tf.reduce_sum(input_mask, axis=1, keepdims=True), 1.0)

    def loss(self, batch: dict[str, tf.Tensor]) -> tf.Tensor:
        """Per-example loss, shape [B]."""
        cfg = self.config
        x = self.embed(batch["inputs"], batch.get("input_mask"))
        labels = tf.cast(batch["labels"], tf.int64)
        with tf.name_scope("loss"):
            if cfg.loss == "softmax":
                logits = tf.matmul(x, self.nce_weights, transpose_b=True) + self.nce_biases
                return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            if cfg.loss == "neg":
                return self._negative_sampling(x, labels)
            sampled = tf.cast(self._draw_noise([cfg.num_sampled]), tf.int64)
            # Expected counts of sampling with replacement, as the samplers report with unique=False.
            true_expected = cfg.num_sampled * tf.gather(self.noise_probs, labels)[:, None]
            sampled_expected = cfg.num_sampled * tf.gather(self.noise_probs, sampled)
            args = dict(weights=self.nce_weights, biases=self.nce_biases, labels=labels[:, None], inputs=x,
                        num_sampled=cfg.num_sampled, num_classes=self.vocab_size,
                        sampled_values=(sampled, true_expected, sampled_expected))
            if cfg.loss == "nce":
                return tf.nn.nce_loss(**args)
            return tf.nn.sampled_softmax_loss(**args)

    def _negative_sampling(self, x: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        """word2vec's loss: -log s(u_o.v) - sum_k log s(-u_k.v), with k per-example noise words."""
        negatives = self._draw_noise(tf.stack([tf.shape(labels)[0], self.config.num_sampled]))
        positive = tf.reduce_sum(x * tf.gather(self.nce_weights, labels), axis=1)
        negative = tf.einsum("bd,bkd->bk", x, tf.gather(self.nce_weights, negatives))
        return tf.nn.softplus(-positive) + tf.reduce_sum(tf.nn.softplus(negative), axis=1)
