"""tf.distribute: mirrored replicas in this process, multi-worker and parameter-server clusters as
processes on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from tests.conftest import _free_port, scalars, small_config
from w2v import config as config_lib
from w2v import distribute, meta, runs, state, trainer
from w2v.cli import cli
from w2v.errors import W2VError


@pytest.mark.parametrize("loss", ["neg", "nce"])
def test_mirrored_on_two_cpus_matches_one_device_with_the_same_global_batch(planted, tmp_path, loss):
    # The TensorFlow step on both sides (the fused one runs on one device only).
    common = dict(model__loss=loss, train__kernel="tf", train__steps=60, summary__scalars_every_n_steps=5,
                  train__learning_rate=0.1)
    single = trainer.train(small_config(planted, tmp_path, train__batch_size=128, **common),
                           tmp_path / "single", show_progress=False)
    mirrored = trainer.train(small_config(planted, tmp_path, train__batch_size=64, distribute__strategy="mirrored",
                                          distribute__cpu_devices=2, **common),
                             tmp_path / "mirrored", show_progress=False)
    assert single.step == mirrored.step == 60
    one, two = dict(scalars(single.run_dir)), dict(scalars(mirrored.run_dir))
    assert sorted(one) == sorted(two) == [1, *range(5, 61, 5)]  # the first point at step 1
    np.testing.assert_allclose([two[s] for s in one], [one[s] for s in one], rtol=1e-3)
    assert one[60] < one[5] * 0.9  # it learned
    _, a, _ = runs.load_embedding(single.run_dir)
    _, b, _ = runs.load_embedding(mirrored.run_dir)
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_mirrored_run_resumes_exactly_and_on_one_device(planted, tmp_path):
    cfg = small_config(planted, tmp_path, train__batch_size=64, distribute__strategy="mirrored",
                       distribute__cpu_devices=2, train__steps=30, checkpoint__every_n_steps=10)
    whole = trainer.train(cfg, tmp_path / "whole", show_progress=False)
    trainer.train(cfg, tmp_path / "split", show_progress=False, stop_at=10)
    resumed = trainer.resume(tmp_path / "split", show_progress=False)
    assert resumed.step == whole.step == 30
    # The distributed iterator is not in the checkpoint: the stream was rebuilt at the saved example.
    _, a, _ = runs.load_embedding(whole.run_dir)
    _, b, _ = runs.load_embedding(resumed.run_dir)
    np.testing.assert_array_equal(a, b)

    moved = trainer.resume(tmp_path / "split", ["distribute.strategy=default", "train.steps=40"],
                           show_progress=False)
    assert moved.step == 40
    reader = tf.train.load_checkpoint(runs.checkpoint_path(moved.run_dir))
    # 30 steps of 2 x 64 examples, then 10 of 64 on one device, from where the mirrored ones ended.
    assert reader.get_tensor(state.EXAMPLES) == 30 * 128 + 10 * 64
    placement = meta.read(moved.run_dir)["placement"]["word2vec/embedding/embedding"]
    assert placement == ["/job:localhost/replica:0/task:0/device:CPU:0"]


# Runs the CLI in a cluster process and saves the variables it ends with (a non-chief worker's
# own files are deleted when it finishes, so this is the only way to compare the workers).
DRIVER = """
import sys
import numpy as np
from w2v import loop
fit = loop.Trainer.fit
def keep(self, *args, **kwargs):
    result = fit(self, *args, **kwargs)
    np.savez(sys.argv[1], *[np.asarray(v.numpy()) for v in self.model.trainable])
    return result
