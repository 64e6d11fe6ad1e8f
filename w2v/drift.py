"""What runs learned, word by word: one run's vectors rotated onto another's (orthogonal Procrustes over the
words both know, as HistWords aligns decades), each word's nearest neighbours on both sides and their overlap
(Jaccard@k), the words that moved most and least; and over several runs, how stable each word's neighbours
are (Antoniak & Mimno 2018: one run's neighbours are not to be trusted alone).

Neighbours are searched among the shared words only, so that a word one run lacks never counts as a change.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from w2v.errors import W2VError
from w2v.vectors import Vectors

SHOWN_NEIGHBOURS = 5  # per word and run in the printed tables; --json has all k
CHUNK = 256  # query rows scored at a time: 256 × 100k float32 similarities is 100 MB


@dataclass
class Word:
    """One word across runs: its neighbours in each run, their overlap (mean Jaccard@k over pairs of runs)
    and, between two runs, the cosine of its vectors once the second run is rotated onto the first."""

    word: str
    jaccard: float
    neighbours: list[list[str]]
    cosine: float | None = None


@dataclass
class Comparison:
    """Runs compared word by word over the words they share."""

    runs: list[str]
    shared: int  # words in every run's vocabulary
    only: list[int]  # words in each run's vocabulary and not in all the others'
    k: int
    words: list[Word]  # two runs: most moved first; more: least stable first (given words: as given)
    missing: list[str] = field(default_factory=list)  # words asked about that not every run knows
    chosen: bool = False  # the words were named by the user (not the most frequent shared ones)

    @property
    def pair(self) -> bool:
        return len(self.runs) == 2

    def to_json(self) -> dict:
        """Everything, for ``--json``."""
        summary = {"mean_jaccard": _mean([w.jaccard for w in self.words])}
        if self.pair:
            summary["mean_cosine"] = _mean([w.cosine for w in self.words])
        return {"runs": self.runs, "shared_words": self.shared, "only": dict(zip(self.runs, self.only, strict=True)),
                "k": self.k, **summary, "missing": self.missing,
                "words": [{"word": w.word, "cosine": w.cosine, "jaccard": w.jaccard,
                           "neighbours": dict(zip(self.runs, w.neighbours, strict=True))} for w in self.words]}


def _mean(values: list[float | None]) -> float | None:
    return float(np.mean(values)) if values else None


def shared_words(spaces: list[Vectors]) -> tuple[list[str], list[np.ndarray]]:
    """The words every space knows, in the first one's order (most frequent first), and their rows in each."""
    words = [w for w in spaces[0].words if all(w in s.index for s in spaces[1:])]
    return words, [np.fromiter((s.index[w] for w in words), dtype=np.int64, count=len(words)) for s in spaces]


def rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal matrix R that brings ``source`` rows closest to ``target``'s (min ‖source·R − target‖)."""
    from scipy.linalg import orthogonal_procrustes

    return orthogonal_procrustes(source, target)[0].astype(np.float32)


def neighbours(unit: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest rows of ``unit`` (cosine, unit rows) to each of ``rows``, the row itself left out;
    most similar first.

    A full partition of every query's similarities costs about 1 ms per query at 100k words; instead the
    columns are cut into √n blocks: the k nearest lie in the k blocks with the highest maxima (a block
    holding one of them has a maximum at least that high, and the k-th highest block maximum is no
    higher than the k-th highest similarity), so only those k blocks are partitioned."""
    n = len(unit)
    k = min(k, n - 1)
    size = max(1, math.isqrt(n))
    blocks = -(-n // size)
    padded = np.zeros((blocks * size, unit.shape[1]), dtype=unit.dtype)
    padded[:n] = unit
    out = np.empty((len(rows), k), dtype=np.int64)
    for start in range(0, len(rows), CHUNK):
        block = rows[start:start + CHUNK]
        sims = unit[block] @ padded.T
        sims[:, n:] = -np.inf
        sims[np.arange(len(block)), block] = -np.inf
        grid = sims.reshape(len(block), blocks, size)
        best = np.argpartition(grid.max(axis=2), -min(k, blocks), axis=1)[:, -min(k, blocks):]
        candidates = np.take_along_axis(grid, best[:, :, None], axis=1).reshape(len(block), -1)
        columns = (best[:, :, None] * size + np.arange(size)).reshape(len(block), -1)
        top = np.argpartition(candidates, -k, axis=1)[:, -k:]
        order = np.argsort(-np.take_along_axis(candidates, top, axis=1), axis=1, kind="stable")
        out[start:start + len(block)] = np.take_along_axis(columns, np.take_along_axis(top, order, axis=1), axis=1)
    return out


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row by row, |A ∩ B| / |A ∪ B| of two arrays of neighbour ids."""
    common = (a[:, :, None] == b[:, None, :]).any(axis=2).sum(axis=1)
    return common / (a.shape[1] + b.shape[1] - common)


def _chosen(spaces: list[Vectors], shared: list[str], words: list[str] | None,
            top: int | None) -> tuple[np.ndarray, list[str]]:
    """Positions among the shared words of the words to report, and the asked words not every run knows."""
    if words is None:
        return np.arange(min(top or len(shared), len(shared))), []
    position = {w: i for i, w in enumerate(shared)}
    keys = [spaces[0].key(w) for w in words]
    missing = [w for w, key in zip(words, keys, strict=True) if key not in position]
    found = list(dict.fromkeys(position[key] for key in keys if key in position))
    if not found:
        raise W2VError(f"compare: none of {', '.join(words)} is in every run's vocabulary")
    return np.array(found, dtype=np.int64), missing


def compare(spaces: list[Vectors], names: list[str], words: list[str] | None = None, top: int | None = None,
            k: int = 10) -> Comparison:
    """Compare runs word by word over their shared vocabulary: ``words`` (as given) or the ``top`` most
    frequent shared words (all when None). Two runs: the second is rotated onto the first and words are
    ranked by how far they moved (aligned cosine, lowest first); more runs: by the stability of their
    neighbours (mean pairwise Jaccard@k, lowest first)."""
    if len(spaces) < 2:
        raise W2VError("compare: give at least two runs to compare their words")
    dims = {name: s.unit.shape[1] for name, s in zip(names, spaces, strict=True)}
    if len(set(dims.values())) > 1:
        raise W2VError("compare: vectors of different dimensions cannot be aligned ("
                       + ", ".join(f"{n}: {d}" for n, d in dims.items()) + ")")
    shared, rows = shared_words(spaces)
    if len(shared) <= k:
        raise W2VError(f"compare: the runs share {len(shared)} words, too few for {k} neighbours each")
    units = [s.unit[r] for s, r in zip(spaces, rows, strict=True)]
    picked, missing = _chosen(spaces, shared, words, top)
    ids = [neighbours(u, picked, k) for u in units]
    pairs = list(itertools.combinations(range(len(units)), 2))
    overlap = np.mean([jaccard(ids[i], ids[j]) for i, j in pairs], axis=0)
    cosines = None
    if len(units) == 2:
        rotated = units[1][picked] @ rotation(units[1], units[0])
        cosines = np.einsum("ij,ij->i", units[0][picked], rotated)
    found = [Word(shared[p], float(overlap[n]), [[shared[i] for i in run_ids[n]] for run_ids in ids],
                  None if cosines is None else float(cosines[n])) for n, p in enumerate(picked)]
    if words is None:
        found.sort(key=lambda w: (w.cosine, w.jaccard) if w.cosine is not None else (w.jaccard,))
    known = set(shared)
    only = [sum(w not in known for w in s.words) for s in spaces]
    return Comparison(list(names), len(shared), only, k, found, missing, chosen=words is not None)


def _quantiles(values: np.ndarray) -> str:
    marks = [("min", 0), ("10%", 10), ("25%", 25), ("median", 50), ("75%", 75), ("90%", 90), ("max", 100)]
    return "  ".join(f"{name} {np.percentile(values, q):.2f}" for name, q in marks)


def _histogram(values: np.ndarray) -> list[str]:
    counts, edges = np.histogram(values, bins=5, range=(0.0, 1.0))
    return [f"  {lo:.1f}–{hi:.1f}  {'#' * round(40 * c / len(values)):<40} {100 * c / len(values):5.1f}%"
            for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)]


