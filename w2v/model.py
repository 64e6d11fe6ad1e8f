"""The word2vec model as a tf.Module, built the way CS20 lecture 5 teaches: embedding, loss weights,
loss, each under its own name scope so the step's graph reads well in TensorBoard.

Negatives are drawn here by stateless ops keyed on (seed, global step) and handed to
``tf.nn.nce_loss`` / ``tf.nn.sampled_softmax_loss`` as ``sampled_values``: their built-in candidate
samplers keep random state that no checkpoint holds, which would make a resumed run drift from an
uninterrupted one. Keyed on the step, the draw is the same on every replica of a distributed step,
so each replica takes its own rows of the noise a single device would draw for the whole batch.

Under ParameterServerStrategy the two tables may be ``ShardedVariable``s (row-wise shards on the ps
tasks); lookups go through ``tf.nn.embedding_lookup``, which reads them shard by shard, and the
optimizer updates each shard as a variable of its own (``trainable``).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from w2v.config import ModelConfig

Sharded = tf.__internal__.distribute.ShardedVariable


def parts(variable: tf.Variable) -> list[tf.Variable]:
    """The variables that hold ``variable``: its shards, or itself."""
    return list(variable.variables) if isinstance(variable, Sharded) else [variable]


def alias_table(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table (Vose's construction): column i keeps i with probability accept[i]
    and gives alias[i] otherwise, so a uniform column and a uniform number draw from ``probs``."""
    n = len(probs)
    scaled = np.asarray(probs, np.float64) * n / np.sum(probs)
    accept = np.ones(n)
    alias = np.arange(n, dtype=np.int32)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        accept[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    return accept.astype(np.float32), alias


class SkipGramModel(tf.Module):
    """Skip-gram or CBOW word2vec with NCE, negative sampling, sampled softmax or full softmax."""

    def __init__(self, vocab_size: int, config: ModelConfig, noise: np.ndarray, seed: int) -> None:
        super().__init__(name="word2vec")
        self.config = config
        self.vocab_size = vocab_size
        dim = config.embedding_dim
        with self.name_scope:
            with tf.name_scope("embedding"):
                # gensim's initialisation: input vectors uniform in +-1/dim, output vectors zero. word2vec.c's
                # +-0.5/dim scored a point less of analogy accuracy after one epoch on Gutenberg.
                self.embedding = tf.Variable(
                    tf.random.stateless_uniform([vocab_size, dim], seed=[seed, 0], minval=-1.0 / dim,
                                                maxval=1.0 / dim),
                    name="embedding")
            with tf.name_scope("nce"):
                self.nce_weights = tf.Variable(tf.zeros([vocab_size, dim]), name="weights")
                # NCE subtracts log(k q(w)) from every logit; biases starting at that value cancel it, so
                # training starts where negative sampling does instead of with every rare word's
                # positive logit saturated (which stalls learning for most of the vocabulary).
                bias = np.log(config.num_sampled * noise) if config.loss == "nce" else np.zeros(vocab_size)
                self.nce_biases = tf.Variable(bias.astype(np.float32), name="biases")
            with tf.name_scope("noise"):
                accept, alias = alias_table(noise)
                self.noise_accept = tf.constant(accept, name="accept")
                self.noise_alias = tf.constant(alias, name="alias")
                self.noise_probs = tf.constant(noise.astype(np.float32), name="probs")
        self.noise_seed = seed + 1

    @property
    def tables(self) -> list[tf.Variable]:
        """The trained tensors as the checkpoint holds them (``neg`` has no use for the biases)."""
        if self.config.loss == "neg":
            return [self.embedding, self.nce_weights]
        return [self.embedding, self.nce_weights, self.nce_biases]

    @property
    def trainable(self) -> list[tf.Variable]:
        """The variables the optimizer updates: each shard of a sharded table on its own."""
        return [part for table in self.tables for part in parts(table)]

    def noise_key(self, step: tf.Tensor | int) -> tf.Tensor:
        """The [2] int64 key of a step's negatives, (seed + 1, step): for this draw and the fused op's."""
        return tf.stack([tf.constant(self.noise_seed, tf.int64), tf.cast(step, tf.int64)])

    def _draw_noise(self, shape: list[int] | tf.Tensor, step: tf.Tensor | int) -> tf.Tensor:
        """Ids drawn from the noise distribution by the alias method (two uniform draws and two
        lookups an id, whatever the vocabulary size), keyed on the step."""
        key = self.noise_key(step)
        column = tf.random.stateless_uniform(shape, seed=key, maxval=self.vocab_size, dtype=tf.int32)
        u = tf.random.stateless_uniform(shape, seed=key + [0, 1 << 62])
        return tf.where(u < tf.gather(self.noise_accept, column), column, tf.gather(self.noise_alias, column))

    def embed(self, inputs: tf.Tensor, input_mask: tf.Tensor | None) -> tf.Tensor:
        """Input vectors: the centre word's (skipgram) or the mean of the context's (cbow)."""
        with tf.name_scope("embed"):
            vectors = tf.nn.embedding_lookup(self.embedding, inputs)
            if input_mask is None:
                return vectors
            total = tf.reduce_sum(vectors * input_mask[..., None], axis=1)
            return total / tf.maximum(tf.reduce_sum(input_mask, axis=1, keepdims=True), 1.0)

    def loss(self, batch: dict[str, tf.Tensor], step: tf.Tensor | int = 0, offset: tf.Tensor | int = 0,
             rows: int | None = None) -> tf.Tensor:
        """Per-example loss, shape [B], with the negatives of global step ``step``.

        ``rows`` is the global batch size and ``offset`` where this replica's examples start in it:
        per-example negatives are drawn for all ``rows`` and sliced, so a step split over replicas
        uses the negatives one device would use for the same examples.
        """
        cfg = self.config
        x = self.embed(batch["inputs"], batch.get("input_mask"))
        labels = tf.cast(batch["labels"], tf.int64)
        with tf.name_scope("loss"):
            if cfg.loss == "softmax":
                logits = tf.matmul(x, tf.convert_to_tensor(self.nce_weights), transpose_b=True) + self.nce_biases
                return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            if cfg.loss == "neg":
                return self._negative_sampling(x, labels, step, offset, rows)
            sampled = tf.cast(self._draw_noise([cfg.num_sampled], step), tf.int64)
            # Expected counts of sampling with replacement, as the samplers report with unique=False.
            true_expected = cfg.num_sampled * tf.gather(self.noise_probs, labels)[:, None]
            sampled_expected = cfg.num_sampled * tf.gather(self.noise_probs, sampled)
            # A list of shards is nce_loss's own form of a partitioned table ("div" row split).
            args = dict(weights=parts(self.nce_weights), biases=self.nce_biases, labels=labels[:, None], inputs=x,
                        num_sampled=cfg.num_sampled, num_classes=self.vocab_size,
                        sampled_values=(sampled, true_expected, sampled_expected))
            if cfg.loss == "nce":
                return tf.nn.nce_loss(**args)
            return tf.nn.sampled_softmax_loss(**args)

    def negatives(self, size: tf.Tensor, step: tf.Tensor | int, offset: tf.Tensor | int = 0,
                  rows: int | None = None) -> tf.Tensor:
        """``num_sampled`` noise words for each of ``size`` examples: rows ``offset`` on of the draw
        for a global batch of ``rows`` at ``step``."""
        drawn = self._draw_noise(tf.stack([rows or size, self.config.num_sampled]), step)
        return drawn[offset:offset + size]

    def _negative_sampling(self, x: tf.Tensor, labels: tf.Tensor, step: tf.Tensor | int, offset: tf.Tensor | int,
                           rows: int | None) -> tf.Tensor:
        """word2vec's loss: -log s(u_o.v) - sum_k log s(-u_k.v), with k per-example noise words."""
        negatives = self.negatives(tf.shape(labels)[0], step, offset, rows)
        positive = tf.reduce_sum(x * tf.nn.embedding_lookup(self.nce_weights, labels), axis=1)
        negative = tf.einsum("bd,bkd->bk", x, tf.nn.embedding_lookup(self.nce_weights, negatives))
        return tf.nn.softplus(-positive) + tf.reduce_sum(tf.nn.softplus(negative), axis=1)
