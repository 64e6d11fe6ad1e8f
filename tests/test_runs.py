"""Run directories: where checkpoints go, finding runs by name, and refusing to overwrite."""

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import small_config
from w2v import config as config_lib
from w2v import meta, runs, trainer
from w2v.cli import cli
from w2v.errors import W2VError


def test_checkpoints_beside_runs_are_linked_from_the_run(tmp_path, planted):
    cfg = small_config(planted, tmp_path / "runs", train__steps=40, checkpoint__dir=tmp_path / "checkpoints")
    run_dir = tmp_path / "runs" / "exp"
    trainer.train(cfg, run_dir, show_progress=False, stop_at=20)
    link = runs.checkpoint_dir(run_dir)
    assert link.is_symlink() and link.resolve() == (tmp_path / "checkpoints" / "exp").resolve()
    assert sorted(p.name for p in (tmp_path / "checkpoints" / "exp").glob("*.index")) == ["ckpt-20.index"]
    # The run resumes, evaluates and exports through the link, also after the run directory moved.
    os.rename(run_dir, tmp_path / "runs" / "moved")
    run_dir = tmp_path / "runs" / "moved"
    assert trainer.resume(run_dir, show_progress=False).step == 40
    assert (tmp_path / "checkpoints" / "exp" / "ckpt-40.index").exists()
    assert CliRunner().invoke(cli, ["eval", str(run_dir), "--json"]).exit_code == 0
    # Another run of the same name would land on these checkpoints: refused before anything is written.
    with pytest.raises(W2VError, match="checkpoint.dir: .*exp already holds checkpoints of another run"):
        trainer.train(cfg, tmp_path / "runs" / "exp", show_progress=False)
    assert not (tmp_path / "runs" / "exp").exists()
    with pytest.raises(W2VError, match="checkpoint.dir cannot change"):
        trainer.resume(run_dir, [f"checkpoint.dir={tmp_path / 'elsewhere'}"])
    assert meta.read(run_dir)["status"] == "completed"


def test_a_sweep_members_checkpoints_keep_its_path(tmp_path):
    cfg = small_config("x", tmp_path / "runs", checkpoint__dir=tmp_path / "ck")
    assert runs._checkpoint_home(tmp_path / "runs" / "sw" / "a", cfg) == (tmp_path / "ck" / "sw" / "a").resolve()
    assert runs._checkpoint_home(tmp_path / "elsewhere" / "b", cfg) == (tmp_path / "ck" / "b").resolve()
    assert runs._checkpoint_home(tmp_path / "runs" / "a", small_config("x", tmp_path)) is None


def test_find_takes_paths_or_names_under_the_runs_directory(tmp_path):
    (tmp_path / "runs" / "sweep" / "member").mkdir(parents=True)
    assert runs.find("sweep/member", tmp_path / "runs") == tmp_path / "runs" / "sweep" / "member"
    assert runs.find(tmp_path / "runs" / "sweep", tmp_path / "other") == tmp_path / "runs" / "sweep"
    assert runs.find("nothing", tmp_path / "runs") == Path("nothing")


def test_two_runs_started_in_the_same_second_get_two_names(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "default_name", lambda *a: "base-20261206-120000")
    cfg = small_config("x", tmp_path / "runs")
    with runs.new_run_dir(cfg, "base.yaml") as first, runs.new_run_dir(cfg, "base.yaml") as second:
        assert first.name == "base-20261206-120000" and second.name == "base-20261206-120000-2"
        assert first.is_dir() and second.is_dir()  # claimed: a third would get -3


def test_a_run_that_fails_before_writing_leaves_no_directory(tmp_path):
    cfg = small_config("x", tmp_path / "out" / "runs")
    with pytest.raises(W2VError), runs.new_run_dir(cfg, "base.yaml"):
        raise W2VError("corpus: no words")
    assert not (tmp_path / "out").exists()


def test_a_run_directory_is_never_written_twice(tmp_path, planted):
    from w2v.vocab import Vocab

    cfg = small_config(planted, tmp_path)
    runs.create(tmp_path / "exp", cfg, Vocab(["a"], [1]))
    config_before = (tmp_path / "exp" / runs.CONFIG).read_bytes()
    # Another process got past check_new at the same moment: its config must not replace this one.
    other = small_config(planted, tmp_path, model__embedding_dim=99)
    with pytest.raises(W2VError, match="already holds a run"):
        runs.create(tmp_path / "exp", other, Vocab(["b"], [1]))
    assert (tmp_path / "exp" / runs.CONFIG).read_bytes() == config_before


