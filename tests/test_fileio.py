import os
import stat
from pathlib import Path

import pytest

from w2v import fileio


def test_a_replaced_file_is_whole_and_has_the_permissions_of_a_new_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    plain = tmp_path / "plain"
    plain.write_text("x")
    fileio.write_text(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "plain"]


def test_a_failed_write_leaves_the_target_and_no_temporary_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), fileio.replacing(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


def test_a_directory_is_replaced_whole(tmp_path):
    target = tmp_path / "dir"
    target.mkdir()
    (target / "old").write_text("1")
    with fileio.replacing(target, directory=True) as tmp:
        (tmp / "new").write_text("2")
    assert [p.name for p in target.iterdir()] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]


def test_contents_reach_the_disk_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    """What SQLite and LevelDB do: fsync the new file, rename it into place, fsync the directory, so that
    a power loss leaves the old file or the new one, never an empty one."""
    events = []
    real_fsync, real_replace, real_link = os.fsync, os.replace, os.link
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("rename", str(b))), real_replace(a, b))[1])
    monkeypatch.setattr(os, "link", lambda a, b: (events.append(("rename", str(b))), real_link(a, b))[1])
    for exclusive in (False, True):
        events.clear()
        target = tmp_path / f"meta{exclusive}.json"
        fileio.write_text(target, "{}", exclusive=exclusive)
        (synced, tmp), (renamed, to), (synced_dir, directory) = events
        assert (synced, renamed, synced_dir) == ("fsync", "rename", "fsync")
        assert Path(tmp).parent == tmp_path and Path(tmp).name.startswith(".") and to == str(target)
        assert directory == str(tmp_path)
    events.clear()
    with fileio.replacing(tmp_path / "shards", directory=True) as tmp:
        (tmp / "a").write_text("1")
    assert [e[0] for e in events] == ["fsync", "fsync", "rename", "fsync"]  # the file, its directory, rename
    assert events[0][1].endswith("/a") and events[-1][1] == str(tmp_path)


def test_an_exclusive_write_never_replaces_a_file(tmp_path):
    target = tmp_path / "config.yaml"
    target.write_text("mine")
    with pytest.raises(FileExistsError):
        fileio.write_text(target, "theirs", exclusive=True)
    assert target.read_text() == "mine" and os.listdir(tmp_path) == ["config.yaml"]
