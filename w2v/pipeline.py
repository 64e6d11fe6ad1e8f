"""The tf.data pipeline: subsampled, dynamically windowed skip-gram pairs or CBOW contexts.

The corpus is cut into fixed-size chunks. Each chunk becomes a whole block of examples through a
few vectorised ops (one boolean mask over a [tokens, 2 * window] grid), then ``rebatch`` cuts the
blocks into batches: there is no Python per token or pair. Every random draw is a stateless op
keyed on (seed, epoch, chunk), so the stream is a pure function of the config, and the iterator
(saved in each checkpoint) is all the state a resumed run needs.

Each element is a dict:
  ``inputs``     [B] centre ids (skipgram) or [B, 2W] context ids (cbow)
  ``input_mask`` [B, 2W] float, cbow only: which context slots are real
  ``labels``     [B] context ids (skipgram) or centre ids (cbow)
  ``position``   [B] int64, how many corpus tokens (over all epochs) precede the example's centre;
                 it drives the learning-rate decay and words/s, as word2vec.c's word counter does.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from w2v.config import Config
from w2v.vocab import EncodedCorpus


def num_chunks(num_tokens: int, chunk_tokens: int) -> int:
    """Chunks per epoch."""
    return -(-num_tokens // chunk_tokens)


def make_dataset(corpus: EncodedCorpus, config: Config, start_epoch: int = 0) -> tf.data.Dataset:
    """Batches of training examples from ``start_epoch`` to ``config.train.epochs`` (forever if
    train.steps is set)."""
    data, seed = config.data, config.run.seed
    window = data.window
    cbow = config.model.architecture == "cbow"
    length = data.chunk_tokens
    n_tokens = len(corpus.ids)
    chunks = num_chunks(n_tokens, length)
    pad = chunks * length - n_tokens
    ids = tf.constant(np.pad(corpus.ids, (0, pad), constant_values=-1).reshape(chunks, length))
    sents = tf.constant(np.pad(corpus.sentence_ids, (0, pad), constant_values=-1).reshape(chunks, length))
    keep_table = tf.constant(corpus.vocab.keep_probabilities(data.subsample))
    offsets = tf.constant([o for o in range(-window, window + 1) if o != 0], dtype=tf.int32)

    def chunk_examples(index: tf.Tensor) -> dict[str, tf.Tensor]:
        epoch, chunk = index // chunks, index % chunks
        key = tf.stack([tf.constant(seed, tf.int64), index])
        tokens, sentence = ids[chunk], sents[chunk]
        draw = tf.random.stateless_uniform([length], seed=key)
        keep = (tokens >= 0) & (draw < tf.gather(keep_table, tf.maximum(tokens, 0)))
        base = epoch * n_tokens + chunk * length
        position = tf.boolean_mask(tf.range(length, dtype=tf.int64), keep) + base
        tokens, sentence = tf.boolean_mask(tokens, keep), tf.boolean_mask(sentence, keep)
        n = tf.size(tokens)
        reduced = tf.random.stateless_uniform([n], seed=key + [0, 1 << 40], minval=1, maxval=window + 1,
                                              dtype=tf.int32)
        where = tf.range(n)[:, None] + offsets[None, :]
        inside = (where >= 0) & (where < n)
        where = tf.clip_by_value(where, 0, tf.maximum(n - 1, 0))
        mask = (inside & (tf.abs(offsets)[None, :] <= reduced[:, None])
                & (tf.gather(sentence, where) == sentence[:, None]))
        context = tf.gather(tokens, where)
        if cbow:
            has_context = tf.reduce_any(mask, axis=1)
            mask_rows = tf.boolean_mask(mask, has_context)
            return {
                "inputs": tf.where(mask_rows, tf.boolean_mask(context, has_context), 0),
                "input_mask": tf.cast(mask_rows, tf.float32),
                "labels": tf.boolean_mask(tokens, has_context),
                "position": tf.boolean_mask(position, has_context),
            }
        centre = tf.broadcast_to(tokens[:, None], tf.shape(mask))
        return {
            "inputs": tf.boolean_mask(centre, mask),
            "labels": tf.boolean_mask(context, mask),
            "position": tf.boolean_mask(tf.broadcast_to(position[:, None], tf.shape(mask)), mask),
        }

    if config.train.steps is None:
        indices = tf.data.Dataset.range(start_epoch * chunks, config.train.epochs * chunks)
    else:
        indices = tf.data.Dataset.counter(start_epoch * chunks)
    dataset = indices.map(chunk_examples, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.rebatch(config.train.batch_size).prefetch(tf.data.AUTOTUNE)


def expected_examples_per_epoch(corpus: EncodedCorpus, config: Config) -> float:
    """Expected examples per epoch (windows ignore sentence and chunk edges): for planning only."""
    keep = corpus.vocab.keep_probabilities(config.data.subsample)[corpus.ids].sum()
    if config.model.architecture == "cbow":
        return float(keep)
    return float(keep * (config.data.window + 1))