def saved(directory: Path, *steps: int) -> None:
    """Checkpoints of these steps as a CheckpointManager leaves them for the readers of their names: each one's
    index, and the state file naming the last one as the newest."""
    directory.mkdir(parents=True, exist_ok=True)
    for step in steps:
        (directory / f"ckpt-{step}.index").write_text("")
    (directory / "checkpoint").write_text(f'model_checkpoint_path: "ckpt-{steps[-1]}"\n')


def test_a_checkpoint_is_found_by_step_name_path_or_best_and_the_error_lists_those_kept(tmp_path):
    run_dir = tmp_path / "run"
    kept = runs.checkpoint_dir(run_dir)
    saved(kept, 20, 9, 100)
    saved(runs.best_checkpoint_dir(run_dir), 40)
    (run_dir / runs.CONFIG).write_text("{}\n")
    assert runs.checkpoint_path(run_dir) == str(kept / "ckpt-100")
    assert runs.checkpoint_path(run_dir, "best") == str(runs.best_checkpoint_dir(run_dir) / "ckpt-40")
    assert runs.checkpoint_path(run_dir, "20") == runs.checkpoint_path(run_dir, "ckpt-20") == str(kept / "ckpt-20")
    assert runs.checkpoint_path(run_dir, "40") == str(runs.best_checkpoint_dir(run_dir) / "ckpt-40")
    assert runs.checkpoint_path(run_dir, str(kept / "ckpt-9")) == str(kept / "ckpt-9")
    with pytest.raises(W2VError) as error:
        runs.checkpoint_path(run_dir, "ckpt-21")
    assert str(error.value) == (f"run directory {run_dir}: no checkpoint ckpt-21 (give best, a step, a name or a "
                                f"path prefix; it keeps ckpt-9, ckpt-20, ckpt-100)")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / runs.CONFIG).write_text("{}\n")
    with pytest.raises(W2VError, match=r"it keeps none\)$"):
        runs.checkpoint_path(tmp_path / "new", "5")


def test_resume_starts_from_the_newest_checkpoints_step_or_0(tmp_path):
    run_dir = tmp_path / "run"
    assert runs.resume_step(run_dir) == 0
    saved(runs.checkpoint_dir(run_dir), 300)
    assert runs.resume_step(run_dir) == 300
    assert runs.checkpoint_step("/x/ckpt-12") == 12 and runs.checkpoint_step("/x/best", 7) == 7
    assert runs.checkpoint_step("/x/ckpt-12.tmp") is None


def test_a_runs_lock_names_its_holder_and_is_taken_over_from_a_dead_one(tmp_path):
    import fcntl

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert runs.lock_holder(run_dir) is None
    (run_dir / runs.LOCK).write_text("999999")  # left by a process that died: no flock holds it
    with runs.RunLock(run_dir) as lock:
        assert lock.took_over == "999999"
        assert runs.lock_holder(run_dir) == str(os.getpid())
        with pytest.raises(W2VError, match=f"^run directory {run_dir}: in use by another w2v process "
                                           f"\\(pid {os.getpid()}\\)$"):
            runs.check_free(run_dir)
        with pytest.raises(W2VError, match=f"^run directory {run_dir}: in use by another w2v process "
                                           f"\\(pid {os.getpid()}\\)$"), runs.RunLock(run_dir):
            pass
    assert runs.lock_holder(run_dir) is None and (run_dir / runs.LOCK).read_text() == ""
    with runs.RunLock(run_dir) as lock:
        assert lock.took_over is None
    with open(run_dir / runs.LOCK) as held:  # held by a process that has not written its pid yet
        fcntl.flock(held, fcntl.LOCK_EX)
        assert runs.lock_holder(run_dir) == "unknown"


def test_a_default_named_run_creates_its_output_directorys_parents(tmp_path):
    cfg = config_lib.apply_overrides(config_lib.Config(), [f"run.output_dir={tmp_path / 'a' / 'b'}"])
    with runs.new_run_dir(cfg, "configs/base.yaml") as run_dir:
        assert run_dir.parent == tmp_path / "a" / "b" and run_dir.is_dir()
        (run_dir / "kept").write_text("")


def test_a_run_lock_that_cannot_be_written_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(W2VError, match=f"^run directory {tmp_path / 'file'}: cannot be written \\(Not a "
                                       f"directory\\)$"), runs.RunLock(tmp_path / "file"):
        pass


def test_a_run_is_found_under_runs_in_the_working_directory_by_default(tmp_path, monkeypatch):
    (tmp_path / "runs" / "exp1").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert runs.find("exp1") == Path("runs") / "exp1"
