"""A subword run as Facebook fastText's binary model (``.bin``, format version 12), which fastText's
``fasttext.load_model`` and gensim's ``load_facebook_model`` / ``load_facebook_vectors`` read.

The layouts already agree: w2v's input table is the words' rows followed by the n-gram buckets' rows, a
word's vector is the mean of its row and its n-grams' rows, and n-grams are hashed as fastText hashes them;
so the file is the hyper-parameters, the dictionary (words and counts), the input table and the output table,
in fastText's order and byte layout (little-endian, as fastText on x86 and ARM writes it).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from w2v import fileio, runs
from w2v.errors import W2VError

MAGIC, VERSION = 793712314, 12
LOSS = {"hs": 1, "neg": 2, "nce": 2, "sampled_softmax": 2}  # fastText's loss_name: hs 1, ns 2 (softmax 3)
MODEL = {"cbow": 1, "skipgram": 2}  # fastText's model_name: cbow 1, sg 2
LR_UPDATE_RATE = 100  # fastText's default; only its own training reads it


def _args(config: object) -> bytes:
    """fastText's Args::save: twelve int32 and the subsampling threshold as a double."""
    m, d, t = config.model, config.data, config.train
    return struct.pack("<12id", m.embedding_dim, d.window, t.epochs, d.min_count, max(m.num_sampled, 1), 1,
                       LOSS[m.loss], MODEL[m.architecture], m.buckets, m.min_n, m.max_n, LR_UPDATE_RATE, d.subsample)


def _dictionary(words: list[str], counts: np.ndarray) -> bytes:
    """fastText's Dictionary::save: sizes, tokens, no pruning (-1), then each word, NUL, count (int64) and
    its type (0: a word, not a label)."""
    head = struct.pack("<3i2q", len(words), len(words), 0, int(np.sum(counts)), -1)
    return head + b"".join(w.encode("utf-8") + b"\0" + struct.pack("<qb", int(c), 0)
                           for w, c in zip(words, counts, strict=True))


def _matrix(rows: np.ndarray) -> bytes:
    """A dense matrix as fastText saves it: not quantised, rows and columns (int64), float32 values."""
    rows = np.ascontiguousarray(rows, dtype="<f4")
    return struct.pack("<?2q", False, *rows.shape) + rows.tobytes()


def write(output: Path, run_dir: Path, checkpoint: str, words: list[str], counts: np.ndarray) -> list[Path]:
    """The run's model at ``checkpoint`` (its vocabulary ``words``, with their ``counts``) as a fastText ``.bin``
    at ``output``; a W2VError for a run without subwords (fastText's vectors are its n-grams')."""
    config = runs.load_config(run_dir)
    if not config.model.subwords:
        raise W2VError(f"export format fasttext: run {run_dir} has no subwords (model.subwords is false); "
                       f"export --format word2vec, which fastText and gensim read too")
    from w2v import quiet

    quiet.tensorflow()  # the output table is read from the checkpoint itself
    from w2v import state

    saved = state.read(checkpoint)
    # fastText's output table has a row a word; hierarchical softmax uses one fewer (a tree's inner nodes). Its
    # rows follow w2v's Huffman tree, which fastText does not rebuild the same way: the vectors are exact, the
    # output layer is for w2v's tree.
    output_rows = np.zeros((len(words), saved.output_weights.shape[1]), dtype=np.float32)
    output_rows[:len(saved.output_weights)] = saved.output_weights[:len(words)]
    with fileio.replacing(output) as tmp, open(tmp, "wb") as f:
        f.write(struct.pack("<2i", MAGIC, VERSION) + _args(config) + _dictionary(words, counts))
        f.write(_matrix(saved.embedding))
        f.write(_matrix(output_rows))
    return [output]