def table(c: Comparison, show: int = 10) -> str:
    """The printed report: the vocabularies, a summary, and the words that changed most and least (or the
    words asked about), with their nearest neighbours in every run."""
    only = ", ".join(f"only in {n}: {o:,}" for n, o in zip(c.runs, c.only, strict=True) if o)
    lines = [f"{len(c.runs)} runs, {c.shared:,} shared words ({only or 'the same vocabulary in every run'}); "
             f"neighbours among the shared words"]
    if c.pair:
        lines.append(f"{c.runs[1]} rotated onto {c.runs[0]} (orthogonal Procrustes over the shared words)")
    what = f"{len(c.words):,} words asked about" if c.chosen else f"the {len(c.words):,} most frequent shared words"
    overlap = np.array([w.jaccard for w in c.words])
    if c.pair:
        lines.append(f"{what}: aligned cosine mean {np.mean([w.cosine for w in c.words]):.3f}, neighbour overlap "
                     f"(Jaccard@{c.k}) mean {overlap.mean():.3f}")
    else:
        lines.append(f"{what}: neighbour stability (Jaccard@{c.k}, mean over the {len(c.runs) * (len(c.runs) - 1) // 2}"
                     f" pairs of runs) mean {overlap.mean():.3f}")
        lines.append("  " + _quantiles(overlap))
        lines += _histogram(overlap)
    if c.missing:
        lines.append("not in every run's vocabulary: " + ", ".join(c.missing))
    if c.chosen or len(c.words) <= 2 * show:
        sections = [("", c.words)]
    else:
        most, least = ("moved most", "moved least") if c.pair else ("least stable", "most stable")
        sections = [(most, c.words[:show]), (least, c.words[-show:][::-1])]
    for title, chosen in sections:
        lines.append("")
        if title:
            lines.append(title)
        lines += _pair_rows(c, chosen) if c.pair else _word_blocks(c, chosen)
    return "\n".join(lines)


def _pair_rows(c: Comparison, words: list[Word]) -> list[str]:
    """Two runs: a table, a word a row, with its neighbours on both sides."""
    from w2v.experiments import format_table

    header = ["word", "cosine", f"jaccard@{c.k}"] + [f"nearest in {n}" for n in c.runs]
    return format_table(header, [[w.word, f"{w.cosine:.3f}", f"{w.jaccard:.2f}"]
                                 + ["  ".join(n[:SHOWN_NEIGHBOURS]) for n in w.neighbours] for w in words]).split("\n")


def _word_blocks(c: Comparison, words: list[Word]) -> list[str]:
    """More runs: a word and its stability, then its neighbours in each run, a line each."""
    width = max(len(n) for n in c.runs)
    lines = []
    for w in words:
        lines.append(f"  {w.word}  (jaccard@{c.k} {w.jaccard:.2f})")
        lines += [f"    {n:<{width}}  {'  '.join(near[:SHOWN_NEIGHBOURS])}"
                  for n, near in zip(c.runs, w.neighbours, strict=True)]
    return lines
