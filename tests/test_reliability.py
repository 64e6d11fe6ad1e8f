"""Crash safety and refusal of bad input: kill -9 at any moment, torn saves, locks, disk errors."""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import planted_corpus, read_only, small_config
from w2v import checkpoints, meta, runs, state, trainer
from w2v import config as config_lib
from w2v.cli import cli
from w2v.errors import W2VError

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.yaml"
EMBEDDING, WEIGHTS = state.EMBEDDING, state.OUTPUT_WEIGHTS


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def final(run_dir):
    reader = tf.train.load_checkpoint(str(run_dir / runs.CHECKPOINTS))
    return reader.get_tensor(EMBEDDING), reader.get_tensor(WEIGHTS)


def crash_args(corpus, run_dir, steps, every):
    sets = {"data.corpus": corpus, "data.min_count": 1, "data.window": 3, "data.subsample": 0,
            "data.chunk_tokens": 4096, "model.embedding_dim": 64, "model.num_sampled": 8, "train.batch_size": 256,
            "train.steps": steps, "train.steps_per_call": 2, "checkpoint.every_n_steps": every,
            "checkpoint.max_to_keep": 2, "summary.scalars_every_n_steps": 10}
    args = ["--quiet", "--run-dir", str(run_dir), "--config", str(TINY)]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    return args


def reference(corpus, tmp_path, steps):
    """The uninterrupted run (checkpoints only at its end: their cadence does not change the arithmetic)."""
    overrides = crash_args(corpus, tmp_path / "reference", steps, every=steps)
    cfg = config_lib.load(TINY, [overrides[i + 1] for i, a in enumerate(overrides) if a == "--set"])
    trainer.train(cfg, tmp_path / "reference", show_progress=False)
    return final(tmp_path / "reference")


def start(args):
    return subprocess.Popen([sys.executable, "-m", "w2v", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def kill_randomly(proc, run_dir, rng):
    """Wait until the process has trained a step past where it started, then kill -9 it a little later."""
    begin = meta.read(run_dir).get("step", 0)
    deadline = time.time() + 120
    while proc.poll() is None and meta.read(run_dir).get("step", 0) <= begin and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(rng.uniform(0, 0.4))
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def test_kill_9_then_resume_is_bit_identical(tmp_path):
    corpus = planted_corpus(tmp_path / "planted.txt", sentences=2000)
    expected = reference(corpus, tmp_path, steps=120)
    run_dir = tmp_path / "killed"
    proc = start(["train", *crash_args(corpus, run_dir, steps=120, every=10)])
    kill_randomly(proc, run_dir, random.Random(1))
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert invoke("resume", run_dir, "--quiet").exit_code == 0
    got = final(run_dir)
    assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])


@pytest.mark.slow
def test_repeated_kill_9_with_saves_every_other_step(tmp_path):
    corpus = planted_corpus(tmp_path / "planted.txt", sentences=2000)
    expected = reference(corpus, tmp_path, steps=300)
    run_dir = tmp_path / "killed"
    rng = random.Random(7)
    proc = start(["train", *crash_args(corpus, run_dir, steps=300, every=2)])
    for _ in range(5):
        kill_randomly(proc, run_dir, rng)
        assert proc.returncode == -signal.SIGKILL, f"ended before the kill: {proc.stderr.read()}"
        proc = start(["resume", str(run_dir), "--quiet"])
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert meta.read(run_dir)["status"] == "completed" and meta.read(run_dir)["step"] == 300
    assert len(meta.read(run_dir)["sessions"]) == 6
    assert not list((run_dir / runs.CHECKPOINTS).glob("*_temp*"))
    got = final(run_dir)
    assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])


def stopped_config(planted, tmp_path):
    return small_config(planted, tmp_path, train__steps=80, checkpoint__max_to_keep=5)


@pytest.fixture
def stopped_run(tmp_path, planted):
    trainer.train(stopped_config(planted, tmp_path), tmp_path / "run", show_progress=False, stop_at=60)
    return tmp_path / "run"


@pytest.fixture
def uninterrupted(tmp_path, planted):
    """The vectors of the same run never stopped."""
    trainer.train(stopped_config(planted, tmp_path), tmp_path / "whole", show_progress=False)
    return final(tmp_path / "whole")


