import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import small_config
from w2v import corpus, fused, pipeline, vocab

tok = corpus.tokenizer("whitespace", False)


def unique_corpus(directory, sentences=20, length=50, shard_tokens=1 << 20):
    """Every token distinct, so an id is a position: w<sentence>_<index>."""
    lines = [" ".join(f"w{s}_{i}" for i in range(length)) for s in range(sentences)]
    return vocab.build(lines, tok, 1, None, directory=directory / "enc", shard_tokens=shard_tokens)


def batches(enc, cfg, limit=None, **kwargs):
    out = []
    for b in pipeline.make_dataset(enc, cfg, **kwargs):
        out.append({k: v.numpy() for k, v in b.items()})
        if limit and len(out) >= limit:
            break
    return out


def where(enc, ids):
    words = np.array(enc.vocab.words)[ids]
    parts = np.array([w[1:].split("_") for w in words]).astype(int)
    return parts[:, 0], parts[:, 1]


def test_pairs_stay_in_window_and_sentence(tmp_path):
    enc = unique_corpus(tmp_path)
    cfg = small_config("x", tmp_path, data__window=4, train__epochs=1, train__batch_size=97, data__chunk_tokens=1024)
    got = batches(enc, cfg)
    assert all(len(b["inputs"]) == 97 for b in got[:-1])
    inputs = np.concatenate([b["inputs"] for b in got])
    labels = np.concatenate([b["labels"] for b in got])
    s1, i1 = where(enc, inputs)
    s2, i2 = where(enc, labels)
    distance = np.abs(i1 - i2)
    assert (s1 == s2).all()
    assert distance.min() >= 1 and distance.max() <= 4
    # The reduced window makes near words likelier than far ones: d=1 in 4/4 windows, d=4 in 1/4.
    counts = np.bincount(distance, minlength=5)[1:]
    assert counts[0] > counts[1] > counts[2] > counts[3]
    assert 2.5 < counts[0] / counts[3] < 6
    # About window + 1 contexts per centre away from sentence edges.
    assert 4 < len(inputs) / enc.raw_tokens < 5


def test_position_counts_corpus_tokens_across_epochs(tmp_path):
    enc = unique_corpus(tmp_path)
    cfg = small_config("x", tmp_path, train__epochs=2, train__batch_size=64)
    got = batches(enc, cfg)
    positions = np.concatenate([b["position"] for b in got])
    # Positions count the stream (a separator after each of the 20 sentences), over both epochs.
    assert enc.shards.stream_length == len(enc.vocab) + 20
    assert positions.max() == 2 * enc.shards.stream_length - 2
    assert (np.diff(positions) >= 0).all()


def test_subsampling_drops_frequent_words(tmp_path):
    rng = np.random.default_rng(0)
    words = np.where(rng.random(20000) < 0.5, "the", rng.integers(0, 500, 20000).astype(str))
    enc = vocab.build([" ".join(words[i:i + 100]) for i in range(0, 20000, 100)], tok, 1, None,
                      directory=tmp_path / "enc")
    cfg = small_config("x", tmp_path, data__subsample=1e-3, train__epochs=1, train__batch_size=1000)
    inputs = np.concatenate([b["inputs"] for b in batches(enc, cfg)])
    the = enc.vocab.index["the"]
    keep = enc.vocab.keep_probabilities(1e-3)[the]
    share_the = (inputs == the).mean()
    # "the" is half the corpus and the rest is rare enough to be kept: its share of centres falls
    # from 1/2 to keep/(keep + 1).
    assert abs(share_the - keep / (keep + 1)) < 0.01


def test_stream_is_a_function_of_the_seed(tmp_path):
    enc = unique_corpus(tmp_path)
    a = batches(enc, small_config("x", tmp_path, data__subsample=1e-2), 5)
    b = batches(enc, small_config("x", tmp_path, data__subsample=1e-2), 5)
    c = batches(enc, small_config("x", tmp_path, data__subsample=1e-2, run__seed=7), 5)
    assert all((x["labels"] == y["labels"]).all() for x, y in zip(a, b, strict=False))
    assert any(len(x["labels"]) != len(z["labels"]) or (x["labels"] != z["labels"]).any()
               for x, z in zip(a, c, strict=False))


# A checkpoint's iterator from either way of making examples restores into the other (a run resumed on the
# other kernel, or saved before the windows op).
@pytest.mark.parametrize(("saved", "restored"), [(False, False), (False, True), (True, False)])
def test_iterator_state_restores_mid_stream(tmp_path, saved, restored):
    enc = unique_corpus(tmp_path)
    cfg = small_config("x", tmp_path, train__batch_size=50)
    it = iter(pipeline.make_dataset(enc, cfg, native=saved))
    for _ in range(7):
        next(it)
    ckpt = tf.train.Checkpoint(data=it)
    path = ckpt.write(str(tmp_path / "it"))
    expected = [next(it)["labels"].numpy() for _ in range(3)]
    fresh = iter(pipeline.make_dataset(enc, cfg, native=restored))
    tf.train.Checkpoint(data=fresh).read(path).assert_consumed()
    assert all((next(fresh)["labels"].numpy() == e).all() for e in expected)


