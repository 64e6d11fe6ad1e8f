"""Local SGD for multi-worker training on the fused engine: each worker trains its own copy of the tables on
its share of the corpus, and at the end of every call the workers agree on their counters and make their
tables the mean of all copies (model averaging, as pWord2Vec's multi-node mode does), with
MultiWorkerMirroredStrategy's collective all-reduce.

Traffic grows with what was trained, not with the vocabulary: each worker marks the rows it changed since
the last average (against a copy of the tables taken then), one all-reduce of the marks (with the counters)
gives their union, known to every worker, and one all-reduce of those rows alone averages them: no row
index travels, so a sync never sends more than the whole tables. Frequent words change the most, so, as in
pWord2Vec, a sync looks at the most frequent words' rows only, more of them the rarer the sync: the k-th
sync of a period at step k * distribute.sync_every_n_steps the first ``sync_rows * 2^j`` words (j: the
number of times 2 divides k), a call cut short by another due action the first ``sync_rows``; every row
where the loop reads the tables (checkpoints, evaluations, the end; a histogram shows a worker's
tables as they stand).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from w2v.state import TrainState

COUNTERS = 6  # a worker's steps done, loss sum, learning rate, step, position, examples
# Values one all-reduce of rows carries at most (16 MB): a sync over every row of large tables goes in several,
# so that its temporaries (rows gathered, packed, reduced, copied out) stay a few times this, not the tables'.
PACK = 1 << 22
# Rows compared with their copy at a time when marking what a worker changed: comparing whole tables held each
# table, its copy and their difference at once, 9.7 GB a worker for the two tables of 957k words x 300.
MARK_ROWS = 1 << 16


@dataclass
class Traffic:
    """What the averages so far exchanged: the all-reduced payload (marks, rows and counters; a ring
    all-reduce sends about 2 (n - 1) / n of it from each of n workers) and the wall time they took."""

    syncs: int = 0
    whole: int = 0  # syncs over every row
    bytes: int = 0
    rows: int = 0
    seconds: float = 0.0

    def record(self) -> dict[str, float]:
        """For meta.json."""
        return {"syncs": self.syncs, "whole": self.whole, "bytes": self.bytes, "rows": self.rows,
                "seconds": round(self.seconds, 3)}


class Averaging:
    """The workers' agreement at the end of a call: their counters, then the mean of their tables."""

    def __init__(self, strategy: tf.distribute.Strategy, state: TrainState, rank: int, workers: int,
                 every: int, sync_rows: int) -> None:
        self.strategy, self.state, self.rank, self.workers = strategy, state, rank, workers
        self.every, self.sync_rows = every, sync_rows
        self.tables = state.model.tables
        # Rows by word frequency: a word's input row and its output row and bias (not hs's tree nodes, nor
        # the subword buckets after the words).
        self.by_word = [True] + [not state.model.loss_kind.tree] * (len(self.tables) - 1)
        self.words = state.model.vocab_size
        self.copies = [tf.Variable(table, trainable=False) for table in self.tables]
        self.whole_at: Callable[[int], bool] = lambda step: True
        self.traffic = Traffic()

    def reset(self, whole_at: Callable[[int], bool]) -> None:
        """Take the tables as they are now (equal on every worker: as initialised, warm-started or restored)
        as the last average; ``whole_at(step)``: whether the loop reads the tables after that step."""
        for copy, table in zip(self.copies, self.tables, strict=True):
            copy.assign(table)
        self.whole_at = whole_at

    def rows_at(self, step: int) -> int | None:
        """How many of the most frequent words' rows the sync after ``step`` looks at (None: every row)."""
        if self.whole_at(step) or self.sync_rows == 0:
            return None
        k = step // self.every if step % self.every == 0 else 1  # steps start at 1: k >= 1
        rows = self.sync_rows * (k & -k)  # k & -k: the largest power of 2 dividing k
        return None if rows >= self.words else rows

    def _sum(self, value: tf.Tensor) -> np.ndarray:
        """``value`` summed over the workers (one collective all-reduce)."""
        def reduce(v: tf.Tensor) -> tf.Tensor:
            return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, v)

        self.traffic.bytes += int(tf.size(value)) * value.dtype.size
        return self.strategy.experimental_local_results(self.strategy.run(reduce, args=(value,)))[0].numpy()

    def __call__(self, done: int, loss_sum: float, lr: float, asked: int) -> tuple[int, float, float, float]:
        """Agree on a call of ``asked`` steps, of which this worker did ``done``, and average the tables; the
        call's outcome for all workers: the most steps any worker did (fewer than asked only when every
        worker's data has ended), the mean loss of every step done over that many, and the learning rate of
        the worker furthest on."""
        started = time.perf_counter()
        state = self.state
        end = int(state.step.numpy()) - done + asked  # where every worker's call was to end
        rows = self.rows_at(end)
        spans = [(rows if by_word and rows is not None else table.shape[0])
                 for table, by_word in zip(self.tables, self.by_word, strict=True)]
        # The shares add up to the examples as of the last agreement: what this worker trained since is its own.
        shares = state.shares.numpy()
        own = int(shares[self.rank]) + int(state.examples.numpy()) - int(shares.sum())
        mine = np.zeros([self.workers, COUNTERS])
        mine[self.rank] = [done, loss_sum, lr, int(state.step.numpy()), int(state.position.numpy()), own]
        # float64: exact for counters below 2^53, and one all-reduce for counters and marks.
        summed = self._sum(tf.concat([tf.constant(mine.ravel()), self._marks(spans)], 0))
        dones, losses, lrs, steps, positions, owns = summed[:mine.size].reshape(mine.shape).T
        state.step.assign(int(steps.max()))
        state.position.assign(int(positions.max()))
        state.shares.assign(owns.astype(np.int64))
        state.examples.assign(int(owns.sum()))
        most = int(dones.max())
        marks = summed[mine.size:] > 0
        if most < asked and rows is not None:
            # Every worker's data has ended: the run ends here, with whole tables.
            spans = [table.shape[0] for table in self.tables]
            marks = self._sum(self._marks(spans)) > 0
        if most:
            self._average(np.split(marks, np.cumsum(spans)[:-1]))
        for table in self.tables:
            # The gathers and scatters above leave a variable copying all of itself on every whole read after
            # (TensorFlow's copy-on-read mode): a checkpoint's save of two 1.1 GB tables took 2.3 GB more. Every
            # op that writes a table in place (the engine, scatters) copies it first while a read holds it.
            tf.raw_ops.DisableCopyOnRead(resource=table.handle)
        self.traffic.syncs += 1
        self.traffic.whole += rows is None or most < asked
        self.traffic.seconds += time.perf_counter() - started
        loss = float(losses.sum()) * most / max(float(dones.sum()), 1.0)
        return most, loss, 0.0, float(lrs[int(np.argmax(positions))])

    def _marks(self, spans: list[int]) -> tf.Tensor:
        """1.0 for each of the first ``spans`` rows of each table that this worker changed since the last sync,
        else 0.0, the tables one after the other; compared MARK_ROWS rows at a time."""
        marks = [self._changed(table, copy, tf.constant(start, tf.int64),
                               tf.constant(min(start + MARK_ROWS, span), tf.int64))
                 for table, copy, span in zip(self.tables, self.copies, spans, strict=True)
                 for start in range(0, span, MARK_ROWS)]
        return tf.concat(marks, 0) if marks else tf.zeros([0], tf.float64)

    @tf.function
    def _changed(self, table: tf.Variable, copy: tf.Variable, start: tf.Tensor, stop: tf.Tensor) -> tf.Tensor:
        # Rows read with gathers: once sparse ops have touched a variable (the engine's, this module's
        # scatters), TensorFlow copies all of it on every dense read, a slice included (98 ms for 1024 rows
        # of two 70k x 128 tables and their copies, against 1.4 ms gathered). A graph (traced once a table:
        # the rows are tensors): eagerly, the ops took 6.5 ms.
        rows = tf.range(start, stop)
        changed = tf.not_equal(tf.gather(table, rows), tf.gather(copy, rows))
        return tf.cast(tf.reduce_any(changed, axis=list(range(1, table.shape.rank))), tf.float64)

    def _average(self, union: list[np.ndarray]) -> None:
        """Make the rows in ``union`` (per table) the mean of every worker's: all tables' rows packed into
        all-reduces of at most PACK values, in table and row order (one for the syncs of frequent words)."""
        packs: list[list[tuple[int, np.ndarray]]] = [[]]
        size = 0
        for t, (table, marks) in enumerate(zip(self.tables, union, strict=True)):
            ids = np.flatnonzero(marks)
            self.traffic.rows += len(ids)
            width = int(np.prod(table.shape[1:]))
            most = max(PACK // width, 1)  # rows of this table in one all-reduce
            for start in range(0, len(ids), most):
                piece = ids[start:start + most]
                if size and size + len(piece) * width > PACK:
                    packs.append([])
                    size = 0
                packs[-1].append((t, piece))
                size += len(piece) * width
        for pack in packs:
            if not pack:
                continue
            rows = [tf.gather(self.tables[t], piece) for t, piece in pack]
            mean = self._sum(tf.concat([tf.reshape(r, [-1]) for r in rows], 0)) / self.workers
            parts = np.split(mean, np.cumsum([int(tf.size(r)) for r in rows])[:-1])
            for (t, piece), r, part in zip(pack, rows, parts, strict=True):
                value, where = part.reshape(r.shape), piece[:, None]
                self.tables[t].scatter_nd_update(where, value)
                self.copies[t].scatter_nd_update(where, value)
