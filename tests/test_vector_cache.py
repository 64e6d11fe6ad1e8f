import json
import mmap

import numpy as np
import tensorflow as tf

import w2v
from tests.conftest import imported_packages, small_config
from w2v import runs, state, trainer, vector_cache
from w2v.vectors import unit_rows


def write_checkpoint(prefix, table, step):
    """A checkpoint holding what state.read_embedding reads, as a run's would."""
    model = tf.train.Checkpoint(embedding=tf.Variable(table))
    return tf.train.Checkpoint(model=model, step=tf.Variable(step, dtype=tf.int64)).write(str(prefix))


def mapped(array):
    """Whether an array's memory is a read-only mapping of a file (not a copy in the process's own memory)."""
    while array is not None and not isinstance(array, mmap.mmap):
        array = array.obj if isinstance(array, memoryview) else getattr(array, "base", None)
    return array is not None


def test_an_entry_gives_back_the_checkpoint_table(tmp_path):
    table = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    path = write_checkpoint(tmp_path / "ckpt-7", table, 7)
    assert vector_cache.load(path) is None
    step, read = runs.embedding_table(path)
    assert step == 7 and np.array_equal(read, table)
    step, cached = vector_cache.load(path)
    assert step == 7 and np.array_equal(cached, table) and mapped(cached) and not cached.flags.writeable


def test_an_entry_points_into_the_checkpoint_that_holds_its_table(tmp_path):
    """A table of more than a few kilobytes is read from the checkpoint's own data file: no copy is written."""
    table = np.random.default_rng(3).normal(size=(3000, 7)).astype(np.float32)
    path = write_checkpoint(tmp_path / "ckpt-9", table, 9)
    vector_cache.store(path, 9, table)
    assert not (tmp_path / vector_cache.DIR / "ckpt-9.npy").exists()
    step, read = vector_cache.load(path)
    assert step == 9 and np.array_equal(read, table) and mapped(read) and not read.flags.writeable
    about = json.loads((tmp_path / vector_cache.DIR / "ckpt-9.json").read_text())
    assert about["table"]["file"] == "ckpt-9.data-00000-of-00001"
    # Told another table than the checkpoint's, nothing points into it: a copy of what it was given is kept.
    other = table.copy()
    other[-1, -1] += 1
    vector_cache.store(path, 9, other)
    assert "table" not in json.loads((tmp_path / vector_cache.DIR / "ckpt-9.json").read_text())
    assert np.array_equal(vector_cache.load(path)[1], other)
    vector_cache.store(path, 9, table)
    assert not (tmp_path / vector_cache.DIR / "ckpt-9.npy").exists()


def test_the_unit_vectors_are_kept_on_first_use_and_mapped_after(tmp_path):
    table = np.random.default_rng(1).normal(size=(40, 6)).astype(np.float32)
    table[3] = 0  # a zero row stays zero
    path = write_checkpoint(tmp_path / "ckpt-3", table, 3)
    assert vector_cache.unit(path, table) is not None and vector_cache.load_unit(path, table.shape) is None  # no entry
    runs.embedding_table(path)
    first = vector_cache.unit(path, table)
    kept = vector_cache.load_unit(path, table.shape)
    assert mapped(first) and mapped(kept) and not kept.flags.writeable
    expected = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-30)
    np.testing.assert_array_equal(kept, unit_rows(table))
    np.testing.assert_allclose(kept, expected, rtol=1e-6)
    assert not kept[3].any() and vector_cache.load_unit(path, (40, 5)) is None
    # Written again under the same name, the checkpoint's old unit vectors are never read.
    write_checkpoint(tmp_path / "ckpt-3", table * 2 + 1, 3)
    assert vector_cache.load_unit(path, table.shape) is None


def test_the_last_checkpoints_unit_vectors_are_written_beside_its_save(planted, tmp_path, monkeypatch):
    """On a thread of their own while the checkpoint is saved, also where it is the run's first."""
    import threading

    writers = []
    write = vector_cache._write_unit
    monkeypatch.setattr(vector_cache, "_write_unit", lambda *args: (writers.append(threading.current_thread()),
                                                                   write(*args)))
    result = trainer.train(small_config(planted, tmp_path, train__epochs=1, checkpoint__every_n_steps=10 ** 6),
                           tmp_path / "run", show_progress=False)
    assert len(writers) == 1 and writers[0] is not threading.main_thread()
    latest = runs.checkpoint_path(result.run_dir)
    assert latest.endswith(f"ckpt-{result.step}")
    np.testing.assert_array_equal(vector_cache.load_unit(latest, (len(runs.load_vocab(result.run_dir)), 16)),
                                  unit_rows(state.read(latest).embedding))


def test_unit_rows_a_block_at_a_time_are_the_whole_tables(monkeypatch):
    table = np.random.default_rng(2).normal(size=(1000, 7)).astype(np.float32)
    whole = unit_rows(table)
    monkeypatch.setattr(w2v.vectors, "BLOCK_BYTES", 64 * 7 * 4 + 5)
    np.testing.assert_array_equal(unit_rows(table), whole)


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
    # The unit vectors that queries read were written with the tables at the end of each session, never stale.
    assert about["unit"] == list(latest.embedding.shape)
    queried = w2v.load(first.run_dir).queries.unit
    assert mapped(queried)
    np.testing.assert_array_equal(queried, unit_rows(latest.embedding))
