import json
import math
import re
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
    assert r.sections == {"capital": (1, 1), "gram1": (0, 1)}
    mul = evaluate.analogies(evaluate.Vectors(words, vectors), qs[:1], restrict=5, method="mul")
    assert mul.correct == 1
    # A subword model answers unseen question words from their n-grams: "woman" unseen (its n-grams give its
    # vector) still leads to queen, and "zebra" as the answer stays unanswerable (no candidate).
    unseen = {"woman": np.array([1.0, 1.0, 0.0])}
    sub = evaluate.Vectors([w for w in words if w != "woman"], vectors[[0, 2, 3, 4]], unseen=unseen.__getitem__)
    r = evaluate.analogies(sub, qs, restrict=5)
    assert (r.total, r.total_all, r.correct_all) == (0, 2, 1)


def test_the_question_words_are_never_the_answer():
    # b - a + c is nearest to b, then c; the answer must be the nearest word that is not a, b or c.
    words = ["a", "b", "c", "d", "e"]
    vectors = np.array([[1, 0, 0], [0, 1, 0], [0.1, 0, 1], [0.5, 1, 0], [-1, -1, -1]], dtype=float)
    q = [evaluate.Question("s", ("A", "B", "C", "D"))]
    for method in ("add", "mul"):
        assert evaluate.analogies(evaluate.Vectors(words, vectors), q, restrict=5, method=method).correct == 1


def planted_analogies(tmp_path, rng):
    """Vectors where each question's answer is (or is not) the nearest to b - a + c, in two sections, and
    the question file: the comparison with gensim then counts real hits, section by section."""
    words, vectors, lines = [], [], []
    for section, n in (("capital-common-countries", 12), ("gram3-comparative", 9)):
        lines.append(f": {section}")
        for i in range(n):
            a, b, c, d = (rng.normal(size=16) for _ in range(4))
            if i % 3:  # two questions in three answer correctly
                d = b - a + c + rng.normal(scale=0.05, size=16)
            names = [f"{section[:4]}{i}{x}" for x in "abcd"]
            words += names
            vectors += [a, b, c, d]
            lines.append(" ".join(names))
    path = tmp_path / "planted-questions.txt"
    path.write_text("\n".join(lines) + "\n")
    return words, np.array(vectors), path


def test_agrees_with_gensim_on_the_same_vectors(tiny_run, tmp_path):
    words, vectors, questions = planted_analogies(tmp_path, np.random.default_rng(0))
    path = tmp_path / "v.txt"
    export.export(words, vectors, "word2vec", path)
    kv = KeyedVectors.load_word2vec_format(str(path))
    mine = evaluate.analogies(evaluate.Vectors(words, vectors), evaluate.read_analogies(questions), restrict=30000)
    theirs, sections = kv.evaluate_word_analogies(str(questions), restrict_vocab=30000)
    assert 0.3 < mine.accuracy < 1 and abs(mine.accuracy - theirs) <= 1e-9
    for section in sections[:-1]:  # gensim's last entry is the total
        assert mine.sections[section["section"]] == (len(section["correct"]),
                                                      len(section["correct"]) + len(section["incorrect"]))
    assert mine.part(syntactic=True) == pytest.approx(6 / 9) and mine.part(syntactic=False) == pytest.approx(8 / 12)
    # Word similarity, on a trained run's vectors.
    vocab, trained, _ = runs.load_embedding(tiny_run)
    export.export(vocab.words, trained, "word2vec", path, vocab.counts)
    kv = KeyedVectors.load_word2vec_format(str(path))
    ours = evaluate.Vectors(vocab.words, trained)
    _, (ws, simlex) = evaluate.default_files()
    for pairs_file in (ws, simlex):
        pearson, spearman, oov = kv.evaluate_word_pairs(str(pairs_file))
        got = evaluate.similarity(ours, evaluate.read_pairs(pairs_file))
        assert abs(got.spearman - spearman.statistic) <= 1e-4
        assert abs(got.pearson - pearson.statistic) <= 1e-4
        assert got.skipped == round(oov / 100 * (got.pairs + got.skipped))


