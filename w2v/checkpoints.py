"""Checkpoints: tf.train.CheckpointManager with a step-aligned schedule, torn-save cleanup and
fallback to the newest checkpoint that reads."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import tensorflow as tf

from w2v import runs
from w2v.errors import W2VError

log = logging.getLogger(__name__)

# TensorFlow's op errors wrap the OS's message in the failing function's name and the op's.
_OP_NOISE = re.compile(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:[^\]]*\](?: name: \S*)?\s*$")


def save_error(e: Exception) -> str:
    """What went wrong in a save, as its user needs it: the OS's words (``No space left on device``), the file
    where TensorFlow names one, never TensorFlow's internal function and op names."""
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}" + (f" ({e.filename})" if e.filename else "")
    return _OP_NOISE.sub("", getattr(e, "message", str(e))).strip() or e.__class__.__name__


class Checkpoints:
    """Saves ``checkpoint`` under ``directory`` every ``every`` global steps, keeping ``keep``."""

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: Path, every: int, keep: int,
                 step: tf.Variable) -> None:
        self.directory = Path(directory)
        self.every = every
        self.checkpoint = checkpoint
        # The manager's own checkpoint_interval saves on its first call (steps 1, 11, 21…), so the
        # schedule is kept here with step % every instead.
        self.manager = tf.train.CheckpointManager(checkpoint, str(self.directory), max_to_keep=keep,
                                                  step_counter=step)

    def path(self, step: int) -> str:
        """The path prefix of the checkpoint saved at ``step`` (CheckpointManager's ``<dir>/ckpt-<number>``)."""
        return str(self.directory / f"{runs.CHECKPOINT_PREFIX}-{step}")

    def due(self, step: int) -> bool:
        """Whether a scheduled checkpoint falls on this global step."""
        return step > 0 and step % self.every == 0

    def save(self, step: int) -> str:
        """Save now, numbered by the global step."""
        try:
            return self.manager.save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as e:
            latest = self.latest
            left = (f"the newest checkpoint left is {Path(latest).name}, where `w2v resume` continues" if latest
                    else "no checkpoint was saved before it: a resume starts from step 0")
            raise W2VError(f"checkpoint {self.path(step)}: save failed at step {step}: {save_error(e)}; "
                           f"{left}") from None

    @property
    def latest(self) -> str | None:
        """Path prefix of the newest checkpoint named in the state file."""
        return self.manager.latest_checkpoint

    def remove_leftovers(self) -> list[Path]:
        """Delete ``*_temp`` folders a save killed halfway leaves behind; they are never valid."""
        removed = []
        for leftover in self.directory.glob("*_temp*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
            removed.append(leftover)
        return removed

    def restore_latest(self) -> str | None:
        """Restore the newest readable checkpoint; None when there is none at all."""
        self.remove_leftovers()
        candidates = list(reversed(self.manager.checkpoints))
        on_disk = sorted((p.with_suffix("") for p in self.directory.glob(f"{runs.CHECKPOINT_PREFIX}-*.index")),
                         key=lambda p: runs.checkpoint_step(p.name, -1),
                         reverse=True)
        if not candidates and on_disk:
            # The state file is gone or empty, but checkpoints are there: never start over silently.
            log.warning("checkpoint state file in %s is missing; using the checkpoint files found", self.directory)
            candidates = [str(p) for p in on_disk]
        for path in candidates:
            try:
                self.checkpoint.restore(path).assert_existing_objects_matched()
            except Exception as e:  # noqa: BLE001 - a torn file fails in many ways (DataLoss, IndexError, ...)
                log.warning("checkpoint %s cannot be read (%s); trying an older one", path, e.__class__.__name__)
                continue
            return path
        if candidates:
            raise W2VError(f"checkpoints in {self.directory}: none of {len(candidates)} can be read")
        return None
