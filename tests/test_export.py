import numpy as np
import pytest
from click.testing import CliRunner
from gensim.models import KeyedVectors

from tests.conftest import read_only
from w2v import runs
from w2v.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("fmt, binary", [("word2vec", False), ("word2vec-binary", True)])
def test_word2vec_formats_load_in_gensim_with_the_checkpoint_vectors(tiny_run, tmp_path, fmt, binary):
    vocab, vectors, _ = runs.load_embedding(tiny_run)
    out = tmp_path / "vectors.out"
    result = invoke("export", tiny_run, "--format", fmt, "-o", out)
    assert result.exit_code == 0, result.output
    header = out.read_bytes().split(b"\n", 1)[0].decode()
    assert header == f"{len(vocab)} {vectors.shape[1]}"
    kv = KeyedVectors.load_word2vec_format(str(out), binary=binary)
    assert kv.index_to_key == vocab.words
    np.testing.assert_array_equal(kv.vectors, vectors)  # 9 digits give every float32 back


def test_npy_and_tsv(tiny_run, tmp_path):
    vocab, vectors, _ = runs.load_embedding(tiny_run)
    assert invoke("export", tiny_run, "--format", "npy", "-o", tmp_path / "v.npy").exit_code == 0
    assert np.array_equal(np.load(tmp_path / "v.npy"), vectors)
    rows = (tmp_path / "v.vocab.tsv").read_text().splitlines()
    assert [r.split("\t")[0] for r in rows] == vocab.words
    assert invoke("export", tiny_run, "--format", "tsv", "-o", tmp_path / "v.tsv").exit_code == 0
    lines = (tmp_path / "v.tsv").read_text().splitlines()
    assert len(lines) == len(vocab)
    first = lines[0].split("\t")
    assert first[0] == vocab.words[0]
    np.testing.assert_allclose([float(x) for x in first[1:]], vectors[0], rtol=1e-5)


def test_unwritable_output_leaves_nothing(tiny_run, tmp_path):
    result = invoke("export", tiny_run, "-o", tmp_path / "missing" / "v.txt")
    assert result.exit_code == 2 and "does not exist" in result.stderr
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only(locked):  # also as root, whom permission bits do not stop
        result = invoke("export", tiny_run, "-o", locked / "v.txt")
        assert result.exit_code == 2 and "cannot be written" in result.stderr
        assert list(locked.iterdir()) == []


def test_export_of_a_run_without_checkpoints(tmp_path):
    (tmp_path / "config.yaml").write_text("{}\n")
    (tmp_path / "vocab.tsv").write_text("a\t1\n")
    result = invoke("export", tmp_path, "-o", tmp_path / "v.txt")
    assert result.exit_code == 2 and "has no checkpoint" in result.stderr


def test_exports_get_the_permissions_of_any_new_file(tiny_run, tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    for fmt in ("word2vec", "npy"):
        assert invoke("export", tiny_run, "--format", fmt, "-o", tmp_path / f"v.{fmt}").exit_code == 0
    for path in (tmp_path / "v.word2vec", tmp_path / "v.npy", tmp_path / "v.vocab.tsv"):
        assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
