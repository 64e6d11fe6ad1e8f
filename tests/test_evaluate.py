import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from gensim.models import KeyedVectors

from w2v import evaluate, export, runs
from w2v.cli import cli
from w2v.errors import W2VError


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_analogy_scoring_on_known_geometry():
    # king - man + woman lands exactly on queen; the question words themselves are excluded.
    words = ["man", "woman", "king", "queen", "apple"]
    vectors = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [0, -1, 0]], dtype=float)
    qs = [evaluate.Question("capital", ("MAN", "WOMAN", "KING", "QUEEN")),
          evaluate.Question("gram1", ("MAN", "KING", "WOMAN", "APPLE")),
          evaluate.Question("gram1", ("MAN", "KING", "WOMAN", "ZEBRA"))]
    r = evaluate.analogies(evaluate.Vectors(words, vectors), qs, restrict=5)
    assert (r.correct, r.total, r.skipped) == (1, 2, 1)
    assert r.part(syntactic=False) == 1.0 and r.part(syntactic=True) == 0.0
    mul = evaluate.analogies(evaluate.Vectors(words, vectors), qs[:1], restrict=5, method="mul")
    assert mul.correct == 1


def test_restrict_limits_the_answers():
    words = ["man", "woman", "king", "queen"]
    vectors = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1]], dtype=float)
    q = [evaluate.Question("s", ("MAN", "WOMAN", "KING", "QUEEN"))]
    assert evaluate.analogies(evaluate.Vectors(words, vectors), q, restrict=3).skipped == 1


def test_agrees_with_gensim_on_the_same_vectors(tiny_run, tmp_path):
    vocab, vectors, _ = runs.load_embedding(tiny_run)
    path = tmp_path / "v.txt"
    export.export(vocab.words, vectors, "word2vec", path, vocab.counts)
    kv = KeyedVectors.load_word2vec_format(str(path))
    ours = evaluate.Vectors(vocab.words, vectors)
    analogy_file, (ws, simlex) = evaluate.default_files()[0][0], evaluate.default_files()[1]
    mine = evaluate.analogies(ours, evaluate.read_analogies(analogy_file), restrict=30000)
    theirs, _sections = kv.evaluate_word_analogies(str(analogy_file), restrict_vocab=30000)
    assert mine.total > 50
    assert abs(mine.accuracy - theirs) <= 1e-6
    for pairs_file in (ws, simlex):
        pearson, spearman, oov = kv.evaluate_word_pairs(str(pairs_file))
        got = evaluate.similarity(ours, evaluate.read_pairs(pairs_file))
        assert abs(got.spearman - spearman.statistic) <= 1e-4
        assert abs(got.pearson - pearson.statistic) <= 1e-4
        assert got.skipped == round(oov / 100 * (got.pairs + got.skipped))


def test_eval_command_writes_json_and_scalars(tiny_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    result = invoke("eval", run_dir, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["step"] == 200
    assert {"eval/questions-words/accuracy", "eval/wordsim353/spearman", "eval/simlex999/spearman"} <= \
        set(report["metrics"])
    saved = json.loads((run_dir / "eval" / "step-200.json").read_text())
    assert saved["metrics"] == report["metrics"]
    assert saved["analogies"][0]["skipped"] > 0
    table = invoke("eval", run_dir, "--method", "mul")
    assert "3CosMul" in table.output and "skipped (out of vocabulary)" in table.output
    from tests.test_trainer import scalar_steps

    assert scalar_steps(run_dir, "eval/wordsim353/spearman") == [200, 200]


@pytest.mark.parametrize("content, option, message", [
    ("a b c\n", "--analogies", "line 1: expected 4 words, got 3"),
    (": s\na b c d\na b c\n", "--analogies", "line 3: expected 4 words"),
    ("a\tb\tlots\n", "--similarity", "line 1: score 'lots' is not a number"),
    ("# c\na\tb\n", "--similarity", "line 2: expected 3 columns, got 2"),
])
def test_malformed_evaluation_files(tiny_run, tmp_path, content, option, message):
    bad = tmp_path / "bad.txt"
    bad.write_text(content)
    result = invoke("eval", tiny_run, option, bad)
    assert result.exit_code == 2
    assert str(bad) in result.stderr and message in result.stderr


def test_eval_of_a_run_without_checkpoints(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("{}\n")
    (run_dir / "vocab.tsv").write_text("a\t3\n")
    result = invoke("eval", run_dir)
    assert result.exit_code == 2 and "has no checkpoint" in result.stderr


def test_neighbors_and_analogy(tiny_run):
    result = invoke("neighbors", tiny_run, "government", "-k", "3", "--analogy", "man", "king", "woman")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "man : king :: woman : ?" and len(lines) == 8
    assert lines[4] == "government"
    assert all(w not in {"man", "king", "woman"} for w in (line.split()[-1] for line in lines[1:4]))
    assert "government" not in lines[5:]


def test_unknown_word_suggests_spellings(tiny_run):
    result = invoke("neighbors", tiny_run, "goverment")
    assert result.exit_code == 2
    assert "word 'goverment' is not in the vocabulary; did you mean government" in result.stderr


def test_queries_are_lowercased_like_the_corpus_and_unknown_words_do_not_cancel_the_others(tiny_run):
    result = invoke("neighbors", tiny_run, "Government", "goverment", "-k", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "Government" and len(result.stdout.splitlines()) == 4
    assert "word 'goverment' is not in the vocabulary" in result.stderr


def test_evaluation_file_errors_are_w2v_errors(tmp_path):
    with pytest.raises(W2VError, match="not found"):
        evaluate.read_pairs(tmp_path / "none.txt")
