"""The training loop: ``Trainer`` puts a run's state, step kernel and feed together, and ``fit`` runs
steps until the next due action (w2v/actions.py), then calls it. (w2v/trainer.py starts and resumes
runs around it.)

Several steps run inside one ``tf.function`` call (``train.steps_per_call``, fewer when a call would
take more than about half a second, so a stop signal is answered quickly), and calls end exactly on
the steps where an action is due. Every step runs through ``strategy.run`` (w2v/distribute.py picks
the strategy); how replicas combine their gradients is the step's business (w2v/steps.py), how
batches reach them the feed's (w2v/feeds.py).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from w2v import (
    actions,
    distribute,
    estimate,
    evaluate,
    feeds,
    fused,
    losses,
    projector,
    runs,
    steps,
    subwords,
    vector_cache,
)
from w2v import config as config_lib
from w2v import state as state_lib
from w2v import vectors as vectors_lib
from w2v import vocab as vocab_lib
from w2v.actions import Clock
from w2v.averaging import Averaging
from w2v.checkpoints import Checkpoints
from w2v.config import Config
from w2v.errors import W2VError
from w2v.interrupts import StopSignals
from w2v.meta import RunMeta
from w2v.model import Word2Vec, parts
from w2v.optimizer import SparseOptimizer
from w2v.state import TrainState
from w2v.summaries import Summaries

# How long one call may run: a stop signal waits for the call in progress.
CALL_SECONDS = 0.5


@dataclass
class Result:
    """What a finished (or stopped) training call reports."""

    run_dir: Path
    step: int
    loss: float
    words_per_sec: float
    finished: bool = True
    signal: int | None = None
    reason: str | None = None  # why it completed before its end (early stopping)
    unchanged: bool = False  # resume found the run already at its end and left it as it was


def _record_failure(clock: Clock, todo: list[actions.Action]) -> None:
    """A run that fails records the step it failed at, not its last periodic record's (a failed first
    checkpoint left `w2v runs` showing step 1 of a run that failed at step 20)."""
    for action in todo:
        if isinstance(action, actions.Record):
            with contextlib.suppress(OSError):  # the disk that failed a save may refuse this too
                action(clock)


class Trainer:
    """A run's model, optimizer and counters (its state), the step that trains them and the feed."""

    def __init__(self, config: Config, corpus: vocab_lib.EncodedCorpus, run_dir: Path, kernel: str,
                 evaluator: evaluate.Evaluator | None = None, strategy: tf.distribute.Strategy | None = None,
                 save_iterator: bool = True, save_shares: bool = True) -> None:
        self.config, self.corpus, self.run_dir, self.kernel = config, corpus, Path(run_dir), kernel
        self.evaluator = evaluator
        self.strategy = strategy or tf.distribute.get_strategy()
        self.threads = config.train.threads or fused.default_threads()
        noise = corpus.vocab.noise_distribution(config.model.noise, config.model.noise_power)
        # Watched metrics by the config key that names them: keep_best's first, whose best value meta.json records.
        self.watched = {key: evaluate.metric_name(name) for key, name in config_lib.watched_metrics(config).items()}
        rank, workers = distribute.rank(self.strategy)
        # The fused engine trains this process's own tables in place; the workers of a multi-worker job
        # average theirs (w2v/averaging.py), so its variables are never mirrored.
        home = tf.distribute.get_strategy() if kernel == "fused" else self.strategy
        with home.scope():
            table = subwords.table(corpus.vocab.words, subwords.settings(config.model)) if config.model.subwords \
                else None
            model = Word2Vec(len(corpus.vocab), config.model, noise, config.run.seed, corpus.vocab.counts, table)
            self.state = TrainState(model, SparseOptimizer(config.train.optimizer, model.trainable),
                                    tuple(dict.fromkeys(self.watched.values())), workers)
            self.averaging = Averaging(self.strategy, self.state, rank, workers, config.distribute.sync_every_n_steps,
                                       config.distribute.sync_rows) if kernel == "fused" and workers > 1 else None
        self.feed = feeds.make(corpus, config, self.strategy, native=kernel == "fused", averaging=self.averaging)
        self.save_iterator = save_iterator and self.feed.saveable
        # One period on every worker: the workers of a multi-worker job may have other cores, and each must
        # save (and average its tables first) at the same steps.
        self.checkpoint_every = estimate.checkpoint_period(config, len(corpus.vocab), kernel,
                                                           self.threads if workers == 1 else 1)
        self.save_shares = save_shares and self.averaging is not None
        if config.init.freeze_old:
            model.frozen = (corpus.inherited, 0 if model.loss_kind.tree else corpus.inherited)
        self.total_positions = config.train.epochs * corpus.shards.stream_length
        setting = steps.Setting(config, self.total_positions, self.strategy.num_replicas_in_sync, self.threads)
        step = steps.KERNELS[kernel].build(self.state, setting)
        # The last step's gradients, for the histograms (a parameter-server worker cannot write to the
        # coordinator's variables, and the fused kernel makes no gradients).
        self.grads = None if kernel == "fused" or self.feed.ends_by_position else [
            tf.Variable(tf.zeros([0]), shape=tf.TensorShape(None), trainable=False) for _ in model.trainable]
        self._run = tf.function(feeds.steps_loop(home, step, self.grads))
        self.start_data(0, 0)

    @property
    def model(self) -> Word2Vec:
        return self.state.model

    def start_data(self, epoch: int, skip: int) -> None:
        """A data stream from ``epoch`` that leaves out the ``skip`` examples already trained on (of
        this stream), and the checkpoints that track it."""
        self.state.data_epoch.assign(epoch)
        self.state.examples.assign(skip)
        self.feed.start(epoch, skip)
        checkpoint = self.state.checkpoint(self.feed.iterator if self.save_iterator else None, self.save_shares)
        cfg = self.config.checkpoint
        self.checkpoints = Checkpoints(checkpoint, runs.checkpoint_dir(self.run_dir), self.checkpoint_every,
                                       cfg.max_to_keep, self.state.step)
        self.best_checkpoints = Checkpoints(checkpoint, runs.best_checkpoint_dir(self.run_dir),
                                            self.checkpoint_every, 1, self.state.step) if cfg.keep_best else None

    def restore(self) -> str | None:
        """Restore the newest readable checkpoint and put the data stream where it stopped."""
        restored = self.checkpoints.restore_latest()
        finished, started = int(self.state.epochs_done.numpy()), int(self.state.data_epoch.numpy())
        if finished > started:
            # The saved stream ran out (the run had finished its epochs), so what an extension adds gets a
            # stream of its own from there, keyed on the same (seed, epoch, chunk) as ever. A stream that
            # has not run out (an extension stopped halfway) goes on from its saved iterator instead.
            self.start_data(finished, 0)
        elif restored and not self.save_iterator:
            self.start_data(started, int(self.state.examples.numpy()))
        return restored

    def warm_start(self) -> dict[str, object]:
        """Copy the rows of init.from_run's latest checkpoint into the model (the leading rows of this run's
        vocabulary are its words); what was copied, for meta.json."""
        source = runs.named_run(self.config.init.from_run, "init.from_run")
        old_loss = runs.load_config(source).model.loss
        saved = state_lib.read(runs.checkpoint_path(source))
        n, model = self.corpus.inherited, self.model
        if saved.embedding.shape != (n, model.config.embedding_dim):
            raise W2VError(f"config key init.from_run: {saved.path} holds {saved.embedding.shape[0]} vectors of "
                           f"dimension {saved.embedding.shape[1]}, not one of dimension {model.config.embedding_dim} "
                           f"for each of the {n} words of {source / runs.VOCAB}")

        def copy(table: tf.Variable, rows: np.ndarray) -> None:
            table.assign(tf.concat([rows, tf.convert_to_tensor(table)[n:]], axis=0))

        copy(model.embedding, saved.embedding)
        copied = ["embedding"]
        if not (losses.get(old_loss).tree or model.loss_kind.tree):  # tree nodes are not words' rows
            copy(model.output_weights, saved.output_weights)
            copied.append("output weights")
        if old_loss == self.config.model.loss and model.loss_kind.biases:
            copy(model.output_biases, saved.output_biases)
            copied.append("output biases")
        return {"from": str(source), "checkpoint": saved.path, "step": saved.step, "words": n,
                "new_words": len(self.corpus.vocab) - n, "copied": copied, "frozen": self.config.init.freeze_old}

    def placement(self) -> dict[str, list[str]]:
        """The devices that hold each table: one per shard, or per mirrored copy on this worker."""
        out = {}
        for table in self.model.tables:
            name = parts(table)[0].name.split(":")[0].removesuffix("/part_0")
            copies = self.strategy.experimental_local_results
            out[name] = [copy.device for part in parts(table) for copy in copies(part)]
        return out

    def vectors(self, words: int | None = None) -> np.ndarray:
        """The vectors of the first ``words`` words, or of all, as a numpy array (shards joined; with subwords,
        composed)."""
        return self.model.word_vectors(words)

    @contextlib.contextmanager
    def caching_vectors(self, step: int) -> Iterator[None]:
        """Around a session's last save (at ``step``; the tables stay as they are): the run's vector cache gets that
        checkpoint's entry (w2v/vector_cache.py), from the tables in memory. Its words' unit vectors are written on a
        thread while the checkpoint is saved: side by side, the two writes into the page cache took the save's own
        time (957k x 300: 5.6-6.8 s, against 7.8-8.8 s one after the other)."""
        checkpoint = self.checkpoints.path(step)
        table = self.model.table_values()
        words = table if self.model.subword_ids is None else self.vectors()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            unit = pool.submit(vector_cache.write_unit, checkpoint, words)
            yield
        written = unit.exception() is None  # an unwritable run directory costs only the cache
        if self.checkpoints.latest == checkpoint:
            vector_cache.store(checkpoint, step, table, words, unit_written=written)

    def write_projector(self) -> None:
        """Projector files for the most frequent ``projector.top_n`` words."""
        top = min(self.config.projector.top_n, len(self.corpus.vocab))
        projector.write(self.run_dir, self.vectors(top), self.corpus.vocab.words[:top])

    def evaluate(self, summaries: Summaries, step: int) -> evaluate.Report:
        """Score the current vectors; scalars go to TensorBoard and the report to eval/step-N.json."""
        # The table itself (no copy without subwords), its rows normalised as the evaluation reads them: a copy of
        # a million-word table's 300k rows that word pairs may reach took 700 MB at the run's end.
        table = self.vectors() if self.model.subword_ids is not None else self.model.table_values()
        words = self.corpus.vocab.words
        report = self.evaluator(evaluate.Vectors(words, table, unit=vectors_lib.UnitRows(table)), step)
        evaluate.record(report, self.run_dir, summaries)
        return report

    def _actions(self, clock: Clock, summaries: Summaries, meta: RunMeta | None,
                 show_progress: bool) -> list[actions.Action]:
        cfg = self.config
        todo: list[actions.Action] = [actions.ProgressBar(clock, show_progress),
                                      actions.Scalars(cfg.summary.scalars_every_n_steps, summaries,
                                                      self.grads is not None, clock),
                                      actions.Histograms(cfg.summary.histograms_every_n_steps, summaries,
                                                         self.model.trainable, self.grads)]
        if self.evaluator:
            every = cfg.eval.every_n_steps
            todo.append(actions.Evaluation(every, lambda step: self.evaluate(summaries, step), meta,
                                           cfg.eval.at_end))
            keep, stop = self.watched.get("checkpoint.keep_best"), self.watched.get("eval.early_stop")
            for i, metric in enumerate(self.state.best):
                todo.append(actions.Best(every, metric, self.state.best[metric],
                                         self.best_checkpoints if metric == keep else None,
                                         cfg.eval.patience if metric == stop else None, meta if i == 0 else None))
        todo.append(actions.Checkpointing(self.checkpoints, clock.step, self.caching_vectors))
        todo.append(actions.AtEnd(self.write_projector))
        todo.append(actions.AtEnd(summaries.flush))
        if meta:
            todo.append(actions.Record(cfg.summary.scalars_every_n_steps, meta))
        return todo

    def _call_size(self, clock: Clock, due: list[int | None], end: int | None, pace: float | None) -> int:
        """Steps in the next call: up to the next due action or the end, and about CALL_SECONDS long at
        the ``pace`` (seconds a step) of the last call; one step while the pace is unknown (and at step 0:
        the first scalars come at step 1). The workers of a multi-worker job each run every step's
        collectives, so their calls must be of one size: train.steps_per_call, never a pace of their own,
        which under uneven load would leave one worker waiting on the other for ever. Workers that
        average their tables at the end of each call make calls up to the next multiple of
        distribute.sync_every_n_steps instead."""
        if clock.step == 0:
            n = 1
        elif self.averaging:
            every = self.config.distribute.sync_every_n_steps
            n = every - clock.step % every
        elif isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            n = self.config.train.steps_per_call
        else:
            n = 1 if pace is None else min(int(CALL_SECONDS / max(pace, 1e-9)), self.config.train.steps_per_call)
        n = min([n] + [k - clock.step % k for k in due if k] + ([end - clock.step] if end is not None else []))
        return max(n, 1)

    def fit(self, show_progress: bool = True, stop_at: int | None = None, meta: RunMeta | None = None) -> Result:
        """Train until the data (epochs) or train.steps runs out, checkpointing on schedule.

        ``stop_at`` ends the call early at that global step with a checkpoint, as a preempted job
        would; ``resume`` then continues exactly where it stopped. SIGINT or SIGTERM do the same after
        the current call (a second SIGINT aborts at once).
        """
        cfg, state = self.config, self.state
        limit = cfg.train.steps
        end = min((x for x in (limit, stop_at) if x is not None), default=None)
        words_scale = self.corpus.raw_tokens / self.corpus.shards.stream_length
        clock = Clock(int(state.step.numpy()), int(state.position.numpy()), limit, self.total_positions, words_scale,
                      meta.data["wall_time_s"] if meta else 0.0)
        summaries = Summaries(self.run_dir)
        todo = self._actions(clock, summaries, meta, show_progress)
        due = [a.every for a in todo]
        trace = cfg.summary.graph and clock.step == 0 and not self.feed.ends_by_position
        pace = None
        watch = actions.Stopwatch()
        if self.averaging:
            self.averaging.reset(lambda step: step == end or any(a.reads_tables and a.due(step) for a in todo))
        abort = (lambda: meta.end("interrupted", "aborted by a second interrupt")) if meta else (lambda: None)
        with StopSignals(on_abort=abort) as signals:
            try:
                while end is None or clock.step < end:
                    n = self._call_size(clock, due, end, pace)
                    started = time.perf_counter()
                    if trace:
                        summaries.start_graph_trace()
                    outcome = self.feed.call(self._run, n)
                    if trace:
                        summaries.export_graph(clock.step)
                        trace = False
                    if outcome[0]:
                        pace = (time.perf_counter() - started) / outcome[0]
                    clock.record(*outcome, step=int(state.step.numpy()), position=int(state.position.numpy()))
                    # A parameter-server cluster reads its shares forever: its epochs end by position.
                    clock.exhausted = outcome[0] < n or (self.feed.ends_by_position and limit is None
                                                         and clock.position >= self.total_positions)
                    if clock.exhausted:
                        state.epochs_done.assign(cfg.train.epochs)
                    for action in todo:
                        if outcome[0] and action.due(clock.step):
                            watch.time(watch.periodic, action, lambda: action(clock))  # noqa: B023 - called at once
                    if clock.exhausted or signals.received or clock.stop_reason:
                        break
            except Exception:
                _record_failure(clock, todo)
                raise
            watch.stopped = time.time()
            clock.close_interval()
            clock.words_per_sec = clock.overall_words_per_sec()
            for action in todo:
                watch.time(watch.at_end, action, lambda: action.finish(clock))  # noqa: B023 - called at once
        if meta:
            meta.session(time=watch.record())
        if meta and self.averaging:
            meta.update(averaging=self.averaging.traffic.record())
        finished = clock.exhausted or (limit is not None and clock.step >= limit) or clock.stop_reason is not None
        return Result(self.run_dir, clock.step, clock.loss, clock.words_per_sec, finished, signals.received,
                      reason=clock.stop_reason)
