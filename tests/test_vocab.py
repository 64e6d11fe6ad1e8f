import numpy as np
import pytest

from w2v import corpus, vocab
from w2v.errors import W2VError

tok = corpus.tokenizer("whitespace", True)


def test_counts_sorted_by_frequency_with_min_count_and_max_vocab(tmp_path):
    lines = ["a b a c a b", "", "d a b"]
    enc = vocab.build(lines, tok, min_count=2, max_vocab=None, directory=tmp_path / "enc")
    assert enc.vocab.words == ["a", "b"]
    assert enc.vocab.counts.tolist() == [4, 3]
    assert enc.raw_tokens == 9
    # Provisional ids in first-appearance order, -1 closing each non-empty line.
    stream = np.fromfile(enc.shards.path(0), dtype=np.int32)
    assert stream.tolist() == [0, 1, 0, 2, 0, 1, -1, 3, 0, 1, -1]
    assert enc.remap.tolist() == [0, 1, -1, -1]
    assert vocab.select(enc.shards, 1, 1).vocab.words == ["a"]
    assert vocab.build(lines, tok, 1, 3, tmp_path / "top").vocab.words == ["a", "b", "c"]


@pytest.mark.parametrize("text, line", [("a\t3\nb2\n", 2), ("a\t3\tx\nb\t1\n", 1), ("a\t3\nb\tx\n", 2),
                                        ("a\t3\n\nc\t1\n", 2), ("a\t-3\n", 1)])
def test_a_malformed_vocab_tsv_names_its_first_bad_line(tmp_path, text, line):
    (tmp_path / "vocab.tsv").write_text(text)
    with pytest.raises(W2VError, match=f"vocabulary .*vocab.tsv: malformed line {line}$"):
        vocab.Vocab.load(tmp_path / "vocab.tsv")


def test_vocab_tsv_words_keep_their_spelling(tmp_path):
    words = ["naïve", "日本", "it's", "a b", "x\ry"]
    vocab.Vocab(words, np.array([5, 4, 3, 2, 1])).save(tmp_path / "vocab.tsv")
    loaded = vocab.Vocab.load(tmp_path / "vocab.tsv")
    assert loaded.words == words and loaded.counts.tolist() == [5, 4, 3, 2, 1] and loaded.index["日本"] == 1
    (tmp_path / "last.tsv").write_text("a\t2\nb\t1")  # no newline at the end
    assert vocab.Vocab.load(tmp_path / "last.tsv").words == ["a", "b"]


def test_vocab_tsv_round_trip(tmp_path):
    enc = vocab.build(["x y y z z z"], tok, 1, None, directory=tmp_path / "enc")
    enc.vocab.save(tmp_path / "vocab.tsv")
    assert (tmp_path / "vocab.tsv").read_text() == "z\t3\ny\t2\nx\t1\n"
    loaded = vocab.Vocab.load(tmp_path / "vocab.tsv")
    assert loaded.words == ["z", "y", "x"] and loaded.counts.tolist() == [3, 2, 1]


def test_empty_corpus_and_empty_vocabulary(tmp_path):
    with pytest.raises(W2VError, match=r"^corpus corpus: no words found \(empty corpus\)$"):
        vocab.build(["", "   "], tok, 1, None, directory=tmp_path / "a")
    assert not (tmp_path / "a").exists()
    with pytest.raises(W2VError, match=r"^corpus books.txt: no words found \(empty corpus\)$"):
        vocab.build([""], tok, 1, None, directory=tmp_path / "c", source="books.txt")
    with pytest.raises(W2VError, match="^corpus books.txt: vocabulary is empty after min_count=5"):
        vocab.build(["a b c"], tok, 5, None, directory=tmp_path / "b", source="books.txt")


def test_subsampling_follows_mikolov():
    v = vocab.Vocab(["a", "b"], np.array([99990, 10]))
    keep = v.keep_probabilities(1e-3)
    f = 0.9999
    assert keep[0] == pytest.approx((np.sqrt(f / 1e-3) + 1) * 1e-3 / f)
    assert keep[1] == 1.0
    assert (v.keep_probabilities(0) == 1).all()


def test_noise_distributions():
    v = vocab.Vocab(["a", "b", "c"], np.array([8, 4, 1]))
    p = v.noise_distribution("unigram", 0.75)
    assert p.sum() == pytest.approx(1) and p[0] > p[1] > p[2]
    assert p[0] / p[2] == pytest.approx(8 ** 0.75)
    z = v.noise_distribution("log_uniform", 0.75)
    assert z[0] == pytest.approx(np.log(2) / np.log(4))


def test_a_warm_starts_vocabulary_keeps_the_old_words_first_with_their_counts_summed(tmp_path):
    old = vocab.Vocab(["a", "b", "c"], np.array([5, 4, 3]))
    chosen = vocab.build(["b d d d e", "d b z"], tok, 2, None, tmp_path / "enc")
    assert chosen.vocab.words == ["d", "b"]
    extended = vocab.extend(old, chosen)
    assert extended.vocab.words == ["a", "b", "c", "d"]  # "e" and "z" are below min_count, "b" is old
    assert extended.vocab.counts.tolist() == [5, 6, 3, 4] and extended.vocab.counts.dtype == np.int64
    extended.vocab.save(tmp_path / "vocab.tsv")
    assert (tmp_path / "vocab.tsv").read_text() == "a\t5\nb\t6\nc\t3\nd\t4\n"
