"""What the training loop does besides training: each periodic side effect is a small object with its
period in global steps (``every``; None: after every call), called when due, and once more at the end.

The loop (w2v/loop.py) ends every call exactly on the next step some action is due, so summaries and
checkpoints land on ``step % N == 0``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TextIO

from tqdm import tqdm

from w2v.checkpoints import Checkpoints
from w2v.errors import W2VError
from w2v.meta import RunMeta
from w2v.summaries import Summaries


@dataclass
class Clock:
    """Where training stands, as the actions read it."""

    step: int
    position: int
    total_steps: int | None  # train.steps, else None (the run ends with its epochs)
    total_positions: int  # stream positions over all epochs
    words_scale: float  # corpus words per stream position (separators and dropped words left out)
    wall_before: float = 0.0  # wall time of earlier sessions of this run
    loss: float = math.nan  # mean loss over the last scalar interval
    learning_rate: float = 0.0
    gradient_norm: float = 0.0
    words_per_sec: float = 0.0
    exhausted: bool = False  # the data ran out
    stop_reason: str | None = None  # why an action ended the run before its end (early stopping)
    metrics: dict[str, float] = field(default_factory=dict)  # the latest evaluation's
    evaluated_at_end: bool = False  # the run ended between evaluations and its final vectors were evaluated
    started: float = field(default_factory=time.perf_counter)
    start_position: int = field(init=False)  # where this session started
    interval: list[float] = field(default_factory=lambda: [0.0, 0])  # loss sum and steps since the last scalars

    def __post_init__(self) -> None:
        self.start_position = self.position

    @property
    def at_end(self) -> bool:
        """Training reached its end (its epochs or train.steps), not a signal, a stop_at or an early stop."""
        return self.exhausted or (self.total_steps is not None and self.step >= self.total_steps)

    def record(self, done: int, loss_sum: float, norm: float, lr: float, step: int, position: int) -> None:
        """Take in a call of ``done`` steps; a W2VError when training diverged."""
        if not (math.isfinite(loss_sum) and math.isfinite(norm)):
            # Saving would only preserve garbage, so the run stops with its last good checkpoint.
            raise W2VError(f"training diverged at step {self.step + done} (loss is {loss_sum}); the last checkpoint "
                           f"is before it: lower train.learning_rate or train.batch_size, or set train.clip")
        self.step, self.position = step, position
        self.interval[0] += loss_sum
        self.interval[1] += done
        self.gradient_norm, self.learning_rate = norm, lr

    @property
    def progress(self) -> float:
        done = self.step / self.total_steps if self.total_steps else self.position / self.total_positions
        return min(done, 1.0)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def close_interval(self) -> None:
        """The loss since the last interval closed becomes ``loss``."""
        if self.interval[1]:
            self.loss = self.interval[0] / self.interval[1]
        self.interval = [0.0, 0]

    def overall_words_per_sec(self) -> float:
        """Corpus words per second over this session."""
        words = (self.position - self.start_position) * self.words_scale
        return words / self.elapsed if words > 0 else self.words_per_sec


class Action:
    every: int | None = None
    at_first_step = False  # also due at step 1, so that even a run stopped early has a record
    reads_tables = False  # reads or saves the trained tables (workers that average theirs make them whole first)

    @property
    def name(self) -> str:
        """What the action is called where its time is recorded (meta.json's sessions)."""
        return type(self).__name__.lower()

    def due(self, step: int) -> bool:
        return self.every is None or (step > 0 and step % self.every == 0) or (self.at_first_step and step == 1)

    def __call__(self, clock: Clock) -> None:
        """Act at a due step."""

    def finish(self, clock: Clock) -> None:
        """Act once when training stops (a finished run, a signal or an early stop)."""


class Scalars(Action):
    """Loss, learning rate, words/s (and the gradient norm where there are gradients)."""

    at_first_step = True

    def __init__(self, every: int, summaries: Summaries, norms: bool, clock: Clock) -> None:
        self.every, self.summaries, self.norms = every, summaries, norms
        self.tick = (time.perf_counter(), clock.position)

    def __call__(self, clock: Clock) -> None:
        now, position = time.perf_counter(), clock.position
        clock.words_per_sec = (position - self.tick[1]) * clock.words_scale / max(now - self.tick[0], 1e-9)
        self.tick = (now, position)
        clock.close_interval()
        values = {"loss": clock.loss, "learning_rate": clock.learning_rate, "words_per_sec": clock.words_per_sec}
        if self.norms:
            values["gradient_norm"] = clock.gradient_norm
        self.summaries.scalars(clock.step, values)


class Histograms(Action):
    """Weight (and gradient) histograms of the trained tables. On a multi-worker job, of this worker's tables as
    they stand (every row as of its last sync, frequent rows that very step): making them whole first meant a
    sync of every row each time, 2.2 GB a histogram at 957k x 300, most of two loopback workers' time."""

    def __init__(self, every: int, summaries: Summaries, tables: list[Any], grads: list[Any] | None) -> None:
        self.every, self.summaries, self.tables, self.grads = every, summaries, tables, grads

    def __call__(self, clock: Clock) -> None:
        values = {f"weights/{v.name.split(':')[0]}": v for v in self.tables}
        for var, g in zip(self.tables, self.grads or [], strict=self.grads is not None):
            if g.shape.num_elements() != 0:
                values[f"gradients/{var.name.split(':')[0]}"] = g
        self.summaries.histograms(clock.step, values)

    finish = __call__


class Evaluation(Action):
    """Periodic evaluation: a report in eval/step-N.json, scalars, and the metrics in meta.json."""

    reads_tables = True

    def __init__(self, every: int, evaluate: Any, meta: RunMeta | None, at_end: bool = True) -> None:
        self.every, self.evaluate, self.meta, self.at_end = every, evaluate, meta, at_end

    def due(self, step: int) -> bool:
        return self.every > 0 and super().due(step)  # every 0: at the end alone

    def __call__(self, clock: Clock) -> None:
        clock.metrics = self.evaluate(clock.step).scalars()
        if self.meta:
            self.meta.update(metrics=clock.metrics)

    def finish(self, clock: Clock) -> None:
        """With ``at_end``, the final vectors too, when the run ends between evaluations: its latest scores (what
        `w2v runs`, a sweep's seeds and an export's card show) are then those of the vectors it leaves. A run
        stopped early is not: its resume evaluates on the schedule an uninterrupted run keeps."""
        if self.at_end and clock.at_end and clock.stop_reason is None and clock.step > 0 and not self.due(clock.step):
            self(clock)
            clock.evaluated_at_end = True


class Best(Action):
    """The best value so far of one evaluation metric (higher is better), kept in the training state:
    its checkpoint kept apart (checkpoint.keep_best), and the run stopped once it has not improved for
    ``patience`` evaluations (eval.early_stop). Runs after the Evaluation of the same step."""

    reads_tables = True

    def __init__(self, every: int, metric: str, best: Any, keep: Checkpoints | None, patience: int | None,
                 meta: RunMeta | None) -> None:
        self.every, self.metric, self.best, self.keep, self.patience, self.meta = every, metric, best, keep, \
            patience, meta

    def __call__(self, clock: Clock) -> None:
        best, at = self._update(clock)
        if self.patience and clock.step - at >= self.patience * self.every:
            name = self.metric.removeprefix("eval/")
            clock.stop_reason = (f"early stop: {name} has not improved for {self.patience} evaluations "
                                 f"(best {best:.4g} at step {int(at)})")

    def finish(self, clock: Clock) -> None:
        """The final evaluation (off the schedule) counts for the best, not for patience: the run ends anyway."""
        if clock.evaluated_at_end:
            self._update(clock)

    def _update(self, clock: Clock) -> tuple[float, float]:
        value = clock.metrics.get(self.metric, math.nan)
        best, at = self.best.numpy()
        if value > best:  # never for NaN
            self.best.assign([value, clock.step])
            best, at = value, clock.step
            if self.keep:
                self.keep.save(clock.step)
        name = self.metric.removeprefix("eval/")
        if self.meta and math.isfinite(best):
            self.meta.update(best={"metric": name, "value": float(best), "step": int(at),
                                   "checkpoint": bool(self.keep)})
        return best, at


class Record(Action):
    """Progress, loss and wall time in meta.json."""

    at_first_step = True

    def __init__(self, every: int, meta: RunMeta) -> None:
        self.every, self.meta = every, meta

    def __call__(self, clock: Clock) -> None:
        self.meta.update(step=clock.step, total_steps=clock.total_steps, progress=clock.progress,
                         words=int(clock.position * clock.words_scale), last_loss=clock.loss,
                         wall_time_s=clock.wall_before + clock.elapsed)

    finish = __call__


class Checkpointing(Action):
    """A checkpoint every N steps and at the end (never twice at one step); the last one's vectors cached for
    the commands that read them, by ``caching_vectors(step)``, a context around the last save."""

    reads_tables = True

    def __init__(self, checkpoints: Checkpoints, step: int,
                 caching_vectors: Callable[[int], AbstractContextManager[None]]) -> None:
        self.checkpoints, self.every, self.caching_vectors = checkpoints, checkpoints.every, caching_vectors
        self.saved_at = step if checkpoints.latest else -1

    def __call__(self, clock: Clock) -> None:
        if self.saved_at != clock.step:
            self.checkpoints.save(clock.step)
            self.saved_at = clock.step

    def finish(self, clock: Clock) -> None:
        with self.caching_vectors(clock.step):
            self(clock)


class ProgressBar(Action):
    """Progress in steps (train.steps) or corpus words, with the loss and words/s: a tqdm bar on a
    terminal; written to a file or a pipe, a plain line every ``LINE_SECONDS`` (a log gets lines it can
    be read by, not hundreds of carriage returns)."""

    LINE_SECONDS = 5.0

    def __init__(self, clock: Clock, show: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.terminal, self.show = self.stream.isatty(), show
        self.start = (clock.step if clock.total_steps else clock.position, time.perf_counter())
        self.last_line = self.start[1]
        limit = clock.total_steps
        # Words/s is the postfix's (over the session, as the final report gives it): tqdm's own rate,
        # smoothed over the last updates, would be a second figure that disagrees.
        self.bar = tqdm(total=limit or clock.total_positions, initial=self.start[0], file=self.stream,
                        unit="step" if limit else "word", unit_scale=not limit, disable=not (show and self.terminal),
                        dynamic_ncols=True, smoothing=0.1,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")

    def __call__(self, clock: Clock) -> None:
        done = clock.step if clock.total_steps else clock.position
        if self.terminal:
            self.bar.update(done - self.bar.n)
            if clock.interval[1]:
                running = clock.interval[0] / clock.interval[1]
                self.bar.set_postfix(loss=f"{running:.4f}", words_s=f"{clock.overall_words_per_sec():,.0f}",
                                     refresh=False)
        elif self.show and time.perf_counter() - self.last_line >= self.LINE_SECONDS:
            self.last_line = time.perf_counter()
            self.stream.write(self.line(clock, done) + "\n")
            self.stream.flush()

    def line(self, clock: Clock, done: int) -> str:
        """One line of progress; the time left is for what remains of this session, at its pace so far."""
        total = clock.total_steps or clock.total_positions
        rate = (done - self.start[0]) / max(self.last_line - self.start[1], 1e-9)
        left = f", {_duration((total - done) / rate)} left" if rate > 0 else ""
        loss = f", loss {clock.interval[0] / clock.interval[1]:.4f}" if clock.interval[1] else ""
        return (f"step {clock.step}{f'/{clock.total_steps}' if clock.total_steps else ''} ({clock.progress:.1%})"
                f"{loss}, {clock.overall_words_per_sec():,.0f} words/s{left}")

    def finish(self, clock: Clock) -> None:
        self.bar.close()


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class Stopwatch:
    """Seconds spent by each action (by name) while training and after, and when training started and stopped
    (Unix time: what a benchmark compares with the process's own start and end)."""

    def __init__(self) -> None:
        self.periodic: dict[str, float] = {}
        self.at_end: dict[str, float] = {}
        self.started = time.time()
        self.stopped: float | None = None

    def time(self, into: dict[str, float], action: Action, work: Any) -> None:
        """Do ``work`` for ``action``, adding its seconds to ``into``."""
        started = time.perf_counter()
        work()
        into[action.name] = into.get(action.name, 0.0) + time.perf_counter() - started

    def record(self) -> dict[str, dict[str, float]]:
        """meta.json's account of a session's periodic and final work, in seconds."""
        rounded = lambda spent: {k: round(v, 3) for k, v in spent.items()}  # noqa: E731
        return {"periodic_s": rounded(self.periodic), "at_end_s": rounded(self.at_end),
                "training_started": round(self.started, 3), "training_stopped": round(self.stopped or self.started, 3)}


class AtEnd(Action):
    """Something done once, when training stops."""

    def __init__(self, work: Any) -> None:
        self.work = work

    @property
    def name(self) -> str:
        return self.work.__name__.lower()

    def due(self, step: int) -> bool:
        return False

    def finish(self, clock: Clock) -> None:
        self.work()
