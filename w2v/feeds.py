"""Feeds: how batches reach the steps, one small object per input path.

Each feed makes the data stream start at (epoch, examples already trained on) and runs ``n`` steps of
a step function over it. Only a plain tf.data iterator can be saved in a checkpoint; the others are
positioned from the examples counter instead (the stream is a pure function of the config).

- ``Local``: one device; the iterator is saved with the checkpoints.
- ``Distributed``: Mirrored or MultiWorkerMirrored replicas, each reading its share of the chunks.
- ``ParameterServer``: the chief's ClusterCoordinator schedules steps on the workers, each reading its
  own share forever (its epochs end by stream position).
- ``Averaged``: multi-worker on the fused engine; each worker reads its share and trains its own tables,
  and every call ends with the workers' average (w2v/averaging.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from w2v import pipeline
from w2v.averaging import Averaging
from w2v.config import Config
from w2v.steps import StepFn
from w2v.vocab import EncodedCorpus

Outcome = tuple[int, float, float, float]  # steps done, their summed loss, last gradient norm, last learning rate


def steps_loop(strategy: tf.distribute.Strategy, step: StepFn, grads: list[tf.Variable] | None) -> Callable:
    """The body of one call: up to ``n`` steps over an iterator, stopping early when the data ends.
    The last step's gradients are kept in ``grads`` for the histogram summaries."""
    first = strategy.experimental_local_results

    def run(iterator: object, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        done, loss_sum, norm, lr = tf.constant(0), tf.constant(0.0), tf.constant(0.0), tf.constant(0.0)
        for i in tf.range(n):
            batch = iterator.get_next_as_optional()
            if not batch.has_value():
                break
            loss, norm, lr, flat = strategy.run(step, args=(batch.get_value(),))
            # Every replica holds the same reduced values; this worker's first copy stands for all.
            loss, norm, lr = first(loss)[0], first(norm)[0], first(lr)[0]
            if grads is not None and i == n - 1:
                for var, g in zip(grads, flat, strict=True):
                    var.assign(first(g)[0])
            loss_sum += loss
            done += 1
        return done, loss_sum, norm, lr

    return run


class Local:
    """One device: a tf.data iterator, saved in the checkpoints."""

    saveable = True
    ends_by_position = False

    def __init__(self, corpus: EncodedCorpus, config: Config, strategy: tf.distribute.Strategy,
                 native: bool = False) -> None:
        self.corpus, self.config, self.strategy, self.native = corpus, config, strategy, native
        self.iterator: object = None

    def start(self, epoch: int, skip: int) -> None:
        """A stream from ``epoch`` that leaves out the ``skip`` examples already trained on."""
        self.iterator = iter(pipeline.make_dataset(self.corpus, self.config, epoch, skip, native=self.native))

    def call(self, run: Callable, n: int) -> Outcome:
        """Run ``n`` steps (fewer where the data ends)."""
        done, loss_sum, norm, lr = (t.numpy() for t in run(self.iterator, tf.constant(n)))
        return int(done), float(loss_sum), float(norm), float(lr)


class Distributed(Local):
    """Mirrored or multi-worker replicas, each input pipeline reading its share of the chunks."""

    saveable = False

    def start(self, epoch: int, skip: int) -> None:
        corpus, config = self.corpus, self.config

        def per_pipeline(context: tf.distribute.InputContext) -> tf.data.Dataset:
            share = (context.input_pipeline_id, context.num_input_pipelines)
            return pipeline.make_dataset(corpus, config, epoch, skip // context.num_input_pipelines, share)

        self.iterator = iter(self.strategy.distribute_datasets_from_function(per_pipeline))


class ParameterServer(Local):
    """Steps scheduled on the workers of a parameter-server cluster, which run concurrently, each on
    its own share of the data, read cyclically."""

    saveable = False
    ends_by_position = True

    def __init__(self, corpus: EncodedCorpus, config: Config, strategy: tf.distribute.Strategy) -> None:
        super().__init__(corpus, config, strategy)
        self.coordinator = tf.distribute.experimental.coordinator.ClusterCoordinator(strategy)
        # Workers the coordinator schedules steps on (not exposed otherwise).
        self.workers = strategy.extended._num_workers  # noqa: SLF001

    def start(self, epoch: int, skip: int) -> None:
        corpus, config, workers = self.corpus, self.config, self.workers
        counter = itertools.count()

        def per_worker() -> tf.data.Dataset:
            # Called once per worker: each takes its own share of the chunks (in the order the coordinator
            # builds them; any order reads every chunk once).
            index = next(counter) % workers
            return pipeline.make_dataset(corpus, config, epoch, skip // workers, (index, workers), forever=True)

        self.iterator = iter(self.coordinator.create_per_worker_dataset(per_worker))

    def call(self, run: Callable, n: int) -> Outcome:
        shares = [n // self.workers + (i < n % self.workers) for i in range(self.workers)]
        scheduled = [self.coordinator.schedule(run, args=(self.iterator, tf.constant(k))) for k in shares if k]
        self.coordinator.join()
        results = [[np.asarray(v) for v in r.fetch()] for r in scheduled]
        return (int(sum(r[0] for r in results)), float(sum(r[1] for r in results)), float(results[-1][2]),
                float(results[-1][3]))


class Averaged(Local):
    """A worker of a multi-worker job on the fused engine: it reads its own share of the chunks with the
    engine's ops and trains its own tables, and each call ends with the workers' agreement and average."""

    saveable = False

    def __init__(self, corpus: EncodedCorpus, config: Config, strategy: tf.distribute.Strategy,
                 averaging: Averaging) -> None:
        super().__init__(corpus, config, strategy, native=True)
        self.averaging = averaging

    def start(self, epoch: int, skip: int) -> None:
        """This worker's stream from ``epoch``, after the examples it already trained on: its share of
        ``skip`` as the checkpoint recorded it, or, from the checkpoint of another kind of run (whose
        shares do not add up to ``skip``), an even split."""
        index, workers = self.averaging.rank, self.averaging.workers
        state = self.averaging.state
        shares = state.shares.numpy()
        if int(shares.sum()) != skip:
            shares = np.array([skip // workers + (i < skip % workers) for i in range(workers)], np.int64)
            state.shares.assign(shares)
        self.iterator = iter(pipeline.make_dataset(self.corpus, self.config, epoch, int(shares[index]),
                                                   (index, workers), native=True))

    def call(self, run: Callable, n: int) -> Outcome:
        """Run up to ``n`` steps on this worker's data, then agree with the others (see Averaging)."""
        done, loss_sum, _, lr = super().call(run, n)
        return self.averaging(done, loss_sum, lr, n)


def make(corpus: EncodedCorpus, config: Config, strategy: tf.distribute.Strategy, native: bool = False,
         averaging: Averaging | None = None) -> Local:
    """The feed for this strategy; ``native``: one device makes its examples with the engine library's
    keep and windows ops (the fused kernel has them built); ``averaging``: the workers of a multi-worker
    job on the fused engine average their own tables."""
    if averaging is not None:
        return Averaged(corpus, config, strategy, averaging)
    if isinstance(strategy, tf.distribute.ParameterServerStrategy):
        return ParameterServer(corpus, config, strategy)
    if isinstance(strategy, (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy)):
        return Distributed(corpus, config, strategy)
    return Local(corpus, config, strategy, native)
