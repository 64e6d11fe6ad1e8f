"""The fused engine (w2v/fused_op.cc): the same arithmetic as a numpy word2vec that trains a window at a
time, the same result whatever the number of threads, exact resume, and a clear choice between it and
the TensorFlow step."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import scalars, small_config
from w2v import config as config_lib
from w2v import fused, huffman, loop, meta, runs, steps, trainer
from w2v.errors import W2VError
from w2v.model import alias_table

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(z: np.ndarray) -> np.ndarray:
    z = z + GOLDEN
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def noise(seed, step, draws, accept, alias):
    """The op's draws, written again: draw n of the (seed, step) stream is the alias column of the
    hash's high half, or its alias when the low half (a uniform) is at or above accept."""
    with np.errstate(over="ignore"):
        stream = splitmix64(splitmix64(np.array([seed], np.uint64)) ^ np.uint64(step))
        h = splitmix64(stream + np.asarray(draws, dtype=np.uint64) * GOLDEN)
    column = ((h >> np.uint64(32)) * np.uint64(len(accept)) >> np.uint64(32)).astype(np.int64)
    u = (h & np.uint64(0xFFFFFFFF)).astype(np.float64) * 2.0**-32
    return np.where(u < accept[column], column, alias[column])


def windows_of(targets, window_ids, cbow):
    """(first example, count) of each window: runs of equal ids for skip-gram, one example for CBOW."""
    if cbow:
        return [(b, 1) for b in range(len(targets))]
    starts = [0] + [b for b in range(1, len(targets)) if window_ids[b] != window_ids[b - 1]]
    return [(s, e - s) for s, e in zip(starts, starts[1:] + [len(targets)], strict=True)]


def reference(tables, rows, mask, targets, window_ids, k, key, noise_table, lr, group, correction=None, tree=None,
              frozen=(0, 0), subs=None):
    """word2vec a window at a time, in numpy. A window's outputs are its centre word and k noise words
    drawn for it (draws first*k .. first*k+k-1; one equal to the centre dropped, a repeat counted twice),
    or with a ``tree`` (paths, codes: hs) the nodes on the centre word's path, labelled 1 - code; its
    inputs are its context rows (skip-gram), or their mean (CBOW, each context row then taking the
    whole input gradient). Windows go in groups: each is scored against the tables as its group found
    them, then the group's updates are added in window order. A logit beyond +-6 moves nothing (gensim's
    rule) but its loss counts. With ``correction`` (nce), biases are trained and logits are
    v.u + b - log(k q). Rows below ``frozen`` (input, output) are never updated. With ``subs`` (CSR offsets and
    ids: subwords) a word's input is the mean of its rows, each of which takes the whole gradient."""
    expand = (lambda word: list(subs[1][subs[0][word]:subs[0][word + 1]])) if subs else (lambda word: [word])
    emb, out, bias = (t.copy() for t in tables)
    cbow = rows.ndim == 2
    losses = np.zeros(len(targets))
    spans = windows_of(targets, window_ids, cbow)
    softplus = lambda x: np.logaddexp(0, x)  # noqa: E731
    for start in range(0, len(spans), group):
        updates = []
        for first, count in spans[start:start + group]:
            target = targets[first]
            ids, counts = [target], [1]
            labels = [1.0]
            if tree is not None:
                path, code = tree[0][target], tree[1][target]
                ids, counts, labels = list(path[path >= 0]), [1] * int((path >= 0).sum()), list(1.0 - code[path >= 0])
            for drawn in noise(key[0], key[1], range(first * k, first * k + k), *noise_table) if tree is None else []:
                if drawn == target:
                    continue
                if drawn in ids:
                    counts[ids.index(drawn)] += 1
                else:
                    ids.append(int(drawn))
                    counts.append(1)
                    labels.append(0.0)
            if cbow:
                inputs = [[r for word in rows[first][mask[first] > 0] for r in expand(word)]]
            else:
                inputs = [expand(rows[e]) for e in range(first, first + count)]
            x = np.stack([emb[rs].mean(axis=0) for rs in inputs])
            logits = x @ out[ids].T
            if correction is not None:
                logits += bias[ids] - correction[ids]
            labels = np.array(labels)
            c = np.array(counts, dtype=float)
            loss = (c * np.where(labels > 0, softplus(-logits), softplus(logits))).sum(axis=1)
            losses[first:first + len(loss)] = loss
            g = c * (labels - 1 / (1 + np.exp(-logits))) * lr * (np.abs(logits) < 6)
            updates.append((ids, inputs, g.T @ x, g @ out[ids], g.sum(axis=0)))
        for ids, inputs, dy, dx, db in updates:
            for i, row in enumerate(ids):
                if row >= frozen[1]:
                    out[row] += dy[i]
                    bias[row] += db[i] if correction is not None else 0.0
            for h, context in enumerate(inputs):
                for row in context:
                    if row >= frozen[0]:
                        emb[row] += dx[h]
    return (emb, out, bias), losses


