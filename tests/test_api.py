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
