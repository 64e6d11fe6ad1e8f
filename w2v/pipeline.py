"""The tf.data pipeline: subsampled, dynamically windowed skip-gram pairs or CBOW contexts.

The corpus streams from its int32 shards (w2v/shards.py): each shard is read when the pipeline
reaches it and cut into chunks. Each chunk becomes a whole block of examples through a few
vectorised ops (one boolean mask over a [tokens, 2 * window] grid; on the fused kernel, two C++
passes, w2v/windows_op.cc), then ``rebatch`` cuts the blocks into batches: there is no Python per
token or pair, and memory does not grow with the corpus. Every random draw is a stateless op keyed
on (seed, epoch, shard, chunk), so the stream is a pure function of the config, and the iterator
(saved in each checkpoint) is all the state a resumed run needs.

Each element is a dict:
  ``inputs``     [B] centre ids (skipgram) or [B, 2W] context ids (cbow)
  ``input_mask`` [B, 2W] float, cbow only: which context slots are real
  ``labels``     [B] context ids (skipgram) or centre ids (cbow)
  ``position``   [B] int64, the stream position (over all epochs) of the example's centre word; it
                 drives the learning-rate decay and words/s, as word2vec.c's word counter does.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from w2v import fused
from w2v.config import Config
from w2v.shards import SEPARATOR
from w2v.vocab import EncodedCorpus


def make_dataset(corpus: EncodedCorpus, config: Config, start_epoch: int = 0, skip: int = 0,
                 pipeline: tuple[int, int] = (0, 1), forever: bool = False, native: bool = False) -> tf.data.Dataset:
    """Batches of ``train.batch_size`` examples from ``start_epoch`` to ``config.train.epochs``
    (forever if train.steps is set or ``forever``).

    ``pipeline`` = (index, count) keeps every count-th chunk, from the index-th: each worker of a
    cluster reads its own share of the corpus. ``skip`` drops that many examples first, which
    positions a stream exactly where a run that consumed them stopped. ``native`` keeps a chunk's
    tokens and makes their examples with the engine library's keep and windows ops (w2v/windows_op.cc,
    built for the fused kernel) instead of TensorFlow's ops and the grid: the same examples from the
    same draws, for a third of the CPU time.
    """
    data, seed = config.data, config.run.seed
    window = data.window
    cbow = config.model.architecture == "cbow"
    length = data.chunk_tokens
    sharded = corpus.shards
    n_shards = len(sharded.shard_sizes)
    files = tf.constant([str(sharded.path(i)) for i in range(n_shards)])
    starts = tf.constant(np.cumsum([0] + sharded.shard_sizes[:-1]), tf.int64)
    stream_length = sharded.stream_length
    remap = tf.constant(corpus.remap)
    keep_table = tf.constant(corpus.vocab.keep_probabilities(data.subsample))
    offsets = tf.constant([o for o in range(-window, window + 1) if o != 0], dtype=tf.int32)

    def shard_chunks(epoch: tf.Tensor, shard: tf.Tensor) -> tf.data.Dataset:
        values = tf.io.decode_raw(tf.io.read_file(files[shard]), tf.int32)
        chunks = (tf.size(values) + length - 1) // length
        grid = tf.reshape(tf.pad(values, [[0, chunks * length - tf.size(values)]], constant_values=SEPARATOR),
                          [chunks, length])
        index = tf.range(chunks, dtype=tf.int64)
        base = epoch * stream_length + starts[shard] + index * length
        # Stateless draws need a 2-int key: the seed, and (epoch, shard, chunk) packed into one int64.
        keys = tf.stack([tf.fill([chunks], tf.constant(seed, tf.int64)),
                         epoch * (1 << 40) + tf.cast(shard, tf.int64) * (1 << 20) + index], axis=1)
        return tf.data.Dataset.from_tensor_slices((grid, base, keys))

    def chunk_examples(values: tf.Tensor, base: tf.Tensor, key: tf.Tensor) -> dict[str, tf.Tensor]:
        draw = tf.random.stateless_uniform([length], seed=key)
        if native:
            tokens, sentence, position = fused.load().w2v_keep(values, remap, keep_table, draw, base)
        else:
            sentence = tf.cumsum(tf.cast(tf.equal(values, SEPARATOR), tf.int32))
            tokens = tf.where(values >= 0, tf.gather(remap, tf.maximum(values, 0)), -1)
            keep = (tokens >= 0) & (draw < tf.gather(keep_table, tf.maximum(tokens, 0)))
            position = tf.boolean_mask(tf.range(length, dtype=tf.int64), keep) + base
            tokens, sentence = tf.boolean_mask(tokens, keep), tf.boolean_mask(sentence, keep)
        n = tf.size(tokens)
        reduced = tf.random.stateless_uniform([n], seed=key + [0, 1 << 60], minval=1, maxval=window + 1,
                                              dtype=tf.int32)
        if native:
            inputs, labels, mask, position = fused.load().w2v_windows(tokens, sentence, reduced, position,
                                                                     window=window, cbow=cbow)
            block = {"inputs": inputs, "labels": labels, "position": position}
            return {**block, "input_mask": mask} if cbow else block
        where = tf.range(n)[:, None] + offsets[None, :]
        inside = (where >= 0) & (where < n)
        where = tf.clip_by_value(where, 0, tf.maximum(n - 1, 0))
        mask = (inside & (tf.abs(offsets)[None, :] <= reduced[:, None])
                & (tf.gather(sentence, where) == sentence[:, None]))
        context = tf.gather(tokens, where)
        # One search for the kept rows (cbow) or cells (skip-gram) serves every field; a boolean_mask each
        # searched it again.
        if cbow:
            kept = tf.where(tf.reduce_any(mask, axis=1))[:, 0]
            mask_rows = tf.gather(mask, kept)
            return {
                "inputs": tf.where(mask_rows, tf.gather(context, kept), 0),
                "input_mask": tf.cast(mask_rows, tf.float32),
                "labels": tf.gather(tokens, kept),
                "position": tf.gather(position, kept),
            }
        kept = tf.where(mask)
        return {
            "inputs": tf.gather(tokens, kept[:, 0]),
            "labels": tf.gather_nd(context, kept),
            "position": tf.gather(position, kept[:, 0]),
        }

    if config.train.steps is None and not forever:
        epochs = tf.data.Dataset.range(start_epoch, config.train.epochs)
    else:
        epochs = tf.data.Dataset.counter(start_epoch)
    chunks = epochs.flat_map(
        lambda epoch: tf.data.Dataset.range(n_shards).flat_map(lambda shard: shard_chunks(epoch, shard)))
    index, count = pipeline
    if count > 1:
        chunks = chunks.shard(count, index)
    dataset = chunks.map(chunk_examples, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if skip:
        dataset = dataset.scan(tf.constant(skip, tf.int64), _drop_examples)
    return dataset.rebatch(config.train.batch_size).prefetch(tf.data.AUTOTUNE)


def _drop_examples(remaining: tf.Tensor, block: dict[str, tf.Tensor]) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Drop the first ``remaining`` examples of the stream, a block at a time."""
    size = tf.shape(block["labels"], out_type=tf.int64)[0]
    take = tf.minimum(remaining, size)
    return remaining - take, {key: value[take:] for key, value in block.items()}
