"""Training steps: a step is a function of (state, batch), built by one entry of the kernel registry.

``tf`` is made of TensorFlow ops (gathers, a batched product, sparse scatter updates) and trains every
loss, optimizer and clipping mode, on GPUs and under tf.distribute. ``fused`` is the C++ engine
(w2v/fused.py), several times faster on a CPU, for the losses and settings it supports. A new kernel is
one new entry: what it cannot train, and how it builds its step.

Every step runs in replica context (``strategy.run``) and returns the batch's mean loss, the gradient
norm (0 where there are no gradients), the learning rate and the flat gradients (for histograms).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

from w2v import config as config_lib
from w2v import distribute, fused, schedules
from w2v.config import Config
from w2v.errors import W2VError
from w2v.state import TrainState

log = logging.getLogger(__name__)

StepFn = Callable[[dict[str, tf.Tensor]], tuple[tf.Tensor, tf.Tensor, tf.Tensor, list[tf.Tensor]]]


@dataclass(frozen=True)
class Setting:
    """What a step is built from besides the state."""

    config: Config
    positions: int  # stream positions over all epochs: the schedule's denominator
    replicas: int
    threads: int  # the fused kernel's threads


def learning_rate(setting: Setting, state: TrainState, position: tf.Tensor) -> tf.Tensor:
    """The configured schedule at this step (by global step or stream position)."""
    train = setting.config.train
    done = schedules.progress(state.step, position, train.steps, setting.positions)
    return schedules.linear_decay(train.learning_rate, train.min_learning_rate, done)


def clip(grads: list, mode: str, threshold: float) -> tuple[list, tf.Tensor]:
    """Gradients clipped by value, by each tensor's norm or by their global norm; and the global norm
    before clipping."""
    norm = tf.linalg.global_norm(grads)
    if mode == "global_norm":
        grads, _ = tf.clip_by_global_norm(grads, threshold, use_norm=norm)
    elif mode == "norm":
        grads = [tf.clip_by_norm(g, threshold) for g in grads]
    elif mode == "value":
        grads = [tf.IndexedSlices(tf.clip_by_value(g.values, -threshold, threshold), g.indices, g.dense_shape)
                 if isinstance(g, tf.IndexedSlices) else tf.clip_by_value(g, -threshold, threshold) for g in grads]
    return grads, norm


def _pad(batch: dict[str, tf.Tensor], size: int) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
    """The batch padded to ``size`` examples of weight 0 (position -1). Replicas then hold sparse
    gradients of one fixed shape, which their all-gather needs: a short last batch, or a replica
    left with none at the end of the data, would make the replicas' shapes differ."""
    short = size - tf.shape(batch["labels"])[0]
    padded = {key: tf.pad(value, [[0, short]] + [[0, 0]] * (value.shape.rank - 1),
                          constant_values=-1 if key == "position" else 0) for key, value in batch.items()}
    for value in padded.values():
        value.set_shape([size] + value.shape[1:])
    return padded, tf.sequence_mask(size - short, size, dtype=tf.float32)