V, D = 40, 16


def case(cbow, seed=0, batch=300):
    """Random tables and a batch: skip-gram pairs in windows of 1-6, or CBOW examples of up to 6
    context slots, some masked."""
    rng = np.random.default_rng(seed)
    tables = (rng.normal(0, 0.3, (V, D)).astype(np.float32), rng.normal(0, 0.3, (V, D)).astype(np.float32),
              rng.normal(0, 0.1, V).astype(np.float32))
    targets = rng.integers(0, V, batch).astype(np.int32)
    if cbow:
        rows = rng.integers(0, V, (batch, 6)).astype(np.int32)
        mask = (rng.random((batch, 6)) < 0.7).astype(np.float32)
        mask[:, 0] = 1
        return tables, rows, mask, targets, np.zeros(batch, np.int64)
    window_ids = np.repeat(np.arange(batch), rng.integers(1, 7, batch))[:batch].astype(np.int64)
    targets = targets[window_ids]  # a window's pairs share their centre word
    return tables, rng.integers(0, V, batch).astype(np.int32), np.zeros(0, np.float32), targets, window_ids


# A peaked noise distribution, so some noise words equal the centre word or repeat within a window.
NOISE = alias_table(np.array([20.0, 10.0] + [1.0] * (V - 2)))


NO_TREE = (np.zeros(0, np.int32), np.zeros(0, np.int32))


def run_op(tables, rows, mask, targets, window_ids, k, key, lr, threads, hogwild, group, correction=None, tree=None,
           frozen=(0, 0), subs=None):
    variables = [tf.Variable(t) for t in tables]
    loss = fused.load().w2v_train(*(v.handle for v in variables), rows, mask, targets, window_ids, NOISE[0],
                                  NOISE[1], np.zeros(0, np.float32) if correction is None else correction,
                                  *(NO_TREE if tree is None else tree), np.array(frozen, np.int32),
                                  *(NO_TREE if subs is None else subs), key,
                                  np.float32(lr), negatives=0 if tree else k, threads=threads, hogwild=hogwild,
                                  group=group)
    return [v.numpy() for v in variables], loss.numpy()


def test_the_noise_stream_draws_the_noise_distribution():
    probs = np.random.default_rng(0).zipf(1.5, 40).astype(float)
    probs /= probs.sum()
    accept, alias = alias_table(probs)
    drawn = noise(3, 11, range(1_000_000), accept, alias)
    np.testing.assert_allclose(np.bincount(drawn, minlength=40) / drawn.size, probs, atol=2e-3)
    assert not np.array_equal(drawn[:100], noise(3, 12, range(100), accept, alias))  # each step draws anew


# A Huffman tree of the test vocabulary, with paths of several lengths (frequent words: short ones).
TREE = huffman.tree(np.array([20, 10] + [1] * (V - 2)))