def test_cbow_examples_hold_their_context(tmp_path):
    enc = unique_corpus(tmp_path)
    cfg = small_config("x", tmp_path, model__architecture="cbow", data__window=2, train__epochs=1)
    got = batches(enc, cfg)
    inputs = np.concatenate([b["inputs"] for b in got])
    mask = np.concatenate([b["input_mask"] for b in got])
    labels = np.concatenate([b["labels"] for b in got])
    assert inputs.shape[1] == 4 and mask.shape == inputs.shape
    assert (mask.sum(axis=1) >= 1).all()
    sc, ic = where(enc, labels)
    for row in range(0, len(labels), 37):
        ctx = inputs[row][mask[row] > 0]
        s, i = where(enc, ctx)
        assert (s == sc[row]).all() and (np.abs(i - ic[row]) <= 2).all() and (i != ic[row]).all()
    assert len(labels) == enc.raw_tokens


def test_many_small_shards_give_the_pairs_of_one(tmp_path):
    one = unique_corpus(tmp_path / "one")
    many = unique_corpus(tmp_path / "many", shard_tokens=100)
    assert len(many.shards.shard_sizes) > 5
    cfg = small_config("x", tmp_path, train__epochs=1, train__batch_size=100000, data__window=3)
    counts = []
    for enc in (one, many):
        got = batches(enc, cfg)
        inputs = np.concatenate([b["inputs"] for b in got])
        labels = np.concatenate([b["labels"] for b in got])
        s1, i1 = where(enc, inputs)
        s2, i2 = where(enc, labels)
        assert (s1 == s2).all() and (np.abs(i1 - i2) <= 3).all() and (i1 != i2).all()
        counts.append(len(inputs))
    # Windows are drawn per chunk, so the pairs differ, but shards cut only at line ends: as many pairs.
    assert abs(counts[0] - counts[1]) < 0.05 * counts[0]


def stream(enc, cfg, **kwargs):
    """All examples of a dataset as rows of (input, label, position)."""
    got = [np.stack([b["inputs"], b["labels"], b["position"]], axis=1) for b in batches(enc, cfg, **kwargs)]
    return np.concatenate(got)


def test_worker_shares_split_the_stream_and_skip_resumes_it_exactly(tmp_path):
    enc = unique_corpus(tmp_path, sentences=100)  # five chunks an epoch
    cfg = small_config("x", tmp_path, train__epochs=2, train__batch_size=50, data__chunk_tokens=1024)
    whole = stream(enc, cfg)
    shares = [stream(enc, cfg, pipeline=(i, 3)) for i in range(3)]
    # Every chunk goes to exactly one worker: together the shares are the stream.
    assert sum(len(s) for s in shares) == len(whole)
    key = lambda rows: sorted(map(tuple, rows))  # noqa: E731
    assert key(np.concatenate(shares)) == key(whole)
    assert all(len(s) > 0 for s in shares)
    # Skipping n examples (mid-batch, mid-chunk, into the second epoch) gives the rest of the stream.
    for n in (1, 777, len(whole) // 2 + 3):
        np.testing.assert_array_equal(stream(enc, cfg, skip=n), whole[n:])


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
@pytest.mark.parametrize(("window", "subsample"), [(1, 0), (4, 1e-2)])
def test_the_windows_op_makes_the_same_examples(tmp_path, architecture, window, subsample):
    # Repeated words and short sentences, cut into chunks mid-sentence: every edge a window can meet; and
    # words seen once, which min_count leaves out of the vocabulary.
    rng = np.random.default_rng(3)
    lines = [list(rng.choice(["a", "b", "c", "d", "e", "f"], size=rng.integers(1, 12))) for _ in range(600)]
    for i in range(0, 600, 3):
        lines[i].insert(rng.integers(0, len(lines[i]) + 1), f"once{i}")
    enc = vocab.build([" ".join(line) for line in lines], tok, 2, None, directory=tmp_path / "enc")
    assert len(enc.vocab) == 6 and (enc.remap < 0).sum() == 200
    cfg = small_config("x", tmp_path, model__architecture=architecture, data__window=window,
                       data__subsample=subsample, data__chunk_tokens=1024, train__batch_size=100, train__epochs=2)
    ops, native = batches(enc, cfg), batches(enc, cfg, native=True)
    assert len(ops) == len(native) > 10
    for a, b in zip(ops, native, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key].dtype == b[key].dtype
            np.testing.assert_array_equal(a[key], b[key])


def test_the_keep_op_refuses_a_stream_that_does_not_fit_its_vocabulary():
    keep = fused.load().w2v_keep
    remap, table, draw = tf.constant([1, -1, 0]), tf.constant([1.0, 1.0]), tf.zeros([3])
    base = tf.constant(100, tf.int64)
    tokens, sentence, position = keep(tf.constant([0, 1, -1]), remap, table, draw, base)
    assert (tokens.numpy().tolist(), sentence.numpy().tolist(), position.numpy().tolist()) == ([1], [0], [100])
    for values, bad_remap in (([0, 3, -1], remap), ([0, -2, 1], remap), ([2, 0, -1], tf.constant([1, -1, 2]))):
        with pytest.raises(tf.errors.InvalidArgumentError, match="keep: "):
            keep(tf.constant(values), bad_remap, table, draw, base)
