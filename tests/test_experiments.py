import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import http_get, planted_corpus, small_config, start_tensorboard
from w2v import actions, experiments, meta, trainer
from w2v import config as config_lib
from w2v.cli import cli
from w2v.errors import W2VError

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    corpus = planted_corpus(root / "planted.txt")
    pairs = root / "pairs.txt"
    pairs.write_text("g0w0\tg0w1\t9\ng0w0\tg5w1\t1\ng1w0\tg1w2\t8\ng2w0\tfiller1\t2\n")
    for name, dim in (("small", 8), ("large", 24)):
        cfg = small_config(corpus, root / "runs", model__embedding_dim=dim, train__steps=40, run__name=name,
                           eval__every_n_steps=40, eval__analogies="none", eval__similarity=pairs)
        trainer.train(cfg, root / "runs" / name, show_progress=False)
    return root / "runs"


def test_meta_records_what_the_run_was(two_runs):
    data = meta.read(two_runs / "small")
    assert data["status"] == "completed"
    assert data["step"] == 40 and data["total_steps"] == 40 and data["progress"] == 1.0
    assert data["versions"]["tensorflow"] and data["versions"]["w2v"]
    assert data["seed"] == 0 and data["device"] in ("CPU", "GPU (1)")
    assert data["started"] <= data["ended"]
    assert data["words"] > 0 and data["wall_time_s"] > 0
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert (data["git"] or {}).get("commit") == (head or None)  # the repository the tests run in, if any


def test_runs_lists_both_with_metrics(two_runs):
    result = invoke("runs", two_runs, "--json", "--sort", "name")
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert [r["name"] for r in records] == ["large", "small"]
    assert all(r["status"] == "completed" and r["step"] == 40 for r in records)
    assert all("eval/pairs/spearman" in r["metrics"] for r in records)
    table = invoke("runs", two_runs, "--wide")
    assert "pairs/rho" in table.output and "small" in table.output
    narrow = experiments.runs_table(records, width=50)
    assert max(len(line) for line in narrow.splitlines()[:-1]) <= 50 or "pairs/rho" not in narrow
    assert narrow.splitlines()[-1] == "(1 more metric columns: --wide shows them)"
    assert "no runs" in invoke("runs", two_runs, "--status", "failed").output


def test_compare_shows_the_differing_keys_and_metrics(two_runs):
    result = invoke("compare", two_runs / "small", two_runs / "large", "--json")
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.output)
    assert comparison["runs"] == ["small", "large"]
    assert comparison["config"] == {"run.name": ["small", "large"], "model.embedding_dim": [8, 24]}
    assert len(comparison["metrics"]["eval/pairs/spearman"]) == 2
    table = invoke("compare", two_runs / "small", two_runs / "large").output
    assert "model.embedding_dim" in table and "pairs/spearman" in table


def test_resume_refuses_changes_to_what_is_trained(two_runs):
    with pytest.raises(W2VError, match="model.embedding_dim cannot change"):
        trainer.resume(two_runs / "small", ["model.embedding_dim=32"])
    changed = config_lib.check_resumable(config_lib.Config(), config_lib.apply_overrides(
        config_lib.Config(), ["train.epochs=9", "checkpoint.every_n_steps=5"]))
    assert set(changed) == {"train.epochs", "checkpoint.every_n_steps"}


def test_resume_is_recorded_in_meta(tmp_path, planted):
    cfg = small_config(planted, tmp_path, train__steps=20)
    trainer.train(cfg, tmp_path / "run", show_progress=False)
    trainer.resume(tmp_path / "run", ["train.steps=30"], show_progress=False)
    data = meta.read(tmp_path / "run")
    assert len(data["sessions"]) == 2
    assert data["sessions"][1]["overrides"] == ["train.steps: 20 -> 30"]
    assert data["status"] == "completed" and data["step"] == 30


def test_failed_run_records_its_error(tmp_path, planted, monkeypatch):
    cfg = small_config(planted, tmp_path, train__steps=40)

    def broken(self, clock):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(actions.Histograms, "__call__", broken)
    with pytest.raises(RuntimeError):
        trainer.train(cfg, tmp_path / "run", show_progress=False)
    data = meta.read(tmp_path / "run")
    assert data["status"] == "failed" and data["error"] == "RuntimeError: disk on fire"


