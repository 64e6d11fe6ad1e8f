"""Vocabulary: counting, min_count / max_vocab, frequency order, subsampling and noise tables.

The corpus is tokenised once: each token gets a provisional id in order of first appearance
(C-level dict and array operations, no Python statement per token), counts come from a
bincount, and a lookup table then maps provisional ids to the final frequency-sorted ids.
"""

from __future__ import annotations

import itertools
import os
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from w2v.errors import W2VError


@dataclass
class Vocab:
    """Words sorted by descending count (id 0 is the most frequent), as the samplers expect."""

    words: list[str]
    counts: np.ndarray
    raw_tokens: int = 0  # tokens in the corpus before min_count / max_vocab, for raw words/s

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def save(self, path: str | Path) -> None:
        """Write ``word<TAB>count`` lines in id order, atomically."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for w, c in zip(self.words, self.counts, strict=True):
                f.write(f"{w}\t{int(c)}\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a vocab.tsv written by ``save``."""
        words, counts = [], []
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 2 or not parts[1].isdigit():
                    raise W2VError(f"vocabulary {path}: malformed line {lineno}")
                words.append(parts[0])
                counts.append(int(parts[1]))
        return cls(words, np.asarray(counts, dtype=np.int64), int(sum(counts)))

    def keep_probabilities(self, threshold: float) -> np.ndarray:
        """Mikolov's subsampling: keep a word of frequency f with probability (sqrt(f/t) + 1) t/f."""
        if threshold <= 0:
            return np.ones(len(self), dtype=np.float32)
        f = self.counts / self.counts.sum()
        keep = (np.sqrt(f / threshold) + 1.0) * threshold / f
        return np.minimum(keep, 1.0).astype(np.float32)

    def noise_distribution(self, kind: str, power: float) -> np.ndarray:
        """Noise probabilities per id: counts**power, or the log-uniform (Zipf) law over ranks."""
        if kind == "log_uniform":
            k = np.arange(len(self), dtype=np.float64)
            p = (np.log(k + 2) - np.log(k + 1)) / np.log(len(self) + 1)
        else:
            p = self.counts.astype(np.float64) ** power
        return p / p.sum()


@dataclass
class EncodedCorpus:
    """The corpus as vocabulary ids, with the sentence each token belongs to."""

    vocab: Vocab
    ids: np.ndarray  # int32, out-of-vocabulary tokens removed
    sentence_ids: np.ndarray  # int32, same length


def build(lines: Iterable[str], tokenize: Callable[[str], list[str]], min_count: int,
          max_vocab: int | None, source: str = "corpus") -> EncodedCorpus:
    """Count and encode a corpus in one pass over its lines."""
    provisional: defaultdict[str, int] = defaultdict(itertools.count().__next__)
    lookup = provisional.__getitem__
    tokens = array("i")
    lengths = array("i")
    for line in lines:
        toks = tokenize(line)
        if toks:
            tokens.extend(map(lookup, toks))
            lengths.append(len(toks))
    if not tokens:
        raise W2VError(f"corpus {source}: no words found (empty corpus)")
    ids = np.frombuffer(tokens, dtype=np.int32)
    counts = np.bincount(ids)
    words = np.array(list(provisional), dtype=object)
    # Stable sort keeps first-appearance order among equal counts, so ids are reproducible.
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] >= min_count]
    if max_vocab is not None:
        order = order[:max_vocab]
    if len(order) == 0:
        raise W2VError(f"corpus {source}: vocabulary is empty after min_count={min_count} "
                       f"(most frequent word seen {counts.max()} times)")
    remap = np.full(len(counts), -1, dtype=np.int32)
    remap[order] = np.arange(len(order), dtype=np.int32)
    final = remap[ids]
    sentence_ids = np.repeat(np.arange(len(lengths), dtype=np.int32), np.frombuffer(lengths, dtype=np.int32))
    kept = final >= 0
    vocab = Vocab(words[order].tolist(), counts[order].astype(np.int64), raw_tokens=len(ids))
    return EncodedCorpus(vocab, final[kept], sentence_ids[kept])
