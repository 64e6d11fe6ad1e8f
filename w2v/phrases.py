"""Phrases (word2vec.c's word2phrase, gensim's ``Phrases``): pairs of tokens that occur together far more
often than chance, such as "new york", become one token ("new_york") before the vocabulary is chosen.

A pass scores every adjacent pair of the tokenised corpus (Mikolov et al. 2013, section 4, as word2phrase
computes it: (count(a b) - min_count) / (count(a) count(b)) * tokens; or the normalised PMI), joins the
pairs above the threshold from left to right (a token joins at most one pair a pass, so each pass adds one
word at most to a phrase), and writes the result as a tokenised corpus of its own beside the original,
keyed by its settings: counting and joining are numpy over each shard, and later runs reuse the result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from w2v import fileio, shards
from w2v.shards import SEPARATOR, ShardedCorpus

PHRASES = "phrases.tsv"  # phrase, score, count: in the joined corpus's cache and in the run directory
HEADER = "phrase\tscore\tcount\n"


@dataclass(frozen=True)
class Settings:
    min_count: int
    threshold: float
    scoring: str  # mikolov or npmi
    delimiter: str

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def _pairs(values: np.ndarray, vocab: int) -> np.ndarray:
    """The key a * vocab + b of each adjacent pair of tokens (-1 where a sentence ends between them)."""
    a, b = values[:-1].astype(np.int64), values[1:].astype(np.int64)
    return np.where((a >= 0) & (b >= 0), a * vocab + b, -1)


def count_pairs(corpus: ShardedCorpus, frequent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct adjacent pairs of ``frequent`` tokens (their keys, sorted) and how often each occurs."""
    vocab = len(corpus.counts)
    keys, counts = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for shard in range(len(corpus.shard_sizes)):
        values = np.fromfile(corpus.path(shard), dtype=np.int32)
        pairs = _pairs(values, vocab)
        pairs = pairs[(pairs >= 0) & frequent[np.maximum(values[:-1], 0)] & frequent[np.maximum(values[1:], 0)]]
        k, c = np.unique(pairs, return_counts=True)
        keys.append(k)
        counts.append(c)
    every, where = np.unique(np.concatenate(keys), return_inverse=True)
    return every, np.bincount(where, weights=np.concatenate(counts)).astype(np.int64)


def score(pair_counts: np.ndarray, a: np.ndarray, b: np.ndarray, tokens: int, settings: Settings) -> np.ndarray:
    """The score of pairs that occur ``pair_counts`` times, of words that occur ``a`` and ``b`` times."""
    pab, pa, pb = (x.astype(np.float64) for x in (pair_counts, a, b))
    if settings.scoring == "npmi":
        return np.log(pab * tokens / (pa * pb)) / -np.log(pab / tokens)
    return (pab - settings.min_count) / (pa * pb) * tokens


def detect(corpus: ShardedCorpus, settings: Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The phrases of one pass: their pair keys (sorted), scores and counts."""
    frequent = corpus.counts >= settings.min_count
    keys, counts = count_pairs(corpus, frequent)
    keep = counts >= settings.min_count
    keys, counts = keys[keep], counts[keep]
    vocab = len(corpus.counts)
    scores = score(counts, corpus.counts[keys // vocab], corpus.counts[keys % vocab], corpus.raw_tokens, settings)
    chosen = scores > settings.threshold
    return keys[chosen], scores[chosen], counts[chosen]


def join(values: np.ndarray, vocab: int, phrase_keys: np.ndarray, phrase_ids: np.ndarray) -> np.ndarray:
    """A shard with its phrases joined, left to right: in a run of overlapping candidates (a b c, with
    a b and b c both phrases) the first, third, ... pair is joined, as word2phrase reads a line."""
    pairs = _pairs(values, vocab)
    slot = np.clip(np.searchsorted(phrase_keys, pairs), 0, max(len(phrase_keys) - 1, 0))
    hit = (pairs >= 0) & (phrase_keys[slot] == pairs) if len(phrase_keys) else np.zeros(len(pairs), bool)
    at = np.flatnonzero(hit)
    if len(at) == 0:
        return values
    starts = np.r_[True, np.diff(at) != 1]
    run_start = np.maximum.accumulate(np.where(starts, at, 0))
    at = at[(at - run_start) % 2 == 0]
    joined = values.copy()
    joined[at] = phrase_ids[slot[at]]
    return np.delete(joined, at + 1)


def _read_phrases(path: Path) -> list[tuple[str, float, int]]:
    """The rows of a phrases.tsv (none when there is no file)."""
    if not path.exists():
        return []
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line + "\n" != HEADER]
    return [(phrase, float(score), int(count)) for phrase, score, count in rows]


def write(corpus: ShardedCorpus, settings: Settings, directory: Path, progress: bool = False) -> ShardedCorpus:
    """One pass: detect the phrases of ``corpus`` and write it joined to ``directory`` (aside, then
    renamed into place), with the phrases so far in phrases.tsv."""
    keys, scores, counts = detect(corpus, settings)
    vocab = len(corpus.counts)
    words = corpus.words
    index = {w: i for i, w in enumerate(words)}
    ids = np.empty(len(keys), np.int32)
    found = _read_phrases(corpus.directory / PHRASES)  # the earlier passes'
    for j, (key, s, c) in enumerate(zip(keys.tolist(), scores.tolist(), counts.tolist(), strict=True)):
        phrase = f"{words[key // vocab]}{settings.delimiter}{words[key % vocab]}"
        if phrase not in index:  # the text may hold the joined spelling already: one word, one id
            index[phrase] = len(words)
            words.append(phrase)
        ids[j] = index[phrase]
        found.append((phrase, s, c))
    bar = tqdm(total=len(corpus.shard_sizes), desc=f"joining {len(keys):,} phrases (once; cached)", unit=" shards",
               disable=None if progress else True, leave=False)  # None: only on a terminal
    with bar, fileio.replacing(directory, directory=True) as tmp:
        sizes, total = [], np.zeros(len(words), np.int64)
        for shard in range(len(corpus.shard_sizes)):
            values = join(np.fromfile(corpus.path(shard), dtype=np.int32), vocab, keys, ids)
            values.tofile(tmp / f"shard-{shard:05d}.i32")
            total += np.bincount(values[values != SEPARATOR], minlength=len(words))
            sizes.append(len(values))
            bar.update()
        (tmp / "words.txt").write_text("".join(w + "\n" for w in words), encoding="utf-8")
        np.save(tmp / "counts.npy", total)
        found.sort(key=lambda row: (-row[1], row[0]))  # the strongest first: what a reader looks for
        (tmp / PHRASES).write_text(HEADER + "".join(f"{p}\t{s:.6g}\t{c}\n" for p, s, c in found), encoding="utf-8")
        (tmp / "index.json").write_text(json.dumps({"format": shards.FORMAT, "shard_sizes": sizes,
                                                    "phrases": asdict(settings)}))
    return ShardedCorpus.load(directory)


def open_or_write(corpus: ShardedCorpus, passes: int, settings: Settings, progress: bool = False) -> ShardedCorpus:
    """The corpus after ``passes`` passes of phrase joining, from the cache beside it or written now."""
    for _ in range(passes):
        directory = corpus.directory.with_name(f"{corpus.directory.name}+phrases-{settings.key()}")
        corpus = ShardedCorpus.load(directory) if (directory / "index.json").exists() else \
            write(corpus, settings, directory, progress)
    return corpus
