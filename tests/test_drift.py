"""Runs compared by what they learned: aligned vectors, neighbour overlap, the words that moved between two
corpora, and how stable words' neighbours are over seeds."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import ortho_group

from tests.conftest import FILLERS, GROUP_SIZE, GROUPS, small_config
from w2v import drift, runs, trainer
from w2v.cli import cli
from w2v.errors import W2VError
from w2v.vectors import Vectors

MOVERS = 4  # m0..m3: with group i in corpus A, with group i + 6 in corpus B
STAYERS = 2  # s0, s1: with group 4 + i in both corpora


def drift_corpus(path, second: bool, sentences=3000, seed=0):
    """Planted groups (g<i>w<j>) with fillers; a mover or stayer word joins every sentence of the group it
    keeps company with, in place of one of that group's words."""
    company = {i + (6 if second else 0): f"m{i}" for i in range(MOVERS)}
    company.update({4 + i: f"s{i}" for i in range(STAYERS)})
    rng = np.random.default_rng(seed + second)
    lines = []
    for _ in range(sentences):
        g = int(rng.integers(GROUPS))
        words = [f"g{g}w{rng.integers(GROUP_SIZE)}" for _ in range(6)]
        if g in company:
            words[0] = company[g]
        words += [f"filler{rng.integers(FILLERS)}" for _ in range(3)]
        rng.shuffle(words)
        lines.append(" ".join(words))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Corpus A with seeds 1, 2, 3 and corpus B with seed 1."""
    root = tmp_path_factory.mktemp("drift")
    corpora = {"a": drift_corpus(root / "a.txt", False), "b": drift_corpus(root / "b.txt", True)}
    made = {}
    for name, corpus, seed in (("a1", "a", 1), ("a2", "a", 2), ("a3", "a", 3), ("b1", "b", 1)):
        cfg = small_config(corpora[corpus], root, run__seed=seed, train__epochs=3, model__loss="neg")
        made[name] = trainer.train(cfg, root / name, show_progress=False).run_dir
    return made


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def space(words, vectors):
    return Vectors(list(words), np.asarray(vectors, dtype=np.float32))


def test_a_run_rotated_by_an_orthogonal_matrix_aligns_back(tiny_run):
    e = runs.read_embedding(tiny_run)
    rotated = e.vectors @ ortho_group.rvs(e.vectors.shape[1], random_state=3)
    # The other run knows its words in another order, lacks some of the first's and has words of its own.
    order = np.random.default_rng(0).permutation(len(e.vocab.words))[:-50]
    extra = np.random.default_rng(1).normal(size=(20, e.vectors.shape[1]))
    other = space([e.vocab.words[i] for i in order] + [f"new{i}" for i in range(20)],
                  np.vstack([rotated[order], extra]))
    result = drift.compare([space(e.vocab.words, e.vectors), other], ["a", "b"], top=500)
    assert result.shared == len(e.vocab.words) - 50 and result.only == [50, 20]
    assert len(result.words) == 500
    np.testing.assert_allclose([w.cosine for w in result.words], 1.0, atol=1e-5)
    assert [w.jaccard for w in result.words] == [1.0] * 500
    # Without the rotation the same vectors look unrelated: the alignment is what brings them back.
    unaligned = np.einsum("ij,ij->i", e.vectors[:500], rotated[:500]) / (
        np.linalg.norm(e.vectors[:500], axis=1) * np.linalg.norm(rotated[:500], axis=1))
    assert np.abs(unaligned).mean() < 0.5


def test_neighbours_and_jaccard_by_hand():
    unit = np.eye(4, dtype=np.float32)[[0, 0, 1, 1, 2, 3]] + 0.01 * np.arange(6)[:, None]
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    assert drift.neighbours(unit, np.array([0, 2]), 1).tolist() == [[1], [3]]
    a, b = np.array([[1, 2, 3], [4, 5, 6]]), np.array([[3, 2, 9], [7, 8, 9]])
    np.testing.assert_allclose(drift.jaccard(a, b), [2 / 4, 0.0])


def test_words_that_changed_company_top_the_drift_list(trained):
    result = invoke("compare", trained["a1"], trained["b1"], "--top", 100, "-k", 3, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    ranked = [w["word"] for w in report["words"]]
    assert set(ranked[:MOVERS]) == {f"m{i}" for i in range(MOVERS)}, ranked[:10]
    # The stayers kept their company: they moved as little as the group words (the fillers, whose company is
    # random, move more), far less than the movers.
    by_word = {w["word"]: w for w in report["words"]}
    group_words = np.median([w["cosine"] for w in report["words"] if w["word"].startswith("g")])
    for i in range(STAYERS):
        assert by_word[f"s{i}"]["cosine"] > group_words - 0.05
        assert by_word[f"s{i}"]["cosine"] > max(by_word[f"m{j}"]["cosine"] for j in range(MOVERS)) + 0.3
    mover = by_word["m0"]
    assert mover["cosine"] < 0.7 and mover["jaccard"] == 0.0
    assert set(mover["neighbours"]["a1"]) <= {f"g0w{j}" for j in range(GROUP_SIZE)}
    assert set(mover["neighbours"]["b1"]) <= {f"g6w{j}" for j in range(GROUP_SIZE)}
    assert by_word["s0"]["cosine"] > 0.8 and by_word["s0"]["jaccard"] == 1.0
    # The printed report: the movers listed first with their neighbours on both sides.
    printed = invoke("compare", trained["a1"], trained["b1"], "--top", 100, "-k", 3, "--show", MOVERS).output
    section = printed.split("moved most\n")[1].split("\n\n")[0].splitlines()
    assert section[0].split() == ["word", "cosine", "jaccard@3", "nearest", "in", "a1", "nearest", "in", "b1"]
    assert {line.split()[0] for line in section[1:]} == {f"m{i}" for i in range(MOVERS)}
    assert "b1 rotated onto a1 (orthogonal Procrustes over the shared words)" in printed


def test_words_asked_about_keep_their_order_and_unknown_ones_are_named(trained):
    result = invoke("compare", trained["a1"], trained["b1"], "--words", "s0,nosuchword,m1", "-k", 2)
    assert result.exit_code == 0, result.output
    assert "not in every run's vocabulary: nosuchword" in result.output
    rows = [line.split()[0] for line in result.output.split("\n\n")[1].splitlines()[1:]]
    assert rows == ["s0", "m1"]
    none = invoke("compare", trained["a1"], trained["b1"], "--words", "nosuchword")
    assert none.exit_code == 2 and "none of nosuchword is in every run's vocabulary" in none.stderr
    both = invoke("compare", trained["a1"], trained["b1"], "--words", "s0", "--top", 5)
    assert both.exit_code == 2 and "give --words or --top, not both" in both.stderr


def test_neighbour_stability_over_seeds(trained):
    result = invoke("compare", trained["a1"], trained["a2"], trained["a3"], "--top", 1000, "-k", 2, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["shared_words"] == len(report["words"]) == GROUPS * GROUP_SIZE + FILLERS + MOVERS + STAYERS
    stability = {w["word"]: w["jaccard"] for w in report["words"]}
    # Groups 6-11 keep no mover in corpus A: each word's two nearest are its two group mates, whatever the
    # seed. A filler's nearest are whichever fillers the seed put close.
    clean = [f"g{g}w{j}" for g in range(6, GROUPS) for j in range(GROUP_SIZE)]
    assert min(stability[w] for w in clean) == 1.0
    assert np.mean([stability[f"filler{i}"] for i in range(FILLERS)]) < 0.6
    assert [w["jaccard"] for w in report["words"]] == sorted(w["jaccard"] for w in report["words"])
    printed = invoke("compare", trained["a1"], trained["a2"], trained["a3"], "--top", 1000, "-k", 2).output
    assert "neighbour stability (Jaccard@2, mean over the 3 pairs of runs)" in printed
    assert "  min " in printed and " median " in printed and "0.8–1.0  #" in printed
    # One setting's seeds: no note. Runs of two corpora: stability would mix what the corpora change.
    assert "note:" not in result.stderr
    mixed = invoke("compare", trained["a1"], trained["a2"], trained["b1"], "--top", 10)
    assert mixed.exit_code == 0 and "note: these runs are 2 settings, not one setting's seeds" in mixed.stderr


def test_runs_of_different_dimensions_are_refused(trained, tiny_run):
    result = invoke("compare", trained["a1"], tiny_run, "--top", 10)
    assert result.exit_code == 2, result.output
    assert "vectors of different dimensions cannot be aligned (a1: 16, tiny: 32)" in result.stderr
    with pytest.raises(W2VError, match="at least two runs"):
        drift.compare([space(["x", "y"], np.eye(2))], ["a"])
