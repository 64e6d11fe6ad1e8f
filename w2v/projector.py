"""TensorBoard projector files for a run directory.

The projector offers every 2-D tensor of the checkpoint it finds, optimizer slots included, so it is
given a small checkpoint holding only the embedding, written beside the event files with its own
state file (TensorBoard looks for the latest checkpoint in the run directory itself), and a
``projector_config.pbtxt`` whose paths are relative, so a run directory can be moved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorboard.plugins import projector

TENSOR_NAME = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
METADATA = "metadata.tsv"


def write(run_dir: Path, vectors: np.ndarray, words: list[str]) -> Path:
    """Write the embedding-only checkpoint, metadata.tsv (one word a line, no header) and the config."""
    run_dir = Path(run_dir)
    if len(words) != len(vectors):
        raise ValueError(f"{len(words)} words for {len(vectors)} vectors")
    with open(run_dir / METADATA, "w", encoding="utf-8") as f:
        for word in words:
            f.write(word + "\n")
    checkpoint = tf.train.Checkpoint(embedding=tf.Variable(vectors, dtype=tf.float32))
    manager = tf.train.CheckpointManager(checkpoint, str(run_dir), max_to_keep=1, checkpoint_name="projector")
    manager.save()
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = TENSOR_NAME
    embedding.metadata_path = METADATA
    projector.visualize_embeddings(str(run_dir), config)
    return run_dir / "projector_config.pbtxt"


def write_tsv(out_dir: Path, vectors: np.ndarray, words: list[str]) -> list[Path]:
    """``vectors.tsv`` and ``metadata.tsv`` for the standalone projector (projector.tensorflow.org)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "vectors.tsv", "w", encoding="utf-8") as f:
        for row in vectors:
            f.write("\t".join(f"{x:.6g}" for x in row) + "\n")
    with open(out_dir / METADATA, "w", encoding="utf-8") as f:
        for word in words:
            f.write(word + "\n")
    return [out_dir / "vectors.tsv", out_dir / METADATA]
