"""The word2vec model as a tf.Module, built the way CS20 lecture 5 teaches: embedding, output weights
and biases, loss, each under its own name scope so the step's graph reads well in TensorBoard.

Negatives are drawn here by stateless ops keyed on (seed, global step), never by TensorFlow's
candidate samplers: those keep random state that no checkpoint holds, which would make a resumed
run drift from an uninterrupted one.

Under ParameterServerStrategy the two tables may be ``ShardedVariable``s (row-wise shards on the ps
tasks); lookups go through ``tf.nn.embedding_lookup``, which reads them shard by shard, and the
optimizer updates each shard as a variable of its own (``trainable``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf
from tensorflow.python.ops.resource_variable_ops import UninitializedVariable

from w2v import huffman, losses, subwords
from w2v.schema import ModelConfig

Sharded = tf.__internal__.distribute.ShardedVariable
INIT_BLOCK = 1 << 16  # n-gram rows drawn at a time (subwords)


def uniform(shape: list[int], seed: list[int], low: float, high: float) -> tf.Tensor:
    """``tf.random.stateless_uniform(shape, seed, low, high)``, value for value, made by the random op that
    takes a key and a counter: the seeded form runs an older kernel whose output TensorFlow does not hand on
    to the op that consumes it (and takes 5 times as long: 5.6 against 0.9 s for 957k x 300 values here)."""
    key, counter = tf.raw_ops.StatelessRandomGetKeyCounter(seed=tf.constant(seed, tf.int64))
    drawn = tf.raw_ops.StatelessRandomUniformV2(shape=shape, key=key, counter=counter,
                                                alg=tf.raw_ops.StatelessRandomGetAlg())
    low, high = tf.constant(low, tf.float32), tf.constant(high, tf.float32)
    return drawn * (high - low) + low


def table(shape: list[int], initial: Callable[[], tf.Tensor], name: str) -> tf.Variable:
    """A float32 variable of ``shape`` holding ``initial()``. Outside a distribution strategy its value is made
    and assigned inside one graph, where each op writes into its input's buffer and the variable adopts the
    last: the table's memory once, where an eager value and the variable's copy of it need it twice, and every
    intermediate a third time (peak 4.2 GB for the 2.3 GB of a 957k x 300 model's two tables). Under a strategy,
    its own variable creator places (mirrors, shards) the variable from the value."""
    if tf.distribute.has_strategy():
        return tf.Variable(initial(), name=name)
    variable = UninitializedVariable(shape=shape, dtype=tf.float32, name=name, trainable=True)
    tf.function(lambda: variable.assign(initial()), autograph=False)()
    return variable


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


class Word2Vec(tf.Module):
    """Skip-gram or CBOW word2vec: input vectors (the embedding), output vectors and biases, and one of
    the losses of w2v/losses.py."""

    def __init__(self, vocab_size: int, config: ModelConfig, noise: np.ndarray, seed: int,
                 counts: np.ndarray | None = None, subword_table: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """``counts`` (the vocabulary's) build the Huffman tree of the losses that use one;
        ``subword_table`` (w2v/subwords.py's, with model.subwords) gives each word's input rows."""
        super().__init__(name="word2vec")
        self.config = config
        self.loss_kind = losses.get(config.loss)
        self.vocab_size = vocab_size
        self.num_sampled = config.num_sampled
        dim = config.embedding_dim
        with self.name_scope:
            with tf.name_scope("embedding"):
                # gensim's initialisation: input vectors uniform in +-1/dim, output vectors zero. With subwords,
                # the n-gram buckets' rows follow the words' (fastText starts both alike), drawn a block at a
                # time (the keys of the first subword runs).
                def drawn() -> tf.Tensor:
                    blocks = [uniform([vocab_size, dim], [seed, 0], -1.0 / dim, 1.0 / dim)]
                    if config.subwords:
                        blocks += [uniform([min(INIT_BLOCK, config.buckets - start), dim], [seed, 1 + i],
                                           -1.0 / dim, 1.0 / dim)
                                   for i, start in enumerate(range(0, config.buckets, INIT_BLOCK))]
                    return blocks[0] if len(blocks) == 1 else tf.concat(blocks, axis=0)

                rows = vocab_size + (config.buckets if config.subwords else 0)
                self.embedding = table([rows, dim], drawn, "embedding")
                self.subword_offsets, self.subword_ids = (tf.constant(t, tf.int32) for t in subword_table) \
                    if config.subwords else (None, None)
            with tf.name_scope("output"):
                self.output_weights = table([vocab_size, dim], lambda: tf.zeros([vocab_size, dim]), "weights")
                self.output_biases = tf.Variable(self.loss_kind.biases_at_start(noise, self.num_sampled),
                                                 name="biases")
            with tf.name_scope("noise"):
                accept, alias = alias_table(noise)
                self.noise_accept = tf.constant(accept, name="accept")
                self.noise_alias = tf.constant(alias, name="alias")
                self.noise_probs = tf.constant(noise.astype(np.float32), name="probs")
                self.correction = tf.constant(self.loss_kind.correction(noise, self.num_sampled), name="correction")
            if self.loss_kind.tree:
                with tf.name_scope("tree"):
                    # Variables, not constants, so that checkpoints hold the tree they were trained with.
                    paths, codes = huffman.tree(counts)
                    self.tree_paths = tf.Variable(paths, trainable=False, name="paths")
                    self.tree_codes = tf.Variable(codes, trainable=False, name="codes")
        self.noise_seed = seed + 1
        # Rows of the (embedding, output table) below these ids are not trained: a warm start's old words
        # with init.freeze_old.
        self.frozen = (0, 0)

    @property
    def tables(self) -> list[tf.Variable]:
        """The trained tensors (biases only for the losses that train them)."""
        if self.loss_kind.biases:
            return [self.embedding, self.output_weights, self.output_biases]
        return [self.embedding, self.output_weights]

    @property
    def trainable(self) -> list[tf.Variable]:
        """The variables the optimizer updates: each shard of a sharded table on its own."""
        return [part for table in self.tables for part in parts(table)]

    def table_values(self) -> np.ndarray:
        """The embedding table as a checkpoint holds it (shards joined), read-only: the variable's own memory, not
        a copy, where it is one variable. Valid until the table is next trained, which then copies it first."""
        values = np.asarray(tf.convert_to_tensor(self.embedding))
        values.flags.writeable = False
        return values

    def word_vectors(self, words: int | None = None) -> np.ndarray:
        """The input vectors of the first ``words`` words, or of all (with subwords, each the mean of its
        rows), shards joined. Without subwords only those rows are copied out of the table, none for all of
        them (``table_values``)."""
        if self.subword_ids is None:
            return self.table_values() if words is None else tf.convert_to_tensor(self.embedding)[:words].numpy()
        offsets = self.subword_offsets.numpy()[:None if words is None else words + 1]
        return subwords.compose(self.table_values(), offsets, self.subword_ids.numpy()[:offsets[-1]])

    def without_frozen(self, grads: list) -> list:
        """The gradients of ``trainable`` with the rows below ``frozen`` left out, so that no optimizer moves
        them (a warm start's old words)."""
        if self.frozen == (0, 0):
            return grads
        below = [self.frozen[0]] + [self.frozen[1]] * (len(self.tables) - 1)
        out = []
        for g, n in zip(grads, below, strict=True):
            if isinstance(g, tf.IndexedSlices):
                keep = g.indices >= n
                out.append(tf.IndexedSlices(tf.boolean_mask(g.values, keep), tf.boolean_mask(g.indices, keep),
                                            g.dense_shape))
            else:
                mask = tf.cast(tf.range(tf.shape(g)[0]) >= n, g.dtype)
                out.append(g * tf.reshape(mask, [-1] + [1] * (g.shape.rank - 1)))
        return out

    def noise_key(self, step: tf.Tensor | int) -> tf.Tensor:
        """The [2] int64 key of a step's negatives, (seed + 1, step): for this draw and the fused op's."""
        return tf.stack([tf.constant(self.noise_seed, tf.int64), tf.cast(step, tf.int64)])

    def draw_noise(self, shape: list[int] | tf.Tensor, step: tf.Tensor | int) -> tf.Tensor:
        """Ids drawn from the noise distribution by the alias method (two uniform draws and two
        lookups an id, whatever the vocabulary size), keyed on the step."""
        key = self.noise_key(step)
        column = tf.random.stateless_uniform(shape, seed=key, maxval=self.vocab_size, dtype=tf.int32)
        u = tf.random.stateless_uniform(shape, seed=key + [0, 1 << 62])
        return tf.where(u < tf.gather(self.noise_accept, column), column, tf.gather(self.noise_alias, column))

    def negatives(self, size: tf.Tensor, step: tf.Tensor | int, offset: tf.Tensor | int = 0,
                  rows: int | None = None) -> tf.Tensor:
        """``num_sampled`` noise words for each of ``size`` examples: rows ``offset`` on of the draw
        for a global batch of ``rows`` at ``step``. Keyed on the step, the draw is the same on every
        replica of a distributed step, so each replica takes its own rows of what one device would
        draw for the whole batch."""
        drawn = self.draw_noise(tf.stack([rows or size, self.num_sampled]), step)
        return drawn[offset:offset + size]

    def embed(self, inputs: tf.Tensor, input_mask: tf.Tensor | None) -> tf.Tensor:
        """Input vectors: the centre word's (skipgram) or the mean of the context's (cbow); with subwords,
        the mean of the input rows of the word (or of all the context's words)."""
        with tf.name_scope("embed"):
            if self.subword_ids is not None:
                table = tf.RaggedTensor.from_row_splits(self.subword_ids, tf.cast(self.subword_offsets, tf.int64))
                if input_mask is None:
                    rows = tf.gather(table, inputs)
                else:
                    rows = tf.gather(table, tf.ragged.boolean_mask(inputs, input_mask > 0)).merge_dims(1, 2)
                vectors = tf.ragged.map_flat_values(lambda ids: tf.nn.embedding_lookup(self.embedding, ids), rows)
                used = tf.cast(tf.maximum(rows.row_lengths(), 1), vectors.dtype)[:, None]
                return tf.reduce_sum(vectors, axis=1) / used
            vectors = tf.nn.embedding_lookup(self.embedding, inputs)
            if input_mask is None:
                return vectors
            total = tf.reduce_sum(vectors * input_mask[..., None], axis=1)
            return total / tf.maximum(tf.reduce_sum(input_mask, axis=1, keepdims=True), 1.0)

    def loss(self, batch: dict[str, tf.Tensor], step: tf.Tensor | int = 0, offset: tf.Tensor | int = 0,
             rows: int | None = None) -> tf.Tensor:
        """Per-example loss, shape [B], with the negatives of global step ``step``.

        ``rows`` is the global batch size and ``offset`` where this replica's examples start in it.
        """
        x = self.embed(batch["inputs"], batch.get("input_mask"))
        with tf.name_scope("loss"):
            return self.loss_kind.formula(self, x, batch["labels"], step, offset, rows)
