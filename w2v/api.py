"""w2v from Python: the functions the command line calls, for notebooks and scripts.

``import w2v`` gives ``train``, ``resume``, ``load`` and ``list_runs``. Neither the import nor ``load`` imports
TensorFlow unless a checkpoint has to be read (a finished run's vectors are kept beside its checkpoint as a
``.npy``), so a notebook that only reads runs starts in a fraction of a second.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from w2v import interrupts, runs
from w2v.errors import InvalidArgument, UnknownWord, W2VError
from w2v.vectors import Vectors, unit_vector

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

    from w2v.loop import Result


Key = str | int | np.integer
# A query's term, as gensim's most_similar takes it: a word, a row, a vector, or any of these with a weight.
Term = Key | np.ndarray | tuple[Key | np.ndarray, float]


def _terms(given: Term | Iterable[Term] | None) -> list[Term]:
    """One term or several, as gensim's ``_ensure_list`` reads them: a word, row, vector or (term, weight) is
    one term; any other iterable is a list of terms."""
    if given is None:
        return []
    if isinstance(given, (str, int, np.integer, np.ndarray, tuple)):
        return [given]
    return list(given)


class WordVectors:
    """A run's vectors at one checkpoint, queried as gensim's ``KeyedVectors`` are.

    ``words`` (most frequent first; gensim's ``index_to_key``), ``counts``, ``matrix`` (one row a word, the
    checkpoint's values; gensim's ``vectors``; a read-only view where the run's vector cache is memory-mapped)
    and ``step``. A key is a word or, as in gensim, a row number: ``vec[word]``, ``vec[0]``, ``vec[[w1, w2]]``,
    ``word in vec``; iterating gives the words. For a subword run, a word outside the vocabulary gets its
    n-grams' vector (``in`` stays False for it, as gensim's ``has_index_for``). An unknown word raises
    ``UnknownWord`` (a ``KeyError``) naming the closest known spellings; an argument of the wrong kind,
    ``InvalidArgument`` (a ``ValueError``). Lookups lowercase the word when the run's corpus was lowercased.
    ``queries`` holds the unit vectors the queries are answered from (``w2v.vectors.Vectors``, as the
    commands use them)."""

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
        return f"<WordVectors {self.run_dir} step {self.step}: {len(self.words):,} words × {self.vector_size}>"

    # gensim's names for the same things.
    @property
    def index_to_key(self) -> list[str]:
        return self.words

    @property
    def key_to_index(self) -> dict[str, int]:
        return self.queries.index

    @property
    def vectors(self) -> np.ndarray:
        return self.matrix

    @property
    def vector_size(self) -> int:
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __iter__(self) -> Iterator[str]:
        return iter(self.words)

    def get_index(self, key: Key, default: int | None = None) -> int:
        """The row of a word, or of a row number within the table (as gensim's ``get_index``); ``default``, else
        ``UnknownWord``, for anything else."""
        if isinstance(key, str):
            row = self.queries.row(self.queries.key(key))
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            row = int(key) if 0 <= key < len(self.words) else None
        else:
            raise InvalidArgument(f"a key is a word (str) or a row number (int), not {type(key).__name__}")
        if row is not None:
            return row
        if default is not None:
            return default
        raise self.queries.unknown(key) if isinstance(key, str) else \
            UnknownWord(f"row {key} is not in the table (0 to {len(self.words) - 1})")

    def has_index_for(self, key: object) -> bool:
        """Whether a word (or row number) has a row of its own."""
        return isinstance(key, (str, int, np.integer)) and self.get_index(key, -1) >= 0

    __contains__ = has_index_for

    def get_vector(self, key: Key, norm: bool = False) -> np.ndarray:
        """A word's (or row's) vector, of unit length with ``norm``; a subword run's unseen word gets its
        n-grams' vector."""
        if isinstance(key, str) and self.queries.unseen is not None and key not in self:
            v = self.queries.unseen(self.queries.key(key))
            return unit_vector(v) if norm else v
        row = self.get_index(key)
        return self.queries.unit[row] if norm else self.matrix[row]

    def __getitem__(self, key_or_keys: Key | Iterable[Key]) -> np.ndarray:
        if isinstance(key_or_keys, (str, int, np.integer)) or not isinstance(key_or_keys, Iterable):
            return self.get_vector(key_or_keys)
        return np.vstack([self.get_vector(key) for key in key_or_keys])

    def get_vecattr(self, key: Key, attr: str) -> int:
        """``get_vecattr(word, "count")``: the word's count in the corpus, as gensim keeps it."""
        if attr != "count":
            raise InvalidArgument(f"get_vecattr: w2v keeps a word's count only, not {attr!r}")
        return int(self.counts[self.get_index(key)])

    def _unit(self, term: Key | np.ndarray) -> tuple[np.ndarray, int | None]:
        """A term's unit vector and its row (None for a vector given, or a subword run's unseen word)."""
        if isinstance(term, np.ndarray):
            if term.shape != (self.vector_size,):
                raise InvalidArgument(f"a vector of shape {term.shape} given where {self.vector_size} values are")
            return unit_vector(term), None
        if isinstance(term, str):
            return self.queries.vector(term)
        row = self.get_index(term)
        return self.queries.unit[row], row

    def _scores(self, sims: np.ndarray, topn: int | None, exclude: set[int]) -> list[tuple[str, float]] | np.ndarray:
        """``topn`` words by score (leaving out ``exclude``), or every score with ``topn=None``."""
        return sims if topn is None else self.queries.top(sims, topn, exclude)

    @staticmethod
    def _topn(topn: int | None) -> None:
        if topn is not None and (not isinstance(topn, (int, np.integer)) or isinstance(topn, bool)):
            raise InvalidArgument(f"topn: an int or None (every score), not {topn!r}")

    def most_similar(self, positive: Term | Iterable[Term] | None = None,
                     negative: Term | Iterable[Term] | None = None, topn: int | None = 10,
                     restrict_vocab: int | None = None) -> list[tuple[str, float]] | np.ndarray:
        """The ``topn`` words nearest (cosine) the weighted mean of the ``positive`` terms' unit vectors minus
        the ``negative`` ones' (a term: a word, a row, a vector, or ``(term, weight)``), the words given left
        out; ``topn=None``: the cosine of every word (of the ``restrict_vocab`` most frequent), as an array.
        gensim's ``most_similar``."""
        self._topn(topn)
        if topn is not None and topn < 1:
            return []
        signed = [(t, 1.0) for t in _terms(positive)] + [(t, -1.0) for t in _terms(negative)]
        if not signed:
            raise InvalidArgument("most_similar: give at least one word or vector")
        query = np.zeros(self.vector_size, np.float32)
        exclude = set()
        for term, sign in signed:
            weight = sign
            if isinstance(term, tuple):
                term, weight = term
            v, row = self._unit(term)
            query += weight * v
            if row is not None:
                exclude.add(row)
        unit = self.queries.unit[:restrict_vocab]
        sims = unit @ unit_vector(query)
        return self._scores(sims, topn, exclude)

    def similar_by_word(self, word: Key, topn: int | None = 10,
                        restrict_vocab: int | None = None) -> list[tuple[str, float]] | np.ndarray:
        """The words nearest one word: ``most_similar([word])``."""
        return self.most_similar([word], topn=topn, restrict_vocab=restrict_vocab)

    similar_by_key = similar_by_word

    def similar_by_vector(self, vector: np.ndarray, topn: int | None = 10,
                          restrict_vocab: int | None = None) -> list[tuple[str, float]] | np.ndarray:
        """The words nearest a vector (none left out)."""
        return self.most_similar([vector], topn=topn, restrict_vocab=restrict_vocab)

    def most_similar_cosmul(self, positive: Term | Iterable[Term] | None = None,
                            negative: Term | Iterable[Term] | None = None, topn: int | None = 10,
                            restrict_vocab: int | None = None) -> list[tuple[str, float]] | np.ndarray:
        """3CosMul (Levy & Goldberg 2014): the words that maximise the product of their cosines with the
        positive terms over that with the negative ones, each shifted to [0, 1]; gensim's
        ``most_similar_cosmul``."""
        self._topn(topn)
        if topn is not None and topn < 1:
            return []
        found = [[self._unit(t) for t in _terms(given)] for given in (positive, negative)]
        if not found[0]:
            raise InvalidArgument("most_similar_cosmul: give at least one positive word or vector")
        unit = self.queries.unit[:restrict_vocab]
        shifted = [[(1 + unit @ v) / 2 for v, _ in terms] for terms in found]
        sims = np.prod(shifted[0], axis=0) / (np.prod(shifted[1], axis=0) + 1e-6) if shifted[1] else \
            np.prod(shifted[0], axis=0)
        return self._scores(sims, topn, {row for terms in found for _, row in terms if row is not None})

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]]:
        """"a is to b as c is to ?": the words nearest b − a + c (3CosAdd), the three left out."""
        return self.queries.analogy(a, b, c, topn).neighbours

    def similarity(self, word1: Key, word2: Key) -> float:
        """The cosine similarity of two words' vectors."""
        return float(self._unit(word1)[0] @ self._unit(word2)[0])

    def distance(self, word1: Key, word2: Key) -> float:
        """1 − the cosine similarity."""
        return 1.0 - self.similarity(word1, word2)

    def distances(self, word_or_vector: Key | np.ndarray, other_words: Iterable[Key] = ()) -> np.ndarray:
        """1 − the cosine of a word (or vector) with each of ``other_words``, or with every word."""
        v, _ = self._unit(word_or_vector)
        others = list(other_words)
        unit = self.queries.unit[[self.get_index(w) for w in others]] if others else self.queries.unit
        return 1 - unit @ v

    def n_similarity(self, words1: Iterable[Key], words2: Iterable[Key]) -> float:
        """The cosine of the means of two sets of words' vectors (as gensim: the raw vectors' means)."""
        words1, words2 = list(words1), list(words2)
        if not words1 or not words2:
            raise InvalidArgument("n_similarity: both lists need at least one word")
        means = [np.mean([self.get_vector(w) for w in ws], axis=0) for ws in (words1, words2)]
        return float(unit_vector(means[0]) @ unit_vector(means[1]))

    def closer_than(self, word1: Key, word2: Key) -> list[str]:
        """The words nearer ``word1`` than ``word2`` is."""
        distances = self.distances(word1)
        first, second = self.get_index(word1), self.get_index(word2)
        return [self.words[i] for i in np.flatnonzero(distances < distances[second]) if i != first]

    def rank(self, word1: Key, word2: Key) -> int:
        """Where ``word2`` comes among ``word1``'s neighbours (1: the nearest)."""
        return len(self.closer_than(word1, word2)) + 1

    def doesnt_match(self, words: Iterable[Key]) -> str:
        """The word whose unit vector is farthest from the mean of all the words' (gensim's ``doesnt_match``);
        words not in the vocabulary are left out with a warning, as gensim leaves them out."""
        words = list(words)
        used = [w for w in words if w in self]
        if len(used) < len(words):
            log.warning("doesnt_match: leaving out words not in the vocabulary: %s",
                        ", ".join(str(w) for w in words if w not in self))
        if not used:
            raise InvalidArgument("doesnt_match: none of the words is in the vocabulary")
        unit = np.vstack([self._unit(w)[0] for w in used])
        mean = unit.mean(axis=0)
        return used[int(np.argmin(unit @ unit_vector(mean)))]

    def to_gensim(self) -> KeyedVectors:
        """The vectors as gensim's ``KeyedVectors`` (words, vectors and counts), for code written for gensim.
        Needs gensim (``pip install gensim``); a subword run's unseen words stay w2v's (``vec[word]``)."""
        try:
            from gensim.models import KeyedVectors
        except ImportError:
            raise W2VError("to_gensim: gensim is not installed (pip install gensim)") from None
        kv = KeyedVectors(self.vector_size)
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
    from w2v.meta import SORT_KEYS, STATUSES

    if sort not in SORT_KEYS:
        raise InvalidArgument(f"list_runs: sort={sort!r} is none of {', '.join(SORT_KEYS)}")
    if status is not None and status not in STATUSES:
        raise InvalidArgument(f"list_runs: status={status!r} is none of {', '.join(STATUSES)}")
    return experiments.list_runs(Path(root), sort, status)


