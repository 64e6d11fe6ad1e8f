"""Reading corpora: text files, archives, directories, text8 (downloaded once) and gensim's bundled text.

Every source is read as lines of text; a line is a sentence (windows do not cross it). Bytes that
are not UTF-8 are refused with the file name and byte offset rather than silently replaced.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import importlib.util
import io
import os
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from w2v import fileio, shards, tokens
from w2v.errors import W2VError

if TYPE_CHECKING:
    from w2v.schema import DataConfig

TEXT8_URL = "http://mattmahoney.net/dc/text8.zip"
TEXT8_SIZE = 31344016
TEXT8_SHA256 = "a6640522afe85d1963ad56c05b0ede0a0c000dddc9671758a6cc09b7a38e5232"

BUNDLED = ("gensim:lee", "gensim:wiki", "gensim:all")
_WIKI = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
_TEXT_SUFFIXES = (".txt", ".gz", ".bz2", ".zip", ".cor", ".text", "")


def tokenizer(kind: str, lowercase: bool) -> tokens.Tokenizer:
    """A function from a line to its tokens."""
    return tokens.Tokenizer(kind, lowercase)


_MAX_LINE = 1 << 20


def _decode(raw: bytes, name: str, offset: int, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise W2VError(f"corpus {name}: not UTF-8 text (line {line}, byte offset {offset + e.start})") from None


def _decode_lines(stream: io.BufferedIOBase, name: str) -> Iterator[str]:
    """Decoded lines; a line longer than 1 MiB (text8 is one 100 MB line) is cut at a space
    so memory stays bounded, and the pieces count as separate sentences."""
    offset, line = 0, 1
    carry = b""
    while raw := stream.readline(_MAX_LINE):
        raw, carry = carry + raw, b""
        if not raw.endswith(b"\n"):
            cut = raw.rfind(b" ")
            if cut > 0:
                raw, carry = raw[:cut], raw[cut + 1:]
        yield _decode(raw, name, offset, line)
        offset += len(raw) + (1 if carry else 0)
        line += raw.endswith(b"\n")
    if carry:
        yield _decode(carry, name, offset, line)


def _open_file(path: Path) -> Iterator[str]:
    name = str(path)
    try:
        with open(path, "rb") as probe:
            head = probe.read(4096)
    except OSError as e:
        raise W2VError(f"corpus {name}: cannot be read ({e.strerror})") from None
    if head.startswith(b"\x1f\x8b"):
        opener = gzip.open
    elif head.startswith(b"BZh"):
        opener = bz2.open
    elif head.startswith(b"PK\x03\x04"):
        yield from _zip_lines(path)
        return
    else:
        if b"\x00" in head:
            raise W2VError(f"corpus {name}: looks like a binary file, not text")
        opener = open
    try:
        with opener(path, "rb") as f:
            yield from _decode_lines(f, name)
    except (OSError, EOFError) as e:
        raise W2VError(f"corpus {name}: cannot be read ({e})") from None


def _zip_lines(path: Path) -> Iterator[str]:
    try:
        with zipfile.ZipFile(path) as z:
            members = [m for m in z.namelist() if not m.endswith("/")]
            if not members:
                raise W2VError(f"corpus {path}: the zip archive holds no files")
            for member in sorted(members):
                with z.open(member) as f:
                    yield from _decode_lines(f, f"{path}:{member}")
    except zipfile.BadZipFile:
        raise W2VError(f"corpus {path}: not a valid zip archive") from None


def gensim_test_data(name: str) -> Path:
    """A file of gensim's test data (its bundled corpora and evaluation sets), found without importing gensim,
    which costs most commands a second."""
    return Path(importlib.util.find_spec("gensim").origin).parent / "test" / "test_data" / name


def _lee_lines() -> Iterator[str]:
    yield from _open_file(gensim_test_data("lee_background.cor"))


def _wiki_lines() -> Iterator[str]:
    """Plain text of gensim's bundled Wikipedia sample, one paragraph a line, markup removed."""
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    path = gensim_test_data(_WIKI)
    with bz2.open(path, "rb") as f:
        for _title, text, _pageid in extract_pages(f):
            for paragraph in filter_wiki(text).split("\n"):
                if paragraph.strip():
                    yield paragraph


