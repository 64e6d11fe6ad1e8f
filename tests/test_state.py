"""The training state and its checkpoint format: key names defined once, read back without a model,
and runs written by the previous release still readable and resumable."""

import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf
import yaml
from click.testing import CliRunner

from tests.conftest import planted_corpus, scalars, small_config
from w2v import meta, runs, state, trainer
from w2v.cli import cli

PREVIOUS = Path(__file__).parent / "data" / "previous_run"


def previous_run(tmp_path: Path) -> Path:
    """A copy of a run the previous release (commit bc65675) trained to step 20 of 40 on a planted corpus
    (nce, tf kernel, its data iterator in the checkpoint), pointed at the same corpus made again here."""
    run = tmp_path / "runs" / "previous"
    shutil.copytree(PREVIOUS, run)
    raw = yaml.safe_load((run / runs.CONFIG).read_text())
    raw["data"]["corpus"] = str(planted_corpus(tmp_path / "planted.txt", sentences=600))
    raw["data"]["cache_dir"] = str(tmp_path / "cache")
    raw["run"]["output_dir"] = str(tmp_path / "runs")
    (run / runs.CONFIG).write_text(yaml.safe_dump(raw, sort_keys=False))
    return run


def test_a_run_of_the_previous_release_evaluates_exports_and_resumes(tmp_path):
    run = previous_run(tmp_path)
    vocab, vectors, step = runs.load_embedding(run)
    assert step == 20 and vectors.shape == (len(vocab), 8)
    result = CliRunner().invoke(cli, ["eval", str(run), "--json"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["export", str(run), "--format", "tsv", "-o", str(tmp_path / "v.tsv")])
    assert result.exit_code == 0 and len((tmp_path / "v.tsv").read_text().splitlines()) == len(vocab)
    done = trainer.resume(run, show_progress=False)
    assert done.step == 40 and meta.read(run)["status"] == "completed" and len(meta.read(run)["sessions"]) == 2
    # It went on from step 20 (its tables, counters and data position), not from the start.
    assert [step for step, _ in scalars(run)] == [10, 20, 30, 40]
    _, after, _ = runs.load_embedding(run)
    assert 0 < np.abs(after - vectors).max() < 0.5 * np.abs(vectors).max()


def test_checkpoint_keys_are_the_format(tmp_path, planted):
    result = trainer.train(small_config(planted, tmp_path, train__steps=10, model__loss="neg"), tmp_path / "run",
                           show_progress=False)
    path = runs.checkpoint_path(result.run_dir)
    names = dict(tf.train.list_variables(path))
    assert {state.EMBEDDING, state.OUTPUT_WEIGHTS, state.OUTPUT_BIASES, state.STEP, state.EXAMPLES} <= set(names)
    assert state.holds_iterator(path)  # one device: the tf.data iterator is saved
    saved = state.read(path)
    assert saved.step == 10 and saved.embedding.shape == saved.output_weights.shape == tuple(names[state.EMBEDDING])


def test_a_hierarchical_softmax_checkpoint_holds_its_tree(tmp_path):
    from w2v import huffman

    cfg = small_config(planted_corpus(tmp_path / "planted.txt", sentences=300), tmp_path, model__loss="hs",
                       train__steps=10)
    result = trainer.train(cfg, tmp_path / "run", show_progress=False)
    reader = tf.train.load_checkpoint(runs.checkpoint_path(result.run_dir))
    paths, codes = huffman.tree(runs.load_vocab(result.run_dir).counts)
    np.testing.assert_array_equal(reader.get_tensor(state.key("model", "tree_paths")), paths)
    np.testing.assert_array_equal(reader.get_tensor(state.key("model", "tree_codes")), codes)