def test_torn_save_leftovers_are_removed(stopped_run):
    torn = stopped_run / runs.CHECKPOINTS / "ckpt-70_temp"
    torn.mkdir()
    (torn / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 10)
    trainer.resume(stopped_run, show_progress=False)
    assert not torn.exists()
    assert meta.read(stopped_run)["step"] == 80


def test_unreadable_latest_checkpoint_falls_back_with_a_warning(stopped_run, uninterrupted, caplog):
    data = stopped_run / runs.CHECKPOINTS / "ckpt-60.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    with caplog.at_level("WARNING"):
        result = trainer.resume(stopped_run, show_progress=False)
    assert "ckpt-60 cannot be read" in caplog.text
    assert result.step == 80
    steps = [int(Path(p).name.split("-")[1]) for p in
             tf.train.get_checkpoint_state(str(stopped_run / runs.CHECKPOINTS)).all_model_checkpoint_paths]
    assert 40 in steps and steps[-1] == 80
    for a, b in zip(final(stopped_run), uninterrupted, strict=True):  # it went on from ckpt-40, exactly
        np.testing.assert_array_equal(a, b)


def test_missing_state_file_uses_the_checkpoints_on_disk(stopped_run, uninterrupted, caplog):
    (stopped_run / runs.CHECKPOINTS / "checkpoint").unlink()
    with caplog.at_level("WARNING"):
        result = trainer.resume(stopped_run, show_progress=False)
    assert "state file" in caplog.text and result.step == 80
    assert meta.read(stopped_run)["sessions"][-1]["started"]
    for a, b in zip(final(stopped_run), uninterrupted, strict=True):  # it went on from ckpt-60, exactly
        np.testing.assert_array_equal(a, b)


def test_a_second_process_is_refused_and_a_stale_lock_taken_over(stopped_run, caplog):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"f = open({str(stopped_run / runs.LOCK)!r}, 'a+'); fcntl.flock(f, fcntl.LOCK_EX)\n"
        "f.seek(0); f.truncate(); f.write(str(os.getpid())); f.flush(); print('ready', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = invoke("resume", stopped_run, "--quiet")
        assert result.exit_code == 2
        assert f"in use by another w2v process (pid {holder.pid})" in result.stderr
        assert runs.lock_holder(stopped_run) == str(holder.pid)
    finally:
        holder.kill()
        holder.wait()
    with caplog.at_level("WARNING"):
        assert trainer.resume(stopped_run, show_progress=False).step == 80
    assert f"taking over the lock of pid {holder.pid}" in caplog.text


def test_disk_error_while_saving_keeps_the_previous_checkpoint(tmp_path, planted):
    cfg = small_config(planted, tmp_path, train__steps=60)
    run_dir = tmp_path / "run"
    trainer.train(cfg, run_dir, show_progress=False, stop_at=20)
    # A file where the next save must create its temporary folder: the save fails like a full disk.
    (run_dir / runs.CHECKPOINTS / "ckpt-40_temp").write_text("in the way")
    original = checkpoints.Checkpoints.remove_leftovers
    checkpoints.Checkpoints.remove_leftovers = lambda self: []
    try:
        with pytest.raises(W2VError, match="ckpt-40: save failed at step 40: .*the newest checkpoint left is ckpt-20, "
                                           "where `w2v resume` continues"):
            trainer.resume(run_dir, show_progress=False)
    finally:
        checkpoints.Checkpoints.remove_leftovers = original
    assert meta.read(run_dir)["status"] == "failed"
    assert tf.train.latest_checkpoint(str(run_dir / runs.CHECKPOINTS)).endswith("ckpt-20")
    tf.train.load_checkpoint(tf.train.latest_checkpoint(str(run_dir / runs.CHECKPOINTS))).get_tensor(EMBEDDING)