def _wait_for(predicate, timeout=120):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise TimeoutError
        time.sleep(0.2)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_checkpoints_and_marks_interrupted(tmp_path, planted, signum, code):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "w2v", "train", "--config", str(ROOT / "configs" / "tiny.yaml"), "--quiet",
           "--run-dir", str(run_dir), "--set", f"data.corpus={planted}", "--set", "train.steps=1000000",
           "--set", "data.min_count=1", "--set", "train.steps_per_call=5", "--set", "checkpoint.every_n_steps=100000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: meta.read(run_dir).get("step", 0) >= 20)
        assert meta.read(run_dir)["status"] == "running"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    data = meta.read(run_dir)
    assert data["status"] == "interrupted"
    saved = sorted(p.name for p in (run_dir / "checkpoints").glob("ckpt-*.index"))
    assert saved == [f"ckpt-{data['step']}.index"]
    assert "w2v resume" in out


def test_tensorboard_hparams_shows_both_runs(two_runs):
    with start_tensorboard(two_runs) as base:
        url = base + "/data/plugin/hparams"
        deadline = time.time() + 60
        while True:
            experiment = json.loads(http_get(url + "/experiment", {"experimentName": ""}))
            metrics = [m["name"]["tag"] for m in experiment.get("metricInfos", [])]
            if "eval/pairs/spearman" in metrics or time.time() > deadline:
                break
            time.sleep(1)
        dims = next(h for h in experiment["hparamInfos"] if h["name"] == "model.embedding_dim")
        assert dims["differs"] and dims["domainInterval"] == {"minValue": 8.0, "maxValue": 24.0}
        assert "loss" in metrics and "eval/pairs/spearman" in metrics
        groups = json.loads(http_get(url + "/session_groups", {
            "experimentName": "", "startIndex": 0, "sliceSize": 10,
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": [{"hparam": "model.embedding_dim"}, {"metric": {"tag": "loss", "group": ""}}]}))
        by_name = {g["name"]: g for g in groups["sessionGroups"]}
        assert set(by_name) == {"small", "large"}
        assert by_name["small"]["hparams"]["model.embedding_dim"] == 8
        for name in ("small", "large"):
            values = {m["name"]["tag"]: m["value"] for m in by_name[name]["metricValues"]}
            assert values["eval/pairs/spearman"] == pytest.approx(meta.read(two_runs / name)["metrics"]
                                                                  ["eval/pairs/spearman"], abs=1e-6)
            assert values["loss"] == pytest.approx(meta.read(two_runs / name)["last_loss"], rel=1e-5)


def test_resume_of_a_sweep_directory_says_what_it_is(tmp_path):
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "sweep.json").write_text('{"trials": []}')
    result = invoke("resume", tmp_path / "sweep")
    assert result.exit_code == 2 and "it is a sweep: run `w2v sweep` again" in result.stderr


def test_runs_says_where_a_run_killed_between_checkpoints_resumes_from(tmp_path, planted):
    """Killed (or aborted by a second Ctrl-C) before its first checkpoint, a run has steps on record that a
    resume cannot start from: `w2v runs` says it resumes from 0, and from its checkpoint once it has one."""
    run_dir = tmp_path / "runs" / "killed"
    cmd = [sys.executable, "-m", "w2v", "train", "--config", str(ROOT / "configs" / "tiny.yaml"), "--quiet",
           "--run-dir", str(run_dir), "--set", f"data.corpus={planted}", "--set", "train.steps=1000000",
           "--set", "data.min_count=1", "--set", "train.steps_per_call=5", "--set", "checkpoint.every_n_steps=100000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: meta.read(run_dir).get("step", 0) >= 20)
    finally:
        proc.kill()
        proc.wait()
    step = meta.read(run_dir)["step"]
    listed = invoke("runs", tmp_path / "runs")
    (row,) = listed.stdout.splitlines()[1:]
    assert row.split()[:2] == ["killed", "interrupted"] and f"{step}/1000000 (resumes from 0)" in row
    (record,) = json.loads(invoke("runs", tmp_path / "runs", "--json").stdout)
    assert record["resumes_from"] == 0
    trainer.resume(run_dir, show_progress=False, stop_at=30)  # stopped with a checkpoint, as by one Ctrl-C
    (record,) = json.loads(invoke("runs", tmp_path / "runs", "--json").stdout)
    assert (record["status"], record["step"], record["resumes_from"]) == ("interrupted", 30, 30)
    assert "resumes from" not in invoke("runs", tmp_path / "runs").stdout
