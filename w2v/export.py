"""Vectors out to the rest of the ecosystem: word2vec text and binary (through gensim, which
defines the format users load), .npy with vocab.tsv, and TSV.

Every file is written under a temporary name beside its target and renamed into place, so a failed
export never leaves a half-written file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from w2v.errors import W2VError

FORMATS = ("word2vec", "word2vec-binary", "npy", "tsv")


def _atomic(target: Path, write: Callable[[str], None]) -> None:
    target = Path(target)
    if target.is_dir():
        raise W2VError(f"output {target}: is a directory")
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as e:
        raise W2VError(f"output {target}: cannot be written ({e.strerror})") from None
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except OSError as e:
        raise W2VError(f"output {target}: cannot be written ({e.strerror})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _word2vec(words: list[str], vectors: np.ndarray, counts: np.ndarray, binary: bool) -> Callable[[str], None]:
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vectors.shape[1], dtype=np.float32)
    kv.add_vectors(words, vectors.astype(np.float32))
    # Counts let gensim keep our frequency order when it sorts on save.
    kv.allocate_vecattrs(attrs=["count"], types=[np.int64])
    kv.expandos["count"][:] = counts
    return lambda path: kv.save_word2vec_format(path, binary=binary)


def _tsv_lines(rows, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(rows)


def export(words: list[str], vectors: np.ndarray, fmt: str, output: Path,
           counts: np.ndarray | None = None) -> list[Path]:
    """Write vectors in ``fmt``; returns the files written."""
    output = Path(output)
    if not output.parent.is_dir():
        raise W2VError(f"output {output}: directory {output.parent} does not exist")
    counts = counts if counts is not None else np.arange(len(words), 0, -1)
    if fmt in ("word2vec", "word2vec-binary"):
        _atomic(output, _word2vec(words, vectors, counts, binary=fmt == "word2vec-binary"))
        return [output]
    if fmt == "npy":
        vocab_path = output.with_suffix(".vocab.tsv")

        def save_npy(path: str) -> None:
            with open(path, "wb") as f:
                np.save(f, vectors.astype(np.float32))

        _atomic(output, save_npy)
        _atomic(vocab_path, lambda p: _tsv_lines((f"{w}\t{int(c)}\n" for w, c in zip(words, counts, strict=True)), p))
        return [output, vocab_path]
    if fmt == "tsv":
        rows = (w + "\t" + "\t".join(f"{x:.6g}" for x in v) + "\n" for w, v in zip(words, vectors, strict=True))
        _atomic(output, lambda p: _tsv_lines(rows, p))
        return [output]
    raise W2VError(f"export format {fmt!r}: not one of {', '.join(FORMATS)}")
