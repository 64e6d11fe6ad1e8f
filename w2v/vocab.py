"""Vocabulary: min_count / max_vocab over a tokenised corpus, frequency order, subsampling and noise.

Counting happens once, when a corpus is tokenised into shards (w2v/shards.py); choosing the
vocabulary is then a sort of the counts and a lookup table from provisional ids to final ids, which
the pipeline applies to each shard as it reads it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from w2v import fileio, shards
from w2v.errors import W2VError


@dataclass
class Vocab:
    """Words sorted by descending count (id 0 is the most frequent), as the samplers expect."""

    words: list[str]
    counts: np.ndarray

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """Word -> id (built on first use: 0.3 s for a million words, which a query of a few words never needs)."""
        return {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def save(self, path: str | Path) -> None:
        """Write ``word<TAB>count`` lines in id order, atomically."""
        fileio.write_text(path, "".join(f"{w}\t{int(c)}\n" for w, c in zip(self.words, self.counts, strict=True)))

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a vocab.tsv written by ``save``; a W2VError naming the first malformed line. Split as one string
        and checked with array operations: a line at a time took 1.3 s for a million words, this 0.4 s."""
        raw = Path(path).read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise W2VError(f"vocabulary {path}: not UTF-8 (byte offset {e.start})") from None
        data = np.frombuffer(raw, np.uint8)
        ends = np.flatnonzero(data == ord("\n"))
        lines = len(ends) + (0 if not raw or raw.endswith(b"\n") else 1)
        tabs = np.bincount(np.searchsorted(ends, np.flatnonzero(data == ord("\t"))), minlength=lines)
        fields = text.replace("\n", "\t").split("\t")[:2 * lines]
        words, counts = fields[0::2], fields[1::2]
        bad = np.flatnonzero(tabs != 1)
        if len(bad):
            raise W2VError(f"vocabulary {path}: malformed line {bad[0] + 1}")
        if not all(map(str.isdigit, counts)):
            lineno = next(i for i, count in enumerate(counts, 1) if not count.isdigit())
            raise W2VError(f"vocabulary {path}: malformed line {lineno}")
        return cls(words, np.fromiter(map(int, counts), np.int64, len(counts)))

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
    """A sharded corpus with its chosen vocabulary."""

    vocab: Vocab
    shards: shards.ShardedCorpus
    remap: np.ndarray  # provisional id -> vocabulary id, -1 for words left out
    inherited: int = 0  # leading vocabulary rows that come from the run this one started from (init.from_run)

    @property
    def raw_tokens(self) -> int:
        """Tokens before min_count / max_vocab: what words/s and the schedule count, as gensim does."""
        return self.shards.raw_tokens


def select(sharded: shards.ShardedCorpus, min_count: int, max_vocab: int | None,
           source: str = "corpus") -> EncodedCorpus:
    """Apply min_count and max_vocab, most frequent first (ties keep first-appearance order)."""
    counts = sharded.counts
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] >= min_count]
    if max_vocab is not None:
        order = order[:max_vocab]
    if len(order) == 0:
        raise W2VError(f"corpus {source}: vocabulary is empty after min_count={min_count} "
                       f"(most frequent word seen {counts.max()} times)")
    remap = np.full(len(counts), -1, dtype=np.int32)
    remap[order] = np.arange(len(order), dtype=np.int32)
    words = sharded.words_at(order)
    return EncodedCorpus(Vocab(words, counts[order].astype(np.int64)), sharded, remap)


def encode(sharded: shards.ShardedCorpus, vocab: Vocab, inherited: int = 0) -> EncodedCorpus:
    """The corpus read with a given vocabulary (its words found by spelling; words it lacks left out)."""
    remap = np.array([vocab.index.get(w, -1) for w in sharded.words], dtype=np.int32)
    return EncodedCorpus(vocab, sharded, remap, inherited)


def extend(old: Vocab, chosen: EncodedCorpus) -> EncodedCorpus:
    """A warm start's vocabulary: ``old``'s words in their order, each count plus its count in this
    corpus, then the words ``chosen`` (this corpus's own selection) adds, most frequent first; the
    old words are read wherever they occur, whatever min_count says of their new counts."""
    new = [i for i, w in enumerate(chosen.vocab.words) if w not in old.index]
    words = old.words + [chosen.vocab.words[i] for i in new]
    seen = np.zeros(len(old), np.int64)
    for w, c in zip(chosen.shards.words, chosen.shards.counts, strict=True):
        if w in old.index:
            seen[old.index[w]] = c
    counts = np.concatenate([old.counts + seen, chosen.vocab.counts[new]])
    return encode(chosen.shards, Vocab(words, counts), inherited=len(old))


def build(lines: Iterable[str], tokenize: Callable[[str], list[str]], min_count: int, max_vocab: int | None,
          directory: Path, source: str = "corpus", shard_tokens: int = shards.SHARD_TOKENS) -> EncodedCorpus:
    """Tokenise lines into ``directory`` and choose the vocabulary (no cache lookup)."""
    return select(shards.write(lines, tokenize, directory, shard_tokens, source), min_count, max_vocab, source)
