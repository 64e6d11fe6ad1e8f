"""The workers' average (w2v/averaging.py) over a real two-process MultiWorkerMirroredStrategy on loopback:
the rows either worker changed become the mean of both copies, the most frequent words' first, every row
where the loop reads the tables; only those rows travel."""

from __future__ import annotations

import json
import sys

import numpy as np

from tests.test_distribute import cluster, finish

# One worker: a small model whose rows this worker changes (the same in every process but the changed rows),
# a sync over the 8 most frequent words' rows, then one over every row; its tables, counters and traffic saved.
WORKER = """
import json, sys
import numpy as np
import tensorflow as tf
from w2v import averaging, distribute
from w2v.model import Word2Vec
from w2v.optimizer import SparseOptimizer
from w2v.schema import ModelConfig
from w2v.state import TrainState

out, changes = sys.argv[1], json.loads(sys.argv[2])
averaging.PACK = 12  # rows all-reduced 12 values at a time: several all-reduces a sync, as large tables take
averaging.MARK_ROWS = 3
strategy = tf.distribute.MultiWorkerMirroredStrategy()
rank, workers = distribute.rank(strategy)
model = Word2Vec(20, ModelConfig(embedding_dim=4, loss="nce", num_sampled=5), np.full(20, 0.05), seed=3)
state = TrainState(model, SparseOptimizer("sgd", model.trainable), workers=workers)
# Syncs every 4 steps over the first 4 words' rows times the largest power of 2 dividing the sync's number.
sync = averaging.Averaging(strategy, state, rank, workers, every=4, sync_rows=4)
sync.reset(lambda step: step == 9)
for name, rows in changes.items():
    table = {"embedding": model.embedding, "weights": model.output_weights}[name]
    table.scatter_nd_add([[r] for r in rows], tf.fill([len(rows), 4], float(rank + 1)))
done = 8 - 2 * rank  # worker 1's data ended after 6 of the 8 steps
state.step.assign(done)
state.examples.assign(100 * (rank + 1))
state.position.assign(1000 * (rank + 1))
first = sync(done, 10.0 * (rank + 1), 0.5 - 0.1 * rank, 8)  # step 8: the 2nd sync, the first 8 words' rows
partial = {"partial_" + name: table.numpy() for name, table in (("embedding", model.embedding),
                                                                 ("weights", model.output_weights))}
counters = [int(state.step.numpy()), int(state.examples.numpy()), int(state.position.numpy())]
shares = state.shares.numpy()
state.step.assign_add(1)
second = sync(1, 1.0, 0.1, 1)  # step 9: the loop reads the tables, every row
# After a sync a table reads as itself, not a copy (a checkpoint of large tables would take their size again).
reads = [np.asarray(tf.convert_to_tensor(model.embedding)) for _ in range(2)]
np.savez(out, shared=np.shares_memory(*reads), embedding=model.embedding.numpy(), weights=model.output_weights.numpy(),
         biases=model.output_biases.numpy(), shares=shares, counters=counters, first=np.array(first),
         traffic=np.array([sync.traffic.syncs, sync.traffic.whole, sync.traffic.rows, sync.traffic.bytes]),
         **partial)
"""


def test_two_workers_average_the_rows_either_changed_frequent_words_first(tmp_path):
    # Worker 0 adds 1 to embedding rows 2 and 5, worker 1 adds 2 to rows 5 and 9; both add to output rows 0-14.
    changes = [{"embedding": [2, 5], "weights": list(range(15))}, {"embedding": [5, 9], "weights": list(range(15))}]
    commands = {("worker", i): [sys.executable, "-c", WORKER, str(tmp_path / f"w{i}.npz"), json.dumps(changes[i])]
                for i in range(2)}
    with cluster({"worker": 2}, commands, {}, tmp_path) as procs:
        for (kind, i), proc in procs.items():
            finish(proc, tmp_path / f"{kind}{i}.log", timeout=120)
    first, second = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")

    import tensorflow as tf

    from w2v.model import Word2Vec
    from w2v.schema import ModelConfig

    start = Word2Vec(20, ModelConfig(embedding_dim=4, loss="nce", num_sampled=5), np.full(20, 0.05), seed=3)
    init = start.embedding.numpy()
    # After the first sync, the first 8 words' rows are the mean of both workers' (rows 2 and 5: (1 + 0) / 2,
    # (1 + 2) / 2), the others still each worker's own.
    for name in ("partial_embedding", "partial_weights"):
        np.testing.assert_array_equal(first[name][:8], second[name][:8])
    np.testing.assert_allclose(first["partial_embedding"][[2, 5]], init[[2, 5]] + [[0.5], [1.5]], rtol=1e-6)
    np.testing.assert_array_equal(first["partial_embedding"][9], init[9])
    np.testing.assert_allclose(second["partial_embedding"][9], init[9] + 2, rtol=1e-6)
    assert (first["partial_weights"][8:15] == 1).all() and (second["partial_weights"][8:15] == 2).all()
    # After the second, every row is.
    for name in ("embedding", "weights", "biases", "shares", "counters", "first", "traffic"):
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    expected = init.copy()
    expected[2] += 0.5
    expected[5] += 1.5
    expected[9] += 1.0
    np.testing.assert_allclose(first["embedding"], expected, rtol=1e-6)
    weights = np.zeros([20, 4], np.float32)
    weights[:15] = 1.5
    np.testing.assert_array_equal(first["weights"], weights)
    np.testing.assert_array_equal(first["biases"], tf.convert_to_tensor(start.output_biases).numpy())
    syncs, whole, rows, sent = first["traffic"]
    assert (syncs, whole) == (2, 1)
    # Rows that travelled: embedding 2 and 5 and output rows 0-7, then embedding 9 and output rows 8-14.
    assert rows == (2 + 8) + (1 + 7)
    # Each sync: counters [2 x 6] and one mark a row looked at (8 of each of the 3 tables, then all 60), float64;
    # the rows, 4 float32 each.
    assert sent == (2 * 6 * 8 + 3 * 8 * 8 + 10 * 4 * 4) + (2 * 6 * 8 + 60 * 8 + 8 * 4 * 4)
    # Counters: the step of the worker furthest on, each worker's examples, the largest position.
    assert first["counters"].tolist() == [8, 300, 2000] and first["shares"].tolist() == [100, 200]
    assert first["shared"] and second["shared"]
    # The first call's outcome: the most steps, the mean step loss over that many, the furthest worker's rate.
    done, loss, norm, lr = first["first"]
    assert done == 8 and loss == (10 + 20) * 8 / 14 and norm == 0 and lr == np.float64(0.4)