loop.Trainer.fit = keep
from w2v.cli import cli
cli(sys.argv[2:], prog_name="w2v")
"""


@contextlib.contextmanager
def cluster(tasks: dict[str, int], commands: dict[tuple[str, int], list[str]], env: dict[str, str], logs: Path):
    """One process per task of a loopback TF_CONFIG cluster, output in ``logs``; all killed on the way out."""
    spec = {kind: [f"localhost:{_free_port()}" for _ in range(n)] for kind, n in tasks.items()}
    procs = {}
    try:
        for (kind, index), args in commands.items():
            tf_config = json.dumps({"cluster": spec, "task": {"type": kind, "index": index}})
            with open(logs / f"{kind}{index}.log", "w") as log:
                procs[kind, index] = subprocess.Popen(args, env={**os.environ, **env, "TF_CONFIG": tf_config},
                                                      stdout=log, stderr=subprocess.STDOUT)
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def finish(proc: subprocess.Popen, log: Path, timeout: float) -> None:
    """Wait for a process to exit 0 within ``timeout`` s."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"timed out after {timeout} s:\n{log.read_text()[-3000:]}")
    assert proc.returncode == 0, log.read_text()[-3000:]


@pytest.mark.slow
def test_multi_worker_processes_end_with_identical_variables_and_one_checkpoint_set(planted, tmp_path):
    cfg = small_config(planted, tmp_path / "runs", distribute__strategy="multi_worker", train__batch_size=128,
                       train__steps=60, checkpoint__every_n_steps=10, summary__graph=False, train__kernel="tf")
    trainer.load_corpus(cfg)  # tokenised once here, not by two workers at a time
    config_lib.dump(cfg, tmp_path / "config.yaml")
    scratch = tmp_path / "worker-tmp"
    scratch.mkdir()
    # Worker 1's clock runs four times fast, as a worker on a busier machine sees its steps take longer: calls
    # sized by each worker's own pace then differ (8 steps against 4), and both wait on each other for ever.
    slow = "import time\n_clock = time.perf_counter\ntime.perf_counter = lambda: 4 * _clock()\n"
    commands = {("worker", i): [sys.executable, "-c", (slow if i else "") + DRIVER, str(tmp_path / f"worker{i}.npz"),
                                "train", "--config", str(tmp_path / "config.yaml"), "--name", "mw", "--quiet"]
                for i in range(2)}
    with cluster({"worker": 2}, commands, {"TMPDIR": str(scratch)}, tmp_path) as procs:
        for (kind, i), proc in procs.items():
            finish(proc, tmp_path / f"{kind}{i}.log", timeout=240)
    first, second = np.load(tmp_path / "worker0.npz"), np.load(tmp_path / "worker1.npz")
    assert len(first.files) == len(second.files) == 3
    for name in first.files:
        np.testing.assert_array_equal(first[name], second[name])
    run_dir = tmp_path / "runs" / "mw"
    _, vectors, step = runs.load_embedding(run_dir)
    np.testing.assert_array_equal(vectors, first["arr_0"])
    assert meta.read(run_dir)["status"] == "completed" and meta.read(run_dir)["step"] == step
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["mw"]
    assert list(scratch.iterdir()) == []  # the other worker's checkpoints were deleted


# Each call of worker 1 made slow, so that the job is still training when the test kills it.
SLOW_CALLS = """
import time
from w2v import feeds
call = feeds.Averaged.call
feeds.Averaged.call = lambda self, run, n: (time.sleep(0.3), call(self, run, n))[1]
"""


def _planted_hits(run_dir: Path) -> float:
    """The share of planted group words whose nearest neighbours are all of their own group."""
    from tests.conftest import GROUP_SIZE, GROUPS

    vocab, vectors, _ = runs.load_embedding(run_dir)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    words = [f"g{g}w{w}" for g in range(GROUPS) for w in range(GROUP_SIZE)]
    hits = 0
    for word in words:
        top = [vocab.words[i] for i in np.argsort(-(unit @ unit[vocab.index[word]]))[1:GROUP_SIZE]]
        hits += all(t.split("w")[0] == word.split("w")[0] for t in top)
    return hits / len(words)


