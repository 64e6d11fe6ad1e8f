"""w2v from Python: train, resume, load and list runs as the commands do; vectors queried as gensim's are."""

import doctest
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import w2v
from tests.conftest import planted_corpus, small_config
from w2v import runs, subwords
from w2v.errors import W2VError

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"-?\d+\.\d+")


class CloseNumbers(doctest.OutputChecker):
    """The README's output, its decimals to within 0.002: the last digit of a rounded similarity may differ
    where the CPU's instructions do; the words and everything else must be the same."""

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        if super().check_output(want, got, optionflags):
            return True
        if NUMBER.sub("#", want) != NUMBER.sub("#", got):
            return False
        return all(abs(float(a) - float(b)) <= 0.002 for a, b in zip(NUMBER.findall(want), NUMBER.findall(got),
                                                                      strict=True))


def readme_python() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("### From Python\n", 1)[1].split("\n### ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return block


def test_the_readme_python_example_runs_as_shown(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    test = doctest.DocTestParser().get_doctest(readme_python(), {}, "README From Python", "README.md", 0)
    runner = doctest.DocTestRunner(checker=CloseNumbers(), optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    assert len(test.examples) >= 10


def test_loading_a_finished_run_needs_no_tensorflow(tiny_run):
    code = ("import sys, w2v; v = w2v.load(sys.argv[1]); v.most_similar('government', topn=3); "
            "v.similarity('police', 'court'); w2v.list_runs(sys.argv[2]); "
            "print(sorted(m.split('.')[0] for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    done = subprocess.run([sys.executable, "-c", code, str(tiny_run), str(tiny_run.parent)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_queries_agree_with_gensim_on_the_same_vectors(tiny_run):
    vectors = w2v.load(tiny_run)
    embedding = runs.read_embedding(tiny_run)
    np.testing.assert_array_equal(vectors.matrix, embedding.vectors)
    assert vectors.words == embedding.vocab.words and vectors.step == embedding.step
    kv = vectors.to_gensim()
    np.testing.assert_array_equal(kv.vectors, embedding.vectors)
    assert kv.index_to_key == vectors.words
    assert kv.get_vecattr("the", "count") == int(embedding.vocab.counts[vectors.words.index("the")])
    for positive, negative in ((["government"], []), (["police", "court"], ["government"])):
        ours, theirs = vectors.most_similar(positive, negative, topn=5), kv.most_similar(positive, negative, topn=5)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-5)
    assert vectors.similarity("police", "court") == pytest.approx(kv.similarity("police", "court"), rel=1e-5)
    # 3CosAdd: the words nearest king − man + woman, as gensim's most_similar answers the same question.
    ours, theirs = vectors.analogy("man", "king", "woman", topn=3), kv.most_similar(["king", "woman"], ["man"], topn=3)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-5)
    np.testing.assert_array_equal(vectors["Police"], embedding.vectors[vectors.words.index("police")])


def test_an_unknown_word_is_a_key_error_naming_it(tiny_run):
    vectors = w2v.load(tiny_run)
    assert "government" in vectors and "Government" in vectors and "xqzv" not in vectors
    with pytest.raises(KeyError) as raised:
        vectors["governmnet"]
    assert isinstance(raised.value, W2VError)
    assert str(raised.value).startswith("word 'governmnet' is not in the vocabulary; did you mean government")
    with pytest.raises(w2v.UnknownWord):
        vectors.most_similar("governmnet")


def test_a_subword_run_gives_unseen_words_their_ngrams_vector(tmp_path):
    cfg = small_config(planted_corpus(tmp_path / "p.txt", sentences=600), tmp_path, model__subwords=True,
                       model__buckets=2000, train__epochs=1)
    cfg_path = write_config(cfg, tmp_path)
    result = w2v.train(cfg_path, name="sub")
    assert result.run_dir == tmp_path / "sub"
    vectors = w2v.load(result.run_dir)
    embedding = runs.read_embedding(result.run_dir)
    np.testing.assert_allclose(vectors["g1w9"], subwords.unseen("g1w9", embedding.ngrams, embedding.settings))
    assert "g1w9" not in vectors
    assert vectors.most_similar("g1w9", topn=3)  # answered from its n-grams
    extended = w2v.resume(result.run_dir, overrides=["train.epochs=2"])
    assert extended.step > result.step
    assert [r["name"] for r in w2v.list_runs(tmp_path)] == ["sub"]


def write_config(cfg, directory: Path) -> Path:
    import yaml

    from w2v import config as config_lib

    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config_lib.to_dict(cfg)))
    return path


INTERRUPTED_LOOP = """
import json, os, signal, sys, threading, time
from pathlib import Path
import w2v

out = Path(sys.argv[1])

def ctrl_c_once_training() -> None:
    record = out / "a" / "meta.json"
    while not (record.exists() and json.loads(record.read_text()).get("step", 0) >= 1):
        time.sleep(0.02)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=ctrl_c_once_training, daemon=True).start()
try:
    for name, steps in (("a", "null"), ("b", "5")):
        w2v.train(sys.argv[2], ["train.epochs=100000", f"train.steps={steps}", "checkpoint.every_n_steps=1000000",
                                "train.steps_per_call=1"], run_dir=out / name)
    print("loop finished")
except KeyboardInterrupt:
    print("KeyboardInterrupt")
print(json.loads((out / "a" / "meta.json").read_text())["status"], (out / "b").exists())
print(signal.getsignal(signal.SIGINT) is signal.default_int_handler, signal.set_wakeup_fd(-1))
try:
    os.kill(os.getpid(), signal.SIGINT)  # a later Ctrl-C in the same session is the caller's again
    time.sleep(5)
except KeyboardInterrupt:
    print("the caller's KeyboardInterrupt")
deadline = time.monotonic() + 5
while any(t.name == "w2v-signals" for t in threading.enumerate()) and time.monotonic() < deadline:
    time.sleep(0.01)
print([t.name for t in threading.enumerate() if t.name == "w2v-signals"])
"""