@pytest.mark.parametrize("cbow", [False, True], ids=["skipgram", "cbow"])
@pytest.mark.parametrize("loss", ["neg", "nce", "hs"])
@pytest.mark.parametrize("key", [(5, 9), (1, 123456)])
@pytest.mark.parametrize("group", [1, 7])
@pytest.mark.parametrize("frozen", [(0, 0), (10, 4)], ids=["all", "frozen"])
def test_the_op_trains_like_the_numpy_reference(cbow, loss, key, group, frozen):
    tables, rows, mask, targets, window_ids = case(cbow, seed=key[1])
    # A pair scored far beyond +-6: wrong, and too far to learn from. Its output row is the centre word's
    # (label 1), or for hs the root (label 1 - code).
    tables[0][rows[0] if not cbow else rows[0][mask[0] > 0]] = 2.0
    if loss == "hs":
        root, code = TREE[0][targets[0]][0], TREE[1][targets[0]][0]
        tables[1][root] = 2.0 if code else -2.0
    else:
        tables[1][targets[0]] = -2.0
    correction = np.random.default_rng(1).normal(0, 1, V).astype(np.float32) if loss == "nce" else None
    tree = TREE if loss == "hs" else None
    k = 4
    want, want_loss = reference(tables, rows, mask, targets, window_ids, k, key, NOISE, 0.1, group, correction, tree,
                                frozen)
    # Deterministic mode with any number of threads, and Hogwild on one thread (a group of one window).
    got, got_loss = run_op(tables, rows, mask, targets, window_ids, k, key, 0.1, 3, False, group, correction, tree,
                           frozen)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-4)
    assert want_loss.max() > 16  # the far pair's loss counts
    np.testing.assert_array_equal(got[0][:frozen[0]], tables[0][:frozen[0]])
    np.testing.assert_array_equal(got[1][:frozen[1]], tables[1][:frozen[1]])
    assert not np.array_equal(got[0][frozen[0]:], tables[0][frozen[0]:])
    if group == 1:
        hogwild, _ = run_op(tables, rows, mask, targets, window_ids, k, key, 0.1, 1, True, 1, correction, tree, frozen)
        for a, b in zip(hogwild, got, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cbow", [False, True], ids=["skipgram", "cbow"])
@pytest.mark.parametrize("loss", ["neg", "hs"])
@pytest.mark.parametrize("group", [1, 7])
def test_subword_inputs_train_like_the_numpy_reference(cbow, loss, group):
    from w2v import subwords

    tables, rows, mask, targets, window_ids = case(cbow, seed=3)
    words = [f"w{i}{'ab' * (i % 4)}" for i in range(V)]
    buckets = 25
    subs = subwords.table(words, subwords.Settings(2, 4, buckets))
    tables = (np.concatenate([tables[0], np.random.default_rng(4).normal(0, 0.3, (buckets, D)).astype(np.float32)]),
              *tables[1:])
    tree = TREE if loss == "hs" else None
    want, want_loss = reference(tables, rows, mask, targets, window_ids, 4, (5, 9), NOISE, 0.1, group, tree=tree,
                                subs=subs)
    got, got_loss = run_op(tables, rows, mask, targets, window_ids, 4, (5, 9), 0.1, 3, False, group, tree=tree,
                           subs=subs)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-4)
    assert not np.array_equal(got[0][V:], tables[0][V:])  # the n-gram rows trained


@pytest.mark.parametrize("cbow", [False, True], ids=["skipgram", "cbow"])
def test_the_deterministic_mode_gives_the_same_bits_whatever_the_threads(cbow):
    tables, rows, mask, targets, window_ids = case(cbow, batch=5000)
    results = [run_op(tables, rows, mask, targets, window_ids, 5, (2, 3), 0.05, threads, False, 64)
               for threads in (1, 2, 5)]
    for other in results[1:]:
        for a, b in zip(other[0] + [other[1]], results[0][0] + [results[0][1]], strict=True):
            np.testing.assert_array_equal(a, b)


