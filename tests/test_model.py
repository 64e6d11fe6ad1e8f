import numpy as np
import pytest
import tensorflow as tf

from w2v import config as config_lib
from w2v import subwords
from w2v.model import Word2Vec, alias_table

V, D, B = 50, 8, 32


def model(**overrides):
    sets = [f"model.{k}={v}" for k, v in overrides.items()] + [f"model.embedding_dim={D}", "model.num_sampled=5"]
    cfg = config_lib.resolve(config_lib.apply_overrides(config_lib.Config(), sets)).model
    noise = np.arange(V, 0, -1, dtype=np.float64) ** 0.75
    return Word2Vec(V, cfg, noise / noise.sum(), seed=3)


def batch(cbow=False):
    rng = np.random.default_rng(0)
    b = {"labels": tf.constant(rng.integers(0, V, B), tf.int32)}
    if cbow:
        b["inputs"] = tf.constant(rng.integers(0, V, (B, 4)), tf.int32)
        b["input_mask"] = tf.constant((rng.random((B, 4)) < 0.7).astype(np.float32))
    else:
        b["inputs"] = tf.constant(rng.integers(0, V, B), tf.int32)
    return b


@pytest.mark.parametrize("loss", ["nce", "neg", "sampled_softmax", "softmax"])
@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_every_loss_gives_finite_per_example_loss_and_gradients(loss, architecture):
    m = model(loss=loss, architecture=architecture)
    m.output_weights.assign(tf.random.normal([V, D], seed=1))
    with tf.GradientTape() as tape:
        per_example = m.loss(batch(architecture == "cbow"))
        total = tf.reduce_sum(per_example)
    assert per_example.shape == (B,)
    assert np.isfinite(per_example.numpy()).all() and (per_example.numpy() > 0).all()
    grads = tape.gradient(total, m.trainable)
    assert all(g is not None for g in grads)
    assert tf.reduce_sum(tf.abs(tf.convert_to_tensor(grads[0]))) > 0


def test_variables_live_under_readable_name_scopes():
    m = model()
    names = {v.name for v in m.variables}
    assert "word2vec/embedding/embedding:0" in names
    assert "word2vec/output/weights:0" in names and "word2vec/output/biases:0" in names


def test_negatives_are_a_function_of_seed_and_step():
    m = model()
    first = m.draw_noise([1000], 7).numpy()
    assert (first == model().draw_noise([1000], 7).numpy()).all()
    assert (first != m.draw_noise([1000], 8).numpy()).any()
    # Frequent ids (small) are drawn more often, following the noise distribution.
    counts = np.bincount(m.draw_noise([20000], 0).numpy(), minlength=V)
    assert counts[:5].sum() > counts[-5:].sum() * 2
    assert first.min() >= 0 and first.max() < V


def test_the_noise_stream_stays_the_one_earlier_runs_drew():
    """A run resumed by a later w2v draws the negatives the run drew before it stopped (the tf kernel; the fused
    engine's stream is pinned by tests/test_fused.py's reference): the draws of seed 3 at two steps, as w2v has
    drawn them since its first release of this stream."""
    m = model()
    assert m.draw_noise([12], 7).numpy().tolist() == [17, 8, 6, 7, 34, 21, 19, 5, 14, 12, 5, 9]
    assert m.draw_noise([12], 123456).numpy().tolist() == [25, 10, 9, 22, 0, 9, 0, 38, 12, 36, 3, 20]


@pytest.mark.parametrize("sparse", [True, False], ids=["sliced", "dense"])
def test_frozen_rows_get_no_gradient_in_any_table(sparse):
    """A warm start's old words (init.freeze_old): the embedding's rows below its count, the output rows and
    biases below theirs, get nothing; every other row its whole gradient."""
    m = model(loss="nce")
    m.frozen = (3, 2)
    rows = tf.constant([0, 2, 3, 4, 1, 5])
    grads = []
    for table in m.tables:
        values = tf.ones([6, *table.shape[1:]])
        grads.append(tf.IndexedSlices(values, rows, tf.shape(table, out_type=tf.int64)) if sparse
                     else tf.math.unsorted_segment_sum(values, rows, table.shape[0]))
    kept = m.without_frozen(grads)
    assert len(kept) == 3
    for g, below, table in zip(kept, (3, 2, 2), m.tables, strict=True):
        dense = tf.math.unsorted_segment_sum(g.values, g.indices, table.shape[0]) if sparse else g
        assert dense.shape == table.shape
        per_row = tf.reshape(dense, [table.shape[0], -1])[:, 0].numpy()
        want = np.zeros(table.shape[0])
        want[[r for r in (0, 2, 3, 4, 1, 5) if r >= below]] = 1
        np.testing.assert_array_equal(per_row, want)
        if sparse:
            assert g.dense_shape.numpy().tolist() == list(table.shape)
    m.frozen = (0, 0)
    assert m.without_frozen(grads) is grads


