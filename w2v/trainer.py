"""The training loop: steps, learning-rate schedule, clipping, checkpoints, summaries, projector.

``train(config, run_dir)`` starts a run, ``resume(run_dir)`` continues one from its latest
checkpoint. Several steps run inside one ``tf.function`` call (``train.steps_per_call``), and calls
end exactly on checkpoint and summary steps so those land on ``step % N == 0``.

Every step runs through ``strategy.run`` (w2v/distribute.py picks the strategy). Replicas sum their
examples' losses and all-reduce the gradients, so a step over R replicas of ``train.batch_size``
applies the gradient one device would apply to a batch R times larger, learning rate included.
Under a parameter-server cluster the same step function is scheduled on the workers by TensorFlow's
ClusterCoordinator and updates the (possibly sharded) tables on the ps tasks asynchronously.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from w2v import config as config_lib
from w2v import corpus as corpus_lib
from w2v import distribute, evaluate, fused, pipeline, projector, runs, shards
from w2v import vocab as vocab_lib
from w2v.checkpoints import Checkpoints
from w2v.config import Config
from w2v.errors import W2VError
from w2v.meta import RunMeta
from w2v.model import SkipGramModel, parts
from w2v.optimizer import SparseOptimizer
from w2v.summaries import Summaries

log = logging.getLogger(__name__)


def configure_device(device: str, deterministic: bool) -> None:
    """Apply run.device and run.deterministic before TensorFlow places anything."""
    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise W2VError("config key run.device: gpu requested but TensorFlow sees no GPU")
    if device == "cpu" and gpus:
        try:
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError:
            pass  # already initialised in this process; placement below still pins the CPU
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def load_corpus(config: Config) -> vocab_lib.EncodedCorpus:
    """Open (tokenising on first use) the configured corpus and choose its vocabulary, checking it
    can feed the configured loss."""
    data = config.data
    files = corpus_lib.source_files(data.corpus, data.cache_dir)
    sharded = shards.open_or_write(data.corpus, files, lambda: corpus_lib.iter_lines(data.corpus, data.cache_dir),
                                   corpus_lib.tokenizer(data.tokenizer, data.lowercase), Path(data.cache_dir),
                                   data.tokenizer, data.lowercase)
    encoded = vocab_lib.select(sharded, data.min_count, data.max_vocab, source=data.corpus)
    size = len(encoded.vocab)
    if config.model.loss in ("nce", "sampled_softmax", "neg") and config.model.num_sampled >= size:
        raise W2VError(f"config key model.num_sampled: {config.model.num_sampled} must be smaller than the "
                       f"vocabulary ({size} words after min_count={data.min_count})")
    return encoded


def make_evaluator(config: Config) -> evaluate.Evaluator | None:
    """The periodic evaluator (files read and checked now, before any run directory is written)."""
    if config.eval.every_n_steps == 0:
        return None
    analogy_files, similarity_files = evaluate.configured_files(config.eval.analogies, config.eval.similarity)
    return evaluate.Evaluator(analogy_files, similarity_files, config.eval.restrict, config.eval.method)


@dataclass
class Result:
    """What a finished (or stopped) training call reports."""

    run_dir: Path
    step: int
    loss: float
    words_per_sec: float
    finished: bool = True
    signal: int | None = None


class StopSignals:
    """SIGINT / SIGTERM ask the loop to stop after the current call (it then checkpoints); a second
    SIGINT raises KeyboardInterrupt at once. Installed only in the main thread."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum
        log.warning("signal %d: stopping after the current steps and saving a checkpoint", signum)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


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


DISTRIBUTED = (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy,
               tf.distribute.ParameterServerStrategy)


