"""Vectors out to the rest of the ecosystem, one registry entry a format: word2vec text and binary
(word2vec.c's format, which gensim and fastText load), .npy with a vocabulary TSV, TSV, and a subword run as
fastText's own binary model.

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


@dataclass
class Source:
    """What is exported: the words (most frequent first), their vectors and counts; and for the formats that
    hold a whole model (fastText's), the run and checkpoint they come from."""

    words: list[str]
    vectors: np.ndarray
    counts: np.ndarray
    run_dir: Path | None = None
    checkpoint: str | None = None


def _word2vec(binary: bool) -> Callable[[Path, Source], list[Path]]:
    """word2vec.c's format, which word2vec.c, gensim (``load_word2vec_format``) and fastText read: a header
    "V D", then a line a word, in the vocabulary's order: the word, a space and its floats, as text with 9
    significant digits (enough to give every float32 back exactly) or as little-endian float32 bytes.
    Written here rather than through gensim's KeyedVectors: importing gensim alone (0.7 s) takes longer
    than writing the file, and `w2v export` is a command people wait on."""
    def write(output: Path, source: Source) -> list[Path]:
        words, vectors = source.words, np.asarray(source.vectors, dtype="<f4")
        row_text = " ".join(["%.9g"] * vectors.shape[1])
        with fileio.replacing(output) as tmp, open(tmp, "wb") as f:
            f.write(f"{len(words)} {vectors.shape[1]}\n".encode())
            for word, row in zip(words, vectors, strict=True):
                f.write(word.encode() + b" " + (row.tobytes() if binary else (row_text % tuple(row.tolist())).encode())
                        + b"\n")
        return [output]

    return write


def _npy(output: Path, source: Source) -> list[Path]:
    vocab_path = output.with_suffix(".vocab.tsv")
    with fileio.replacing(output) as tmp, open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(source.vectors, dtype=np.float32))  # no copy of a float32 table
    fileio.write_text(vocab_path, "".join(f"{w}\t{int(c)}\n" for w, c in zip(source.words, source.counts,
                                                                              strict=True)))
    return [output, vocab_path]


def _tsv(output: Path, source: Source) -> list[Path]:
    # One format string a row, as _word2vec writes: an f-string a value took 2.3 times as long (957k x 300: 121 s).
    row_text = "\t".join(["%.6g"] * source.vectors.shape[1])
    with fileio.replacing(output) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.writelines(w + "\t" + row_text % tuple(v.tolist()) + "\n"
                     for w, v in zip(source.words, source.vectors, strict=True))
    return [output]


def _fasttext(output: Path, source: Source) -> list[Path]:
    """fastText's .bin, and its .vec (the words' vectors as word2vec text) beside it, as fastText writes."""
    from w2v import fasttext_bin

    if source.run_dir is None or source.checkpoint is None:
        raise W2VError("export format fasttext: exports a run's whole model (give a run, not vectors alone)")
    vec = output.with_suffix(".vec")
    written = fasttext_bin.write(output, source.run_dir, source.checkpoint, source.words, source.counts)
    return written + _word2vec(False)(vec, source)


@dataclass(frozen=True)
class Format:
    help: str
    write: Callable[[Path, Source], list[Path]]
    whole_model: bool = False  # the n-gram table is part of the file (no OUTPUT.ngrams.* beside it)


FORMATS: dict[str, Format] = {
    "word2vec": Format("word2vec.c text (header 'V D'), loadable by gensim's KeyedVectors.load_word2vec_format",
                       _word2vec(binary=False)),
    "word2vec-binary": Format("word2vec.c binary", _word2vec(binary=True)),
    "npy": Format("a float32 .npy matrix, and a .vocab.tsv beside it (word, count)", _npy),
    "tsv": Format("one line a word: the word, then its vector, tab-separated", _tsv),
    "fasttext": Format("fastText's binary model for a subword run (fasttext.load_model, gensim's "
                       "load_facebook_vectors), and its .vec", _fasttext, whole_model=True),
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


def export(words: list[str], vectors: np.ndarray, fmt: str, output: Path, counts: np.ndarray | None = None,
           run_dir: Path | None = None, checkpoint: str | None = None) -> list[Path]:
    """Write vectors in ``fmt`` (a whole-model format also reads the run's checkpoint); returns the files
    written."""
    output = Path(output)
    if fmt not in FORMATS:
        raise W2VError(f"export format {fmt!r}: not one of {', '.join(FORMATS)}")
    if not output.parent.is_dir():
        raise W2VError(f"output {output}: directory {output.parent} does not exist")
    if output.is_dir():
        raise W2VError(f"output {output}: is a directory")
    counts = counts if counts is not None else np.arange(len(words), 0, -1)
    try:
        return FORMATS[fmt].write(output, Source(words, vectors, counts, run_dir, checkpoint))
    except OSError as e:
        raise W2VError(f"output {output}: cannot be written ({e.strerror})") from None
