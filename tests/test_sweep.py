"""w2v sweep: a grid of runs that survives failures, skips what is done and resumes what was stopped."""

import json
import re
import shlex
import sys
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import planted_corpus
from w2v import config as config_lib
from w2v import meta, sweep, trainer
from w2v.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_a_sweep_whose_every_run_failed_says_so_and_exits_1(tmp_path):
    corpus = planted_corpus(tmp_path / "planted.txt", sentences=400)
    # A vocabulary of 36 words (min_count=50) is too small for 40 or 50 negatives: both runs fail.
    result = invoke("sweep", "--config", ROOT / "configs" / "tiny.yaml", "--grid", "model.num_sampled=40,50",
                    "--set", f"data.corpus={corpus}", "--set", "data.min_count=50",
                    "--set", f"run.output_dir={tmp_path / 'runs'}")
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "0 completed, 2 failed" in result.output
    assert "failed num_sampled-40: error: config key model.num_sampled: 40 must be smaller" in result.output


def test_sweep_runs_the_grid_survives_a_failure_and_skips_done_work(tmp_path, monkeypatch):
    corpus = planted_corpus(tmp_path / "planted.txt", sentences=400)
    # 36 planted words are seen about 67 times each and 30 fillers about 40 times: min_count=50 keeps
    # a vocabulary of 36, too small for 40 negatives, so exactly one combination fails.
    args = ["sweep", "--config", ROOT / "configs" / "tiny.yaml", "--grid", "data.min_count=1,50",
            "--grid", "model.num_sampled=4,40", "--set", f"data.corpus={corpus}",
            "--set", "train.steps=20", "--set", f"run.output_dir={tmp_path / 'runs'}", "--parallel", "2"]
    first = invoke(*args)
    assert first.exit_code == 1, first.output  # a combination failed: scripts must see it
    assert "3 completed, 1 failed" in first.output
    assert "failed min_count-50_num_sampled-40: error: config key model.num_sampled: 40 must be smaller" \
        in first.output
    sweep_dir = next((tmp_path / "runs").iterdir())
    trials = json.loads((sweep_dir / "sweep.json").read_text())["trials"]
    assert sorted(t["status"] for t in trials) == ["completed", "completed", "completed", "failed"]
    table = first.stdout.splitlines()[2:]
    assert len(table) == 1 + 4  # header, and every run: the failed one too
    assert any(line.startswith("min_count-50_num_sampled-40") and " failed " in line for line in table), table
    # Progress on stderr: what is to do, each run as it starts and ends.
    assert "4 of 4 runs to do, 2 at a time" in first.stderr
    assert "starting min_count-1_num_sampled-4" in first.stderr
    assert re.search(r"completed min_count-1_num_sampled-4: step 20, loss \d+\.\d{4}$", first.stderr, re.M)
    # Each member's meta.json: the command that really ran it (one a user can run again) and its overrides.
    member = meta.read(next((tmp_path / "runs").iterdir()) / "min_count-1_num_sampled-4")
    (session,) = member["sessions"]
    assert session["command"].startswith(f"{sys.executable} -m w2v train --config ") and "__main__" not in \
        session["command"]
    assert shlex.split(session["command"])[-3:] == ["--run-dir", str(next((tmp_path / "runs").iterdir()) /
                                                                       "min_count-1_num_sampled-4"), "--quiet"]
    assert session["overrides"] == [f"data.corpus={corpus}", "train.steps=20", f"run.output_dir={tmp_path / 'runs'}",
                                    "data.min_count=1", "model.num_sampled=4"]
    mtimes = {p: p.stat().st_mtime for p in sweep_dir.rglob("meta.json")}
    again = invoke(*args)
    assert again.exit_code == 1 and "3 completed, 1 failed" in again.output
    assert "0 of 4 runs to do" in again.stderr and "resuming" not in again.stderr, again.stderr
    assert {p: p.stat().st_mtime for p in sweep_dir.rglob("meta.json")} == mtimes
    # `w2v runs` names the members as sweep/member, and commands take that name.
    listed = json.loads(invoke("runs", tmp_path / "runs", "--json").stdout)
    names = sorted(r["name"] for r in listed)
    assert names == sorted(f"{sweep_dir.name}/{t['name']}" for t in trials if t["status"] == "completed")
    monkeypatch.chdir(tmp_path)  # where runs/ is the default root the commands look in
    compared = invoke("compare", *names[:2])
    assert compared.exit_code == 0 and "model.num_sampled" in compared.output, compared.output