class Trainer:
    """Owns the model, optimizer, data stream and the bookkeeping around them."""

    def __init__(self, config: Config, corpus: vocab_lib.EncodedCorpus, run_dir: Path,
                 evaluator: evaluate.Evaluator | None = None, strategy: tf.distribute.Strategy | None = None,
                 save_iterator: bool = True) -> None:
        self.config = config
        self.evaluator = evaluator
        self.corpus = corpus
        self.run_dir = Path(run_dir)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.coordinator = None
        if isinstance(self.strategy, tf.distribute.ParameterServerStrategy):
            self.coordinator = tf.distribute.experimental.coordinator.ClusterCoordinator(self.strategy)
        self.replicas = self.strategy.num_replicas_in_sync
        # Workers a parameter-server coordinator schedules steps on (not exposed otherwise).
        self.workers = self.strategy.extended._num_workers if self.coordinator else 1  # noqa: SLF001
        self.global_batch = config.train.batch_size * self.replicas
        self.distributed = isinstance(self.strategy, DISTRIBUTED)
        # Only a plain tf.data iterator can be saved in a checkpoint; distributed ones are positioned
        # from the examples counter instead (the stream is a pure function of the config).
        self.save_iterator = save_iterator and not self.distributed
        vocab = corpus.vocab
        noise = vocab.noise_distribution(config.model.noise, config.model.noise_power)
        with self.strategy.scope():
            self.model = SkipGramModel(len(vocab), config.model, noise, config.run.seed)
            self.optimizer = SparseOptimizer(config.train.optimizer, self.model.trainable)
            self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self.position = tf.Variable(0, dtype=tf.int64, trainable=False, name="position")
            # Epochs whose data stream ran out: a finished run extended by more epochs starts there.
            self.epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
            # Where the current data stream starts and how many examples it has given: enough to
            # rebuild it at the same place.
            self.data_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
            self.examples = tf.Variable(0, dtype=tf.int64, trainable=False, name="examples")
        self.total_words = config.train.epochs * corpus.shards.stream_length
        self.fused = fused.enabled(config, self.strategy)
        # Gradient values of the last step of each call, kept for the histogram summaries only (the
        # workers of a parameter-server cluster cannot write to the coordinator's variables, and the
        # fused step makes no gradient tensors).
        self.last_grads = None if self.coordinator or self.fused else [
            tf.Variable(tf.zeros([0]), shape=tf.TensorShape(None), trainable=False) for _ in self.model.trainable]
        self.start_data(0, 0)

    def start_data(self, epoch: int, skip: int) -> None:
        """A data stream from ``epoch`` that leaves out the ``skip`` examples already trained on (of
        this stream), and the checkpoint that tracks it. A finished run extended by more epochs (its
        saved stream is exhausted) starts a new stream at the first added epoch."""
        self.data_epoch.assign(epoch)
        self.examples.assign(skip)
        cfg, corpus = self.config, self.corpus
        forever = self.coordinator is not None
        if self.coordinator:
            # Called once per worker: each takes its own share of the chunks (in the order the
            # coordinator builds them; any order reads every chunk once).
            workers = self.workers
            counter = iter(range(1 << 30))

            def per_worker() -> tf.data.Dataset:
                index = next(counter) % workers
                return pipeline.make_dataset(corpus, cfg, epoch, skip // workers, (index, workers), forever)

            self.iterator = iter(self.coordinator.create_per_worker_dataset(per_worker))
        elif not self.distributed:
            self.iterator = iter(pipeline.make_dataset(corpus, cfg, epoch, skip))
        else:
            def per_pipeline(context: tf.distribute.InputContext) -> tf.data.Dataset:
                share = (context.input_pipeline_id, context.num_input_pipelines)
                return pipeline.make_dataset(corpus, cfg, epoch, skip // context.num_input_pipelines, share)

            self.iterator = iter(self.strategy.distribute_datasets_from_function(per_pipeline))
        state = dict(model=self.model, optimizer=self.optimizer, step=self.global_step, position=self.position,
                     epochs_done=self.epochs_done, data_epoch=self.data_epoch, examples=self.examples)
        if self.save_iterator:
            state["data"] = self.iterator
        self.checkpoint = tf.train.Checkpoint(**state)
        self.checkpoints = Checkpoints(self.checkpoint, self.run_dir / runs.CHECKPOINTS,
                                       self.config.checkpoint.every_n_steps, self.config.checkpoint.max_to_keep,
                                       self.global_step)
        self._run = tf.function(self._run_steps)

    def restore(self) -> str | None:
        """Restore the newest readable checkpoint and put the data stream where it stopped."""
        restored = self.checkpoints.restore_latest()
        finished = int(self.epochs_done.numpy())
        if self.config.train.steps is None and 0 < finished < self.config.train.epochs:
            # The run had finished its epochs and its saved iterator is exhausted, so the added epochs
            # get a stream of their own, keyed on the same (seed, epoch, chunk) as ever.
            self.start_data(finished, 0)
        elif restored and not self.save_iterator:
            self.start_data(int(self.data_epoch.numpy()), int(self.examples.numpy()))
        return restored

    def learning_rate(self, position: tf.Tensor) -> tf.Tensor:
        """Linear decay to a floor, by corpus position (or by step when train.steps is set)."""
        train = self.config.train
        if train.steps is not None:
            done = tf.cast(self.global_step, tf.float32) / train.steps
        else:
            done = tf.cast(position, tf.float32) / float(self.total_words)
        return train.learning_rate * tf.maximum(train.min_learning_rate, 1.0 - done)

    def _clip(self, grads: list) -> tuple[list, tf.Tensor]:
        train = self.config.train
        norm = tf.linalg.global_norm(grads)
        if train.clip == "global_norm":
            grads, _ = tf.clip_by_global_norm(grads, train.clip_value, use_norm=norm)
        elif train.clip == "norm":
            grads = [tf.clip_by_norm(g, train.clip_value) for g in grads]
        elif train.clip == "value":
            grads = [tf.IndexedSlices(tf.clip_by_value(g.values, -train.clip_value, train.clip_value), g.indices,
                                      g.dense_shape) if isinstance(g, tf.IndexedSlices)
                     else tf.clip_by_value(g, -train.clip_value, train.clip_value) for g in grads]
        return grads, norm

    def _fused_step(self, batch: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, list[tf.Tensor]]:
        """One step of the fused op: per-pair SGD in place, with negatives the op draws from the same
        noise distribution, keyed on the step. The roles are word2vec.c's: the context word's input
        row predicts the centre word (on Gutenberg this scored 0.7 points of analogy accuracy more after
        one epoch than centre-predicts-context)."""
        position = tf.reduce_max(batch["position"])
        lr = self.learning_rate(position)
        size = tf.shape(batch["labels"])[0]
        model = self.model
        per_example = fused.step(model.embedding, model.nce_weights, batch["labels"], batch["inputs"],
                                 (model.noise_accept, model.noise_alias), self.config.model.num_sampled,
                                 model.noise_key(self.global_step), lr, self.config.train.threads)
        with tf.control_dependencies([per_example]):
            self._advance(position, tf.cast(size, tf.int64))
        return tf.reduce_mean(per_example), tf.constant(0.0), lr, []

    def _advance(self, position: tf.Tensor, count: tf.Tensor) -> None:
        """Count a step done: the global step, the stream position and the examples consumed."""
        self.global_step.assign_add(1)
        self.position.assign(tf.maximum(self.position, position + 1))
        self.examples.assign_add(count)

    def _step(self, batch: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, list[tf.Tensor]]:
        """One step on this replica's batch (in replica context; a replica may get an empty batch at
        the end of the data)."""
        if self.fused:
            return self._fused_step(batch)
        variables = self.model.trainable
        context = tf.distribute.get_replica_context()
        offset = context.replica_id_in_sync_group * self.config.train.batch_size
        count = tf.shape(batch["labels"], out_type=tf.int64)[0]
        if self.replicas > 1:
            batch, weight = _pad(batch, self.config.train.batch_size)
        with tf.GradientTape() as tape:
            per_example = self.model.loss(batch, self.global_step, offset, self.global_batch)
            if self.replicas > 1:
                per_example *= weight
            # Summed, not averaged: the sgd learning rate then applies per example, as word2vec's alpha.
            total = tf.reduce_sum(per_example)
        with tf.name_scope("optimizer"):
            grads = tape.gradient(total, variables)
            position = tf.reduce_max(batch["position"])
            if self.replicas > 1:
                # The sum over the global batch: what one device computes for the same examples.
                grads, total, count, position = _all_reduce(context, grads, total, count, position)
            grads, norm = self._clip(grads)
            lr = self.learning_rate(position)
            # Every replica applies the same reduced gradient to its own copy of the variables.
            self.optimizer.apply(grads, variables, lr)
            self._advance(position, count)
        flat = [tf.reshape(g.values if isinstance(g, tf.IndexedSlices) else g, [-1]) for g in grads]
        return total / tf.cast(tf.maximum(count, 1), tf.float32), norm, lr, flat

    def _run_steps(self, iterator: object, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        done = tf.constant(0)
        loss_sum = tf.constant(0.0)
        norm = tf.constant(0.0)
        lr = tf.constant(0.0)
        first = self.strategy.experimental_local_results
        for i in tf.range(n):
            batch = iterator.get_next_as_optional()
            if not batch.has_value():
                break
            loss, norm, lr, grads = self.strategy.run(self._step, args=(batch.get_value(),))
            # Every replica holds the same reduced values; this worker's first copy stands for all.
            loss, norm, lr = first(loss)[0], first(norm)[0], first(lr)[0]
            if self.last_grads is not None and i == n - 1:
                for var, g in zip(self.last_grads, grads, strict=True):
                    var.assign(first(g)[0])
            loss_sum += loss
            done += 1
        return done, loss_sum, norm, lr

    def _call(self, n: int) -> tuple[int, float, float, float]:
        """Run ``n`` steps: in this process, or shared among the workers of a parameter-server cluster
        (whose steps then run concurrently, each on its own share of the data)."""
        if self.coordinator is None:
            done, loss_sum, norm, lr = (t.numpy() for t in self._run(self.iterator, tf.constant(n)))
            return int(done), float(loss_sum), float(norm), float(lr)
        shares = [n // self.workers + (i < n % self.workers) for i in range(self.workers)]
        scheduled = [self.coordinator.schedule(self._run, args=(self.iterator, tf.constant(k)))
                     for k in shares if k]
        self.coordinator.join()
        results = [[np.asarray(v) for v in r.fetch()] for r in scheduled]
        return (int(sum(r[0] for r in results)), float(sum(r[1] for r in results)), float(results[-1][2]),
                float(results[-1][3]))

    def placement(self) -> dict[str, list[str]]:
        """The devices that hold each table: one per shard, or per mirrored copy on this worker."""
        out = {}
        for table in self.model.tables:
            name = parts(table)[0].name.split(":")[0].removesuffix("/part_0")
            out[name] = [copy.device for part in parts(table)
                         for copy in self.strategy.experimental_local_results(part)]
        return out

    def vectors(self) -> np.ndarray:
        """The input embedding as a numpy array (shards joined)."""
        return tf.convert_to_tensor(self.model.embedding).numpy()

    def write_projector(self) -> None:
        """Projector files for the most frequent ``projector.top_n`` words."""
        top = min(self.config.projector.top_n, len(self.corpus.vocab))
        projector.write(self.run_dir, self.vectors()[:top], self.corpus.vocab.words[:top])

    def fit(self, show_progress: bool = True, stop_at: int | None = None, meta: RunMeta | None = None) -> Result:
        """Train until the data (epochs) or train.steps runs out, checkpointing on schedule.

        ``stop_at`` ends the call early at that global step with a checkpoint, as a preempted job
        would; ``resume`` then continues exactly where it stopped. SIGINT or SIGTERM do the same at
        the end of the current call (a second SIGINT aborts at once).
        """
        cfg = self.config
        summaries = Summaries(self.run_dir)
        step = int(self.global_step.numpy())
        limit = cfg.train.steps
        end = min((x for x in (limit, stop_at) if x is not None), default=None)
        words_scale = self.corpus.raw_tokens / self.corpus.shards.stream_length
        every = [cfg.checkpoint.every_n_steps, cfg.summary.scalars_every_n_steps,
                 cfg.summary.histograms_every_n_steps] + ([cfg.eval.every_n_steps] if self.evaluator else [])
        trace = cfg.summary.graph and step == 0 and self.coordinator is None
        bar = tqdm(total=limit if limit else self.total_words, initial=step if limit else int(self.position.numpy()),
                   unit="step" if limit else "word", unit_scale=not limit, disable=not show_progress,
                   dynamic_ncols=True, smoothing=0.1)
        interval_loss, interval_steps = 0.0, 0
        last_loss = float("nan")
        tick_time, tick_position = time.perf_counter(), int(self.position.numpy())
        start_time, start_position = tick_time, tick_position
        wall_before = meta.data["wall_time_s"] if meta else 0.0
        words_per_sec = 0.0
        saved_at = step if self.checkpoints.latest else -1
        exhausted = False

        def record() -> None:
            if meta:
                position = int(self.position.numpy())
                progress = step / limit if limit else position / self.total_words
                meta.update(step=step, total_steps=limit, progress=min(progress, 1.0),
                            words=int(position * words_scale), last_loss=last_loss,
                            wall_time_s=wall_before + time.perf_counter() - start_time)

        with StopSignals() as signals:
            while end is None or step < end:
                n = min([cfg.train.steps_per_call] + [k - step % k for k in every] + ([end - step] if end else []))
                if trace:
                    summaries.start_graph_trace()
                done, loss_sum, norm, lr = self._call(n)
                if trace:
                    summaries.export_graph(step)
                    trace = False
                if not (np.isfinite(loss_sum) and np.isfinite(norm)):
                    # Diverged: saving would only preserve garbage, so stop with the last good checkpoint.
                    raise W2VError(f"training diverged at step {step + int(done)} (loss is {loss_sum}); the last "
                                   f"checkpoint is before it: lower train.learning_rate or train.batch_size, or "
                                   f"set train.clip")
                step = int(self.global_step.numpy())
                interval_loss += loss_sum
                interval_steps += done
                position = int(self.position.numpy())
                bar.update(int(done) if limit else position - bar.n)
                if done and step % cfg.summary.scalars_every_n_steps == 0:
                    now = time.perf_counter()
                    words_per_sec = (position - tick_position) * words_scale / max(now - tick_time, 1e-9)
                    last_loss = interval_loss / interval_steps
                    values = {"loss": last_loss, "learning_rate": float(lr), "words_per_sec": words_per_sec}
                    if not self.fused:
                        values["gradient_norm"] = float(norm)
                    summaries.scalars(step, values)
                    bar.set_postfix(loss=f"{last_loss:.4f}", words_s=f"{words_per_sec:,.0f}", refresh=False)
                    interval_loss, interval_steps = 0.0, 0
                    tick_time, tick_position = now, position
                    record()
                if done and step % cfg.summary.histograms_every_n_steps == 0:
                    self._write_histograms(summaries, step)
                if done and self.evaluator and step % cfg.eval.every_n_steps == 0:
                    report = self.evaluate(summaries, step)
                    if meta:
                        meta.update(metrics=report.scalars())
                # A parameter-server cluster reads its shares forever: its epochs end by position.
                exhausted = done < n or (self.coordinator is not None and limit is None
                                         and position >= self.total_words)
                if exhausted:
                    self.epochs_done.assign(cfg.train.epochs)
                if self.checkpoints.due(step) and saved_at != step:
                    self.checkpoints.save(step)
                    saved_at = step
                if exhausted or signals.received:
                    break
            bar.close()
            if interval_steps:
                last_loss = interval_loss / interval_steps
            elapsed = time.perf_counter() - start_time
            if elapsed > 0 and int(self.position.numpy()) > start_position:
                words_per_sec = (int(self.position.numpy()) - start_position) * words_scale / elapsed
            if saved_at != step:
                self.checkpoints.save(step)
            self._write_histograms(summaries, step)
            self.write_projector()
            summaries.flush()
            record()
        finished = exhausted or (limit is not None and step >= limit)
        return Result(self.run_dir, step, last_loss, words_per_sec, finished, signals.received)

    def evaluate(self, summaries: Summaries, step: int) -> evaluate.Report:
        """Score the current vectors; scalars go to TensorBoard and the report to eval/step-N.json."""
        report = self.evaluator(evaluate.Vectors(self.corpus.vocab.words, self.vectors()), step)
        summaries.scalars(step, report.scalars())
        evaluate.save(report, self.run_dir)
        return report

    def _write_histograms(self, summaries: Summaries, step: int) -> None:
        values = {f"weights/{v.name.split(':')[0]}": v for v in self.model.trainable}
        for var, g in zip(self.model.trainable, self.last_grads or [], strict=self.last_grads is not None):
            if tf.size(g) > 0:
                values[f"gradients/{var.name.split(':')[0]}"] = g
        summaries.histograms(step, values)


def _start(config: Config, task: distribute.Task) -> tf.distribute.Strategy:
    """Device and strategy for a training session of this cluster task. The ps and worker tasks of
    a parameter-server cluster serve here until stopped: the chief runs the training loop."""
    configure_device(config.run.device, config.run.deterministic)
    distribute.configure(config.distribute, task)
    tf.random.set_seed(config.run.seed)
    if config.distribute.strategy == "parameter_server" and task.type in ("ps", "worker"):
        distribute.serve(task)
    return distribute.make_strategy(config.distribute)


@contextlib.contextmanager
def _output(run_dir: Path, task: distribute.Task) -> Iterator[Path]:
    """Where this task writes: the run directory for the chief; for any other worker a temporary
    copy that is deleted when training ends (every worker of a multi-worker job must save its
    checkpoints, but only the chief's are kept)."""
    if task.writes_run:
        yield run_dir
        return
    scratch = Path(tempfile.mkdtemp(prefix=f"w2v-{task.type}{task.index}-"))
    try:
        yield scratch / run_dir.name
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def train(config: Config, run_dir: Path, show_progress: bool = True, stop_at: int | None = None) -> Result:
    """Start a new run in ``run_dir`` (which must not hold a run) and train it to the end
    (or to global step ``stop_at``)."""
    run_dir = Path(run_dir)
    task = distribute.task_from_env(config.distribute.strategy)
    if task.writes_run:
        runs.check_new(run_dir)
    strategy = _start(config, task)
    evaluator = make_evaluator(config) if task.writes_run else None
    corpus = load_corpus(config)
    with _output(run_dir, task) as out:
        runs.create(out, config, corpus.vocab)
        with runs.RunLock(out):
            trainer = Trainer(config, corpus, out, evaluator, strategy)
            Summaries(out).hparams(config_lib.to_dict(config), run_dir.name)
            result = _session(trainer, RunMeta.begin(out, config.run.seed, device_name(strategy)), show_progress,
                              stop_at)
    return dataclasses.replace(result, run_dir=run_dir)


def device_name(strategy: tf.distribute.Strategy | None = None) -> str:
    """Where the steps run, for meta.json."""
    gpus = tf.config.list_logical_devices("GPU")
    where = f"GPU ({len(gpus)})" if gpus else "CPU"
    if not isinstance(strategy, DISTRIBUTED):
        return where
    return f"{where}, {type(strategy).__name__} ({strategy.num_replicas_in_sync} replicas)"


def _session(trainer: Trainer, meta: RunMeta, show_progress: bool, stop_at: int | None) -> Result:
    """Run ``fit`` and record how it ended in meta.json."""
    meta.update(placement=trainer.placement(), kernel="fused" if trainer.fused else "tf")
    try:
        result = trainer.fit(show_progress, stop_at, meta)
    except W2VError as e:
        meta.end("failed", str(e))
        raise
    except KeyboardInterrupt:
        meta.end("interrupted", "aborted by a second interrupt")
        raise
    except BaseException as e:
        meta.end("failed", f"{e.__class__.__name__}: {e}")
        raise
    meta.end("completed" if result.finished else "interrupted")
    return result


def _saved_iterator(run_dir: Path) -> bool:
    """Whether the newest checkpoint holds the data iterator (runs trained without a distributed
    strategy save it; the others are positioned by their examples counter)."""
    path = tf.train.latest_checkpoint(str(run_dir / runs.CHECKPOINTS))
    return path is None or any(name.startswith("data/") for name, _ in tf.train.list_variables(path))


def resume(run_dir: Path, overrides: list[str] = (), show_progress: bool = True,
           stop_at: int | None = None) -> Result:
    """Continue a run from its newest readable checkpoint to its configured end (under the same
    strategy or another one: checkpoints hold whole tables whatever the sharding)."""
    run_dir = Path(run_dir)
    config = runs.load_config(run_dir, overrides)
    changed = config_lib.check_resumable(runs.load_config(run_dir), config)
    saved = runs.load_vocab(run_dir)
    task = distribute.task_from_env(config.distribute.strategy)
    strategy = _start(config, task)
    corpus = load_corpus(config)
    if corpus.vocab.words != saved.words:
        raise W2VError(f"corpus {config.data.corpus}: its vocabulary no longer matches {run_dir / runs.VOCAB}; "
                       f"the corpus changed since the run started")
    with _output(run_dir, task) as out:
        if out != run_dir:
            # Read the chief's checkpoints (shared storage), never write next to them.
            runs.create(out, config, corpus.vocab)
            shutil.copytree(run_dir / runs.CHECKPOINTS, out / runs.CHECKPOINTS, dirs_exist_ok=True)
        with runs.RunLock(out) as lock:
            if lock.took_over:
                log.warning("run directory %s: taking over the lock of pid %s, which is no longer running",
                            run_dir, lock.took_over)
            trainer = Trainer(config, corpus, out, make_evaluator(config) if task.writes_run else None, strategy,
                              save_iterator=_saved_iterator(out))
            if trainer.restore() is None:
                # Killed before its first checkpoint: nothing was saved, so starting over is the exact
                # continuation (the stream and the initial vectors depend on the seed alone).
                log.warning("run directory %s: no checkpoint was saved yet; starting from step 0", run_dir)
            meta = RunMeta.begin(out, config.run.seed, device_name(strategy),
                                 resumed_with=[f"{k}: {a} -> {b}" for k, (a, b) in changed.items()])
            if overrides:
                config_lib.dump(config, out / runs.CONFIG)
            result = _session(trainer, meta, show_progress, stop_at)
    return dataclasses.replace(result, run_dir=run_dir)
