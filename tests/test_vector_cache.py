import json

import numpy as np
import tensorflow as tf

from tests.conftest import imported_packages, small_config
from w2v import runs, state, trainer, vector_cache


def write_checkpoint(prefix, table, step):
    """A checkpoint holding what state.read_embedding reads, as a run's would."""
    model = tf.train.Checkpoint(embedding=tf.Variable(table))
    return tf.train.Checkpoint(model=model, step=tf.Variable(step, dtype=tf.int64)).write(str(prefix))


def test_an_entry_gives_back_the_checkpoint_table(tmp_path):
    table = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    path = write_checkpoint(tmp_path / "ckpt-7", table, 7)
    assert vector_cache.load(path) is None
    step, read = runs.embedding_table(path)
    assert step == 7 and np.array_equal(read, table)
    step, cached = vector_cache.load(path)
    assert step == 7 and np.array_equal(cached, table) and isinstance(cached, np.memmap)


def test_a_checkpoint_written_again_under_the_same_name_is_read_anew(tmp_path):
    first = np.zeros((20, 4), np.float32)
    path = write_checkpoint(tmp_path / "ckpt-5", first, 5)
    runs.embedding_table(path)
    second = np.ones((20, 4), np.float32)
    assert write_checkpoint(tmp_path / "ckpt-5", second, 5) == path
    assert vector_cache.load(path) is None
    step, read = runs.embedding_table(path)
    assert np.array_equal(read, second)
    assert np.array_equal(vector_cache.load(path)[1], second)


def test_a_torn_entry_is_not_used(tmp_path):
    table = np.arange(12, dtype=np.float32).reshape(6, 2)
    path = write_checkpoint(tmp_path / "ckpt-1", table, 1)
    runs.embedding_table(path)
    npy = tmp_path / vector_cache.DIR / "ckpt-1.npy"
    npy.write_bytes(npy.read_bytes()[:-8])
    assert vector_cache.load(path) is None
    assert np.array_equal(runs.embedding_table(path)[1], table)


def test_entries_of_checkpoints_that_are_gone_are_dropped(tmp_path):
    old = write_checkpoint(tmp_path / "ckpt-1", np.zeros((3, 2), np.float32), 1)
    runs.embedding_table(old)
    for f in tmp_path.glob("ckpt-1.*"):
        f.unlink()
    new = write_checkpoint(tmp_path / "ckpt-2", np.ones((3, 2), np.float32), 2)
    runs.embedding_table(new)
    assert sorted(p.name for p in (tmp_path / vector_cache.DIR).iterdir()) == ["ckpt-2.json", "ckpt-2.npy"]


def test_the_state_file_is_read_as_tensorflow_reads_it(tmp_path):
    directory = tmp_path / 'check "points" é'  # quoted and escaped in the state file
    assert runs.latest_checkpoint(directory) is None
    checkpoint = tf.train.Checkpoint(v=tf.Variable(1.0))
    manager = tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=2)
    for n in (10, 20, 30):
        manager.save(checkpoint_number=n)
        assert runs.latest_checkpoint(directory) == tf.train.latest_checkpoint(str(directory))
    assert runs.latest_checkpoint(directory).endswith("ckpt-30")
    # An absolute path, as older TensorFlow wrote; one whose files are gone is no checkpoint.
    tf.compat.v1.train.update_checkpoint_state(str(directory), str(directory / "ckpt-20"))
    assert runs.latest_checkpoint(directory) == tf.train.latest_checkpoint(str(directory)) == str(directory /
                                                                                                  "ckpt-20")
    for f in directory.glob("ckpt-20.*"):
        f.unlink()
    assert runs.latest_checkpoint(directory) is None is tf.train.latest_checkpoint(str(directory))


def vectors_seen_by_the_cli(run_dir, tmp_path):
    """The vectors `w2v export --format npy` writes, in a process that must not import TensorFlow."""
    out = tmp_path / "v.npy"
    code, imported = imported_packages("export", run_dir, "--format", "npy", "-o", out)
    assert code == 0
    return np.load(out), imported


def test_a_finished_run_is_read_without_tensorflow_and_a_resume_never_sees_stale_vectors(planted, tmp_path):
    cfg = small_config(planted, tmp_path, train__epochs=1)
    first = trainer.train(cfg, tmp_path / "run", show_progress=False)
    vectors, imported = vectors_seen_by_the_cli(first.run_dir, tmp_path)
    assert "tensorflow" not in imported and "w2v" in imported
    assert np.array_equal(vectors, state.read(runs.checkpoint_path(first.run_dir)).embedding)

    extended = trainer.resume(first.run_dir, ["train.epochs=2"], show_progress=False)
    assert extended.step > first.step
    vectors, imported = vectors_seen_by_the_cli(first.run_dir, tmp_path)
    latest = state.read(runs.checkpoint_path(first.run_dir))
    assert latest.step == extended.step and "tensorflow" not in imported
    assert np.array_equal(vectors, latest.embedding)
    about = json.loads((runs.checkpoint_dir(first.run_dir) / vector_cache.DIR /
                        f"ckpt-{extended.step}.json").read_text())
    assert about["step"] == extended.step
