"""Subword vectors (fastText's, Bojanowski et al. 2017): a word's input vector is the mean of its own row
and the rows of its character n-grams, hashed into ``buckets`` rows, so a word never seen still gets a
vector from its n-grams.

The n-grams of a word are those of ``<word>`` with min_n to max_n characters (the whole of ``<word>``
too, when short enough), hashed as fastText hashes them (32-bit FNV-1a over the UTF-8 bytes, each byte
sign-extended as fastText's ``int8_t`` cast does) modulo ``buckets``: the n-gram table a run exports can
be used by any code that hashes the same way (fastText's, gensim's ``ft_hash_bytes``).

The model keeps one input table: rows 0..V-1 the words, rows V..V+buckets-1 the n-gram buckets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FNV_OFFSET = 2166136261
FNV_PRIME = 16777619


@dataclass(frozen=True)
class Settings:
    min_n: int
    max_n: int
    buckets: int


def settings(model: object) -> Settings:
    """The subword settings of a model config (model.min_n, max_n, buckets)."""
    return Settings(model.min_n, model.max_n, model.buckets)


def ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """The character n-grams of ``<word>``, shortest first."""
    extended = f"<{word}>"
    return [extended[i:i + n] for n in range(min_n, max_n + 1) for i in range(len(extended) - n + 1)]


def hashes(grams: list[str]) -> np.ndarray:
    """fastText's hash of each n-gram (uint32), vectorised over all of them a byte position at a time."""
    encoded = [g.encode("utf-8") for g in grams]
    if not encoded:
        return np.zeros(0, np.uint32)
    lengths = np.fromiter((len(e) for e in encoded), np.int64, len(encoded))
    padded = np.zeros((len(encoded), int(lengths.max())), np.uint8)
    flat = np.frombuffer(b"".join(encoded), np.uint8)
    rows = np.repeat(np.arange(len(encoded)), lengths)
    cols = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    padded[rows, cols] = flat
    h = np.full(len(encoded), FNV_OFFSET, np.uint64)
    for j in range(padded.shape[1]):
        byte = padded[:, j].astype(np.int8).astype(np.int64).astype(np.uint64) & np.uint64(0xFFFFFFFF)
        h = np.where(j < lengths, ((h ^ byte) * np.uint64(FNV_PRIME)) & np.uint64(0xFFFFFFFF), h)
    return h.astype(np.uint32)


def table(words: list[str], settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Each word's input rows, as CSR: ``ids[offsets[w]:offsets[w + 1]]`` are the word's own row, then
    V + the bucket of each of its n-grams (repeats kept, as fastText keeps them)."""
    grams = [ngrams(w, settings.min_n, settings.max_n) for w in words]
    counts = np.fromiter((len(g) + 1 for g in grams), np.int64, len(words))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    buckets = hashes([g for gs in grams for g in gs]).astype(np.int64) % settings.buckets + len(words)
    ids = np.empty(offsets[-1], np.int64)
    own = offsets[:-1]
    ids[own] = np.arange(len(words))
    rest = np.ones(offsets[-1], bool)
    rest[own] = False
    ids[rest] = buckets
    return offsets.astype(np.int32), ids.astype(np.int32)


def compose(rows: np.ndarray, offsets: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Every word's vector: the mean of its input rows (its own and its n-grams')."""
    from scipy import sparse  # here, not at import: the command line imports this module for every command

    counts = np.diff(offsets)
    means = sparse.csr_matrix((np.repeat(1.0 / counts, counts).astype(np.float32), ids, offsets),
                              shape=(len(counts), len(rows)))
    return np.asarray(means @ rows, dtype=np.float32)


def unseen(word: str, ngram_rows: np.ndarray, settings: Settings) -> np.ndarray:
    """The vector of a word outside the vocabulary: the mean of its n-grams' rows."""
    buckets = hashes(ngrams(word, settings.min_n, settings.max_n)).astype(np.int64) % settings.buckets
    if len(buckets) == 0:  # shorter than min_n, even with its < and >: nothing is known of it
        return np.zeros(ngram_rows.shape[1], ngram_rows.dtype)
    return ngram_rows[buckets].mean(axis=0)
