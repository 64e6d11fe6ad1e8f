"""Warm starts (init.from_run): a run that starts from another run's vectors, its vocabulary extended by
a new corpus."""

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import GROUP_SIZE, planted_corpus, small_config
from w2v import experiments, meta, runs, trainer
from w2v.cli import cli
from w2v.errors import W2VError


def new_corpus(path, sentences=2000):
    """Half the old corpus's groups (g0w..g5w), and six groups of new words (n0w0 ...), with fillers."""
    return planted_corpus(path, sentences, seed=5, groups=[f"{kind}{g}w" for kind in "gn" for g in range(6)])


@pytest.fixture(scope="module")
def old_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("old")
    cfg = small_config(planted_corpus(root / "old.txt"), root, train__epochs=3, model__loss="neg")
    return trainer.train(cfg, root / "old", show_progress=False).run_dir


def start_from(old_run, tmp_path, name, **extra):
    cfg = small_config(new_corpus(tmp_path / "new.txt"), tmp_path, init__from_run=old_run, model__loss="neg",
                       train__epochs=3, **extra)
    return trainer.train(cfg, tmp_path / name, show_progress=False)


def test_a_frozen_warm_start_keeps_old_vectors_and_trains_the_new_words(old_run, tmp_path):
    result = start_from(old_run, tmp_path, "new", init__freeze_old=True)
    old_vocab, old_vectors, old_step = runs.load_embedding(old_run)
    vocab, vectors, _ = runs.load_embedding(result.run_dir)
    # The old words first, in their order; the new corpus's words after them.
    assert vocab.words[:len(old_vocab)] == old_vocab.words
    assert set(vocab.words[len(old_vocab):]) == {f"n{g}w{j}" for g in range(6) for j in range(GROUP_SIZE)}
    # A word of both corpora keeps its old vector exactly, though the new corpus used it.
    np.testing.assert_array_equal(vectors[:len(old_vocab)], old_vectors)
    assert vocab.counts[vocab.index["g0w0"]] > old_vocab.counts[old_vocab.index["g0w0"]]
    # New words are trained: each one's nearest neighbours are its own group's.
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for word in ("n0w0", "n3w1", "n5w2"):
        near = [vocab.words[i] for i in np.argsort(-(unit @ unit[vocab.index[word]]))[1:3]]
        assert all(w.startswith(word[:2] + "w") for w in near), (word, near)
    record = meta.read(result.run_dir)["init"]
    assert record["from"] == str(old_run) and record["step"] == old_step and record["words"] == len(old_vocab)
    assert record["new_words"] == 6 * GROUP_SIZE and record["frozen"]
    assert record["copied"] == ["embedding", "output weights"]
    comparison = experiments.compare([old_run, result.run_dir])
    assert comparison["config"]["init.from_run"] == [None, str(old_run)]


@pytest.mark.parametrize("kernel", ["fused", "tf"])
def test_an_unfrozen_warm_start_moves_the_old_rows_from_where_they_were(old_run, tmp_path, kernel):
    steps = 3
    result = start_from(old_run, tmp_path, "new", train__steps=steps, train__kernel=kernel)
    old_vectors = runs.load_embedding(old_run)[1]
    vectors = runs.load_embedding(result.run_dir)[1][:len(old_vectors)]
    moved = np.abs(vectors - old_vectors).max(axis=1)
    assert 0 < moved.max() < 0.5  # a few steps of training away from the old vectors, not a fresh start
    frozen = start_from(old_run, tmp_path, "frozen", train__steps=steps, train__kernel=kernel, init__freeze_old=True)
    np.testing.assert_array_equal(runs.load_embedding(frozen.run_dir)[1][:len(old_vectors)], old_vectors)


def test_a_warm_started_run_resumes_exactly_even_when_its_source_is_gone(old_run, tmp_path):
    import shutil

    whole = start_from(old_run, tmp_path, "whole", init__freeze_old=True)
    source = tmp_path / "source"
    shutil.copytree(old_run, source)
    cfg = small_config(new_corpus(tmp_path / "new.txt"), tmp_path, init__from_run=source, model__loss="neg",
                       train__epochs=3, init__freeze_old=True)
    stopped = trainer.train(cfg, tmp_path / "parts", show_progress=False, stop_at=30)
    assert not stopped.finished
    shutil.rmtree(source)
    trainer.resume(tmp_path / "parts", show_progress=False)
    np.testing.assert_array_equal(runs.load_embedding(tmp_path / "parts")[1], runs.load_embedding(whole.run_dir)[1])


def test_the_command_line_and_its_errors(old_run, tmp_path):
    corpus = new_corpus(tmp_path / "new.txt", sentences=200)
    sets = [f"data.corpus={corpus}", "data.min_count=1", "train.steps=5", f"run.output_dir={tmp_path}",
            "model.embedding_dim=16", "model.loss=neg"]
    args = ["train", "--config", "configs/tiny.yaml", "--quiet", *[a for s in sets for a in ("--set", s)]]
    shown = CliRunner().invoke(cli, [*args, "--name", "cli", "--init-from", str(old_run)])
    assert shown.exit_code == 0, shown.output
    assert meta.read(tmp_path / "cli")["init"]["from"] == str(old_run)
    wrong = CliRunner().invoke(cli, [*args, "--name", "wide", "--init-from", str(old_run), "--set",
                                     "model.embedding_dim=8"])
    assert wrong.exit_code == 2 and "config key init.from_run: " in wrong.output and \
        "has vectors of dimension 16, this run 8 (model.embedding_dim must be the same)" in wrong.output
    assert not (tmp_path / "wide").exists()
    with pytest.raises(W2VError, match="config key init.from_run: .*nowhere is not a run directory"):
        trainer.train(small_config(corpus, tmp_path, init__from_run=tmp_path / "nowhere"), tmp_path / "x",
                      show_progress=False)
    assert not (tmp_path / "x").exists()