@pytest.mark.slow
def test_multi_worker_on_the_fused_engine_learns_and_resumes_bit_identically_after_a_worker_is_killed(planted,
                                                                                                     tmp_path):
    cfg = small_config(planted, tmp_path / "runs", distribute__strategy="multi_worker", train__epochs=2,
                       distribute__sync_every_n_steps=8, distribute__sync_rows=8, checkpoint__every_n_steps=16,
                       model__embedding_dim=24, train__learning_rate=0.05, summary__graph=False)
    trainer.load_corpus(cfg)
    config_lib.dump(cfg, tmp_path / "config.yaml")
    train = ["train", "--config", str(tmp_path / "config.yaml"), "--quiet", "--name"]
    whole = {("worker", i): [sys.executable, "-c", DRIVER, str(tmp_path / f"worker{i}.npz"), *train, "whole"]
             for i in range(2)}
    with cluster({"worker": 2}, whole, {}, tmp_path) as procs:
        for (kind, i), proc in procs.items():
            finish(proc, tmp_path / f"{kind}{i}.log", timeout=240)
    first, second = np.load(tmp_path / "worker0.npz"), np.load(tmp_path / "worker1.npz")
    for name in first.files:  # the workers end with equal tables
        np.testing.assert_array_equal(first[name], second[name])
    run_dir = tmp_path / "runs" / "whole"
    record = meta.read(run_dir)
    assert record["kernel"] == "fused" and record["status"] == "completed"
    assert record["averaging"]["syncs"] > 10 and record["averaging"]["rows"] > 0
    # Every row synced before each checkpoint (every 16 steps) and at the end, not for histograms (every 20):
    # the other syncs average the 8 x 2^j most frequent words' rows, fewer than the vocabulary's.
    assert record["averaging"]["whole"] <= record["step"] // 16 + 2
    assert _planted_hits(run_dir) > 0.9

    # The same job, worker 1 killed with SIGKILL after the chief's second checkpoint, the other one then
    # stopped too (a cluster scheduler restarts the whole job), and both restarted with `w2v resume`.
    split = tmp_path / "runs" / "split"
    killed = {("worker", 0): [sys.executable, "-m", "w2v", *train, "split"],
              ("worker", 1): [sys.executable, "-c", SLOW_CALLS + "from w2v.cli import cli\ncli(prog_name='w2v')",
                              *train, "split"]}
    with cluster({"worker": 2}, killed, {}, tmp_path) as procs:
        deadline = time.monotonic() + 180
        while not (split / runs.CHECKPOINTS / "ckpt-32.index").exists():
            assert time.monotonic() < deadline and procs["worker", 1].poll() is None, (
                (tmp_path / "worker1.log").read_text()[-3000:])
            time.sleep(0.05)
        # The chief is held still first: left running, it sees its peer go and records a failure at a moment
        # of its own, before or after the scheduler's kill reaches it (the status read below raced with it).
        procs["worker", 0].send_signal(signal.SIGSTOP)
        procs["worker", 1].kill()
        procs["worker", 1].wait()
        procs["worker", 0].kill()
    assert meta.read(split)["status"] == "running"  # killed, not ended
    stopped_at = state.read(runs.checkpoint_path(split)).step
    assert 32 <= stopped_at < record["step"]
    resume = {("worker", i): [sys.executable, "-m", "w2v", "resume", str(split), "--quiet"] for i in range(2)}
    with cluster({"worker": 2}, resume, {}, tmp_path) as procs:
        for (kind, i), proc in procs.items():
            finish(proc, tmp_path / f"{kind}{i}.log", timeout=240)
    _, a, step_a = runs.load_embedding(run_dir)
    _, b, step_b = runs.load_embedding(split)
    assert step_a == step_b == record["step"]
    np.testing.assert_array_equal(a, b)
    reader = tf.train.load_checkpoint(runs.checkpoint_path(split))
    np.testing.assert_array_equal(reader.get_tensor(state.SHARES),
                                  tf.train.load_checkpoint(runs.checkpoint_path(run_dir)).get_tensor(state.SHARES))

    # On one machine: the whole tables of its checkpoints train on, from where the workers' shares end.
    extended = trainer.resume(run_dir, ["distribute.strategy=default", "train.epochs=3"], show_progress=False)
    assert extended.step > record["step"] and meta.read(run_dir)["status"] == "completed"


