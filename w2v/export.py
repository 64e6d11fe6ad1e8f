"""Vectors out to the rest of the ecosystem, one registry entry a format: word2vec text and binary
(word2vec.c's format, which gensim and fastText load), .npy with a vocabulary TSV, and TSV.

Every file is written under a temporary name beside its target and renamed into place, so a failed
export never leaves a half-written file; exports get the permissions any new file gets (the umask).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from w2v import fileio, subwords
from w2v.errors import W2VError


def _word2vec(binary: bool) -> Callable[[Path, list[str], np.ndarray, np.ndarray], list[Path]]:
    """word2vec.c's format, which word2vec.c, gensim (``load_word2vec_format``) and fastText read: a header
    "V D", then a line a word, in the vocabulary's order: the word, a space and its floats, as text with 9
    significant digits (enough to give every float32 back exactly) or as little-endian float32 bytes.
    Written here rather than through gensim's KeyedVectors: importing gensim alone (0.7 s) takes longer
    than writing the file, and `w2v export` is a command people wait on."""
    def write(output: Path, words: list[str], vectors: np.ndarray, counts: np.ndarray) -> list[Path]:
        vectors = np.asarray(vectors, dtype="<f4")
        row_text = " ".join(["%.9g"] * vectors.shape[1])
        with fileio.replacing(output) as tmp, open(tmp, "wb") as f:
            f.write(f"{len(words)} {vectors.shape[1]}\n".encode())
            for word, row in zip(words, vectors, strict=True):
                f.write(word.encode() + b" " + (row.tobytes() if binary else (row_text % tuple(row.tolist())).encode())
                        + b"\n")
        return [output]

    return write


def _npy(output: Path, words: list[str], vectors: np.ndarray, counts: np.ndarray) -> list[Path]:
    vocab_path = output.with_suffix(".vocab.tsv")
    with fileio.replacing(output) as tmp, open(tmp, "wb") as f:
        np.save(f, vectors.astype(np.float32))
    fileio.write_text(vocab_path, "".join(f"{w}\t{int(c)}\n" for w, c in zip(words, counts, strict=True)))
    return [output, vocab_path]


def _tsv(output: Path, words: list[str], vectors: np.ndarray, counts: np.ndarray) -> list[Path]:
    with fileio.replacing(output) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.writelines(w + "\t" + "\t".join(f"{x:.6g}" for x in v) + "\n" for w, v in zip(words, vectors, strict=True))
    return [output]


@dataclass(frozen=True)
class Format:
    help: str
    write: Callable[[Path, list[str], np.ndarray, np.ndarray], list[Path]]


FORMATS: dict[str, Format] = {
    "word2vec": Format("word2vec.c text (header 'V D'), loadable by gensim's KeyedVectors.load_word2vec_format",
                       _word2vec(binary=False)),
    "word2vec-binary": Format("word2vec.c binary", _word2vec(binary=True)),
    "npy": Format("a float32 .npy matrix, and a .vocab.tsv beside it (word, count)", _npy),
    "tsv": Format("one line a word: the word, then its vector, tab-separated", _tsv),
}


def ngram_table(output: Path, rows: np.ndarray, settings: subwords.Settings) -> list[Path]:
    """A subword model's n-gram rows beside an export (``<output>.ngrams.npy``, one row a bucket) and how to
    use them (``<output>.ngrams.json``): an unseen word's vector is the mean of the rows of its n-grams."""
    table, about = Path(f"{output}.ngrams.npy"), Path(f"{output}.ngrams.json")
    with fileio.replacing(table) as tmp, open(tmp, "wb") as f:
        np.save(f, rows.astype(np.float32))
    fileio.write_text(about, json.dumps({
        **asdict(settings), "ngrams": "the character n-grams of '<' + word + '>' with min_n to max_n characters",
        "hash": "fastText's: 32-bit FNV-1a over the UTF-8 bytes, each byte sign-extended (int8_t), modulo buckets "
                "(gensim.models.fasttext.ft_hash_bytes)",
        "vector": "an unseen word's vector is the mean of its n-grams' rows"}, indent=2))
    return [table, about]


def export(words: list[str], vectors: np.ndarray, fmt: str, output: Path,
           counts: np.ndarray | None = None) -> list[Path]:
    """Write vectors in ``fmt``; returns the files written."""
    output = Path(output)
    if fmt not in FORMATS:
        raise W2VError(f"export format {fmt!r}: not one of {', '.join(FORMATS)}")
    if not output.parent.is_dir():
        raise W2VError(f"output {output}: directory {output.parent} does not exist")
    if output.is_dir():
        raise W2VError(f"output {output}: is a directory")
    counts = counts if counts is not None else np.arange(len(words), 0, -1)
    try:
        return FORMATS[fmt].write(output, words, vectors, counts)
    except OSError as e:
        raise W2VError(f"output {output}: cannot be written ({e.strerror})") from None
