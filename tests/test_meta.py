"""meta.json: what a run was, kept current."""

import subprocess

from w2v import meta


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_meta_records_the_commit_of_the_repository_training_started_in(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "f.txt").write_text("one")
    git(repo, "add", "f.txt")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    monkeypatch.chdir(repo)
    (tmp_path / "run").mkdir()
    record = meta.RunMeta.begin(tmp_path / "run", 0, "CPU")
    assert record.data["git"] == {"commit": git(repo, "rev-parse", "HEAD"), "dirty": False}
    (repo / "f.txt").write_text("two")
    assert meta.RunMeta.begin(tmp_path / "run", 0, "CPU").data["git"]["dirty"] is True
    outside = tmp_path / "plain"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert meta.RunMeta.begin(tmp_path / "run", 0, "CPU").data["git"] is None
    assert len(meta.read(tmp_path / "run")["sessions"]) == 3


def test_a_missing_or_torn_meta_reads_as_empty(tmp_path):
    assert meta.read(tmp_path) == {}
    (tmp_path / meta.META).write_text("{torn")
    assert meta.read(tmp_path) == {}