def test_bad_grid_is_refused(tmp_path):
    result = invoke("sweep", "--config", ROOT / "configs" / "tiny.yaml", "--grid", "model.nope=1,2")
    assert result.exit_code == 2 and "unknown config key model.nope" in result.stderr
    assert invoke("sweep", "--config", ROOT / "configs" / "tiny.yaml", "--grid", "oops").exit_code == 2


def test_a_sweep_resumes_a_run_that_was_stopped(tmp_path):
    corpus = planted_corpus(tmp_path / "planted.txt", sentences=400)
    config = ROOT / "configs" / "tiny.yaml"
    grid = ["model.embedding_dim=8,12"]
    sets = [f"data.corpus={corpus}", "data.min_count=1", "train.steps=30", f"run.output_dir={tmp_path / 'runs'}"]
    _, trials = sweep.plan(config, grid, sets)
    stopped = trials[0]
    trainer.train(config_lib.load(config, sets + stopped.overrides), stopped.run_dir, show_progress=False, stop_at=10)
    assert meta.read(stopped.run_dir)["status"] == "interrupted"
    result = invoke("sweep", "--config", config, *[a for g in grid for a in ("--grid", g)],
                    *[a for s in sets for a in ("--set", s)])
    assert result.exit_code == 0, result.output
    assert f"resuming {stopped.name}" in result.stderr and f"starting {trials[1].name}" in result.stderr
    record = meta.read(stopped.run_dir)
    assert record["status"] == "completed" and record["step"] == 30 and len(record["sessions"]) == 2


def test_ctrl_c_stops_a_sweep_as_interrupted_and_the_same_command_continues_it(tmp_path):
    """Ctrl-C at a terminal signals the sweep's process group: the running member stops with a checkpoint and
    is recorded as interrupted (not failed), the next one never starts, sweep.json is written, the exit code
    is 130, and the sweep says how to continue it."""
    import os
    import signal
    import subprocess
    import time

    corpus = planted_corpus(tmp_path / "planted.txt", sentences=400)
    args = ["sweep", "--config", str(ROOT / "configs" / "tiny.yaml"), "--grid", "model.embedding_dim=8,12",
            "--set", f"data.corpus={corpus}", "--set", "data.min_count=1", "--set", "train.steps=200000",
            "--set", "train.steps_per_call=5", "--set", "checkpoint.every_n_steps=100000",
            "--set", f"run.output_dir={tmp_path / 'runs'}", "--name", "sw"]
    proc = subprocess.Popen([sys.executable, "-m", "w2v", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    first = tmp_path / "runs" / "sw" / "embedding_dim-8"
    try:
        deadline = time.monotonic() + 120
        while meta.read(first).get("step", 0) < 20:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Aborted!" not in err and "Traceback" not in err
    assert "0 completed, 0 failed, 1 interrupted, 1 not started" in out
    record = meta.read(first)
    assert record["status"] == "interrupted" and (first / "checkpoints" / f"ckpt-{record['step']}.index").exists()
    trials = json.loads((tmp_path / "runs" / "sw" / "sweep.json").read_text())["trials"]
    assert [t["status"] for t in trials] == ["interrupted", "pending"]
    assert not (tmp_path / "runs" / "sw" / "embedding_dim-12").exists()
    assert "stopped; the same `w2v sweep` command continues it" in err