def _call(function: str, first: object, **arguments: object) -> str:
    """A Python call as meta.json and the export card record it: ``w2v.train('base.yaml', name='news')``."""
    given = [repr(str(first) if isinstance(first, Path) else first)]
    given += [f"{k}={str(v) if isinstance(v, Path) else v!r}" for k, v in arguments.items() if v not in (None, [], ())]
    return f"w2v.{function}({', '.join(given)})"


def _handlers(command_line: bool) -> contextlib.AbstractContextManager[None]:
    """Around training: the caller's signal handlers back afterwards, unless the caller is the command line,
    whose process ends with the run (see ``interrupts``)."""
    return contextlib.nullcontext() if command_line else interrupts.caller_handlers()


def train(config: str | Path, overrides: Iterable[str] = (), name: str | None = None,
          run_dir: str | Path | None = None, init_from: str | Path | None = None, progress: bool = False,
          command_line: bool = False) -> Result:
    """Train a new run from a config file, as ``w2v train`` does: ``overrides`` are ``--set`` items
    (``"train.epochs=2"``), ``name`` the run's name under run.output_dir (or ``run_dir`` an exact path),
    ``init_from`` a run to start from. Returns the run's ``Result``: ``run_dir``, ``step``, ``loss``...
    Ctrl-C saves a checkpoint and then raises ``KeyboardInterrupt`` (the caller's handlers restored), unless
    ``command_line`` (``w2v train`` itself): then the result carries the signal, the stop's handlers stay for
    the process's last moments (a second Ctrl-C still aborts) and meta.json records the command line."""
    from w2v import config as config_lib
    from w2v import corpus, pretokenize, quiet

    if name is not None and run_dir is not None:
        raise InvalidArgument(f"train: give a name (run {name!r} under run.output_dir) or a run directory "
                              f"({run_dir}), not both")
    given = list(overrides)
    overrides = given + ([f"run.name={name}"] if name else []) + \
        ([f"init.from_run={runs.find(init_from)}"] if init_from else [])
    config_obj = config_lib.load(config, overrides)
    config_lib.check_kernel(config_obj)
    corpus.check(config_obj.data.corpus, config_obj.data.cache_dir)  # before TensorFlow's seconds of loading
    with runs.new_run_dir(config_obj, config, overrides, run_dir) as target:
        # One process writes the run (no cluster): a taken directory is refused at once, then a new corpus is
        # tokenised while TensorFlow loads.
        alone = config_obj.distribute.strategy in ("default", "mirrored")
        if alone:
            runs.check_new(target, config_obj)
            runs.check_writable(target, f"run directory {target}")
        with pretokenize.alongside(config_obj.data, progress=progress) if alone else contextlib.nullcontext():
            quiet.tensorflow()
        from w2v import trainer

        command = None if command_line else \
            _call("train", config, overrides=given, name=name, run_dir=run_dir, init_from=init_from)
        with _handlers(command_line):
            return trainer.train(config_obj, target, show_progress=progress, overrides=overrides, command=command)


def resume(run: str | Path, overrides: Iterable[str] = (), progress: bool = False,
           command_line: bool = False) -> Result:
    """Continue a run from its latest checkpoint, as ``w2v resume`` does (``overrides`` such as
    ``"train.epochs=20"`` extend it). Ctrl-C saves a checkpoint and then raises ``KeyboardInterrupt``;
    ``command_line``: as for ``train``."""
    from w2v import config as config_lib
    from w2v import quiet

    path = runs.find(run)
    # What can be told without TensorFlow (whose import takes seconds) is told first.
    config_lib.check_kernel(runs.load_config(path, list(overrides)))
    runs.check_free(path)
    runs.check_writable(path, f"run directory {path}")
    quiet.tensorflow()
    from w2v import trainer

    command = None if command_line else _call("resume", run, overrides=list(overrides))
    with _handlers(command_line):
        return trainer.resume(path, list(overrides), show_progress=progress, command=command)


__all__ = ["InvalidArgument", "UnknownWord", "WordVectors", "list_runs", "load", "resume", "train"]