def wide_results(path: str) -> None:
    """Skip-gram neg and CBOW nce at dimension 100 (the engine's blocks of 64, 16 and 8 floats, and a tail),
    deterministic on two threads and Hogwild on one, saved to ``path``."""
    out = {}
    for cbow in (False, True):
        _, rows, mask, targets, window_ids = case(cbow, seed=7, batch=2000)
        rng = np.random.default_rng(8)
        tables = tuple(rng.normal(0, 0.3, shape).astype(np.float32) for shape in ((V, 100), (V, 100), (V,)))
        correction = rng.normal(0, 1, V).astype(np.float32) if cbow else None
        for hogwild in (False, True):
            got, loss = run_op(tables, rows, mask, targets, window_ids, 5, (3, 4), 0.05, 1 if hogwild else 2,
                               hogwild, 16, correction)
            out.update({f"{cbow}-{hogwild}-{i}": a for i, a in enumerate([*got, loss])})
    np.savez(path, **out)


def test_every_instruction_set_gives_the_same_bits(tmp_path):
    """An engine built without this CPU's best instruction set (W2V_ENGINE_ISA) trains the same bits."""
    lower = "avx2" if fused.isa() == "avx512" else "baseline"
    wide_results(str(tmp_path / "best.npz"))
    done = subprocess.run([sys.executable, "-c", f"from tests.test_fused import wide_results; "
                           f"wide_results({str(tmp_path / 'lower.npz')!r})"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, fused.ISA_VARIABLE: lower})
    assert done.returncode == 0, done.stderr[-2000:]
    best, other = np.load(tmp_path / "best.npz"), np.load(tmp_path / "lower.npz")
    assert sorted(best) == sorted(other) and len(best) == 16
    for name in best:
        np.testing.assert_array_equal(best[name], other[name], err_msg=f"{name} ({fused.isa()} against {lower})")


def test_an_unknown_instruction_set_is_one_line(monkeypatch):
    monkeypatch.setenv(fused.ISA_VARIABLE, "sse9")
    with pytest.raises(W2VError, match="^environment variable W2V_ENGINE_ISA: 'sse9' is not one of avx512, avx2, "
                                       "baseline$"):
        fused.isa()


