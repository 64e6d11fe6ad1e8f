"""Phrases: planted collocations are joined, frequent words that meet by chance are not."""

import numpy as np
import pytest

from tests.conftest import small_config
from w2v import phrases, runs, trainer
from w2v.errors import W2VError
from w2v.shards import SEPARATOR


def collocations(path, sentences=3000, seed=0):
    """Random words, with "of" and "the" everywhere (so they often meet by chance), "new york" planted in one
    sentence of twenty and "new york times" in one of twenty more."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(sentences):
        words = [f"w{int(i)}" for i in rng.zipf(1.5, 8) % 300]
        for _ in range(3):
            words.insert(rng.integers(len(words) + 1), rng.choice(["of", "the"]))
        kind = rng.random()
        if kind < 0.1:
            at = rng.integers(len(words) + 1)
            words[at:at] = ["new", "york"] + (["times"] if kind < 0.05 else [])
        lines.append(" ".join(words))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_planted_pairs_are_joined_and_chance_meetings_are_not(tmp_path):
    corpus = collocations(tmp_path / "c.txt")
    cfg = small_config(corpus, tmp_path, data__phrases=2, data__phrase_threshold=50, train__steps=5)
    result = trainer.train(cfg, tmp_path / "run", show_progress=False)
    vocab = runs.load_vocab(result.run_dir)
    assert {"new_york", "new_york_times"} <= set(vocab.words)
    assert not any("of_" in w or "the_" in w or w.endswith(("_of", "_the")) for w in vocab.words)
    # phrases.tsv: every pair found (york_times too, though new_york took its "york" each time), its score and
    # count. "of the" and "the of" meet by chance only: they score far below the threshold.
    header, *lines = (result.run_dir / phrases.PHRASES).read_text().splitlines()
    assert header == "phrase\tscore\tcount"
    listed = {line.split("\t")[0]: (float(line.split("\t")[1]), int(line.split("\t")[2])) for line in lines}
    scores = [float(line.split("\t")[1]) for line in lines]
    assert scores == sorted(scores, reverse=True)  # the strongest first, over both passes
    assert set(listed) == {"new_york", "york_times", "new_york_times"}, listed
    text = corpus.read_text().split()
    assert listed["new_york"][1] == text.count("york") and listed["new_york_times"][1] == text.count("times")
    assert all(score > 50 for score, _ in listed.values())
    # Every planted occurrence is joined, and the parts no longer stand alone.
    counts = dict(zip(vocab.words, vocab.counts, strict=True))
    assert counts["new_york_times"] == text.count("times")
    assert counts["new_york"] + counts["new_york_times"] == text.count("york") and "york" not in counts


def test_joining_goes_left_to_right_one_pair_a_token():
    # "a b c" with both "a b" and "b c" phrases: the first pair joins, "c" stays (word2phrase reads a line
    # left to right); a run of four candidates joins the first and third pairs.
    a, b, c, d = 0, 1, 2, 3
    keys = np.array(sorted([a * 10 + b, b * 10 + c, c * 10 + d]))
    ids = np.array([10, 11, 12])[np.argsort(np.argsort(keys))]
    keys_ids = dict(zip(keys.tolist(), ids.tolist(), strict=True))
    values = np.array([a, b, c, SEPARATOR, b, c, SEPARATOR, a, b, c, d, SEPARATOR, c, SEPARATOR, d], np.int32)
    got = phrases.join(values, 10, keys, ids).tolist()
    ab, bc, cd = keys_ids[a * 10 + b], keys_ids[b * 10 + c], keys_ids[c * 10 + d]
    assert got == [ab, c, SEPARATOR, bc, SEPARATOR, ab, cd, SEPARATOR, c, SEPARATOR, d]


def test_npmi_scores_and_settings_checks(tmp_path):
    corpus = collocations(tmp_path / "c.txt", sentences=1000)
    cfg = small_config(corpus, tmp_path, data__phrases=1, data__phrase_scoring="npmi", data__phrase_threshold=0.5,
                       train__steps=2)
    result = trainer.train(cfg, tmp_path / "run", show_progress=False)
    listed = [line.split("\t") for line in (result.run_dir / phrases.PHRASES).read_text().splitlines()[1:]]
    assert {row[0] for row in listed} >= {"new_york"} and all(0.5 < float(row[1]) <= 1 for row in listed)
    with pytest.raises(W2VError, match="data.phrase_threshold: 100.0 can never be crossed by npmi"):
        small_config(corpus, tmp_path, data__phrases=1, data__phrase_scoring="npmi")
