"""The best checkpoint (checkpoint.keep_best) and early stopping (eval.early_stop)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import small_config
from w2v import experiments, meta, runs, state, trainer
from w2v.cli import cli
from w2v.errors import W2VError

EVERY = 10


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def backwards(tmp_path):
    """Human scores that call the planted groups' words dissimilar and strangers similar: the better the
    vectors learn the corpus, the worse this metric gets, so its best comes early and it stops improving."""
    path = tmp_path / "backwards.txt"
    path.write_text("".join(f"g{g}w0\tg{g}w1\t1\ng{g}w2\tg{(g + 5) % 12}w0\t9\n" for g in range(12)))
    return path


def config(planted, tmp_path, pairs, **extra):
    return small_config(planted, tmp_path, train__steps=200, eval__every_n_steps=EVERY, eval__analogies="none",
                        eval__similarity=pairs, checkpoint__every_n_steps=20, **extra)


def reports(run_dir):
    """(step, metric) of every evaluation report."""
    found = [json.loads(p.read_text()) for p in (run_dir / "eval").glob("step-*.json")]
    return sorted((r["step"], r["metrics"]["eval/backwards/spearman"]) for r in found)


def test_the_best_checkpoint_is_kept_and_early_stopping_ends_the_run(tmp_path, planted, backwards):
    cfg = config(planted, tmp_path, backwards, checkpoint__keep_best="backwards/spearman",
                 eval__early_stop="eval/backwards/spearman", eval__patience=3)
    result = trainer.train(cfg, tmp_path / "run", show_progress=False)
    run_dir = result.run_dir
    scores = reports(run_dir)
    best_step, best = max(scores, key=lambda s: (s[1], -s[0]))  # the first of equal bests
    assert scores[-1][0] == best_step + 3 * EVERY < 200  # stopped after 3 evaluations without improvement
    assert result.finished and result.step == best_step + 3 * EVERY
    record = meta.read(run_dir)
    assert record["status"] == "completed"
    assert "backwards/spearman has not improved for 3 evaluations" in record["reason"]
    assert record["best"] == {"metric": "backwards/spearman", "value": best, "step": best_step, "checkpoint": True}

    # The best checkpoint is the one of that step, apart from the rolling ones, and the commands read it.
    best_path = runs.checkpoint_path(run_dir, "best")
    assert best_path.endswith(f"best/ckpt-{best_step}") and state.read(best_path).step == best_step
    assert runs.checkpoint_path(run_dir).endswith(f"ckpt-{result.step}")
    shown = json.loads(invoke("eval", run_dir, "--checkpoint", "best", "--similarity", backwards, "--json").stdout)
    assert shown["step"] == best_step and shown["metrics"]["eval/backwards/spearman"] == pytest.approx(best)
    out = tmp_path / "best.npy"
    assert invoke("export", run_dir, "--checkpoint", "best", "--format", "npy", "-o", out).exit_code == 0
    np.testing.assert_array_equal(np.load(out), state.read(best_path).embedding)
    table = experiments.runs_table(experiments.list_runs(tmp_path))
    assert "best@step" in table and f"backwards/rho {best:.4f}@{best_step}" in table

    # A completed run stays as it is.
    assert trainer.resume(run_dir, show_progress=False).unchanged


def test_the_best_so_far_survives_a_resume(tmp_path, planted, backwards):
    cfg = config(planted, tmp_path, backwards, eval__early_stop="backwards/spearman", eval__patience=3)
    whole = trainer.train(cfg, tmp_path / "whole", show_progress=False)
    stopped = trainer.train(cfg, tmp_path / "parts", show_progress=False, stop_at=whole.step - EVERY)
    assert not stopped.finished
    # Resumed, the run compares against the best it had seen, so it stops where the whole run did.
    resumed = trainer.resume(tmp_path / "parts", show_progress=False)
    assert resumed.step == whole.step and resumed.reason == whole.reason
    assert meta.read(tmp_path / "parts")["best"] == meta.read(tmp_path / "whole")["best"]
    assert not runs.best_checkpoint_dir(tmp_path / "whole").exists()  # early stopping alone keeps no best copy


def test_watched_metrics_are_checked_before_the_run_starts(tmp_path, planted, backwards):
    with pytest.raises(W2VError, match="checkpoint.keep_best: 'backwards/spearman' needs periodic evaluation"):
        small_config(planted, tmp_path, checkpoint__keep_best="backwards/spearman")
    cfg = config(planted, tmp_path, backwards, eval__early_stop="questions-words/accuracy")
    with pytest.raises(W2VError, match=r"eval.early_stop: 'questions-words/accuracy' is not a metric of the "
                                       r"configured evaluation \(known: backwards/spearman\)"):
        trainer.train(cfg, tmp_path / "run", show_progress=False)
    assert not (tmp_path / "run").exists()


def test_best_is_refused_for_a_run_that_keeps_none(tmp_path, planted):
    trainer.train(small_config(planted, tmp_path, train__steps=20), tmp_path / "run", show_progress=False)
    shown = invoke("eval", tmp_path / "run", "--checkpoint", "best")
    assert shown.exit_code == 2 and "has no best checkpoint (it is kept when the run sets checkpoint.keep_best)" \
        in shown.output


def test_an_early_stop_says_so_on_the_console_with_its_metric_and_step(tmp_path, planted, backwards):
    from w2v import config as config_lib

    path = tmp_path / "early.yaml"
    config_lib.dump(config(planted, tmp_path, backwards, eval__early_stop="backwards/spearman", eval__patience=3),
                    path)
    result = invoke("train", "--config", path, "--run-dir", tmp_path / "run", "--quiet")
    assert result.exit_code == 0, result.output
    record = meta.read(tmp_path / "run")
    assert record["step"] < 200
    assert [line for line in result.stdout.splitlines() if "early stop" in line] == [
        f"run {tmp_path / 'run'}: {record['reason']}; stopped at step {record['step']}"]
    assert "backwards/spearman has not improved for 3 evaluations (best " in record["reason"]


def test_a_run_ending_between_evaluations_evaluates_its_final_vectors(tmp_path, planted):
    forwards = tmp_path / "forwards.txt"
    forwards.write_text("".join(f"g{g}w0\tg{g}w1\t9\ng{g}w2\tg{(g + 5) % 12}w0\t1\n" for g in range(12)))
    cfg = small_config(planted, tmp_path, train__steps=25, eval__every_n_steps=EVERY, eval__analogies="none",
                       eval__similarity=forwards, checkpoint__every_n_steps=20,
                       checkpoint__keep_best="forwards/spearman")
    whole = trainer.train(cfg, tmp_path / "whole", show_progress=False)
    found = {json.loads(p.read_text())["step"]: json.loads(p.read_text())["metrics"]
             for p in (whole.run_dir / "eval").glob("step-*.json")}
    assert sorted(found) == [10, 20, 25]
    record = meta.read(whole.run_dir)
    assert record["metrics"] == found[25]  # what `w2v runs` and a sweep's seeds show: the vectors it left
    best_step = max(found, key=lambda s: found[s]["eval/forwards/spearman"])
    assert record["best"]["step"] == best_step
    assert runs.checkpoint_path(whole.run_dir, "best").endswith(f"best/ckpt-{best_step}")
    # Stopped at step 15 (no evaluation there: the run did not end), then resumed: the same reports.
    parts = trainer.train(cfg, tmp_path / "parts", show_progress=False, stop_at=15)
    assert sorted(int(p.stem.split("-")[1]) for p in (parts.run_dir / "eval").glob("step-*.json")) == [10]
    trainer.resume(parts.run_dir, show_progress=False)
    again = {json.loads(p.read_text())["step"]: json.loads(p.read_text())["metrics"]
             for p in (parts.run_dir / "eval").glob("step-*.json")}
    assert again == found
