"""Starting and continuing runs: ``train(config, run_dir)`` starts a run, ``resume(run_dir)`` continues
one from its newest readable checkpoint. Both choose the device, strategy and step kernel, open the
corpus, and hand a ``Trainer`` (w2v/loop.py) to a session that records how it ended in meta.json.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import tensorflow as tf

from w2v import config as config_lib
from w2v import corpus as corpus_lib
from w2v import distribute, estimate, evaluate, losses, phrases, runs, schema, state, steps
from w2v import meta as meta_lib
from w2v import vocab as vocab_lib
from w2v.config import Config
from w2v.errors import W2VError
from w2v.loop import Result, Trainer
from w2v.meta import RunMeta
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


def load_corpus(config: Config, show_progress: bool = False) -> vocab_lib.EncodedCorpus:
    """Open (tokenising on first use, with a progress bar if asked) the configured corpus and choose
    its vocabulary (after init.from_run's words, for a warm start), checking it can feed the configured
    loss."""
    data = config.data
    sharded = corpus_lib.encoded(data, show_progress)
    if data.phrases:
        settings = phrases.Settings(data.phrase_min_count, data.phrase_threshold, data.phrase_scoring,
                                    data.phrase_delimiter)
        sharded = phrases.open_or_write(sharded, data.phrases, settings, progress=show_progress)
    encoded = vocab_lib.select(sharded, data.min_count, data.max_vocab, source=data.corpus)
    if config.init.from_run:
        encoded = vocab_lib.extend(runs.load_vocab(_init_source(config)), encoded)
    size = len(encoded.vocab)
    k = config_lib.resolve(config).model.num_sampled
    if losses.get(config.model.loss).sampled and k >= size:
        raise W2VError(f"config key model.num_sampled: {k} must be smaller than the vocabulary ({size} words "
                       f"after min_count={data.min_count})")
    return encoded


def _init_source(config: Config) -> Path:
    """The run init.from_run names, checked to have a checkpoint of this run's dimension."""
    source = runs.named_run(config.init.from_run, "init.from_run")
    dim = runs.load_config(source).model.embedding_dim
    if dim != config.model.embedding_dim:
        raise W2VError(f"config key init.from_run: {source} has vectors of dimension {dim}, this run "
                       f"{config.model.embedding_dim} (model.embedding_dim must be the same)")
    runs.checkpoint_path(source)  # a W2VError when it has none
    return source


def make_evaluator(config: Config) -> evaluate.Evaluator | None:
    """The evaluator of the run's own evaluation, periodic or at its end (files read and checked now, before any
    run directory is written); None when it evaluates nothing."""
    if config.eval.every_n_steps == 0 and not config.eval.at_end:
        return None
    analogy_files, similarity_files = evaluate.configured_files(config.eval.analogies, config.eval.similarity)
    evaluator = evaluate.Evaluator(analogy_files, similarity_files, config.eval.restrict, config.eval.method,
                                   config.eval.suite, config.data.cache_dir)
    for key, name in config_lib.watched_metrics(config).items():
        evaluator.metric(key, name)
    return evaluator


def _start(config: Config, task: distribute.Task) -> tuple[tf.distribute.Strategy, Config, str]:
    """Device, strategy and step kernel for a training session of this cluster task, and the config
    resolved for that kernel. The ps and worker tasks of a parameter-server cluster serve here until
    stopped: the chief runs the training loop."""
    configure_device(config.run.device, config.run.deterministic)
    distribute.configure(config.distribute, task)
    tf.random.set_seed(config.run.seed)
    if config.distribute.strategy == "parameter_server" and task.type in ("ps", "worker"):
        distribute.serve(task)
    strategy = distribute.make_strategy(config.distribute)
    kernel = steps.choose(config, strategy)
    return strategy, config_lib.resolve(config, kernel), kernel


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


def device_name(strategy: tf.distribute.Strategy | None = None) -> str:
    """Where the steps run, for meta.json."""
    gpus = tf.config.list_logical_devices("GPU")
    where = f"GPU ({len(gpus)})" if gpus else "CPU"
    if strategy is None or strategy is tf.distribute.get_strategy():
        return where
    return f"{where}, {type(strategy).__name__} ({strategy.num_replicas_in_sync} replicas)"


def _announce(run_dir: Path, trainer: Trainer, show_progress: bool, start_step: int = 0) -> None:
    """Say what the run will be and take before it starts, or a resumed one from ``start_step`` (and warn when
    its tables will not fit)."""
    evaluation = estimate.evaluation_seconds(trainer.evaluator, trainer.config, len(trainer.corpus.vocab)) \
        if trainer.evaluator else None
    line, warnings = estimate.plan(trainer.config, trainer.corpus, trainer.kernel, trainer.threads,
                                   runs.checkpoint_dir(trainer.run_dir), trainer.checkpoint_every, start_step,
                                   evaluation)
    for warning in warnings:
        log.warning(warning)
    if show_progress:
        print(f"run {run_dir}: {line}", file=sys.stderr, flush=True)


def _record_end(meta: RunMeta, status: str, error: str) -> None:
    """Record how a session broke off; a disk too full for meta.json too must not hide the error itself."""
    try:
        meta.end(status, error)
    except OSError as e:
        log.warning("run directory %s: could not record its %s status (%s)", meta.run_dir, status, e.strerror or e)


def _session(trainer: Trainer, meta: RunMeta, show_progress: bool, stop_at: int | None) -> Result:
    """Run ``fit`` and record how it ended in meta.json."""
    threads = trainer.threads if trainer.kernel == "fused" else None
    meta.update(placement=trainer.placement(), kernel=trainer.kernel, threads=threads)
    try:
        result = trainer.fit(show_progress, stop_at, meta)
    except W2VError as e:
        _record_end(meta, "failed", str(e))
        raise
    except KeyboardInterrupt:
        _record_end(meta, "interrupted", "aborted by a second interrupt")
        raise
    except BaseException as e:
        _record_end(meta, "failed", f"{e.__class__.__name__}: {e}")
        raise
    meta.end("completed" if result.finished else "interrupted", reason=result.reason)
    return result


def train(config: Config, run_dir: Path, show_progress: bool = True, stop_at: int | None = None,
          overrides: list[str] = (), command: str | None = None) -> Result:
    """Start a new run in ``run_dir`` (which must not hold a run) and train it to the end
    (or to global step ``stop_at``); ``overrides``, those the config was given (``--set``), and ``command``, the
    call that started it (by default this process's command line), go to meta.json."""
    run_dir = Path(run_dir)
    task = distribute.task_from_env(config.distribute.strategy)
    if task.writes_run:
        runs.check_new(run_dir, config)
    strategy, config, kernel = _start(config, task)
    evaluator = make_evaluator(config) if task.writes_run else None
    corpus = load_corpus(config, show_progress and task.writes_run)
    with _output(run_dir, task) as out:
        runs.create(out, config, corpus.vocab, link_checkpoints=task.writes_run)
        if config.data.phrases:
            shutil.copyfile(corpus.shards.directory / phrases.PHRASES, out / phrases.PHRASES)
        with runs.RunLock(out):
            trainer = Trainer(config, corpus, out, kernel, evaluator, strategy)
            started = trainer.warm_start() if config.init.from_run else None
            _announce(run_dir, trainer, show_progress and task.writes_run)
            Summaries(out).hparams(config, run_dir.name)
            meta = RunMeta.begin(out, config.run.seed, device_name(strategy), overrides, command)
            if started:
                meta.update(init=started)
            result = _session(trainer, meta, show_progress, stop_at)
    return dataclasses.replace(result, run_dir=run_dir)


def _reopen(config: Config, run_dir: Path, saved: vocab_lib.Vocab, show_progress: bool) -> vocab_lib.EncodedCorpus:
    """The corpus of a run being resumed, read with the vocabulary it was given. A warm start's keeps its
    saved vocabulary and inherited rows (the run it started from may be gone since)."""
    corpus = load_corpus(dataclasses.replace(config, init=schema.InitConfig()), show_progress)
    if config.init.from_run:
        changed = any(w not in saved.index for w in corpus.vocab.words)
    else:
        changed = corpus.vocab.words != saved.words
    if changed:
        raise W2VError(f"corpus {config.data.corpus}: its vocabulary no longer matches {run_dir / runs.VOCAB}; "
                       f"the corpus changed since the run started")
    if config.init.from_run:
        # Killed before meta.json recorded the start, the run needs its source to know its inherited rows.
        inherited = meta_lib.read(run_dir).get("init", {}).get("words")
        return vocab_lib.encode(corpus.shards, saved, inherited or len(runs.load_vocab(_init_source(config))))
    return corpus


def _complete(run_dir: Path, saved: Config, config: Config) -> Result | None:
    """The run as it stands, when it completed and ``config`` does not extend it."""
    record = meta_lib.read(run_dir)
    extended = (config.train.epochs, config.train.steps) != (saved.train.epochs, saved.train.steps)
    if record.get("status") != "completed" or extended:
        return None
    return Result(run_dir, record.get("step", 0), record.get("last_loss", float("nan")), 0.0, unchanged=True)


def _check_extends(run_dir: Path, saved: Config, config: Config) -> None:
    """Refuse a schedule that ends before the run's own (a resume continues or extends a run, never cuts it
    short), before anything is written."""
    old, new = saved.train, config.train
    step = meta_lib.read(run_dir).get("step", 0)
    if new.steps is None and old.steps is None and new.epochs < old.epochs:
        raise W2VError(f"resume: train.epochs={new.epochs} is below the run's {estimate.counted(old.epochs, 'epoch')}"
                       f"; a resume only extends a run (start a new one for a shorter schedule)")
    if new.steps is not None and new.steps != old.steps and new.steps <= max(old.steps or 0, step):
        raise W2VError(f"resume: train.steps={new.steps} does not go past the run's "
                       + (estimate.counted(old.steps, "step") if (old.steps or 0) >= step
                          else f"step {step}, where it stands")
                       + "; a resume only extends a run (start a new one for a shorter schedule)")
    if new.steps is not None and new.steps == old.steps and new.epochs != old.epochs and step >= new.steps:
        # Accepted, it would run a session of no steps and record a loss of nan for a finished run.
        raise W2VError(f"resume: train.epochs={new.epochs} does not go past the run's "
                       f"{estimate.counted(new.steps, 'step')}, which bound it; a resume only extends such a run "
                       f"with train.steps=N past {step} (or train.steps=null to train by epochs)")


def resume(run_dir: Path, overrides: list[str] = (), show_progress: bool = True,
           stop_at: int | None = None, command: str | None = None) -> Result:
    """Continue a run from its newest readable checkpoint to its configured end (under the same
    strategy or another one: checkpoints hold whole tables whatever the sharding). A run that
    completed is left as it is, unless the overrides extend it (``Result.unchanged``). ``command``: as for
    ``train``."""
    run_dir = Path(run_dir)
    config = runs.load_config(run_dir, overrides)
    saved_config = runs.load_config(run_dir)
    changed = config_lib.check_resumable(saved_config, config)
    _check_extends(run_dir, saved_config, config)
    if (done := _complete(run_dir, saved_config, config)) is not None:
        return done
    saved = runs.load_vocab(run_dir)
    task = distribute.task_from_env(config.distribute.strategy)
    strategy, config, kernel = _start(config, task)
    corpus = _reopen(config, run_dir, saved, show_progress and task.writes_run)
    with _output(run_dir, task) as out:
        if out != run_dir:
            # Read the chief's checkpoints (shared storage), never write next to them.
            runs.create(out, config, corpus.vocab, link_checkpoints=False)
            shutil.copytree(runs.checkpoint_dir(run_dir), runs.checkpoint_dir(out), dirs_exist_ok=True)
        with runs.RunLock(out) as lock:
            if lock.took_over:
                log.warning("run directory %s: taking over the lock of pid %s, which is no longer running",
                            run_dir, lock.took_over)
            latest = tf.train.latest_checkpoint(str(runs.checkpoint_dir(out)))
            trainer = Trainer(config, corpus, out, kernel, make_evaluator(config) if task.writes_run else None,
                              strategy, save_iterator=state.holds_iterator(latest),
                              save_shares=state.holds_shares(latest))
            _announce(run_dir, trainer, show_progress and task.writes_run, runs.resume_step(out))
            if trainer.restore() is None:
                # Killed before its first checkpoint: nothing was saved, so starting over is the exact
                # continuation (the stream and the initial vectors depend on the seed and init.from_run alone).
                log.warning("run directory %s: no checkpoint was saved yet; starting from step 0", run_dir)
                if config.init.from_run:
                    trainer.warm_start()
            meta = RunMeta.begin(out, config.run.seed, device_name(strategy),
                                 overrides=[f"{k}: {a} -> {b}" for k, (a, b) in changed.items()], command=command)
            if overrides:
                config_lib.dump(config, out / runs.CONFIG)
            result = _session(trainer, meta, show_progress, stop_at)
    return dataclasses.replace(result, run_dir=run_dir)