def test_a_save_that_the_disk_refuses_is_one_line_saying_what_is_left(tmp_path):
    """`ulimit -f` (files of at most 1 MiB) as a full disk would: the first checkpoint (two 1 MiB tables) fails.
    One line with the step, the checkpoint, the OS's words and what is left (nothing), no TensorFlow internals;
    meta.json records the step it failed at."""
    import resource

    limit = 1 << 20
    corpus = planted_corpus(tmp_path / "c.txt", sentences=300)
    run_dir = tmp_path / "run"
    sets = [f"data.corpus={corpus}", "data.min_count=1", "model.embedding_dim=4096", "summary.graph=false"]
    done = subprocess.run([sys.executable, "-m", "w2v", "train", "--config", str(TINY), "--run-dir", str(run_dir),
                           "--quiet", *[a for s in sets for a in ("--set", s)]], capture_output=True, text=True,
                          timeout=300, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: checkpoint {run_dir / 'checkpoints' / 'ckpt-20'}: save failed at step 20: ")
    assert "File too large" in line and "function_node" not in line and "[Op:" not in line
    assert line.endswith("; no checkpoint was saved before it: a resume starts from step 0")
    record = meta.read(run_dir)
    assert (record["status"], record["step"]) == ("failed", 20)


@pytest.fixture
def bad_inputs(tmp_path):
    d = tmp_path
    (d / "empty.txt").write_text("")
    (d / "binary.bin").write_bytes(b"\x00\x01\x02\x03" * 100)
    (d / "latin1.txt").write_bytes(b"caf\xe9\n")
    (d / "notext").mkdir()
    (d / "notext" / "image.png").write_bytes(b"\x89PNG")
    (d / "rare.txt").write_text("a b c d e f g h\n")
    (d / "small.txt").write_text("a b c d e f\n" * 20)
    planted_corpus(d / "ok.txt", sentences=50)
    (d / "syntax.yaml").write_text("train:\n  epochs: [1\n")
    (d / "unreadable.yaml").write_bytes(b"\xff\xfe\x00")
    (d / "afile").write_text("x")
    (d / "notarun").mkdir()
    (d / "brokenrun").mkdir()
    (d / "brokenrun" / "config.yaml").write_text("train:\n  batch_size: -3\n")
    (d / "brokenrun" / "vocab.tsv").write_text("a\t1\n")
    (d / "okrun").mkdir()
    (d / "okrun" / "config.yaml").write_text("{}\n")
    (d / "okrun" / "vocab.tsv").write_text("a\t1\n")
    (d / "q.txt").write_text(": s\na b c\n")
    return d


TRAIN = ["train", "--quiet", "--config", str(TINY), "--set", "run.output_dir={d}/runs"]
CASES = [
    (["train", "--config", "{d}/missing.yaml"], "config file {d}/missing.yaml: not found"),
    (["train", "--config", "{d}/unreadable.yaml"], "config file {d}/unreadable.yaml: cannot be read"),
    (["train", "--config", "{d}/syntax.yaml"], "config file {d}/syntax.yaml: YAML syntax error at line 3"),
    (TRAIN + ["--set", "train.nope=1"], "unknown config key train.nope"),
    (TRAIN + ["--set", "train.epochs=many"], "config key train.epochs: expected int, got 'many'"),
    (TRAIN + ["--set", "data.window=-2"], "config key data.window: -2 must be >= 1"),
    (TRAIN + ["--set", "train.batch_size=0"], "config key train.batch_size: 0 must be >= 1"),
    (TRAIN + ["--set", "train.learning_rate=-0.1"], "config key train.learning_rate: -0.1 must be > 0"),
    (TRAIN + ["--set", "data.corpus={d}/small.txt", "--set", "data.min_count=1"],
     "config key model.num_sampled: 8 must be smaller than the vocabulary (6 words"),
    (TRAIN + ["--set", "data.corpus={d}/nowhere.txt"], "corpus {d}/nowhere.txt: no such file or directory"),
    (TRAIN + ["--set", "data.corpus={d}/notext"], "the directory holds no text files"),
    (TRAIN + ["--set", "data.corpus={d}/empty.txt"], "no words found (empty corpus)"),
    (TRAIN + ["--set", "data.corpus={d}/binary.bin"], "binary.bin: looks like a binary file"),
    (TRAIN + ["--set", "data.corpus={d}/latin1.txt"], "latin1.txt: not UTF-8 text (line 1, byte offset 3)"),
    (TRAIN + ["--set", "data.corpus={d}/rare.txt"], "vocabulary is empty after min_count=5"),
    (TRAIN + ["--set", "data.corpus={d}/ok.txt", "--run-dir", "{d}/afile"], "{d}/afile: is a file"),
    (TRAIN + ["--set", "distribute.strategy=multi_worker"],
     "config key distribute.strategy: multi_worker needs the cluster in the TF_CONFIG environment variable"),
    (["resume", "{d}/notarun"], "run directory {d}/notarun: not a w2v run"),
    (["resume", "{d}/brokenrun"], "config key train.batch_size: -3 must be >= 1"),
    (["eval", "{d}/brokenrun"], "config key train.batch_size: -3 must be >= 1"),
    (["eval", "{d}/okrun", "--analogies", "{d}/q.txt"], "line 2: expected 4 words, got 3"),
]


@pytest.mark.parametrize("args, message", CASES, ids=[c[1][:40] for c in CASES])
def test_bad_input_exits_2_with_one_line(bad_inputs, args, message):
    d = str(bad_inputs)
    before = {p: p.stat().st_mtime for p in bad_inputs.rglob("*")}
    result = invoke(*[a.format(d=d) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message.format(d=d) in lines[0]
    assert {p: p.stat().st_mtime for p in bad_inputs.rglob("*")} == before


VALUES = st.one_of(st.integers(-10 ** 6, 10 ** 6), st.floats(allow_nan=True), st.booleans(), st.none(),
                   st.text(max_size=12), st.sampled_from(["nce", "neg", "adam", "1e-4", "[1, 2", "{a: 1}", ""]))
KEYS = [f"{s}.{k}" for s, section in config_lib.to_dict(config_lib.Config()).items() for k in section]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(KEYS + ["train.nope", "nope.x", "x"]), VALUES), max_size=4))
def test_random_config_values_never_give_a_traceback(pairs):
    args = ["config"]
    for key, value in pairs:
        args += ["--set", f"{key}={value}"]
    result = invoke(*args)
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 2:
        assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def test_a_run_whose_process_died_lists_as_interrupted(stopped_run):
    data = meta.read(stopped_run)
    data["status"] = "running"  # what kill -9 leaves behind
    (stopped_run / meta.META).write_text(json.dumps(data))
    result = invoke("runs", stopped_run.parent, "--json")
    assert json.loads(result.output)[0]["status"] == "interrupted"


