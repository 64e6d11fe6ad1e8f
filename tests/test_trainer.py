import re
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import GROUP_SIZE, GROUPS, planted_corpus, scalars, small_config
from w2v import meta, runs, state, trainer
from w2v.errors import W2VError
from w2v.vocab import Vocab

EMBEDDING, WEIGHTS = state.EMBEDDING, state.OUTPUT_WEIGHTS


def latest(run_dir, name=EMBEDDING):
    return tf.train.load_checkpoint(str(run_dir / runs.CHECKPOINTS)).get_tensor(name)


def scalar_steps(run_dir, tag="loss"):
    return [step for step, _ in scalars(run_dir, tag)]


def scalar_values(run_dir, tag="loss"):
    return [value for _, value in scalars(run_dir, tag)]


# hs's loss is a whole distribution's cross-entropy: it starts at about log V (4.2 nats here) and cannot fall
# below the entropy of a context word given its centre (about 2.5), so it drops less than the sampled losses.
@pytest.mark.parametrize("loss, learning_rate, kernel, drop", [
    ("nce", 0.01, "auto", 0.7), ("neg", 0.05, "tf", 0.7), ("neg", 0.05, "fused", 0.7), ("hs", 0.05, "fused", 0.8),
    ("hs", 0.05, "tf", 0.8)])
def test_training_learns_planted_structure(tmp_path, planted, loss, learning_rate, kernel, drop):
    cfg = small_config(planted, tmp_path, model__loss=loss, train__epochs=6, train__learning_rate=learning_rate,
                       model__embedding_dim=24, train__kernel=kernel)
    run_dir = tmp_path / "run"
    trainer.train(cfg, run_dir, show_progress=False)
    vocab = Vocab.load(run_dir / runs.VOCAB)
    vectors = latest(run_dir)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    hits = 0
    groups = [f"g{g}w{w}" for g in range(GROUPS) for w in range(GROUP_SIZE)]
    for word in groups:
        sims = unit @ unit[vocab.index[word]]
        top = [vocab.words[i] for i in np.argsort(-sims)[1:GROUP_SIZE]]
        hits += all(t.split("w")[0] == word.split("w")[0] for t in top)
    assert hits / len(groups) > 0.9
    losses = scalar_values(run_dir)
    assert losses[-1] < drop * losses[0]


def test_resume_continues_from_the_saved_step_and_matches_an_uninterrupted_run(tmp_path, planted):
    cfg = small_config(planted, tmp_path, train__steps=80)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    trainer.train(cfg, whole, show_progress=False)
    stopped = trainer.train(cfg, parts, show_progress=False, stop_at=30)
    assert stopped.step == 30
    assert tf.train.latest_checkpoint(str(parts / runs.CHECKPOINTS)).endswith("ckpt-30")
    done = trainer.resume(parts, show_progress=False)
    assert done.step == 80
    # The resumed process wrote steps 40..80 only: it did not start again from zero.
    assert scalar_steps(parts) == [1, 10, 20, 30, 40, 50, 60, 70, 80]  # the first point at step 1
    assert np.array_equal(latest(whole), latest(parts))
    assert np.array_equal(latest(whole, WEIGHTS), latest(parts, WEIGHTS))


def test_resume_extends_a_finished_run(tmp_path, planted):
    cfg = small_config(planted, tmp_path, train__epochs=1)
    run_dir = tmp_path / "run"
    first = trainer.train(cfg, run_dir, show_progress=False)
    more = trainer.resume(run_dir, ["train.epochs=2"], show_progress=False)
    assert more.step > first.step
    assert runs.load_config(run_dir).train.epochs == 2


def test_seed_decides_the_vectors(tmp_path, planted):
    results = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        trainer.train(small_config(planted, tmp_path, run__seed=seed, train__steps=30), tmp_path / name,
                      show_progress=False)
        results[name] = latest(tmp_path / name)
    assert np.array_equal(results["a"], results["b"])
    assert not np.allclose(results["a"], results["c"])