def test_the_op_refuses_ids_out_of_range_and_leaves_earlier_reads_alone():
    tables, rows, mask, targets, window_ids = case(False)
    emb = tf.Variable(tables[0])
    snapshot = tf.convert_to_tensor(emb)  # a read taken before the step must not change
    out, bias = tf.Variable(tables[1]), tf.Variable(tables[2])
    args = (NOISE[0], NOISE[1], np.zeros(0, np.float32), *NO_TREE, (0, 0), *NO_TREE, (1, 2), np.float32(0.1))
    fused.load().w2v_train(emb.handle, out.handle, bias.handle, rows, mask, targets, window_ids, *args, negatives=3)
    np.testing.assert_array_equal(snapshot.numpy(), tables[0])
    assert not np.array_equal(emb.numpy(), tables[0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="id out of range"):
        fused.load().w2v_train(emb.handle, out.handle, bias.handle, [V], mask, [0], [0], *args, negatives=3)


@pytest.mark.parametrize("architecture, loss", [("skipgram", "neg"), ("cbow", "nce"), ("skipgram", "hs")])
def test_fused_runs_resume_bit_identical_and_do_not_depend_on_threads(tmp_path, planted, architecture, loss):
    cfg = small_config(planted, tmp_path, model__loss=loss, model__architecture=architecture, train__kernel="fused",
                       train__steps=60, train__threads=2)
    whole = trainer.train(cfg, tmp_path / "whole", show_progress=False)
    trainer.train(cfg, tmp_path / "parts", show_progress=False, stop_at=20)
    resumed = trainer.resume(tmp_path / "parts", ["train.threads=1"], show_progress=False)
    assert whole.step == resumed.step == 60
    assert meta.read(whole.run_dir)["kernel"] == "fused"
    np.testing.assert_array_equal(runs.load_embedding(whole.run_dir)[1], runs.load_embedding(resumed.run_dir)[1])


def test_only_the_fused_kernel_makes_its_examples_with_the_windows_op(tmp_path, planted):
    cfg = config_lib.resolve(small_config(planted, tmp_path), "fused")
    corpus = trainer.load_corpus(cfg)
    runs.create(tmp_path / "run", cfg, corpus.vocab, link_checkpoints=True)
    assert loop.Trainer(cfg, corpus, tmp_path / "run", "fused").feed.native
    assert not loop.Trainer(cfg, corpus, tmp_path / "run", "tf").feed.native


def test_hogwild_trains_too(tmp_path, planted):
    cfg = small_config(planted, tmp_path, model__loss="neg", train__kernel="fused", train__threads=2,
                       train__hogwild=True, train__epochs=1)
    result = trainer.train(cfg, tmp_path / "run", show_progress=False)
    assert result.finished and np.isfinite(result.loss)


def test_fused_is_refused_where_it_cannot_apply_and_auto_falls_back(tmp_path, planted):
    strategy = tf.distribute.get_strategy()
    with pytest.raises(W2VError, match="config key train.kernel: fused cannot train this run: it trains the losses "
                                       "nce, neg, hs"):
        steps.choose(small_config(planted, tmp_path, model__loss="sampled_softmax", train__kernel="fused"), strategy)
    with pytest.raises(W2VError, match="plain sgd without clipping"):
        steps.choose(small_config(planted, tmp_path, train__kernel="fused", train__optimizer="adagrad"), strategy)
    assert steps.choose(small_config(planted, tmp_path, model__loss="softmax"), strategy) == "tf"
    assert steps.choose(small_config(planted, tmp_path, model__loss="nce"), strategy) == "fused"
    assert steps.choose(small_config(planted, tmp_path, model__architecture="cbow"), strategy) == "fused"


def test_a_failed_build_is_one_line_or_a_fallback(tmp_path, planted, monkeypatch, caplog):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CXX", "false")  # a compiler that always fails
    fused.load.cache_clear()
    try:
        cfg = small_config(planted, tmp_path, train__kernel="fused")
        with pytest.raises(W2VError, match="train.kernel fused: building fused_op.cc and windows_op.cc failed"):
            steps.choose(cfg, tf.distribute.get_strategy())
        with caplog.at_level(logging.WARNING):
            assert steps.choose(small_config(planted, tmp_path), tf.distribute.get_strategy()) == "tf"
        assert "training with the next kernel instead" in caplog.text
        assert "building the fused training engine with false" in caplog.text
        assert not list((tmp_path / "cache").rglob("*.so"))
        monkeypatch.setenv("CXX", "no-such-compiler")
        with pytest.raises(W2VError, match=r"no C\+\+ compiler \(no-such-compiler\) to build fused_op.cc and w"):
            steps.choose(cfg, tf.distribute.get_strategy())
    finally:
        fused.load.cache_clear()


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_hs_learns_in_the_deterministic_mode_as_with_hogwild(tmp_path, planted, architecture):
    # Batches of thousands of windows, as the engine's default batch makes: every hs window updates the rows
    # near the root, and a deterministic group adds its windows' updates to them all at once.
    losses = {}
    for hogwild in (False, True):
        cfg = small_config(planted, tmp_path, model__loss="hs", model__architecture=architecture,
                           train__kernel="fused", train__batch_size=16384, train__epochs=8, train__learning_rate=0.05,
                           train__hogwild=hogwild, train__threads=2, summary__scalars_every_n_steps=1)
        trainer.train(cfg, tmp_path / f"run-{hogwild}", show_progress=False)
        losses[hogwild] = [value for _, value in scalars(tmp_path / f"run-{hogwild}")]
    assert losses[False][-1] < 1.02 * losses[True][-1], losses
