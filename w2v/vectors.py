"""Word vectors as users query them: cosine nearest neighbours and analogies, by word.

Used by ``w2v neighbors`` and the evaluation code alike, so the command line only parses and prints.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from w2v.errors import UnknownWord, W2VError


@dataclass
class Answer:
    """A query (a word, or "a : b :: c : ?") and its nearest words with their cosine similarity."""

    query: str
    neighbours: list[tuple[str, float]]


class Vectors:
    """Unit-normalised vectors with gensim's case-insensitive lookup for evaluation, and exact (or,
    for a lowercased corpus, lowercased) lookup for queries. ``unseen`` (subword models) gives words
    outside the vocabulary a vector from their n-grams."""

    def __init__(self, words: list[str], vectors: np.ndarray, lowercase: bool = False,
                 unseen: Callable[[str], np.ndarray] | None = None) -> None:
        self.words = words
        self.unseen = unseen
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.unit = (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
        self.index = {w: i for i, w in enumerate(words)}
        self.lowercase = lowercase

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
        key = self.key(word)
        if key not in self.index:
            raise self.unknown(word)
        return self.index[key]

    def neighbours(self, query: np.ndarray, k: int, exclude: set[int]) -> list[tuple[str, float]]:
        """The k words most cosine-similar to ``query``, skipping ids in ``exclude``."""
        sims = self.unit @ (query / max(np.linalg.norm(query), 1e-12))
        take = min(len(sims), k + len(exclude))
        top = np.argpartition(-sims, take - 1)[:take]
        order = top[np.argsort(-sims[top], kind="stable")]
        return [(self.words[i], float(sims[i])) for i in order if i not in exclude][:k]

    def vector(self, word: str) -> tuple[np.ndarray, int | None]:
        """A query word's unit vector and row; a word outside the vocabulary gets its n-grams' vector
        (row None) where the model has subwords, else a W2VError naming it."""
        key = self.key(word)
        if key in self.index or self.unseen is None:
            i = self.id(word)
            return self.unit[i], i
        v = self.unseen(key)
        return v / max(float(np.linalg.norm(v)), 1e-12), None

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
