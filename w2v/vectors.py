"""Word vectors as users query them: cosine nearest neighbours and analogies, by word.

Used by ``w2v neighbors`` and the evaluation code alike, so the command line only parses and prints.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from w2v.errors import UnknownWord, W2VError

# Rows are normalised a few megabytes at a time: blocks that stay in the cache while they are squared, summed,
# divided and written (a 957k x 300 table: 1.2 s in 4 MB blocks, 3.4 s in 78 MB ones).
BLOCK_BYTES = 4 << 20


def unit_blocks(vectors: np.ndarray) -> Iterator[np.ndarray]:
    """The rows of ``vectors`` each divided by its length (a zero row stays zero), as float32, a block of rows at
    a time: no temporary the size of the table (a 957k x 300 table's squares alone are 1.1 GB), and the same
    values as the whole table at once."""
    rows = max(BLOCK_BYTES // max(vectors.itemsize * int(np.prod(vectors.shape[1:])), 1), 1)
    for start in range(0, len(vectors), rows):
        block = vectors[start:start + rows]
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        yield (block / np.where(norms == 0, 1, norms)).astype(np.float32, copy=False)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """``unit_blocks`` as one array."""
    out = np.empty(vectors.shape, np.float32)
    start = 0
    for block in unit_blocks(vectors):
        out[start:start + len(block)] = block
        start += len(block)
    return out


def unit_vector(v: np.ndarray) -> np.ndarray:
    """One vector divided by its length (a zero vector stays zero)."""
    return v / max(float(np.linalg.norm(v)), 1e-12)


class UnitRows:
    """A table's rows of unit length, each normalised as it is indexed (``unit[i]``, ``unit[:n]``,
    ``unit[ids]``): an evaluation reads its analogies' ``restrict`` rows and its word pairs' rows, never all of
    a table's unit vectors (at a million words x 300, 1.1 GB)."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table
        self.shape = table.shape

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: object) -> np.ndarray:
        rows = self.table[index]
        return unit_rows(rows) if rows.ndim == 2 else unit_rows(rows[None])[0]


@dataclass
class Answer:
    """A query (a word, or "a : b :: c : ?") and its nearest words with their cosine similarity."""

    query: str
    neighbours: list[tuple[str, float]]


class Vectors:
    """Unit-normalised vectors with gensim's case-insensitive lookup for evaluation, and exact (or,
    for a lowercased corpus, lowercased) lookup for queries. ``unseen`` (subword models) gives words
    outside the vocabulary a vector from their n-grams. ``unit``, when given, are the vectors' unit rows
    (``unit_rows``), as a run's vector cache keeps them."""

    def __init__(self, words: list[str], vectors: np.ndarray, lowercase: bool = False,
                 unseen: Callable[[str], np.ndarray] | None = None, unit: np.ndarray | UnitRows | None = None,
                 ) -> None:
        self.words = words
        self.unseen = unseen
        self.unit = unit_rows(vectors) if unit is None else unit
        self.lowercase = lowercase

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """Word -> row, built on first use (0.4 s for a million words: more than a query itself)."""
        return {w: i for i, w in enumerate(self.words)}

    def row(self, key: str) -> int | None:
        """The row of a word spelled as the vocabulary spells it, None when it has none: from the index once
        something built it, else by a scan of the words (10 ms for a million), which a query of a few words
        needs instead."""
        if "index" in self.__dict__:
            return self.index.get(key)
        try:
            return self.words.index(key)
        except ValueError:
            return None

    def upper_index(self, restrict: int) -> dict[str, int]:
        """Uppercased word -> id over the ``restrict`` most frequent words; the most frequent
        spelling wins, as in gensim."""
        return {w.upper(): i for i, w in reversed(list(enumerate(self.words[:restrict])))}

    def unknown(self, word: str) -> UnknownWord:
        """An error naming an unknown word and the closest known spellings."""
        close = difflib.get_close_matches(word, self.words[:100000], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return UnknownWord(f"word {word!r} is not in the vocabulary{hint}")

    def key(self, word: str) -> str:
        """A query word as the vocabulary spells it: lowercased when the corpus was."""
        return word.lower() if self.lowercase else word

    def id(self, word: str) -> int:
        """The row of a query word (lowercased first when the corpus was), or a W2VError naming it."""
        row = self.row(self.key(word))
        if row is None:
            raise self.unknown(word)
        return row

    def neighbours(self, query: np.ndarray, k: int, exclude: set[int]) -> list[tuple[str, float]]:
        """The k words most cosine-similar to ``query``, skipping ids in ``exclude``."""
        return self.top(self.unit @ unit_vector(query), k, exclude)

    def top(self, scores: np.ndarray, k: int, exclude: set[int]) -> list[tuple[str, float]]:
        """The k words of highest score (``scores``: one a word, for the first words or all of them), with their
        scores, skipping ids in ``exclude``."""
        take = min(len(scores), k + len(exclude))
        if take == 0:
            return []
        top = np.argpartition(-scores, take - 1)[:take]
        order = top[np.argsort(-scores[top], kind="stable")]
        return [(self.words[i], float(scores[i])) for i in order if i not in exclude][:k]

    def vector(self, word: str) -> tuple[np.ndarray, int | None]:
        """A query word's unit vector and row; a word outside the vocabulary gets its n-grams' vector
        (row None) where the model has subwords, else a W2VError naming it."""
        key = self.key(word)
        if self.unseen is None or self.row(key) is not None:
            i = self.id(word)
            return self.unit[i], i
        return unit_vector(self.unseen(key)), None

    def nearest(self, words: list[str], k: int) -> tuple[list[Answer], list[W2VError]]:
        """The neighbours of each word, and an error for each one that has no vector."""
        answers, unknown = [], []
        for word in words:
            try:
                v, i = self.vector(word)
            except W2VError as e:
                unknown.append(e)
                continue
            label = word if i is not None else f"{word} (not in the vocabulary: its vector is its n-grams')"
            answers.append(Answer(label, self.neighbours(v, k, set() if i is None else {i})))
        return answers, unknown

    def analogy(self, a: str, b: str, c: str, k: int) -> Answer:
        """"a is to b as c is to ?": the words nearest b - a + c (3CosAdd), the three left out."""
        (va, ia), (vb, ib), (vc, ic) = (self.vector(w) for w in (a, b, c))
        exclude = {i for i in (ia, ib, ic) if i is not None}
        return Answer(f"{a} : {b} :: {c} : ?", self.neighbours(vb - va + vc, k, exclude))