def _all_reduce(context: tf.distribute.ReplicaContext, grads: list, total: tf.Tensor, count: tf.Tensor,
                position: tf.Tensor) -> tuple[list, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Sum the gradients, loss and example count over the replicas; the largest stream position.

    One collective at a time, each after the last: a sparse gradient is all-gathered, and with
    several gathers in flight replicas can pair up different tensors (a shape-mismatch abort)."""
    done: list[tf.Tensor] = []
    out = []
    for value in [*grads, total, count]:
        with tf.control_dependencies(done[-1:]):
            reduced = context.all_reduce(tf.distribute.ReduceOp.SUM, value)
        out.append(reduced)
        done.append(reduced.values if isinstance(reduced, tf.IndexedSlices) else reduced)
    with tf.control_dependencies(done[-1:]):
        position = tf.reduce_max(context.all_gather(position[None], axis=0))
    return out[:-2], out[-2], out[-1], position


def tf_step(state: TrainState, setting: Setting) -> StepFn:
    """Gradients of the summed per-example loss by autodiff, all-reduced over replicas, clipped, and
    applied by the sparse optimizer. Summed, not averaged: the sgd learning rate then applies per
    example, as word2vec's alpha. Replicas together apply what one device would for their examples."""
    train = setting.config.train
    model, variables = state.model, state.model.trainable
    global_batch = train.batch_size * setting.replicas

    def step(batch: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, list[tf.Tensor]]:
        context = tf.distribute.get_replica_context()
        offset = context.replica_id_in_sync_group * train.batch_size
        count = tf.shape(batch["labels"], out_type=tf.int64)[0]
        if setting.replicas > 1:
            batch, weight = _pad(batch, train.batch_size)
        with tf.GradientTape() as tape:
            per_example = model.loss(batch, state.step, offset, global_batch)
            if setting.replicas > 1:
                per_example *= weight
            total = tf.reduce_sum(per_example)
        with tf.name_scope("optimizer"):
            grads = tape.gradient(total, variables)
            position = tf.reduce_max(batch["position"])
            if setting.replicas > 1:
                grads, total, count, position = _all_reduce(context, grads, total, count, position)
            grads, norm = clip(model.without_frozen(grads), train.clip, train.clip_value)
            lr = learning_rate(setting, state, position)
            state.optimizer.apply(grads, variables, lr)
            state.advance(position, count)
        flat = [tf.reshape(g.values if isinstance(g, tf.IndexedSlices) else g, [-1]) for g in grads]
        return total / tf.cast(tf.maximum(count, 1), tf.float32), norm, lr, flat

    return step


def fused_step(state: TrainState, setting: Setting) -> StepFn:
    """One call of the fused engine: word2vec's SGD in place, a window at a time, with negatives the
    engine draws keyed on the step. The roles are word2vec.c's: context rows are the inputs, the
    centre word is the target (the pipeline's skip-gram pairs are centre -> context).

    The workers of a multi-worker job (``setting.replicas``) train their own tables, whose rows
    w2v/averaging.py then makes the mean of all: each trains at that many times the rate, so that a row
    moves as far as one process training all the data would move it (measured: the configured rate
    learns less than half as much, 5.0% analogies after an epoch of Gutenberg against 13.7%)."""
    config = setting.config
    model = state.model

    def step(batch: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, list[tf.Tensor]]:
        position = tf.reduce_max(batch["position"])
        lr = learning_rate(setting, state, position) * setting.replicas
        if config.model.architecture == "cbow":
            rows, mask, targets = batch["inputs"], batch["input_mask"], batch["labels"]
        else:
            rows, mask, targets = batch["labels"], tf.zeros([0]), batch["inputs"]
        per_example = fused.train(model, rows, mask, targets, batch["position"], state.step, lr, setting.threads,
                                  config.train.hogwild)
        with tf.control_dependencies([per_example]):
            state.advance(position, tf.size(per_example, out_type=tf.int64))
        return tf.reduce_mean(per_example), tf.constant(0.0), lr, []

    return step


def _fused_cannot(config: Config, strategy: tf.distribute.Strategy) -> str | None:
    if reason := config_lib.fused_cannot(config):
        return reason
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        if strategy.num_replicas_in_sync != distribute.rank(strategy)[1]:
            return "it runs on one device per worker"
    elif strategy.num_replicas_in_sync != 1 or isinstance(strategy, tf.distribute.ParameterServerStrategy):
        return "it runs on one device, or one per worker of a multi_worker cluster"
    if tf.config.list_logical_devices("GPU"):
        return "it has a CPU kernel only"
    return None


@dataclass(frozen=True)
class Kernel:
    cannot: Callable[[Config, tf.distribute.Strategy], str | None]  # why it cannot train a config (None: it can)
    load: Callable[[], object]  # makes it ready to run, or raises a W2VError saying why it cannot
    build: Callable[[TrainState, Setting], StepFn]


# In the order `auto` prefers them.
KERNELS: dict[str, Kernel] = {
    "fused": Kernel(_fused_cannot, fused.load, fused_step),
    "tf": Kernel(lambda config, strategy: None, lambda: None, tf_step),
}


def choose(config: Config, strategy: tf.distribute.Strategy) -> str:
    """The kernel that trains this run: train.kernel if it can (else a W2VError saying why), or for
    auto the first that can, with a note when one that applies cannot be made ready (no compiler)."""
    wanted = config.train.kernel
    if wanted != "auto":
        reason = KERNELS[wanted].cannot(config, strategy)
        if reason:
            raise W2VError(f"config key train.kernel: {wanted} cannot train this run: {reason}")
        KERNELS[wanted].load()
        return wanted
    for name, kernel in KERNELS.items():
        if kernel.cannot(config, strategy):
            continue
        try:
            kernel.load()
        except W2VError as e:
            log.warning("%s; training with the next kernel instead", e)
            continue
        return name
    raise AssertionError("the tf kernel trains every config")
