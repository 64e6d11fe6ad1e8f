"""The card beside exported vectors names the step they are of, the evaluation that scored them, the corpus and
how to load them."""

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from w2v import config as config_lib
from w2v import evaluate, trainer
from w2v.cli import cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """configs/tiny.yaml for 50 steps, evaluated at 20, 40 and its end (50), checkpoints every 10."""
    out = tmp_path_factory.mktemp("card")
    cfg = config_lib.load(ROOT / "configs" / "tiny.yaml", ["train.steps=50", "eval.every_n_steps=20",
                                                           "checkpoint.every_n_steps=10",
                                                           "checkpoint.max_to_keep=10"])
    return trainer.train(cfg, out / "run", show_progress=False).run_dir


def export(run_dir, output, *extra):
    result = CliRunner().invoke(cli, ["export", str(run_dir), "-o", str(output), *extra])
    assert result.exit_code == 0, result.output
    return result


def test_the_card_names_the_step_and_its_scores(evaluated, tmp_path):
    result = export(evaluated, tmp_path / "v.txt", "--checkpoint", str(evaluated / "checkpoints" / "ckpt-20"))
    assert f"wrote {tmp_path / 'v.txt.card.json'}" in result.output
    card = json.loads((tmp_path / "v.txt.card.json").read_text())
    assert card["run"]["step"] == 20 and card["run"]["checkpoint"] == "ckpt-20"
    scores = evaluate.reports(evaluated)[20]
    assert card["evaluation"] == {"step": 20, "of_these_vectors": True, "metrics": scores}
    assert card["vectors"] == {"format": "word2vec", "files": ["v.txt"], "words": card["vocabulary"]["words"],
                               "dimension": 16}
    assert card["config"]["train"]["steps"] == 50 and card["corpus"]["spec"] == "gensim:lee"
    assert card["load"] == "from gensim.models import KeyedVectors; vectors = KeyedVectors.load_word2vec_format" \
                           "('v.txt')"
    text = (tmp_path / "v.txt.card.md").read_text()
    assert text.startswith("# run: word vectors at step 20\n")
    assert f"- simlex999/spearman: {evaluate.shown('spearman', scores['eval/simlex999/spearman'])}" in text
    assert "latest before" not in text


def test_vectors_newer_than_the_last_evaluation_say_so(evaluated, tmp_path):
    export(evaluated, tmp_path / "v.npy", "--format", "npy", "--checkpoint", str(evaluated / "checkpoints" / "ckpt-30"))
    card = json.loads((tmp_path / "v.npy.card.json").read_text())
    assert card["run"]["step"] == 30
    assert card["evaluation"] == {"step": 20, "of_these_vectors": False, "metrics": evaluate.reports(evaluated)[20]}
    assert card["vectors"]["files"] == ["v.npy", "v.vocab.tsv"] and "np.load('v.npy')" in card["load"]
    text = (tmp_path / "v.npy.card.md").read_text()
    assert "The latest before these vectors, at step 20:" in text
    assert "- wordsim353/spearman: " in text


def test_the_card_fingerprints_the_corpus_cache(evaluated, tmp_path):
    export(evaluated, tmp_path / "v.txt")
    cache = json.loads((tmp_path / "v.txt.card.json").read_text())["corpus"]["cache"]
    directory = Path.home() / ".cache" / "w2v" / "encoded" / cache["cache_key"]
    index = json.loads((directory / "index.json").read_text())
    digest = hashlib.sha256(b"".join((directory / f"shard-{i:05d}.i32").read_bytes()
                                     for i in range(len(index["shard_sizes"])))).hexdigest()
    assert cache["sha256"] == digest and cache["tokens"] > 50000
    assert cache["sha256"] in (tmp_path / "v.txt.card.md").read_text()


def test_a_python_trained_extended_subword_runs_card_names_every_call_and_file(tmp_path):
    """A run trained from Python records the call (not `-`), an extended run's card lists every session's
    command, and a subword run's word2vec export lists the n-gram files written beside it."""
    import w2v

    config = str(ROOT / "configs" / "tiny.yaml")
    sets = ["train.steps=20", "model.subwords=true", "model.buckets=1000"]
    run_dir = w2v.train(config, overrides=sets, run_dir=tmp_path / "sub").run_dir
    w2v.resume(run_dir, overrides=["train.steps=30"])
    export(run_dir, tmp_path / "v.txt")
    card = json.loads((tmp_path / "v.txt.card.json").read_text())
    assert card["run"]["commands"] == [f"w2v.train({config!r}, overrides={sets!r}, run_dir={str(run_dir)!r})",
                                       f"w2v.resume({str(run_dir)!r}, overrides=['train.steps=30'])"]
    assert card["vectors"]["files"] == ["v.txt", "v.txt.ngrams.npy", "v.txt.ngrams.json"]
    assert all((tmp_path / name).exists() for name in card["vectors"]["files"])
    text = (tmp_path / "v.txt.card.md").read_text()
    assert f"- commands, one a session: `w2v.train({config!r}" in text and "; then `w2v.resume(" in text