def base_args(run_dir, tmp_path, *sets):
    """configs/base.yaml as shipped, on gensim's bundled corpus for two epochs, checkpoints beside the runs."""
    args = ["--quiet", "--run-dir", str(run_dir), "--config", str(ROOT / "configs" / "base.yaml")]
    for item in ("train.epochs=2", f"run.output_dir={tmp_path}", f"checkpoint.dir={tmp_path / 'checkpoints'}",
                 "checkpoint.every_n_steps=5", *sets):
        args += ["--set", item]
    return args


def test_the_shipped_default_on_the_tf_kernel_gives_the_same_vectors_run_to_run(tmp_path):
    """(On its own kernel, the engine, the test below shows it: a run killed and resumed ends equal to another.)"""
    sets = ["train.kernel=tf", "data.corpus=gensim:lee"]
    for name in ("a", "b"):
        assert invoke("train", *base_args(tmp_path / name, tmp_path, *sets)).exit_code == 0
    np.testing.assert_array_equal(final(tmp_path / "a")[0], final(tmp_path / "b")[0])
    np.testing.assert_array_equal(final(tmp_path / "a")[1], final(tmp_path / "b")[1])


@pytest.mark.slow
def test_the_shipped_default_resumes_bit_identical_after_kill_9(tmp_path):
    """Two runs of the shipped default, one of them killed and resumed, end with the same vectors: resume is
    exact and a run repeats (either failing fails this)."""
    assert invoke("train", *base_args(tmp_path / "whole", tmp_path)).exit_code == 0
    run_dir = tmp_path / "killed"
    proc = start(["train", *base_args(run_dir, tmp_path, "summary.scalars_every_n_steps=1")])
    kill_randomly(proc, run_dir, random.Random(3))
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert meta.read(run_dir)["progress"] < 1
    assert invoke("resume", run_dir, "--quiet").exit_code == 0
    assert meta.read(run_dir)["status"] == "completed"
    for a, b in zip(final(run_dir), final(tmp_path / "whole"), strict=True):
        np.testing.assert_array_equal(a, b)


