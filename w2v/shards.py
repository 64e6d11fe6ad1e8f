"""Corpora tokenised once into sharded integer files, so training memory does not grow with the corpus.

The first use of a corpus reads its text once: every token gets a provisional id (first appearance
order) and shards of about ``SHARD_TOKENS`` tokens are written as raw int32 files, each line ended by
``SEPARATOR`` (-1) so windows can stop at sentence boundaries. The provisional vocabulary and its counts are
saved too, so min_count / max_vocab become a lookup table applied on the fly, and a later run (or a
resume) of the same corpus skips tokenising. The cache key covers the corpus files (path, size,
mtime), the tokenizer and lowercasing; a cache is written under a temporary name and renamed when
complete, so an interrupted encoding is never used.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from w2v import fileio, tokens
from w2v.errors import W2VError

SHARD_TOKENS = 1 << 20
SEPARATOR = tokens.SEPARATOR
LINES_A_BATCH = 4096  # lines tokenised at a time: the compiled tokeniser's calls cost little next to them
FORMAT = 1


@dataclass
class ShardedCorpus:
    """A tokenised corpus on disk: provisional vocabulary, counts and int32 shards."""

    directory: Path
    counts: np.ndarray
    shard_sizes: list[int]  # int32 values per shard, separators included

    @property
    def words(self) -> list[str]:
        """The provisional vocabulary in id order, read from disk at each use: a web corpus has millions of
        provisional words (2.7M strings, 207 MB for 60M tokens of a Zipf law), which no run keeps."""
        return self.words_at(None)

    def words_at(self, ids: np.ndarray | None) -> list[str]:
        """The provisional words of ``ids`` (None: all), only those decoded."""
        raw = (self.directory / "words.txt").read_bytes()
        if ids is None:
            return raw.decode("utf-8").split("\n")[:-1]
        ends = np.flatnonzero(np.frombuffer(raw, np.uint8) == ord("\n"))
        starts = np.concatenate([[0], ends[:-1] + 1])
        return [raw[a:b].decode("utf-8") for a, b in zip(starts[ids].tolist(), ends[ids].tolist(), strict=True)]

    @property
    def raw_tokens(self) -> int:
        """Tokens in the corpus (separators not counted)."""
        return int(self.counts.sum())

    @property
    def stream_length(self) -> int:
        """Values in all shards, separators included: the positions the pipeline counts."""
        return int(sum(self.shard_sizes))

    def path(self, shard: int) -> Path:
        return self.directory / f"shard-{shard:05d}.i32"

    @classmethod
    def load(cls, directory: Path) -> ShardedCorpus:
        """Open an encoded corpus directory."""
        index = json.loads((directory / "index.json").read_text())
        return cls(directory, np.load(directory / "counts.npy"), index["shard_sizes"])


def write(lines: Iterable[str], tokenize: Callable[[str], list[str]], directory: Path,
          shard_tokens: int = SHARD_TOKENS, source: str = "corpus", progress: bool = False) -> ShardedCorpus:
    """Tokenise ``lines`` into a new cache directory (written aside, then renamed into place), with a
    progress bar of tokens when ``progress``."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(desc=f"tokenising {source} (once; cached in {directory.parent})", unit=" tokens", unit_scale=True,
               disable=None if progress else True, leave=False)  # None: only on a terminal
    with bar, fileio.replacing(directory, directory=True) as tmp:
        encoder = tokens.encoder(tokenize)
        counts = np.zeros(0, dtype=np.int64)
        sizes: list[int] = []
        shard: list[np.ndarray] = []  # the shard being filled
        filled = 0

        def flush() -> None:
            nonlocal counts, shard, filled
            values = np.concatenate(shard)
            values.tofile(tmp / f"shard-{len(sizes):05d}.i32")
            counts = np.pad(counts, (0, len(encoder) - len(counts)))
            counts += np.bincount(values[values >= 0], minlength=len(encoder))
            sizes.append(len(values))
            bar.update(int(np.count_nonzero(values >= 0)))
            shard, filled = [], 0

        remaining = iter(lines)
        for batch in iter(lambda: list(itertools.islice(remaining, LINES_A_BATCH)), []):
            ids = encoder.encode(batch)
            # A shard ends with the first line that brings it to shard_tokens values.
            while len(ids):
                ends = np.flatnonzero(ids == SEPARATOR) + 1
                full = ends[filled + ends >= shard_tokens]
                if not len(full):
                    shard.append(ids)
                    filled += len(ids)
                    break
                shard.append(ids[:full[0]])
                flush()
                ids = ids[full[0]:]
        if shard:
            flush()
        if not sizes:
            raise W2VError(f"corpus {source}: no words found (empty corpus)")
        (tmp / "words.txt").write_text("".join(w + "\n" for w in encoder.words()), encoding="utf-8")
        np.save(tmp / "counts.npy", counts)
        (tmp / "index.json").write_text(json.dumps({"format": FORMAT, "shard_sizes": sizes, "source": source}))
    return ShardedCorpus.load(directory)


def cache_key(spec: str, files: list[Path], tokenizer: str, lowercase: bool) -> str:
    """A key that changes when the corpus files or the tokenisation change."""
    parts = [f"format={FORMAT}", spec, tokenizer, str(lowercase)]
    for f in files:
        st = f.stat()
        parts.append(f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def cache_directory(spec: str, files: list[Path], cache_dir: str | Path, tokenizer: str, lowercase: bool) -> Path:
    """Where a corpus's encoding is kept (whether or not it is there yet)."""
    return Path(cache_dir).expanduser() / "encoded" / cache_key(spec, files, tokenizer, lowercase)


def open_or_write(spec: str, files: list[Path], lines: Callable[[], Iterable[str]],
                  tokenize: Callable[[str], list[str]], cache_dir: Path, tokenizer: str,
                  lowercase: bool, progress: bool = False) -> ShardedCorpus:
    """The cached encoding of a corpus, written on first use (with a progress bar when ``progress``)."""
    directory = cache_directory(spec, files, cache_dir, tokenizer, lowercase)
    if (directory / "index.json").exists():
        return ShardedCorpus.load(directory)
    try:
        return write(lines(), tokenize, directory, source=spec, progress=progress)
    except OSError as e:
        raise W2VError(f"cache directory {directory.parent}: cannot be written ({e.strerror})") from None
