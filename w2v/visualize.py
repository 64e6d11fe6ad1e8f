"""``w2v visualize``: projector files for a chosen checkpoint, a map of chosen words, TSVs for the web
projector.

The map shows a few hundred words, laid out so that neighbours sit together (t-SNE on cosine distance,
from scikit-learn; PCA where it is missing or the words are too few), with labels that do not overlap
(a small repulsion pass over their boxes), drawn with matplotlib and also logged to TensorBoard's
Images tab.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from w2v import fileio, projector, runs
from w2v.errors import W2VError
from w2v.vectors import Vectors

log = logging.getLogger(__name__)

MAP_FILE = "embedding_map.png"
# The default map: frequent words after the most frequent ones, which are mostly function words.
SKIP_FREQUENT, DEFAULT_WORDS = 100, 300
MIN_WORDS = 3  # fewer make no map: two points are only a line


@dataclass
class Visualization:
    step: int
    rows: int
    note: str
    files: list[Path]
    labels: list[str] = field(default_factory=list)
    emphasised: list[str] = field(default_factory=list)  # the query words, drawn to stand out


def choose(vectors: Vectors, words: list[str], queries: list[str], k: int) -> tuple[list[str], list[int], str]:
    """The words to draw, the group of each (its query's index, or 0), and a note naming unknown words:
    ``words`` as given, or each of ``queries`` with its k nearest words, or by default frequent words
    past the first hundred (alphabetic, at least three letters)."""
    chosen: list[str] = []
    groups: list[int] = []
    unknown: list[str] = []
    if queries:
        answers, errors = vectors.nearest(queries, k)
        unknown = [str(e) for e in errors]
        for group, answer in enumerate(answers):
            for word in [vectors.words[vectors.id(answer.query)]] + [w for w, _ in answer.neighbours]:
                if word not in chosen:
                    chosen.append(word)
                    groups.append(group)
    elif words:
        for word in words:
            try:
                chosen.append(vectors.words[vectors.id(word)])
            except W2VError as e:
                unknown.append(str(e))
        groups = [0] * len(chosen)
    else:
        frequent = [w for w in vectors.words[SKIP_FREQUENT:] if w.isalpha() and len(w) >= 3]
        chosen = frequent[:DEFAULT_WORDS] or vectors.words[:DEFAULT_WORDS]
        groups = [0] * len(chosen)
    if len(chosen) < MIN_WORDS:
        known = f"only {len(chosen)} ({', '.join(chosen)}) are" if chosen else "none of those given is"
        hint = "; " + "; ".join(unknown) if unknown else " (give more words, or --neighbors with a larger -k)"
        raise W2VError(f"visualize: a map needs at least {MIN_WORDS} words in the vocabulary, but {known}{hint}")
    return chosen, groups, "; ".join(unknown)


def layout(points: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D positions of unit vectors that keep neighbourhoods (t-SNE), or PCA; and the method's name."""
    if len(points) >= 10:
        try:
            from sklearn.manifold import TSNE
        except ImportError:
            log.warning("scikit-learn is not installed: the map uses PCA, which keeps neighbourhoods less well")
        else:
            tsne = TSNE(n_components=2, perplexity=min(30.0, (len(points) - 1) / 3), metric="cosine", init="pca",
                        random_state=seed)
            return tsne.fit_transform(points), "t-SNE"
    centred = points - points.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ components[:2].T
    return np.pad(projected, [(0, 0), (0, 2 - projected.shape[1])]), "PCA"  # one or two words: one axis


# Pixels kept between two labels' boxes: labels that touch read as one word ("importantknown").
LABEL_GAP = 4.0


def separate(boxes: np.ndarray, pad: float = LABEL_GAP, rounds: int = 500, fixed: int = 0) -> np.ndarray:
    """Boxes (x0, y0, x1, y1, in pixels) moved apart until none is within ``pad`` of another: each round,
    every pair too close is pushed apart along the axis where it overlaps least. The last ``fixed`` boxes (the legend)
    stay where they are, and a box that overlaps one moves the whole way. Returns the displacements."""
    movable = (np.arange(len(boxes)) < len(boxes) - fixed)[:, None]
    moved = np.zeros((len(boxes), 2))
    for _ in range(rounds):
        if fixed:
            moved = _leave_fixed(boxes, moved, fixed, pad)
        b = boxes + np.hstack([moved, moved])
        overlap_x = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]) + pad
        overlap_y = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]) + pad
        clash = (overlap_x > 0) & (overlap_y > 0)
        np.fill_diagonal(clash, False)
        if not clash.any():
            break
        # Centres offset by a hair each, so that two boxes at one point still know which way to go.
        centre = (b[:, :2] + b[:, 2:]) / 2 + 1e-3 * np.arange(len(b))[:, None]
        away = centre[:, None, :] - centre[None, :, :]
        along_x = overlap_x < overlap_y
        push = np.where(along_x[..., None], [1.0, 0.0], [0.0, 1.0]) * np.sign(away)
        push *= np.where(along_x, overlap_x, overlap_y)[..., None] / 2
        moved += (push * clash[..., None]).sum(axis=1) * movable
    return moved


