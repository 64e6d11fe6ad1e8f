"""The training state: what a checkpoint holds, with its key names defined here and nowhere else.

A checkpoint is the model's tables, the optimizer's slots, the global step and the stream counters,
and (where it can be saved) the tf.data iterator. The names are the checkpoint format: they are those
of the first w2v checkpoints (``model/nce_weights`` for the output weights whatever the loss), so every
run ever written still resumes, evaluates and exports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from w2v.errors import W2VError
from w2v.model import Word2Vec
from w2v.optimizer import SparseOptimizer


def key(*path: str) -> str:
    """The checkpoint key of a saved value, e.g. key("model", "embedding")."""
    return "/".join(path) + "/.ATTRIBUTES/VARIABLE_VALUE"


EMBEDDING = key("model", "embedding")
OUTPUT_WEIGHTS = key("model", "nce_weights")
OUTPUT_BIASES = key("model", "nce_biases")
STEP = key("step")
EXAMPLES = key("examples")
ITERATOR = "data"  # the saved tf.data iterator (its keys start with "data/")
SHARES = key("shares")  # examples each worker of a multi-worker job on the fused engine has trained on
BEST = "best"  # best metric values so far, one [value, step] a watched metric


class TrainState:
    """The model, its optimizer and the counters that place a run in its data stream."""

    def __init__(self, model: Word2Vec, optimizer: SparseOptimizer, watched: tuple[str, ...] = (),
                 workers: int = 1) -> None:
        self.model = model
        self.optimizer = optimizer
        counter = lambda name: tf.Variable(0, dtype=tf.int64, trainable=False, name=name)  # noqa: E731
        self.step = counter("global_step")
        # The largest stream position (over all epochs) trained on: it drives the learning-rate decay.
        self.position = counter("position")
        # Epochs whose stream ran out: a finished run extended by more epochs starts a new stream there.
        self.epochs_done = counter("epochs_done")
        # Where the current stream started and how many examples it has given: enough to rebuild it at
        # the same place when its iterator cannot be saved.
        self.data_epoch = counter("data_epoch")
        self.examples = counter("examples")
        # Each worker's part of ``examples`` where the workers read their shares of the corpus on their own
        # (multi-worker on the fused engine): where each worker's stream resumes.
        self.shares = tf.Variable(tf.zeros([workers], tf.int64), trainable=False, name="shares")
        # The best value of each watched metric and its step (checkpoint.keep_best, eval.early_stop): in the
        # checkpoint, so a resumed run compares against what the uninterrupted one would.
        self.best = {metric: tf.Variable([-np.inf, 0.0], dtype=tf.float64, trainable=False) for metric in watched}

    def checkpoint(self, iterator: object | None = None, shares: bool = False) -> tf.train.Checkpoint:
        """The checkpoint of this state, with the data iterator when it can be saved, and the workers'
        ``shares`` if asked."""
        tree = {"tree_paths": self.model.tree_paths, "tree_codes": self.model.tree_codes} \
            if self.model.loss_kind.tree else {}
        model = tf.train.Checkpoint(embedding=self.model.embedding, nce_weights=self.model.output_weights,
                                    nce_biases=self.model.output_biases, **tree)
        extra = {ITERATOR: iterator} if iterator is not None else {}
        if shares:
            extra["shares"] = self.shares
        if self.best:
            extra[BEST] = tf.train.Checkpoint(**{name.replace("/", ":"): v for name, v in self.best.items()})
        return tf.train.Checkpoint(model=model, optimizer=self.optimizer, step=self.step, position=self.position,
                                   epochs_done=self.epochs_done, data_epoch=self.data_epoch, examples=self.examples,
                                   **extra)

    def advance(self, position: tf.Tensor, count: tf.Tensor) -> None:
        """Count a step done: the global step, the stream position and the examples consumed."""
        self.step.assign_add(1)
        self.position.assign(tf.maximum(self.position, position + 1))
        self.examples.assign_add(count)


@dataclass
class Saved:
    """A checkpoint's tables and step, read without building a model."""

    path: str
    step: int
    embedding: np.ndarray
    output_weights: np.ndarray
    output_biases: np.ndarray


def _tensors(path: str, *keys: str) -> list[np.ndarray]:
    try:
        reader = tf.train.load_checkpoint(path)
        return [reader.get_tensor(k) for k in keys]
    except (tf.errors.OpError, ValueError) as e:
        raise W2VError(f"checkpoint {path}: cannot be read ({e.__class__.__name__})") from None


def read(path: str) -> Saved:
    """Read a checkpoint's tables and step; a W2VError naming the file when it cannot be read."""
    step, embedding, weights, biases = _tensors(path, STEP, EMBEDDING, OUTPUT_WEIGHTS, OUTPUT_BIASES)
    return Saved(path, int(step), embedding, weights, biases)


def read_embedding(path: str) -> tuple[int, np.ndarray]:
    """A checkpoint's step and embedding table alone (see ``read``)."""
    step, embedding = _tensors(path, STEP, EMBEDDING)
    return int(step), embedding


def holds_iterator(path: str | None) -> bool:
    """Whether a checkpoint holds the data iterator (runs trained without a distributed strategy save
    it; the others are positioned by their examples counter). Reads the index only, which a save
    killed halfway leaves intact; a run without checkpoints will save it."""
    return path is None or any(name.startswith(f"{ITERATOR}/") for name, _ in tf.train.list_variables(path))


def holds_shares(path: str | None) -> bool:
    """Whether a checkpoint holds each worker's examples (runs of multi-worker jobs on the fused engine
    save them), as ``holds_iterator``."""
    return path is None or any(name == SHARES for name, _ in tf.train.list_variables(path))
