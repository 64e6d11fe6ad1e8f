"""fastText's .bin for a subword run: fastText itself and gensim load it and give w2v's vectors, for words in the
vocabulary and words never seen."""

import json
import warnings

import fasttext
import numpy as np
import pytest
from click.testing import CliRunner
from gensim.models import KeyedVectors
from gensim.models.fasttext import load_facebook_vectors

import w2v
from tests.conftest import planted_corpus, small_config
from w2v import trainer
from w2v.cli import cli


@pytest.fixture(scope="module")
def subword_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ft")
    cfg = small_config(planted_corpus(root / "p.txt", sentences=800), root, model__subwords=True,
                       model__buckets=3000, model__loss="neg", train__epochs=1)
    return trainer.train(cfg, root / "sub", show_progress=False).run_dir


def test_fasttext_and_gensim_load_the_bin_with_our_vectors(subword_run, tmp_path):
    result = CliRunner().invoke(cli, ["export", str(subword_run), "--format", "fasttext", "-o",
                                      str(tmp_path / "m.bin")])
    assert result.exit_code == 0, result.output
    assert [line.split()[-1] for line in result.output.splitlines()] == [
        str(tmp_path / name) for name in ("m.bin", "m.vec", "m.bin.card.json", "m.bin.card.md")]
    ours = w2v.load(subword_run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fasttext.load_model(str(tmp_path / "m.bin"))
    theirs = load_facebook_vectors(str(tmp_path / "m.bin"))
    assert model.words == ours.words and model.get_dimension() == 16
    unseen = ["g1w7", "g10w", "zzfiller"]
    assert not any(w in ours for w in unseen)
    for word in ours.words[:20] + unseen:
        np.testing.assert_allclose(model.get_word_vector(word), ours[word], atol=1e-6)
        np.testing.assert_allclose(theirs[word], ours[word], atol=1e-6)
    # The .vec beside it: the words' vectors as text, as fastText writes one.
    vec = KeyedVectors.load_word2vec_format(str(tmp_path / "m.vec"))
    np.testing.assert_allclose(vec.vectors, ours.matrix, atol=1e-6)
    card = json.loads((tmp_path / "m.bin.card.json").read_text())
    assert card["vectors"]["files"] == ["m.bin", "m.vec"] and "fasttext.load_model('m.bin')" in card["load"]


def test_a_run_without_subwords_is_refused(tiny_run, tmp_path):
    result = CliRunner().invoke(cli, ["export", str(tiny_run), "--format", "fasttext", "-o", str(tmp_path / "m.bin")])
    assert result.exit_code == 2
    assert "has no subwords (model.subwords is false); export --format word2vec" in result.stderr
    assert list(tmp_path.iterdir()) == []