@pytest.mark.slow
def test_parameter_server_cluster_trains_sharded_tables_that_eval_reads_on_one_machine(planted, tmp_path):
    cfg = small_config(planted, tmp_path / "runs", distribute__strategy="parameter_server", distribute__num_shards=2,
                       train__steps=60, checkpoint__every_n_steps=20, summary__graph=False)
    trainer.load_corpus(cfg)
    config_lib.dump(cfg, tmp_path / "config.yaml")
    w2v = [sys.executable, "-m", "w2v", "train", "--config", str(tmp_path / "config.yaml"), "--name", "ps", "--quiet"]
    tasks = {"chief": 1, "worker": 1, "ps": 2}
    commands = {(kind, i): w2v for kind, n in tasks.items() for i in range(n)}
    with cluster(tasks, commands, {}, tmp_path) as procs:
        finish(procs["chief", 0], tmp_path / "chief0.log", timeout=240)
        for (kind, i), proc in procs.items():
            # ps and worker tasks serve until stopped.
            assert kind == "chief" or proc.poll() is None, (tmp_path / f"{kind}{i}.log").read_text()[-3000:]
    run_dir = tmp_path / "runs" / "ps"
    record = meta.read(run_dir)
    assert record["status"] == "completed" and record["step"] == 60
    assert sorted(record["placement"]["word2vec/embedding/embedding"]) == [
        "/job:ps/replica:0/task:0/device:CPU:0", "/job:ps/replica:0/task:1/device:CPU:0"]
    assert sorted(p.name for p in (run_dir / runs.CHECKPOINTS).glob("ckpt-*.index")) == [
        "ckpt-20.index", "ckpt-40.index", "ckpt-60.index"]
    # On one machine: the sharded tables come back as whole ones, to evaluate, export and train on.
    result = CliRunner().invoke(cli, ["eval", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["step"] == 60
    result = CliRunner().invoke(cli, ["export", str(run_dir), "--format", "tsv", "-o", str(tmp_path / "v.tsv")])
    assert result.exit_code == 0, result.output
    vocab, vectors, _ = runs.load_embedding(run_dir)
    assert len((tmp_path / "v.tsv").read_text().splitlines()) == len(vocab) == len(vectors)
    resumed = trainer.resume(run_dir, ["distribute.strategy=default", "train.steps=70"], show_progress=False)
    assert resumed.step == 70 and meta.read(run_dir)["status"] == "completed"


@pytest.mark.parametrize("tf_config, message", [
    ("{not json", "TF_CONFIG: not a usable cluster description (JSONDecodeError"),
    ('{"cluster": {"worker": ["a:1"]}}', "TF_CONFIG: not a usable cluster description (KeyError: 'task')"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "task worker:3 is not in the cluster"),
    ('{"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "chief", "index": 0}}',
     "parameter_server needs a chief, at least one worker and one ps task"),
])
def test_unusable_tf_config_is_one_line_naming_it(monkeypatch, tf_config, message):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(W2VError) as e:
        distribute.task_from_env("parameter_server")
    assert message in str(e.value)


def test_the_chief_or_else_worker_zero_writes_the_run(monkeypatch):
    def task(cluster, kind, index):
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}}))
        return distribute.task_from_env("multi_worker")

    workers = {"worker": ["a:1", "b:1"]}
    assert task(workers, "worker", 0).writes_run and not task(workers, "worker", 1).writes_run
    with_chief = {"chief": ["c:1"], **workers}
    assert task(with_chief, "chief", 0).writes_run and not task(with_chief, "worker", 0).writes_run
    assert distribute.task_from_env("default").writes_run  # no cluster: this process is all there is
