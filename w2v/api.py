"""w2v from Python: the functions the command line calls, for notebooks and scripts.

``import w2v`` gives ``train``, ``resume``, ``load`` and ``list_runs``. Neither the import nor ``load`` imports
TensorFlow unless a checkpoint has to be read (a finished run's vectors are kept beside its checkpoint as a
``.npy``), so a notebook that only reads runs starts in a fraction of a second.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from w2v import runs
from w2v.errors import UnknownWord, W2VError
from w2v.vectors import Vectors

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

    from w2v.loop import Result


class WordVectors:
    """A run's vectors at one checkpoint, queried as gensim's ``KeyedVectors`` are.

    ``words`` (most frequent first), ``counts``, ``matrix`` (one row a word, the checkpoint's values; a
    read-only view where the run's vector cache is memory-mapped) and ``step``; ``vec[word]`` is a word's
    vector: for a subword run, a word outside the vocabulary gets its n-grams' vector. An unknown word raises
    ``UnknownWord`` (a ``KeyError``) naming the closest known spellings. Lookups lowercase the word when the
    run's corpus was lowercased. ``queries`` holds the unit vectors the queries are answered from
    (``w2v.vectors.Vectors``, as the commands use them)."""

    def __init__(self, run_dir: Path, checkpoint: str | None = None) -> None:
        embedding = runs.read_embedding(run_dir, checkpoint)
        self.run_dir = Path(run_dir)
        self.step = embedding.step
        self.words: list[str] = embedding.vocab.words
        self.counts = np.asarray(embedding.vocab.counts)
        self.matrix: np.ndarray = embedding.vectors
        # The unit vectors that queries are answered from (the commands' neighbors, eval and compare use them).
        self.queries = Vectors(self.words, self.matrix, lowercase=runs.load_config(run_dir).data.lowercase,
                               unseen=embedding.unseen if embedding.ngrams is not None else None,
                               unit=embedding.unit())

    def __repr__(self) -> str:
        return f"<WordVectors {self.run_dir} step {self.step}: {len(self.words):,} words × {self.matrix.shape[1]}>"

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return self.queries.row(self.queries.key(word)) is not None

    def __getitem__(self, word: str) -> np.ndarray:
        key = self.queries.key(word)
        row = self.queries.row(key)
        if row is not None:
            return self.matrix[row]
        if self.queries.unseen is not None:
            return self.queries.unseen(key)
        raise self.queries.unknown(word)

    def similarity(self, word1: str, word2: str) -> float:
        """The cosine similarity of two words' vectors."""
        (a, _), (b, _) = self.queries.vector(word1), self.queries.vector(word2)
        return float(a @ b)

    def most_similar(self, positive: str | Iterable[str] = (), negative: str | Iterable[str] = (),
                     topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` words nearest (cosine) the mean of the ``positive`` words' unit vectors minus the
        ``negative`` ones', those words left out: gensim's ``most_similar``."""
        positive = [positive] if isinstance(positive, str) else list(positive)
        negative = [negative] if isinstance(negative, str) else list(negative)
        if not positive and not negative:
            raise W2VError("most_similar: give at least one word")
        found = [(self.queries.vector(w), 1.0) for w in positive] + [(self.queries.vector(w), -1.0) for w in negative]
        query = np.mean([sign * v for (v, _), sign in found], axis=0)
        return self.queries.neighbours(query, topn, {i for (_, i), _ in found if i is not None})

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]]:
        """"a is to b as c is to ?": the words nearest b − a + c (3CosAdd), the three left out."""
        return self.queries.analogy(a, b, c, topn).neighbours

    def to_gensim(self) -> KeyedVectors:
        """The vectors as gensim's ``KeyedVectors`` (words, vectors and counts), for code written for gensim.
        Needs gensim (``pip install gensim``); a subword run's unseen words stay w2v's (``vec[word]``)."""
        try:
            from gensim.models import KeyedVectors
        except ImportError:
            raise W2VError("to_gensim: gensim is not installed (pip install gensim)") from None
        kv = KeyedVectors(self.matrix.shape[1])
        kv.add_vectors(self.words, np.array(self.matrix, dtype=np.float32))
        # add_vectors' own extras= iterates the dict wrongly in gensim 4.4: the counts go in one by one.
        for word, count in zip(self.words, self.counts.tolist(), strict=True):
            kv.set_vecattr(word, "count", count)
        return kv


def load(run: str | Path, checkpoint: str | None = None) -> WordVectors:
    """A run's vectors (a path, or a name under runs/ as ``w2v runs`` lists it) at its latest checkpoint,
    ``checkpoint="best"`` (kept by checkpoint.keep_best) or a checkpoint path prefix."""
    path = runs.find(run)
    runs.check_run(path)
    return WordVectors(path, checkpoint)


def list_runs(root: str | Path = "runs", sort: str = "started", status: str | None = None) -> list[dict[str, Any]]:
    """The runs under ``root`` as ``w2v runs --json`` gives them: status, step, loss, latest metrics..."""
    from w2v import experiments

    return experiments.list_runs(Path(root), sort, status)


def train(config: str | Path, overrides: Iterable[str] = (), name: str | None = None,
          run_dir: str | Path | None = None, init_from: str | Path | None = None, progress: bool = False) -> Result:
    """Train a new run from a config file, as ``w2v train`` does: ``overrides`` are ``--set`` items
    (``"train.epochs=2"``), ``name`` the run's name under run.output_dir (or ``run_dir`` an exact path),
    ``init_from`` a run to start from. Returns the run's ``Result``: ``run_dir``, ``step``, ``loss``..."""
    from w2v import config as config_lib
    from w2v import pretokenize, quiet

    overrides = list(overrides) + ([f"run.name={name}"] if name else []) + \
        ([f"init.from_run={runs.find(init_from)}"] if init_from else [])
    config_obj = config_lib.load(config, overrides)
    with runs.new_run_dir(config_obj, config, overrides, run_dir) as target:
        # One process writes the run (no cluster): a taken directory is refused at once, then a new corpus is
        # tokenised while TensorFlow loads.
        alone = config_obj.distribute.strategy in ("default", "mirrored")
        if alone:
            runs.check_new(target, config_obj)
        with pretokenize.alongside(config_obj.data, progress=progress) if alone else contextlib.nullcontext():
            quiet.tensorflow()
        from w2v import trainer

        return trainer.train(config_obj, target, show_progress=progress, overrides=overrides)


def resume(run: str | Path, overrides: Iterable[str] = (), progress: bool = False) -> Result:
    """Continue a run from its latest checkpoint, as ``w2v resume`` does (``overrides`` such as
    ``"train.epochs=20"`` extend it)."""
    from w2v import quiet

    path = runs.find(run)
    runs.check_run(path)
    quiet.tensorflow()
    from w2v import trainer

    return trainer.resume(path, list(overrides), show_progress=progress)


__all__ = ["UnknownWord", "WordVectors", "list_runs", "load", "resume", "train"]