@pytest.mark.parametrize("loss, optimizer, architecture, clip", [
    ("sampled_softmax", "adam", "skipgram", "global_norm"),
    ("softmax", "adagrad", "cbow", "value"),
    ("neg", "sgd", "cbow", "norm"),
])
def test_other_losses_optimizers_and_clipping_train(tmp_path, planted, loss, optimizer, architecture, clip):
    cfg = small_config(planted, tmp_path, model__loss=loss, train__optimizer=optimizer, train__clip=clip,
                       model__architecture=architecture, train__steps=60, train__clip_value=1.0,
                       train__learning_rate=0.05 if optimizer != "sgd" else 0.025)
    trainer.train(cfg, tmp_path / "run", show_progress=False)
    losses = scalar_values(tmp_path / "run")
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_resume_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(W2VError, match="not a w2v run"):
        trainer.resume(tmp_path)


def test_resume_refuses_a_changed_corpus(tmp_path, planted):
    cfg = small_config(planted, tmp_path, train__steps=20)
    trainer.train(cfg, tmp_path / "run", show_progress=False)
    planted_corpus(planted, seed=1, sentences=100)
    with pytest.raises(W2VError, match="corpus changed"):
        trainer.resume(tmp_path / "run", ["train.steps=40"])


def test_num_sampled_must_be_below_vocabulary(tmp_path, planted):
    cfg = small_config(planted, tmp_path, model__num_sampled=500)
    with pytest.raises(W2VError, match="model.num_sampled: 500 must be smaller than the vocabulary"):
        trainer.train(cfg, tmp_path / "run", show_progress=False)
    assert not (tmp_path / "run").exists()


def test_periodic_evaluation_writes_reports_and_scalars(tmp_path, planted):
    questions = tmp_path / "q.txt"
    questions.write_text(": planted\ng0w0 g0w1 g1w0 g1w1\ng2w0 g2w1 g3w0 g3w1\n")
    pairs = tmp_path / "p.txt"
    pairs.write_text("g0w0\tg0w1\t9\ng0w0\tg5w1\t1\ng1w0\tg1w2\t8\ng2w0\tfiller1\t2\n")
    cfg = small_config(planted, tmp_path, train__steps=40, eval__every_n_steps=20, eval__analogies=questions,
                       eval__similarity=pairs)
    trainer.train(cfg, tmp_path / "run", show_progress=False)
    assert sorted(p.name for p in (tmp_path / "run" / "eval").iterdir()) == ["step-20.json", "step-40.json"]
    assert scalar_steps(tmp_path / "run", "eval/p/spearman") == [20, 40]
    assert scalar_steps(tmp_path / "run", "eval/q/accuracy") == [20, 40]


def test_missing_evaluation_file_is_refused_before_the_run_starts(tmp_path, planted):
    cfg = small_config(planted, tmp_path, eval__every_n_steps=20, eval__analogies=tmp_path / "nope.txt")
    with pytest.raises(W2VError, match="nope.txt: not found"):
        trainer.train(cfg, tmp_path / "run", show_progress=False)
    assert not (tmp_path / "run").exists()


def test_divergence_stops_the_run_with_advice(tmp_path, planted):
    cfg = small_config(planted, tmp_path, train__steps=200, train__learning_rate=1e6, model__loss="nce",
                       checkpoint__every_n_steps=1, train__kernel="tf")
    with pytest.raises(W2VError, match="training diverged at step (\\d+) .* lower train.learning_rate") as caught:
        trainer.train(cfg, tmp_path / "run", show_progress=False)
    assert meta.read(tmp_path / "run")["status"] == "failed"
    diverged = int(re.search(r"step (\d+)", str(caught.value)).group(1))
    saved = state.read(runs.checkpoint_path(tmp_path / "run"))  # saved every step: one comes before
    assert 0 < saved.step < diverged and np.isfinite(saved.embedding).all()


