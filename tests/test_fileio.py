import os
import stat

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
