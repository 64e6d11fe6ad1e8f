"""The field's evaluation suite: fetched once from its sources (a local server here, serving files the tests
make), checked by SHA-256, read offline afterwards, and scored as gensim scores the same vectors and files."""

import contextlib
import csv
import hashlib
import http.server
import io
import json
import shutil
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from gensim.models import KeyedVectors

from w2v import eval_suite, evaluate, runs
from w2v.cli import cli
from w2v.errors import W2VError
from w2v.vectors import Vectors

WORDS = ["government", "minister", "police", "court", "australia", "sydney", "fire", "people", "world", "country",
         "military", "security", "president", "leader", "attack", "forces", "city", "state", "days", "year"]


def made_files(root: Path, words: list[str] = WORDS) -> dict[str, bytes]:
    """Small files in each set's format, under the paths the suite fetches, from the Lee corpus's words."""
    rng = np.random.default_rng(0)
    files = {}
    for source in eval_suite.SIMILARITY:
        pairs = [(words[i], words[j], float(rng.uniform(0, 10))) for i, j in rng.integers(len(words), size=(12, 2))]
        files[source.name] = "".join(f"{a}\t{b}\t{s:.2f}\n" for a, b, s in pairs).encode()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["", "type", "word1", "word2", "word3", "target"])
    for n in range(30):
        writer.writerow([n, ["NN_NNS", "VB_VBD"][n % 2], *(words[i] for i in rng.integers(len(words), size=4))])
    files[eval_suite.MSR.name] = out.getvalue().encode()
    for category, relations in eval_suite.BATS_RELATIONS.items():
        for relation in relations:
            # Many accepted answers, so that about half the questions are answered right and 3CosAdd and
            # 3CosMul differ on some.
            lines = [f"{words[i]}\t" + "/".join(words[j] for j in rng.choice(len(words), 8, replace=False))
                     for i in rng.integers(len(words), size=4)]
            files[f"bats/{category}/{relation}.txt"] = ("\n".join(lines) + "\n").encode()
    return files