def test_the_learning_rate_decays_linearly_to_its_floor(tmp_path, planted):
    cfg = small_config(planted, tmp_path, train__steps=40, train__learning_rate=0.2, train__min_learning_rate=0.5,
                       summary__scalars_every_n_steps=5)
    trainer.train(cfg, tmp_path / "run", show_progress=False)
    got = dict(scalars(tmp_path / "run", "learning_rate"))
    # A step's rate comes from the progress before it: step s trains at 0.2 * max(0.5, 1 - (s - 1) / 40).
    want = {s: 0.2 * max(0.5, 1 - (s - 1) / 40) for s in got}
    assert sorted(got) == [1, *range(5, 41, 5)]
    np.testing.assert_allclose([got[s] for s in sorted(got)], [want[s] for s in sorted(got)], rtol=1e-6)


def test_an_extended_run_trains_the_added_epoch_on_the_longer_schedule(tmp_path, planted):
    cfg = small_config(planted, tmp_path, train__epochs=1, summary__scalars_every_n_steps=1, train__kernel="tf")
    run_dir = tmp_path / "run"
    first = trainer.train(cfg, run_dir, show_progress=False)
    more = trainer.resume(run_dir, ["train.epochs=2"], show_progress=False)
    # Its second epoch: as many steps again, from the position where the first ended, at the rates the
    # schedule of two epochs gives there (from about half the initial rate down to the floor).
    # (Each epoch draws its own reduced windows, so its number of pairs, and of steps, varies a little.)
    assert abs(more.step - 2 * first.step) <= 3 and runs.load_config(run_dir).train.epochs == 2
    rates = dict(scalars(run_dir, "learning_rate"))
    initial = runs.load_config(run_dir).train.learning_rate
    assert rates[first.step] < 0.01 * initial  # the first session decayed over one epoch
    assert 0.4 * initial < rates[first.step + 1] <= 0.5 * initial
    assert rates[more.step] < 0.01 * initial


def test_a_run_killed_before_its_first_checkpoint_starts_again_exactly(tmp_path, planted, caplog):
    cfg = small_config(planted, tmp_path, train__steps=30)
    trainer.train(cfg, tmp_path / "whole", show_progress=False)
    trainer.train(cfg, tmp_path / "killed", show_progress=False, stop_at=15)
    for path in runs.checkpoint_dir(tmp_path / "killed").iterdir():  # as if killed before the first save
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    with caplog.at_level("WARNING"):
        assert trainer.resume(tmp_path / "killed", show_progress=False).step == 30
    assert "no checkpoint was saved yet; starting from step 0" in caplog.text
    np.testing.assert_array_equal(latest(tmp_path / "whole"), latest(tmp_path / "killed"))


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="this machine has a GPU")
def test_a_gpu_is_refused_where_there_is_none(tmp_path, planted):
    with pytest.raises(W2VError, match="run.device: gpu requested but TensorFlow sees no GPU"):
        trainer.train(small_config(planted, tmp_path, run__device="gpu"), tmp_path / "run", show_progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("change", ["data.window=4", "data.corpus=other.txt", "train.optimizer=adam",
                                    "train.learning_rate=0.5", "run.seed=9", "model.loss=neg"])
def test_resume_refuses_to_change_what_is_trained(tmp_path, planted, change):
    cfg = small_config(planted, tmp_path, train__steps=10)
    trainer.train(cfg, tmp_path / "run", show_progress=False)
    with pytest.raises(W2VError, match=f"{change.split('=')[0]} cannot change once a run has started"):
        trainer.resume(tmp_path / "run", [change])


def test_each_session_records_where_its_time_went(tmp_path, planted):
    before = time.time()
    result = trainer.train(small_config(planted, tmp_path, train__epochs=1), tmp_path / "run", show_progress=False)
    trainer.resume(result.run_dir, ["train.epochs=2"], show_progress=False)
    sessions = meta.read(result.run_dir)["sessions"]
    assert len(sessions) == 2
    for session in sessions:
        timing = session["time"]
        assert before <= timing["training_started"] <= timing["training_stopped"] <= time.time()
        assert {"checkpointing", "histograms", "scalars", "record"} <= set(timing["periodic_s"])
        assert {"checkpointing", "histograms", "write_projector", "flush"} <= set(timing["at_end_s"])
        assert all(seconds >= 0 for part in ("periodic_s", "at_end_s") for seconds in timing[part].values())
        assert sum(timing["periodic_s"].values()) < timing["training_stopped"] - timing["training_started"]