def test_a_replica_gets_its_rows_of_the_whole_batch_negatives():
    """Two halves of a batch, each with its offset, see the negatives the whole batch sees."""
    m = model(loss="neg")
    m.output_weights.assign(tf.random.normal([V, D], seed=1))
    whole = batch()
    full = m.loss(whole, step=5).numpy()
    halves = [m.loss({k: v[i:i + B // 2] for k, v in whole.items()}, step=5, offset=i, rows=B).numpy()
              for i in (0, B // 2)]
    np.testing.assert_allclose(np.concatenate(halves), full, rtol=1e-6)
    assert not np.allclose(m.loss(whole, step=6).numpy(), full)


def test_same_seed_same_initial_vectors():
    assert (model().embedding.numpy() == model().embedding.numpy()).all()



@pytest.mark.parametrize("with_subwords", [False, True])
def test_the_first_words_vectors_are_the_head_of_all(with_subwords):
    """The projector asks for the most frequent words' vectors alone (only their rows are copied)."""
    if with_subwords:
        sets = ["model.subwords=true", "model.buckets=100", f"model.embedding_dim={D}", "model.num_sampled=5"]
        config = config_lib.resolve(config_lib.apply_overrides(config_lib.Config(), sets)).model
        table = subwords.table([f"w{i:02d}x" for i in range(V)], subwords.settings(config))
        m = Word2Vec(V, config, np.full(V, 1 / V), seed=3, subword_table=table)
    else:
        m = model()
    m.embedding.assign(tf.random.stateless_normal(m.embedding.shape, seed=[5, 6]))
    every = m.word_vectors()
    assert every.shape == (V, D)
    np.testing.assert_array_equal(m.word_vectors(7), every[:7])
    if with_subwords:  # a word's vector is the mean of its rows, not its own row
        assert not np.allclose(every, m.embedding.numpy()[:V])


def test_alias_table_draws_the_noise_distribution():
    probs = np.random.default_rng(1).dirichlet(np.full(200, 0.3))
    accept, alias = alias_table(probs)
    # Each column gives its id with accept/n and its alias with (1 - accept)/n: together, probs.
    recovered = np.bincount(np.arange(200), accept / 200, 200) + np.bincount(alias, (1 - accept) / 200, 200)
    np.testing.assert_allclose(recovered, probs, atol=1e-6)
    m = model()
    counts = np.bincount(m.draw_noise([200000], 0).numpy(), minlength=V) / 200000
    np.testing.assert_allclose(counts, m.noise_probs.numpy(), atol=0.005)


def test_the_initial_tables_are_the_seeded_draw_made_in_place():
    from w2v.model import uniform

    m = model()
    expected = tf.random.stateless_uniform([V, D], seed=[3, 0], minval=-1.0 / D, maxval=1.0 / D)
    np.testing.assert_array_equal(m.embedding.numpy(), expected.numpy())  # the values runs have always started from
    np.testing.assert_array_equal(uniform([7, 37], [5, 1], -0.5, 2.0).numpy(),
                                  tf.random.stateless_uniform([7, 37], seed=[5, 1], minval=-0.5, maxval=2.0).numpy())
    assert not m.output_weights.numpy().any()


INIT_MEMORY = """
import re, numpy as np
from w2v import quiet
tf = quiet.tensorflow()
from w2v import config as config_lib
from w2v.model import Word2Vec
peak = lambda: int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) >> 10
cfg = config_lib.resolve(config_lib.apply_overrides(config_lib.Config(), ["model.embedding_dim=256"])).model
words = 256 << 10
noise = np.full(words, 1.0 / words)
tf.zeros([1]) + 1  # the runtime's own start-up first
before = peak()
model = Word2Vec(words, cfg, noise, 0)
print(peak() - before)
"""


def test_the_tables_take_their_memory_once_while_they_are_made():
    """Two 256 MB tables: an eager draw, its scaled copies and the variables' copies of them took 4 times that."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", INIT_MEMORY], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 2 * 256 * 1.2, done.stdout


def test_the_alias_table_draws_the_distribution_exactly_from_weights_of_any_sum():
    weights = np.array([20.0, 10.0, 1.0, 1.0, 3.0, 0.5])
    accept, alias = alias_table(weights)
    n = len(weights)
    drawn = accept / n  # column i keeps i with probability accept[i], else gives alias[i]
    np.add.at(drawn, alias, (1 - accept) / n)
    np.testing.assert_allclose(drawn, weights / weights.sum(), rtol=1e-6)