def _w2v(*args: object) -> tuple[int, list[str], set[str]]:
    """`python -m w2v ARGS` in a process of its own: its exit code, its stderr lines (import timings left out)
    and the top-level packages it imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "w2v", *map(str, args)], capture_output=True,
                          text=True, timeout=300)
    lines = done.stderr.splitlines()
    said = [line for line in lines if not line.startswith("import time:")]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in lines if line.startswith("import time:")}
    return done.returncode, said, imported


def test_errors_that_need_no_tensorflow_come_before_it_loads(tmp_path, tiny_run):
    """Each of these is one line and exit code 2 from a process that never imported TensorFlow (seconds)."""
    import fcntl
    import shutil

    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.bin").write_bytes(b"\x00\x01\x02\x03" * 100)
    corpus = planted_corpus(tmp_path / "ok.txt", sentences=50)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_run, broken)
    (broken / "config.yaml").write_text("train:\n  batch_size: -3\n")
    busy = tmp_path / "busy"
    shutil.copytree(tiny_run, busy)
    locked = tmp_path / "locked"
    locked.mkdir()
    train = ["train", "--config", TINY, "--quiet", "--set", f"run.output_dir={tmp_path / 'runs'}"]
    cases = [
        ([*train, "--set", f"data.corpus={tmp_path / 'nothere.txt'}"], "no such file or directory"),
        ([*train, "--set", f"data.corpus={tmp_path / 'empty.txt'}"], "no words found (empty corpus)"),
        ([*train, "--set", f"data.corpus={tmp_path / 'binary.bin'}"], "looks like a binary file, not text"),
        ([*train, "--set", f"data.corpus={corpus}", "--run-dir", locked / "new"], "cannot be written"),
        ([*train, "--set", f"data.corpus={corpus}", "--set", "train.kernel=fused", "--set", "train.optimizer=adam"],
         "config key train.kernel: fused cannot train this run: it applies plain sgd without clipping"),
        (["resume", broken], "train.batch_size"),
        (["resume", busy], "in use by another w2v process (pid "),
    ]
    with open(busy / runs.LOCK, "a+") as holder, read_only(locked):
        fcntl.flock(holder, fcntl.LOCK_EX)
        holder.write("4242")
        holder.flush()
        for args, message in cases:
            code, said, imported = _w2v(*args)
            assert code == 2 and len(said) == 1 and said[0].startswith("error: ") and message in said[0], (args, said)
            assert "tensorflow" not in imported, args
    assert list(locked.iterdir()) == [] and not (tmp_path / "runs").exists()


def test_a_read_only_run_is_read_and_whatever_would_write_says_so_in_one_line(tiny_run, tmp_path):
    """A run on a read-only disk (an archive, a shared mount): eval prints its scores and says they could not be
    recorded; resume and visualize, and a map asked into a read-only folder, are one line and exit code 2;
    nothing changes on disk."""
    import shutil

    run_dir, writable, outside = tmp_path / "run", tmp_path / "writable", tmp_path / "outside"
    shutil.copytree(tiny_run, run_dir)
    shutil.copytree(tiny_run, writable)
    outside.mkdir()
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    with read_only(run_dir), read_only(outside):
        scored = invoke("eval", run_dir)
        assert scored.exit_code == 0 and scored.stdout.startswith("step 200\n  analogies "), scored.output
        (note,) = scored.stderr.strip().splitlines()
        assert note.startswith(f"note: run directory {run_dir}: these scores could not be recorded there (")
        for args, message in (
                (["resume", run_dir, "--quiet", "--set", "train.steps=300"], f"run directory {run_dir}: cannot be "
                                                                              f"written: "),
                (["visualize", run_dir], f"run directory {run_dir} (visualize rewrites its projector files): "
                                         f"cannot be written: "),
                (["visualize", writable, "-o", outside / "map.png"], f"--output {outside / 'map.png'}: cannot be "
                                                                      f"written: ")):
            refused = invoke(*args)
            assert refused.exit_code == 2, (args, refused.output)
            (line,) = refused.stderr.strip().splitlines()
            assert line.startswith("error: ") and message in line, (args, line)
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before
    assert list(outside.iterdir()) == []