@contextlib.contextmanager
def serving(files: dict[str, bytes]):
    """A loopback HTTP server answering each file's path."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            body = files.get(urllib.parse.unquote(self.path.lstrip("/")))
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


@pytest.fixture
def suite_from(monkeypatch):
    """Point the suite at a base URL, with the SHA-256 of the made files (or of other ones)."""
    def point(base: str, files: dict[str, bytes]) -> None:
        digest = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
        monkeypatch.setattr(eval_suite, "SIMILARITY", tuple(
            eval_suite.Source(s.name, base + s.name, digest[s.name]) for s in eval_suite.SIMILARITY))
        monkeypatch.setattr(eval_suite, "MSR", eval_suite.Source("msr.csv", base + "msr.csv", digest["msr.csv"]))
        monkeypatch.setattr(eval_suite, "_BATS", base + "bats/")
        bats = [f"bats/{c}/{r}.txt" for c, rs in eval_suite.BATS_RELATIONS.items() for r in rs]
        monkeypatch.setattr(eval_suite, "BATS_SHA256", hashlib.sha256(b"".join(files[n] for n in bats)).hexdigest())
    return point


@pytest.fixture
def run_copy(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the run's data.cache_dir, ~/.cache/w2v, is this test's
    shutil.copytree(tiny_run, tmp_path / "run", symlinks=True)
    return tmp_path / "run"


def test_the_suite_is_fetched_once_checked_and_read_offline(run_copy, tmp_path, suite_from):
    files = made_files(tmp_path)
    with serving(files) as base:
        suite_from(base, files)
        first = CliRunner().invoke(cli, ["eval", str(run_copy), "--suite", "standard", "--json"])
    assert first.exit_code == 0, first.output
    cache = tmp_path / "home" / ".cache" / "w2v" / "eval-suite"
    assert (cache / "men.txt").read_bytes() == files["men.txt"]
    assert (cache / "bats" / "3_encyclopedic_semantics" / "E01 [country - capital].txt").exists()
    # The server is gone: the cached files are read, and give the same report.
    again = CliRunner().invoke(cli, ["eval", str(run_copy), "--suite", "standard", "--json"])
    assert again.exit_code == 0, again.output
    report, second = json.loads(first.output), json.loads(again.output)
    assert report == second
    metrics = report["metrics"]
    for name in ("men", "rw", "simverb3500", "mturk771", "rg65", "ws353-sim", "ws353-rel", "wordsim353", "simlex999"):
        assert f"eval/{name}/spearman" in metrics
    for name in ("questions-words", "msr", "bats-3cosadd", "bats-3cosmul"):
        assert f"eval/{name}/accuracy" in metrics
    assert {"eval/bats-3cosmul/gram-inflectional_morphology", "eval/bats-3cosadd/lexicographic_semantics"} <= set(
        metrics)
    accuracies = [a["accuracy"] for a in report["analogies"] if a["accuracy"] == a["accuracy"]]
    spearmans = [s["spearman"] for s in report["similarity"] if s["spearman"] == s["spearman"]]
    assert metrics["eval/summary/accuracy"] == pytest.approx(np.mean(accuracies))
    assert metrics["eval/summary/spearman"] == pytest.approx(np.mean(spearmans))
    # Kept beside the run's own evaluation, under a tag of its own; the table ends with the summary.
    tagged = list((run_copy / "eval").glob("step-*.*.json"))
    assert len(tagged) == 1 and json.loads(tagged[0].read_text())["metrics"] == metrics
    table = CliRunner().invoke(cli, ["eval", str(run_copy), "--suite", "standard"]).output
    assert table.splitlines()[-1].startswith("  summary: mean analogy accuracy ")
    assert "  analogies bats-3cosmul (3CosMul, top 30000): " in table


def test_a_download_that_does_not_match_its_sha256_is_not_kept(run_copy, tmp_path, suite_from):
    files = made_files(tmp_path)
    with serving(dict(files, **{"men.txt": files["men.txt"] + b"extra\tpair\t1\n"})) as base:
        suite_from(base, files)
        result = CliRunner().invoke(cli, ["eval", str(run_copy), "--suite", "standard"])
    assert result.exit_code == 2
    assert "eval suite: men downloaded from " in result.stderr and "not kept" in result.stderr
    assert not (tmp_path / "home" / ".cache" / "w2v" / "eval-suite" / "men.txt").exists()


def test_offline_the_error_lists_every_missing_file_and_suite_from_copies_them_in(run_copy, tmp_path, suite_from):
    files = made_files(tmp_path)
    with serving({}) as base:
        pass  # stopped: nothing answers there any more
    suite_from(base, files)
    result = CliRunner().invoke(cli, ["eval", str(run_copy), "--suite", "standard"])
    assert result.exit_code == 2
    cache = tmp_path / "home" / ".cache" / "w2v" / "eval-suite"
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: eval suite: cannot download (") and f"48 files missing from {cache}" in lines[0]
    assert "`w2v eval RUN --suite-from DIR`" in lines[0]
    assert f"  {base}men.txt -> {cache / 'men.txt'}" in lines and f"  {base}msr.csv -> {cache / 'msr.csv'}" in lines
    assert sum(line.startswith(f"  {base}bats/") for line in lines) == 40 and len(lines) == 49
    # The files, fetched elsewhere into a folder laid out as the cache, copied in: every set checked first.
    folder = tmp_path / "from-elsewhere"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / "rw.txt").write_bytes(files["rw.txt"][:-20])  # truncated on the way
    refused = CliRunner().invoke(cli, ["eval", str(run_copy), "--suite-from", str(folder)])
    assert refused.exit_code == 2 and "rw (rw.txt) has SHA-256 " in refused.stderr and not cache.exists()
    (folder / "rw.txt").write_bytes(files["rw.txt"])
    copied = CliRunner().invoke(cli, ["eval", str(run_copy), "--suite-from", str(folder), "--json"])
    assert copied.exit_code == 0, copied.output
    assert f"copied 48 files of the evaluation suite into {cache}" in copied.stderr
    assert "eval/bats-3cosmul/accuracy" in json.loads(copied.stdout)["metrics"]
    assert sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()) == sorted(
        [*files, "msr.txt"])


def test_a_cached_file_that_differs_is_refused_on_every_read(run_copy, tmp_path, suite_from):
    """A truncated copy put in by hand was once scored silently over fewer pairs: the cache is checked on every
    read, and the error names the file."""
    files = made_files(tmp_path)
    with serving(files) as base:
        suite_from(base, files)
        assert CliRunner().invoke(cli, ["eval", str(run_copy), "--suite", "standard"]).exit_code == 0
    men = tmp_path / "home" / ".cache" / "w2v" / "eval-suite" / "men.txt"
    men.write_bytes(files["men.txt"][: len(files["men.txt"]) // 2])
    result = CliRunner().invoke(cli, ["eval", str(run_copy), "--suite", "standard"])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: eval suite: {men} has SHA-256 ") and "truncated or edited copy?" in line


def test_msr_and_bats_are_scored_as_gensim_scores_them(tiny_run, tmp_path, monkeypatch, suite_from):
    monkeypatch.setenv("HOME", str(tmp_path))
    # The questions' words and answers among the 20 most frequent, answered from the 30 most frequent: many
    # right answers, so that a wrong method or a wrong count shows.
    top = runs.load_vocab(tiny_run).words[:20]
    files = made_files(tmp_path, top)
    with serving(files) as base:
        suite_from(base, files)
        msr = eval_suite.msr_file("~/.cache/w2v")
        questions = eval_suite.bats_questions(eval_suite.bats("~/.cache/w2v"))
    embedding = runs.read_embedding(tiny_run)
    vectors = Vectors(embedding.vocab.words, embedding.vectors)
    # gensim's most_similar_cosmul ignores restrict_vocab: its KeyedVectors hold the 30 words alone.
    kv = KeyedVectors(embedding.vectors.shape[1])
    kv.add_vectors(embedding.vocab.words[:30], embedding.vectors[:30])
    ours = evaluate.analogies(vectors, evaluate.read_analogies(msr), restrict=30, file=str(msr))
    theirs, _ = kv.evaluate_word_analogies(str(msr), restrict_vocab=30)
    assert ours.total > 0 and ours.accuracy == pytest.approx(theirs)
    assert ours.part(True) == ours.accuracy  # every MSR section is syntax
    correct = {}
    for method, ask in (("add", kv.most_similar), ("mul", kv.most_similar_cosmul)):
        result = evaluate.bats(vectors, questions, 30, method)
        hits = [ask(positive=[a2, b], negative=[a], topn=1, restrict_vocab=30)[0][0] in answers
                for _, (a, a2, b), answers in questions]
        assert result.total == len(questions) and result.correct == sum(hits)
        correct[method] = result.correct
    assert 0 < correct["add"] != correct["mul"] > 0


def test_bats_questions_pair_every_two_pairs_of_a_relation():
    relations = {"1_inflectional_morphology": [[("a", ["b"]), ("c", ["d", "e"]), ("f", ["g"])]]}
    questions = eval_suite.bats_questions(relations)
    assert len(questions) == 6
    assert ("1_inflectional_morphology", ("a", "b", "c"), ["d", "e"]) in questions
    assert ("1_inflectional_morphology", ("c", "d", "a"), ["b"]) in questions
    with pytest.raises(W2VError, match="cannot download"):
        eval_suite._fetch([eval_suite.Source("x.txt", "http://127.0.0.1:9/x.txt", "0")], None, Path("/nonexistent"),
                          "x")


def test_training_evaluates_the_suite_when_the_config_asks(tmp_path, monkeypatch, suite_from):
    from w2v import config as config_lib
    from w2v import trainer

    monkeypatch.setenv("HOME", str(tmp_path))
    files = made_files(tmp_path)
    root = Path(__file__).resolve().parents[1]
    cfg = config_lib.load(root / "configs" / "tiny.yaml", ["train.steps=20", "eval.every_n_steps=20",
                                                           "eval.suite=standard"])
    with serving(files) as base:
        suite_from(base, files)
        run_dir = trainer.train(cfg, tmp_path / "run", show_progress=False).run_dir
    metrics = evaluate.reports(run_dir)[20]
    assert {"eval/men/spearman", "eval/msr/accuracy", "eval/bats-3cosmul/accuracy", "eval/summary/spearman",
            "eval/questions-words/accuracy"} <= set(metrics)