def test_restrict_limits_the_answers():
    words = ["man", "woman", "king", "queen"]
    vectors = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1]], dtype=float)
    q = [evaluate.Question("s", ("MAN", "WOMAN", "KING", "QUEEN"))]
    assert evaluate.analogies(evaluate.Vectors(words, vectors), q, restrict=3).skipped == 1


def test_eval_command_writes_json_and_scalars(tiny_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    from tests.test_trainer import scalar_steps

    evaluated = scalar_steps(run_dir, "eval/wordsim353/spearman")  # training's own evaluation of its end
    assert evaluated == [200]
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

    # Another evaluation (here another method) is kept beside the run's own: its standard scores stay,
    # in the report file, in TensorBoard's series and in what `w2v runs` shows.
    assert json.loads((run_dir / "eval" / "step-200.json").read_text()) == saved
    (other,) = [p for p in (run_dir / "eval").iterdir() if p.name != "step-200.json"]
    assert other.name.startswith("step-200.mul-") and json.loads(other.read_text())["analogies"][0]["method"] == "mul"
    assert scalar_steps(run_dir, "eval/wordsim353/spearman") == [200, 200]  # and `w2v eval`'s, the same step
    tag = other.name.removeprefix("step-200.").removesuffix(".json")
    assert scalar_steps(run_dir, f"eval-{tag}/wordsim353/spearman") == [200]
    listed = json.loads(invoke("runs", tmp_path, "--json").output)
    assert listed[0]["metrics"] == saved["metrics"]
    # The same other evaluation again replaces its own report, and nothing else.
    invoke("eval", run_dir, "--method", "mul")
    assert len(list((run_dir / "eval").iterdir())) == 2


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
    lines = result.stdout.splitlines()
    assert lines[0] == "man : king :: woman : ?" and lines[4] == "government" and len(lines) == 8
    answered = [line.split() for line in lines[1:4]], [line.split() for line in lines[5:8]]
    vocab, vectors, _ = runs.load_embedding(tiny_run)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    index = {w: i for i, w in enumerate(vocab.words)}
    for (query, exclude), got in zip([(unit[index["king"]] - unit[index["man"]] + unit[index["woman"]],
                                       {"man", "king", "woman"}), (unit[index["government"]], {"government"})],
                                     answered, strict=True):
        sims = unit @ (query / np.linalg.norm(query))
        want = [vocab.words[i] for i in np.argsort(-sims) if vocab.words[i] not in exclude][:3]
        assert [word for _, word in got] == want
        np.testing.assert_allclose([float(sim) for sim, _ in got], np.sort(sims[[index[w] for w in want]])[::-1],
                                   atol=1e-4)


def test_unknown_word_suggests_spellings(tiny_run):
    result = invoke("neighbors", tiny_run, "goverment")
    assert result.exit_code == 2
    assert "word 'goverment' is not in the vocabulary; did you mean government" in result.stderr
    none_known = invoke("neighbors", tiny_run, "goverment", "zzzqqq")
    assert none_known.exit_code == 2 and len(none_known.stderr.strip().splitlines()) == 1
    assert "'goverment'" in none_known.stderr and "'zzzqqq'" in none_known.stderr


def test_queries_are_lowercased_like_the_corpus_and_unknown_words_do_not_cancel_the_others(tiny_run):
    result = invoke("neighbors", tiny_run, "Government", "goverment", "-k", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "Government" and len(result.stdout.splitlines()) == 4
    assert "word 'goverment' is not in the vocabulary" in result.stderr


def test_evaluation_file_errors_are_w2v_errors(tmp_path):
    with pytest.raises(W2VError, match="not found"):
        evaluate.read_pairs(tmp_path / "none.txt")


def test_commands_read_the_checkpoint_they_are_given(tiny_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    older = str(runs.checkpoint_dir(run_dir) / "ckpt-100")
    _, vectors, step = runs.load_embedding(run_dir, older)
    assert step == 100 and not np.array_equal(vectors, runs.load_embedding(run_dir)[1])
    report = json.loads(invoke("eval", run_dir, "--checkpoint", older, "--json").stdout)
    assert report["step"] == 100 and (run_dir / "eval" / "step-100.json").exists()
    assert invoke("export", run_dir, "--checkpoint", older, "--format", "npy", "-o", tmp_path / "v.npy").exit_code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), vectors)
    near = invoke("neighbors", run_dir, "government", "-k", "1", "--checkpoint", older).stdout.splitlines()[1].split()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    vocab = runs.load_vocab(run_dir)
    sims = unit @ unit[vocab.index["government"]]
    assert near[1] == vocab.words[np.argsort(-sims)[1]]
    shown = invoke("visualize", run_dir, "--checkpoint", older, "--top", 30)
    assert shown.exit_code == 0 and "step 100: 30 words" in shown.stdout


def test_none_on_the_command_line_leaves_out_one_kind_and_keeps_the_runs_own_other(tiny_run, tmp_path):
    run_dir = shutil.copytree(tiny_run, tmp_path / "run")
    only_similarity = json.loads(invoke("eval", run_dir, "--analogies", "none", "--json").stdout)
    assert only_similarity["analogies"] == []
    assert [s["file"].rsplit("/", 1)[-1] for s in only_similarity["similarity"]] == ["wordsim353.tsv",
                                                                                     "simlex999.txt"]
    only_analogies = json.loads(invoke("eval", run_dir, "--similarity", "none", "--json").stdout)
    assert only_analogies["similarity"] == [] and len(only_analogies["analogies"]) == 1
    neither = invoke("eval", run_dir, "--similarity", "none", "--analogies", "none")
    assert neither.exit_code == 2 and neither.stderr.count("\n") == 1 and "nothing" not in neither.stdout
    assert "no analogy and no similarity file left to score" in neither.stderr


def test_a_kind_of_question_with_none_answered_shows_a_dash_in_eval_and_runs(tiny_run, tmp_path):
    run_dir = shutil.copytree(tiny_run, tmp_path / "runs" / "run")
    questions = tmp_path / "capitals.txt"  # semantic questions only: no syntactic score, not 0%
    questions.write_text(": capital-common-countries\nathens greece berlin germany\n"
                         ": family\nboy girl brother sister\n")
    text = invoke("eval", run_dir, "--analogies", questions).stdout
    (line,) = [line for line in text.splitlines() if "capitals.txt" in line]
    assert re.search(r": (\d+\.\d\d%|–) of \d+ \(semantic (\d+\.\d\d%|–), syntactic –\)", line), line
    report = evaluate.Report(1, [evaluate.AnalogyResult("q.txt", "add", 10, 0, 0, 5)], [])
    assert "q.txt (3CosAdd, top 10): – of 0 (semantic –, syntactic –), 5 skipped" in report.table()
    # `w2v runs` shows a run's scores as `w2v eval` prints them: accuracies in percent, correlations to 4 places.
    assert invoke("eval", run_dir).exit_code == 0
    listed = invoke("runs", tmp_path / "runs", "--wide").stdout
    record = json.loads(invoke("runs", tmp_path / "runs", "--json").stdout)[0]["metrics"]
    assert f"{100 * record['eval/questions-words/accuracy']:.2f}%" in listed
    assert f"{record['eval/wordsim353/spearman']:.4f}" in listed


def test_unit_rows_normalised_as_read_give_the_same_report(tiny_run):
    """Training's own evaluation reads the table's rows of unit length as it indexes them (never all of a
    million-word table's unit vectors): the same report as from every unit row at once."""
    from w2v.vectors import UnitRows, Vectors

    embedding = runs.read_embedding(tiny_run)
    evaluator = evaluate.Evaluator(*evaluate.default_files(), restrict=500)
    whole = evaluator(Vectors(embedding.vocab.words, embedding.vectors), 1)
    lazy = UnitRows(embedding.vectors)
    as_read = evaluator(Vectors(embedding.vocab.words, embedding.vectors, unit=lazy), 1)
    assert as_read.to_json() == whole.to_json() and whole.analogies[0].total > 0
    np.testing.assert_array_equal(lazy[3], Vectors(embedding.vocab.words, embedding.vectors).unit[3])


def test_the_printed_report_is_what_users_read():
    """Every figure of `w2v eval`'s table in its place, a subword run's figures over every question and pair
    included, and the summary line of a suite."""
    report = evaluate.Report(
        step=40,
        analogies=[evaluate.AnalogyResult("/sets/questions-words.txt", "add", 30000, 3, 4, 2,
                                          {"capital-common": (1, 1), "gram1-adjective": (2, 3)}, 5, 8)],
        similarity=[evaluate.SimilarityResult("/sets/ws353.tsv", 0.61234, 0.5, 10, 3, 0.55561)],
        summary=True)
    assert report.table().splitlines() == [
        "step 40",
        "  analogies questions-words.txt (3CosAdd, top 30000): 75.00% of 4 (semantic 100.00%, syntactic 66.67%), "
        "2 skipped (out of vocabulary)",
        "    with unseen question words' vectors from their n-grams: 62.50% of 8 (those whose answer is among the "
        "top 30000)",
        "    capital-common                   100.00%  1/1",
        "    gram1-adjective                   66.67%  2/3",
        "  similarity ws353.tsv: Spearman 0.6123, Pearson 0.5000 over 10 pairs, 3 skipped (out of vocabulary)",
        "    with the unseen words' vectors from their n-grams: Spearman 0.5556 over all 13 pairs",
        "  summary: mean analogy accuracy 75.00% over 1 sets, mean Spearman 0.6123 over 1 sets",
    ]


def test_the_recorded_metrics_are_the_printed_ones():
    """What TensorBoard, `w2v runs` and eval/step-N.json get: every figure under its name, a section's own
    where the set asks for it; a report with no score has NaN means, not an error."""
    analogy = evaluate.AnalogyResult("/sets/bats.txt", "add", 100, 3, 4, 0,
                                     {"encyclopedic": (1, 1), "gram-inflectional": (2, 3)}, 5, 8, per_section=True)
    report = evaluate.Report(7, [analogy], [evaluate.SimilarityResult("/sets/men.txt", 0.5, 0.25, 10, 3, 0.75)],
                             summary=True)
    assert report.scalars() == {
        "eval/bats/accuracy": 0.75, "eval/bats/semantic": 1.0, "eval/bats/syntactic": 2 / 3,
        "eval/bats/accuracy_all": 5 / 8, "eval/bats/encyclopedic": 1.0, "eval/bats/gram-inflectional": 2 / 3,
        "eval/men/spearman": 0.5, "eval/men/spearman_all": 0.75,
        "eval/summary/accuracy": 0.75, "eval/summary/spearman": 0.5}
    recorded = report.to_json()
    assert recorded["step"] == 7 and recorded["metrics"] == report.scalars()
    assert {k: recorded["analogies"][0][k] for k in ("accuracy", "semantic", "syntactic", "accuracy_all",
                                                      "correct", "sections")} == {
        "accuracy": 0.75, "semantic": 1.0, "syntactic": 2 / 3, "accuracy_all": 5 / 8, "correct": 3,
        "sections": {"encyclopedic": (1, 1), "gram-inflectional": (2, 3)}}
    assert recorded["similarity"] == [{"file": "/sets/men.txt", "spearman": 0.5, "pearson": 0.25, "pairs": 10,
                                       "skipped": 3, "spearman_all": 0.75}]
    empty = evaluate.Report(0, [evaluate.AnalogyResult("a.txt", "add", 10, 0, 0, 4)],
                            [evaluate.SimilarityResult("s.txt", math.nan, math.nan, 1, 5)], summary=True)
    assert all(math.isnan(m) for m in empty.means())
    assert empty.table().splitlines()[-1] == ("  summary: mean analogy accuracy – over 1 sets, mean Spearman – over "
                                              "1 sets")


def test_3cosmul_answers_as_gensims_most_similar_cosmul_in_batches_of_any_size(tmp_path):
    """Each question's 3CosMul answer is gensim's most_similar_cosmul's (its own words left out), whether the
    questions are answered in one batch or a few at a time."""
    words, vectors, questions = planted_analogies(tmp_path, np.random.default_rng(1))
    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(words, vectors)
    asked = evaluate.read_analogies(questions)
    word = {w.upper(): w for w in words}  # questions are read uppercased, as gensim matches them
    a, b, c, d = ([word[q.words[i]] for q in asked] for i in range(4))
    want = [kv.most_similar_cosmul(positive=[b[i], c[i]], negative=[a[i]], topn=1)[0][0] == d[i]
            for i in range(len(asked))]
    for batch in (512, 4):
        got = evaluate.analogies(evaluate.Vectors(words, vectors), asked, method="mul", batch=batch)
        assert got.sections == {section: (sum(w for w, q in zip(want, asked, strict=True) if q.section == section),
                                          sum(q.section == section for q in asked)) for section in got.sections}
    # Not 3CosAdd's answers: on these vectors the two differ in one question.
    assert evaluate.analogies(evaluate.Vectors(words, vectors), asked).sections != got.sections


def test_a_suites_summary_is_the_mean_of_its_sets():
    sets = [evaluate.AnalogyResult(f"{i}.txt", "add", 10, c, 4, 0) for i, c in enumerate((3, 1))]
    pairs = [evaluate.SimilarityResult(f"{i}.txt", s, 0.0, 5, 0) for i, s in enumerate((0.5, 0.25, math.nan))]
    assert evaluate.Report(0, sets, pairs, summary=True).means() == (0.5, 0.375)


def test_a_subword_models_similarity_over_every_pair_uses_its_unseen_words_vectors():
    """spearman_all: the cosines of every pair, a word outside the vocabulary given its vector from its n-grams,
    against the human scores; the known pairs' Spearman beside it."""
    from scipy import stats

    rng = np.random.default_rng(3)
    words = ["alpha", "bravo", "charlie", "echo"]
    vectors = rng.normal(size=(4, 6))
    unseen = {"delta": rng.normal(size=6), "foxtrot": rng.normal(size=6)}
    pairs = [("ALPHA", "BRAVO", 9.0), ("ALPHA", "DELTA", 1.0), ("CHARLIE", "DELTA", 5.0), ("BRAVO", "CHARLIE", 3.0),
             ("ECHO", "FOXTROT", 7.0), ("CHARLIE", "ECHO", 2.0)]  # read_pairs uppercases, as gensim matches
    got = evaluate.similarity(evaluate.Vectors(words, vectors, unseen=unseen.__getitem__), pairs)
    vector = {**dict(zip(words, vectors, strict=True)), **unseen}
    unit = {w.upper(): v / np.linalg.norm(v) for w, v in vector.items()}
    cosine = [unit[a] @ unit[b] for a, b, _ in pairs]
    assert got.spearman_all == pytest.approx(stats.spearmanr([s for *_, s in pairs], cosine)[0])
    known = [i for i, (a, b, _) in enumerate(pairs) if a.lower() in words and b.lower() in words]
    assert (got.pairs, got.skipped) == (3, 3)
    assert got.spearman == pytest.approx(stats.spearmanr([pairs[i][2] for i in known], [cosine[i] for i in known])[0])
    assert evaluate.similarity(evaluate.Vectors(words, vectors), pairs).spearman_all is None
