"""The Huffman tree of hierarchical softmax."""

import numpy as np
import pytest

from w2v.huffman import tree


def codes_of(paths, codes):
    return [tuple(c[p >= 0]) for p, c in zip(paths, codes, strict=True)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_tree_is_an_optimal_prefix_code_like_gensims(seed):
    from gensim.models.word2vec import Word2Vec

    counts = np.sort(np.random.default_rng(seed).zipf(1.3, 300))[::-1]
    paths, codes = tree(counts)
    words = codes_of(paths, codes)
    # Prefix-free: no word's code begins another's, so each decision path ends at one word.
    assert not any(a != b and b[:len(a)] == a for a in words for b in words)
    lengths = (paths >= 0).sum(axis=1)
    # Optimal: the same total code length as gensim's Huffman tree (ties may be broken otherwise).
    model = Word2Vec(vector_size=4, hs=1, negative=0, min_count=1)
    model.build_vocab_from_freq({f"w{i}": int(c) for i, c in enumerate(counts)})
    gensim_lengths = [len(model.wv.get_vecattr(f"w{i}", "code")) for i in range(len(counts))]
    assert (lengths * counts).sum() == (np.array(gensim_lengths) * counts).sum()
    # Every inner node (V - 1 of them, the root V - 2 first on every path) is used, and nothing past them.
    assert set(paths[paths >= 0]) == set(range(len(counts) - 1)) and (paths[:, 0] == len(counts) - 2).all()
    assert lengths[0] <= lengths[-1]  # frequent words get short paths
    again = tree(counts)
    np.testing.assert_array_equal(again[0], paths)
    np.testing.assert_array_equal(again[1], codes)


def test_the_smallest_vocabularies():
    paths, codes = tree(np.array([3, 1]))
    np.testing.assert_array_equal(paths, [[0], [0]])
    assert sorted(codes[:, 0]) == [0, 1]
    assert tree(np.array([5]))[0].tolist() == [[-1]]
