"""``w2v visualize``: projector files for a chosen checkpoint, a PNG map, TSVs for the web projector."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

from w2v import projector, runs
from w2v.errors import W2VError
from w2v.summaries import Summaries

log = logging.getLogger(__name__)


@dataclass
class Visualization:
    step: int
    rows: int
    note: str
    files: list[Path]


def visualize(run_dir: Path, checkpoint: str | None = None, top: int | None = None,
              tsv_dir: Path | None = None, labels: int = 150) -> Visualization:
    """(Re)write the run's projector files and PNG map for a checkpoint (latest by default)."""
    run_dir = Path(run_dir)
    if top is not None and top <= 0:
        raise W2VError(f"--top {top}: must be a positive number of words")
    vocab, vectors, step = runs.load_embedding(run_dir, checkpoint)
    note = ""
    rows = len(vocab) if top is None else top
    if rows > len(vocab):
        note = f"--top {top} is larger than the vocabulary; using all {len(vocab)} words"
        rows = len(vocab)
    words, vectors = vocab.words[:rows], vectors[:rows]
    files = [projector.write(run_dir, vectors, words)]
    png = projector.render_map(vectors, words, run_dir / projector.MAP_FILE, labels=min(labels, rows))
    files.append(png)
    summaries = Summaries(run_dir)
    image = tf.io.decode_png(tf.io.read_file(str(png)))
    with summaries.writer.as_default(step=step):
        tf.summary.image("embedding_map", image[None])
    summaries.flush()
    if tsv_dir is not None:
        try:
            files += projector.write_tsv(Path(tsv_dir), vectors, words)
        except OSError as e:
            raise W2VError(f"--tsv {tsv_dir}: cannot be written ({e.strerror})") from None
    return Visualization(step, rows, note, files)