def text8_path(cache_dir: str, url: str = TEXT8_URL, size: int = TEXT8_SIZE,
               sha256: str = TEXT8_SHA256) -> Path:
    """The cached text8.zip, downloaded and verified (size and SHA-256) on first use."""
    cache = Path(os.path.expanduser(cache_dir))
    target = cache / "text8.zip"
    if target.exists() and target.stat().st_size == size:
        return target
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise W2VError(f"cache directory {cache}: cannot be created ({e.strerror})") from None
    digest = hashlib.sha256()
    try:
        with fileio.replacing(target) as tmp:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
                while block := response.read(1 << 20):
                    digest.update(block)
                    out.write(block)
            got = tmp.stat().st_size
            if got != size or digest.hexdigest() != sha256:
                raise W2VError(f"text8 download from {url}: got {got} bytes with SHA-256 {digest.hexdigest()[:12]}…, "
                               f"expected {size} bytes and {sha256[:12]}…; try again or place text8.zip in {cache}")
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise W2VError(f"text8: cannot download {url} ({reason}); when offline, download text8.zip "
                       f"elsewhere and copy it to {target}") from None
    return target


def _directory_files(path: Path) -> list[Path]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in _TEXT_SUFFIXES)
    if not files:
        raise W2VError(f"corpus {path}: the directory holds no text files (.txt, .gz, .bz2, .zip)")
    return files


def source_files(spec: str, cache_dir: str = "~/.cache/w2v") -> list[Path]:
    """The files a corpus spec reads (downloading text8 if needed); a missing source raises W2VError."""
    if spec in ("gensim:lee", "gensim:all"):
        files = [gensim_test_data("lee_background.cor")]
        if spec == "gensim:all":
            files.append(gensim_test_data(_WIKI))
        return files
    if spec == "gensim:wiki":
        return [gensim_test_data(_WIKI)]
    if spec.startswith("gensim:"):
        raise W2VError(f"corpus {spec}: unknown bundled corpus (known: {', '.join(BUNDLED)})")
    if spec == "text8":
        return [text8_path(cache_dir)]
    path = Path(os.path.expanduser(spec))
    if path.is_dir():
        return _directory_files(path)
    if path.exists():
        return [path]
    raise W2VError(f"corpus {spec}: no such file or directory")


def check(spec: str, cache_dir: str = "~/.cache/w2v") -> None:
    """What can be told of a corpus at once, before it is tokenised and TensorFlow loads (seconds): that it is
    there, holds something and is text (text8 is checked where it is downloaded)."""
    if spec == "text8":
        return
    files = source_files(spec, cache_dir)
    if all(path.stat().st_size == 0 for path in files):
        raise W2VError(f"corpus {spec}: no words found (empty corpus)")
    for path in files:
        lines = _open_file(path)
        try:
            next(lines, None)  # the first line read: a binary, unreadable or undecodable file says so here
        finally:
            lines.close()


def iter_lines(spec: str, cache_dir: str = "~/.cache/w2v") -> Iterator[str]:
    """Lines of the corpus named by ``spec`` (see ``data.corpus``)."""
    if spec == "gensim:lee":
        yield from _lee_lines()
    elif spec == "gensim:wiki":
        yield from _wiki_lines()
    elif spec == "gensim:all":
        yield from _lee_lines()
        yield from _wiki_lines()
    elif spec.startswith("gensim:"):
        raise W2VError(f"corpus {spec}: unknown bundled corpus (known: {', '.join(BUNDLED)})")
    elif spec == "text8":
        yield from _zip_lines(text8_path(cache_dir))
    else:
        path = Path(os.path.expanduser(spec))
        if path.is_dir():
            for f in _directory_files(path):
                yield from _open_file(f)
        elif path.exists():
            yield from _open_file(path)
        else:
            raise W2VError(f"corpus {spec}: no such file or directory")


def encoded(data: DataConfig, progress: bool = False) -> shards.ShardedCorpus:
    """The corpus ``data`` names as its shard cache, tokenised into it first (with a progress bar if asked)
    when this corpus and tokenisation have none yet."""
    lines = lambda: iter_lines(data.corpus, data.cache_dir)  # noqa: E731 (read only when not cached)
    return shards.open_or_write(data.corpus, source_files(data.corpus, data.cache_dir), lines,
                                tokenizer(data.tokenizer, data.lowercase), Path(data.cache_dir), data.tokenizer,
                                data.lowercase, progress=progress)