def test_ctrl_c_stops_a_python_callers_loop_after_the_checkpoint_and_leaves_its_handlers(tmp_path):
    """In a notebook or script, Ctrl-C during w2v.train saves the run and then raises KeyboardInterrupt in the
    caller (a loop of runs stops); afterwards SIGINT is the caller's own again, with no watcher left."""
    done = subprocess.run([sys.executable, "-c", INTERRUPTED_LOOP, str(tmp_path), str(ROOT / "configs/tiny.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["KeyboardInterrupt", "interrupted False", "True -1",
                                        "the caller's KeyboardInterrupt", "[]"], done.stderr
    assert "SIGINT: stopping after the current steps" in done.stderr
    assert Path(runs.checkpoint_path(tmp_path / "a") + ".index").exists()


def test_the_queries_gensim_users_make_answer_as_gensim_does(tiny_run):
    """KeyedVectors' calls beyond the README's, against gensim on the same vectors: keys as rows, vectors as
    queries, weights, topn=None, restrict_vocab, 3CosMul, doesnt_match, distances, n_similarity, rank."""
    v = w2v.load(tiny_run)
    kv = v.to_gensim()
    assert v.index_to_key == kv.index_to_key and v.key_to_index == kv.key_to_index and v.vector_size == kv.vector_size
    np.testing.assert_array_equal(v.vectors, kv.vectors)
    np.testing.assert_array_equal(v[0], kv[0])
    np.testing.assert_array_equal(v[["police", 3]], kv[["police", 3]])
    np.testing.assert_allclose(v.get_vector("court", norm=True), kv.get_vector("court", norm=True), rtol=1e-6)
    assert (123 in v, len(v) + 5 in v, "police" in v, 1.5 in v) == (123 in kv, len(kv) + 5 in kv, True, False)
    assert list(v)[:3] == kv.index_to_key[:3] and v.get_index("court") == kv.get_index("court")
    assert v.get_vecattr("police", "count") == kv.get_vecattr("police", "count")

    def same(ours, theirs):
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-4, atol=1e-6)

    cricket = kv["government"]
    same(v.most_similar(cricket, topn=5), kv.most_similar(cricket, topn=5))
    same(v.most_similar([("police", 2.0), "court"], [("government", 0.5)], topn=5),
         kv.most_similar([("police", 2.0), "court"], [("government", 0.5)], topn=5))
    same(v.most_similar(7, topn=4), kv.most_similar(7, topn=4))
    same(v.most_similar("police", topn=5, restrict_vocab=200), kv.most_similar("police", topn=5, restrict_vocab=200))
    np.testing.assert_allclose(v.most_similar("police", topn=None), kv.most_similar("police", topn=None), atol=1e-5)
    assert v.most_similar("police", topn=0) == kv.most_similar("police", topn=0) == []
    same(v.similar_by_vector(cricket, topn=3), kv.similar_by_vector(cricket, topn=3))
    same(v.similar_by_word("court", topn=3), kv.similar_by_word("court", topn=3))
    same(v.most_similar_cosmul(["king", "woman"], ["man"], topn=5), kv.most_similar_cosmul(["king", "woman"], ["man"],
                                                                                           topn=5))
    words = ["police", "court", "government", "cricket", "minister"]
    assert v.doesnt_match(words) == kv.doesnt_match(words)
    assert v.distance("police", "court") == pytest.approx(kv.distance("police", "court"), abs=1e-5)
    others = ["court", "cricket"]
    np.testing.assert_allclose(v.distances("police", others), kv.distances("police", others), atol=1e-5)
    np.testing.assert_allclose(v.distances("police"), kv.distances("police"), atol=1e-5)
    assert v.n_similarity(["police", "court"], ["government"]) == pytest.approx(
        kv.n_similarity(["police", "court"], ["government"]), abs=1e-5)
    assert v.rank("police", "court") == kv.rank("police", "court")


def test_bad_arguments_of_the_python_api_are_clear_errors(tiny_run):
    v = w2v.load(tiny_run)
    for call, message in ((lambda: v[len(v)], "row 1"), (lambda: v[2.5], "a key is a word (str) or a row number"),
                          (lambda: v.most_similar("police", topn="5"), "topn: an int or None"),
                          (lambda: v.most_similar(np.ones(3)), "a vector of shape (3,)"),
                          (lambda: v.most_similar(), "give at least one word or vector"),
                          (lambda: w2v.list_runs(tiny_run.parent, sort="bogus"), "sort='bogus' is none of name"),
                          (lambda: w2v.list_runs(tiny_run.parent, status="bogus"), "status='bogus' is none of")):
        with pytest.raises(W2VError, match=re.escape(message)):
            call()
    with pytest.raises(KeyError):
        v[len(v)]
    with pytest.raises(ValueError):
        w2v.list_runs(tiny_run.parent, sort="bogus")