def _leave_fixed(boxes: np.ndarray, moved: np.ndarray, fixed: int, pad: float) -> np.ndarray:
    """Each movable box that overlaps a fixed one moved out of it the shortest way (left, right, down or up)."""
    moved, n = moved.copy(), len(boxes) - fixed
    for f in boxes[n:]:
        b = boxes[:n] + np.hstack([moved, moved])[:n]
        ways = np.stack([b[:, 2] - f[0] + pad, f[2] - b[:, 0] + pad, b[:, 3] - f[1] + pad, f[3] - b[:, 1] + pad], 1)
        inside = (ways > 0).all(axis=1)
        way = ways.argmin(axis=1)
        shift = np.zeros((len(b), 2))
        rows = np.arange(len(b))
        shift[rows, way // 2] = np.where(way % 2, 1, -1) * ways[rows, way]
        moved[:n] += shift * inside[:, None]
    return moved


@dataclass
class Map:
    """What a drawn map shows (written to the path ``render_map`` was given)."""

    method: str  # the layout: t-SNE or PCA
    labels: list[str]
    boxes: np.ndarray  # the labels' boxes as drawn (x0, y0, x1, y1 in pixels)
    legend: np.ndarray | None = None  # the legend's box, likewise
    emphasised: list[str] = field(default_factory=list)  # the labels drawn large and bold


def render_map(vectors: np.ndarray, words: list[str], path: Path, groups: list[int] | None = None,
               title: str = "", seed: int = 0, legend: list[str] = ()) -> Map:
    """A PNG of ``words`` laid out in 2-D, one colour a group (named by ``legend``), every word labelled;
    the words that name the groups (the queries whose neighbours are drawn) as large stars with bold labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    points, method = layout(unit, seed)
    groups = groups or [0] * len(words)
    fig, ax = plt.subplots(figsize=(12, 12), dpi=100)
    star = np.isin(words, list(legend))
    colours = np.array([f"C{g % 10}" for g in groups])
    ax.scatter(points[~star, 0], points[~star, 1], s=12, c=colours[~star], alpha=0.8, linewidths=0)
    ax.scatter(points[star, 0], points[star, 1], s=180, c=colours[star], marker="*", edgecolors="black",
               linewidths=0.8, zorder=2.5)  # under the labels (zorder 3)
    texts = [ax.text(x, y, word, fontsize=12 if big else 8, fontweight="bold" if big else "normal",
                     color=f"C{g % 10}" if max(groups) else "black", ha="left", va="bottom")
             for (x, y), word, g, big in zip(points, words, groups, star, strict=True)]
    ax.set_title(f"{title}{method} of {len(words)} words")
    for group, name in enumerate(legend):
        ax.scatter([], [], s=30, c=f"C{group % 10}", label=name)
    key = ax.legend(loc="upper right", fontsize=9, title="neighbours of") if legend else None
    ax.set_xticks([])
    ax.set_yticks([])
    # Limits fixed first, with room for labels pushed outwards: the pixel boxes below must stay where they are.
    low, high = points.min(axis=0), points.max(axis=0)
    margin = 0.12 * np.maximum(high - low, 1e-6)
    ax.set_xlim(low[0] - margin[0], high[0] + margin[0])
    ax.set_ylim(low[1] - margin[1], high[1] + margin[1])
    fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    offset = np.where(star[:, None], [10.0, 0.0], 0.0)  # a star's label starts beside it, not on it (pixels)
    boxes = np.array([t.get_window_extent(renderer).extents for t in texts]) + np.hstack([offset, offset])
    legend_box = key.get_window_extent(renderer).extents if key else None
    moved = separate(boxes if key is None else np.vstack([boxes, legend_box]), fixed=key is not None)[:len(texts)]
    moved += offset
    to_data = ax.transData.inverted()
    for text, (x, y), (dx, dy) in zip(texts, ax.transData.transform(points), moved, strict=True):
        text.set_position(to_data.transform((x + dx, y + dy)))
        if np.hypot(dx, dy) > 12:  # a label pushed far from its point gets a line back to it
            ax.plot(*zip(to_data.transform((x, y)), to_data.transform((x + dx, y + dy)), strict=True), lw=0.3,
                    color="grey")
    fig.savefig(path, format="png")
    drawn = np.array([t.get_window_extent(renderer).extents for t in texts])
    plt.close(fig)
    return Map(method, [t.get_text() for t in texts], drawn, legend_box,
               [t.get_text() for t in texts if t.get_fontweight() == "bold"])


def visualize(run_dir: Path, checkpoint: str | None = None, top: int | None = None, tsv_dir: Path | None = None,
              words: list[str] = (), queries: list[str] = (), k: int = 8, output: Path | None = None) -> Visualization:
    """(Re)write the run's projector files (its ``top`` most frequent words; by default its projector.top_n, as
    training writes them: a browser takes a million words' 1.1 GB of floats badly) and its map
    (``words``, or ``queries`` with their ``k`` neighbours, or frequent words) for a checkpoint, as
    ``output`` (default: RUN/embedding_map.png)."""
    import tensorflow as tf

    from w2v.summaries import Summaries

    run_dir = Path(run_dir)
    if top is not None and top <= 0:
        raise W2VError(f"--top {top}: must be a positive number of words")
    output = Path(output) if output is not None else run_dir / MAP_FILE
    if not output.parent.is_dir():
        raise W2VError(f"--output {output}: directory {output.parent} does not exist")
    # Both are written (the projector's files are the run's): said before the map is computed.
    runs.check_writable(run_dir, f"run directory {run_dir} (visualize rewrites its projector files)")
    runs.check_writable(output.parent, f"--output {output}")
    embedding = runs.read_embedding(run_dir, checkpoint)
    vocab, table, step = embedding.vocab, embedding.vectors, embedding.step
    config = runs.load_config(run_dir)
    notes = []
    rows = min(config.projector.top_n, len(vocab)) if top is None else top
    if rows > len(vocab):
        notes.append(f"--top {top} is larger than the vocabulary; using all {len(vocab)} words")
        rows = len(vocab)
    vectors = Vectors(vocab.words, table, lowercase=config.data.lowercase, unit=embedding.unit())
    chosen, groups, unknown = choose(vectors, list(words), list(queries), k)  # before anything is written
    if unknown:
        notes.append(unknown)
    files = [projector.write(run_dir, table[:rows], vocab.words[:rows])]
    with fileio.replacing(output) as tmp:
        drawn = render_map(table[[vocab.index[w] for w in chosen]], chosen, tmp, groups,
                           f"{run_dir.name}, step {step}: ", config.run.seed,
                           [chosen[groups.index(g)] for g in sorted(set(groups))] if queries else [])
    files.append(output)
    summaries = Summaries(run_dir)
    with summaries.writer.as_default(step=step):
        tf.summary.image("embedding_map", tf.io.decode_png(tf.io.read_file(str(output)))[None])
    summaries.flush()
    if tsv_dir is not None:
        try:
            files += projector.write_tsv(Path(tsv_dir), table[:rows], vocab.words[:rows])
        except OSError as e:
            raise W2VError(f"--tsv {tsv_dir}: cannot be written ({e.strerror})") from None
    return Visualization(step, rows, "; ".join(notes), files, drawn.labels, drawn.emphasised)
