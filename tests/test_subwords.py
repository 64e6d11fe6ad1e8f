"""Subword vectors (model.subwords): fastText's n-grams and hash, training that gives unseen words sensible
vectors, and the commands that use them."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import GROUP_SIZE, planted_corpus, small_config
from w2v import runs, subwords, trainer
from w2v.cli import cli

WORDS = ["hello", "a", "naïve", "über", "königsberg", "日本語", "don't"]


def test_ngrams_and_hashes_are_fasttexts_as_gensim_computes_them():
    from gensim.models.fasttext import compute_ngrams, ft_hash_bytes

    for word in WORDS:
        grams = subwords.ngrams(word, 3, 6)
        assert sorted(grams) == sorted(compute_ngrams(word, 3, 6))
        assert subwords.hashes(grams).tolist() == [ft_hash_bytes(g.encode("utf-8")) for g in grams]


def test_a_word_s_rows_are_its_own_then_its_ngrams_buckets():
    offsets, ids = subwords.table(WORDS, subwords.Settings(3, 6, 1000))
    for w, word in enumerate(WORDS):
        rows = ids[offsets[w]:offsets[w + 1]]
        grams = subwords.ngrams(word, 3, 6)
        assert rows[0] == w and list(rows[1:]) == list(subwords.hashes(grams).astype(np.int64) % 1000 + len(WORDS))
    rows = np.random.default_rng(0).normal(size=(len(WORDS) + 1000, 4)).astype(np.float32)
    composed = subwords.compose(rows, offsets, ids)
    np.testing.assert_allclose(composed[4], rows[ids[offsets[4]:offsets[5]]].mean(axis=0), rtol=1e-6)


STEMS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]


def group_corpus(path, sentences=3000):
    """Six groups of words that share their spelling's start (alpha0, alpha1, ...), each group's words only in
    sentences of their own, with filler words (zz0, zz1, ...): the n-grams of a group's start carry its
    meaning, so a word of the group never seen ("alpha9") should land among its group."""
    return planted_corpus(path, sentences, groups=STEMS, filler="zz")


def subword_config(root, **extra):
    return small_config(group_corpus(root / "groups.txt"), root, model__subwords=True, model__buckets=2000,
                        model__loss="neg", train__epochs=4, model__embedding_dim=24, **extra)


@pytest.fixture(scope="module")
def subword_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sub")
    return trainer.train(subword_config(root, train__kernel="fused"), root / "run", show_progress=False).run_dir


def assert_groups_learnt(run_dir):
    """Each group's words are each other's nearest neighbours, and a word of the group never seen lands
    among them."""
    embedding = runs.read_embedding(run_dir)
    vocab = embedding.vocab
    unit = embedding.vectors / np.linalg.norm(embedding.vectors, axis=1, keepdims=True)
    hits = 0
    for stem in STEMS:
        v = embedding.unseen(f"{stem}9")
        top = [vocab.words[i] for i in np.argsort(-(unit @ (v / np.linalg.norm(v))))[:3]]
        hits += sum(w.startswith(stem) for w in top)
        near = [vocab.words[i] for i in np.argsort(-(unit @ unit[vocab.index[f"{stem}1"]]))[1:GROUP_SIZE]]
        assert all(w.startswith(stem) for w in near), near
    assert hits >= 16  # of 18


def test_the_engine_gives_unseen_words_their_group(subword_run):
    assert_groups_learnt(subword_run)


def test_the_tf_step_gives_unseen_words_their_group(tmp_path):
    assert_groups_learnt(trainer.train(subword_config(tmp_path, train__kernel="tf"), tmp_path / "run",
                                       show_progress=False).run_dir)


def test_neighbors_answers_unseen_words_from_their_ngrams(subword_run):
    shown = CliRunner().invoke(cli, ["neighbors", str(subword_run), "delta9", "alpha1", "-k", "2"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "delta9 (not in the vocabulary: its vector is its n-grams')"
    assert lines[1].split()[1].startswith("delta") and lines[3] == "alpha1"


def test_eval_reports_both_numbers_and_export_ships_the_ngram_table(subword_run, tmp_path):
    pairs = tmp_path / "rare.txt"
    pairs.write_text("alpha1\talpha2\t9\nalpha1\tbravo2\t1\ncharlie8\tcharlie0\t9\ncharlie8\techo2\t2\n"
                     "delta0\tdelta9\t8\nfoxtrot7\tzz1\t1\n")
    questions = tmp_path / "groups.txt"
    questions.write_text(": groups\nalpha1 alpha2 delta1 delta2\nalpha9 alpha1 delta9 delta1\n"
                         "bravo1 bravo9 echo1 echo2\nbravo1 bravo2 echo1 echo9\n")
    shown = CliRunner().invoke(cli, ["eval", str(subword_run), "--similarity", str(pairs), "--analogies",
                                     str(questions), "--json"])
    assert shown.exit_code == 0, shown.output
    analogies = json.loads(shown.output)["analogies"][0]
    # Known words only: one question. With the unseen question words from their n-grams: three (the fourth
    # asks for an unseen word, which is no candidate answer).
    assert (analogies["total"], analogies["skipped"], analogies["total_all"]) == (1, 3, 3)
    result = json.loads(shown.output)["similarity"][0]
    assert result["pairs"] == 2 and result["skipped"] == 4  # four pairs have a word never seen
    assert result["spearman_all"] > 0.5  # scored over all six, the unseen words' vectors from their n-grams
    text = CliRunner().invoke(cli, ["eval", str(subword_run), "--similarity", str(pairs), "--analogies",
                                    str(questions)]).output
    assert "with the unseen words' vectors from their n-grams: Spearman" in text and "over all 6 pairs" in text
    assert "with unseen question words' vectors from their n-grams:" in text and "% of 3 (those whose" in text

    out = tmp_path / "vectors.txt"
    shown = CliRunner().invoke(cli, ["export", str(subword_run), "-o", str(out)])
    assert shown.exit_code == 0, shown.output
    from gensim.models import KeyedVectors
    from gensim.models.fasttext import compute_ngrams, ft_hash_bytes

    about = json.loads(out.with_name("vectors.txt.ngrams.json").read_text())
    table = np.load(out.with_name("vectors.txt.ngrams.npy"))
    assert table.shape == (about["buckets"], 24)
    # Rebuilt the way the .json says, with gensim's functions, an unseen word's vector is w2v's.
    rebuilt = np.mean([table[ft_hash_bytes(g.encode()) % about["buckets"]]
                       for g in compute_ngrams("delta9", about["min_n"], about["max_n"])], axis=0)
    np.testing.assert_allclose(rebuilt, runs.read_embedding(subword_run).unseen("delta9"), rtol=1e-5)
    kv = KeyedVectors.load_word2vec_format(str(out))
    np.testing.assert_allclose(kv["alpha1"], runs.read_embedding(subword_run).vectors[
        runs.load_vocab(subword_run).index["alpha1"]], atol=1e-5)


def test_a_subword_run_resumes_bit_identical(tmp_path):
    cfg = small_config(group_corpus(tmp_path / "g.txt", sentences=800), tmp_path, model__subwords=True,
                       model__buckets=500, model__architecture="cbow", train__steps=40, train__threads=2)
    whole = trainer.train(cfg, tmp_path / "whole", show_progress=False)
    trainer.train(cfg, tmp_path / "parts", show_progress=False, stop_at=20)
    resumed = trainer.resume(tmp_path / "parts", ["train.threads=1"], show_progress=False)
    assert whole.step == resumed.step == 40
    a, b = (runs.read_embedding(run) for run in (whole.run_dir, resumed.run_dir))
    np.testing.assert_array_equal(a.ngrams, b.ngrams)
    np.testing.assert_array_equal(a.vectors, b.vectors)
