"""The losses a word2vec run can train, one registry entry each: what the config offers, how many
noise words it draws, whether it has trained biases and how they start, whether the fused engine
trains it, and its formula for the TensorFlow step.

The config schema reads this registry for its choices, so it must load without TensorFlow: the
formulas import it when they run.

A logit is v.u_w (+ b_w), v the input vector, u_w and b_w the output row and bias of word w.
Negatives are drawn by the model (w2v/model.py) keyed on (seed, step), never by TensorFlow's
samplers, whose random state no checkpoint holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Loss:
    help: str
    sampled: bool  # draws noise words, so num_sampled must be below the vocabulary size
    num_sampled: int  # the default number of noise words
    biases: bool  # output biases are trained
    fused: bool  # the fused engine (w2v/fused_op.cc) trains it
    formula: Callable[..., Any]  # (model, x [B, D], labels [B], step, offset, rows) -> per-example loss [B]
    corrected: bool = False  # logits are corrected by -log(k q(w)), q the noise distribution (NCE)
    tree: bool = False  # predicts a word by its path in the Huffman tree (w2v/huffman.py)

    def correction(self, noise: np.ndarray, k: int) -> np.ndarray:
        """What every logit of word w is corrected by: NCE's log(k q(w)), else nothing ([0])."""
        return np.log(k * noise).astype(np.float32) if self.corrected else np.zeros(0, np.float32)

    def biases_at_start(self, noise: np.ndarray, k: int) -> np.ndarray:
        """The output biases a run starts with. NCE's start at log(k q(w)) and so cancel its correction:
        training starts where negative sampling does, instead of with every rare word's positive logit
        saturated (which stalls learning for most of the vocabulary)."""
        return np.log(k * noise).astype(np.float32) if self.corrected else np.zeros(len(noise), np.float32)


def _logistic(model: Any, x: Any, labels: Any, step: Any, offset: Any, rows: int | None, nce: bool) -> Any:
    """-log s(z_label) - sum_k log s(-z_k) over k noise words per example; a noise word equal to the
    label is left out (it would push the label's own logit both ways), as the fused engine does."""
    import tensorflow as tf

    negatives = model.negatives(tf.shape(labels)[0], step, offset, rows)
    weights = model.output_weights
    positive = tf.reduce_sum(x * tf.nn.embedding_lookup(weights, labels), axis=1)
    negative = tf.einsum("bd,bkd->bk", x, tf.nn.embedding_lookup(weights, negatives))
    if nce:
        positive += tf.gather(model.output_biases, labels) - tf.gather(model.correction, labels)
        negative += tf.gather(model.output_biases, negatives) - tf.gather(model.correction, negatives)
    keep = tf.cast(tf.not_equal(negatives, tf.cast(labels, negatives.dtype)[:, None]), x.dtype)
    return tf.nn.softplus(-positive) + tf.reduce_sum(keep * tf.nn.softplus(negative), axis=1)


def _nce(model: Any, x: Any, labels: Any, step: Any, offset: Any, rows: int | None) -> Any:
    return _logistic(model, x, labels, step, offset, rows, nce=True)


def _neg(model: Any, x: Any, labels: Any, step: Any, offset: Any, rows: int | None) -> Any:
    return _logistic(model, x, labels, step, offset, rows, nce=False)


def _sampled_softmax(model: Any, x: Any, labels: Any, step: Any, offset: Any, rows: int | None) -> Any:
    """Softmax over the label and num_sampled noise words shared by the whole batch."""
    import tensorflow as tf

    del offset, rows  # one draw for the batch: every replica uses all of it
    k = model.num_sampled
    sampled = tf.cast(model.draw_noise([k], step), tf.int64)
    labels = tf.cast(labels, tf.int64)
    # Expected counts of sampling with replacement, as TensorFlow's samplers report with unique=False.
    true_expected = k * tf.gather(model.noise_probs, labels)[:, None]
    sampled_expected = k * tf.gather(model.noise_probs, sampled)
    from w2v.model import parts  # a list of shards is the loss's own form of a partitioned table

    return tf.nn.sampled_softmax_loss(weights=parts(model.output_weights), biases=model.output_biases,
                                      labels=labels[:, None], inputs=x, num_sampled=k,
                                      num_classes=model.vocab_size,
                                      sampled_values=(sampled, true_expected, sampled_expected))


def _softmax(model: Any, x: Any, labels: Any, step: Any, offset: Any, rows: int | None) -> Any:
    """Cross-entropy over the whole vocabulary."""
    import tensorflow as tf

    del step, offset, rows
    logits = tf.matmul(x, tf.convert_to_tensor(model.output_weights), transpose_b=True) + model.output_biases
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int64), logits=logits)


def _hs(model: Any, x: Any, labels: Any, step: Any, offset: Any, rows: int | None) -> Any:
    """Hierarchical softmax: a logistic loss a node on the label's path, whose branch (code 0 or 1) is
    the target: -log s(z) for code 0, -log s(-z) for code 1, as in word2vec.c."""
    import tensorflow as tf

    del step, offset, rows
    paths, codes = tf.gather(model.tree_paths, labels), tf.gather(model.tree_codes, labels)
    nodes = tf.nn.embedding_lookup(model.output_weights, tf.maximum(paths, 0))
    z = tf.einsum("bd,bld->bl", x, nodes)
    sign = tf.cast(2 * codes - 1, x.dtype)
    return tf.reduce_sum(tf.where(paths >= 0, tf.nn.softplus(sign * z), 0.0), axis=1)


LOSSES: dict[str, Loss] = {
    "nce": Loss("noise-contrastive estimation (the course's loss): word2vec's logistic loss on logits corrected "
                "by -log(k q(w)), with trained biases", sampled=True, num_sampled=5, biases=True, fused=True,
                formula=_nce, corrected=True),
    "neg": Loss("word2vec's negative sampling", sampled=True, num_sampled=5, biases=False, fused=True, formula=_neg),
    "sampled_softmax": Loss("softmax over the label and noise words shared by the batch", sampled=True,
                            num_sampled=64, biases=True, fused=False, formula=_sampled_softmax),
    "hs": Loss("hierarchical softmax (word2vec.c's -hs 1): logistic decisions along the word's path in a Huffman "
               "tree of the vocabulary", sampled=False, num_sampled=0, biases=False, fused=True, formula=_hs,
               tree=True),
    "softmax": Loss("full softmax over the vocabulary", sampled=False, num_sampled=0, biases=True, fused=False,
                    formula=_softmax),
}


def get(name: str) -> Loss:
    """The registry entry of a loss (the config has validated the name)."""
    return LOSSES[name]
