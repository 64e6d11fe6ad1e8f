"""Text to token ids: the tokenisers, and the encoders that turn lines into ids in first-appearance order for the
shard cache (w2v/shards.py).

A corpus's first read used to spend most of its time in Python hashing every token's new str object into a
dict. The compiled encoder (w2v/tokens.cc, built with the system's compiler on first use) splits ASCII lines
and looks their tokens up in one C++ pass; a line with other characters goes through the Python tokeniser,
which knows Unicode's letters and case, and only its tokens' ids come from C++, so that the ids are the same
as the Python encoder's. Without a compiler, the Python encoder does it all.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import logging
import os
import re
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from w2v import compiled

log = logging.getLogger(__name__)

SEPARATOR = -1  # ends each line that has tokens
_WORDS = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SOURCE = Path(__file__).with_name("tokens.cc")


@dataclass(frozen=True)
class Tokenizer:
    """A line's tokens: ``words`` (runs of letters and digits, joined by single apostrophes) or
    ``whitespace`` (str.split), after lowercasing when ``lowercase``."""

    kind: str
    lowercase: bool

    def __call__(self, line: str) -> list[str]:
        if self.lowercase:
            line = line.lower()
        return _WORDS.findall(line) if self.kind == "words" else line.split()


class PythonEncoder:
    """Lines to ids with a dict, for any tokeniser."""

    def __init__(self, tokenize: Callable[[str], list[str]]) -> None:
        self._tokenize = tokenize
        self._ids: defaultdict[str, int] = defaultdict(itertools.count().__next__)

    def __len__(self) -> int:
        return len(self._ids)

    def encode(self, lines: list[str]) -> np.ndarray:
        """The lines' token ids, SEPARATOR after each line that has any, as int32."""
        lookup, out = self._ids.__getitem__, []
        for line in lines:
            toks = self._tokenize(line)
            if toks:
                out.extend(map(lookup, toks))
                out.append(SEPARATOR)
        return np.array(out, dtype=np.int32)

    def words(self) -> list[str]:
        """Every token seen, in id order."""
        return list(self._ids)


class CompiledEncoder:
    """Lines to ids in C++ (w2v/tokens.cc) for a Tokenizer's ASCII lines, the others tokenised by it."""

    def __init__(self, lib: ctypes.CDLL, tokenize: Tokenizer) -> None:
        self._lib, self._tokenize = lib, tokenize
        self._handle = ctypes.c_void_p(lib.w2v_vocabulary_new())
        weakref.finalize(self, lib.w2v_vocabulary_free, self._handle)

    def __len__(self) -> int:
        return self._lib.w2v_vocabulary_size(self._handle)

    def encode(self, lines: list[str]) -> np.ndarray:
        """The lines' token ids, SEPARATOR after each line that has any, as int32."""
        text = "\n".join(lines)
        if text.isascii():
            return self._ascii(text)
        parts, run = [], []
        for line in lines:
            if line.isascii():
                run.append(line)
                continue
            if run:
                parts.append(self._ascii("\n".join(run)))
                run = []
            toks = self._tokenize(line)
            if toks:
                parts.append(self._ids(toks))
        if run:
            parts.append(self._ascii("\n".join(run)))
        return np.concatenate(parts) if parts else np.zeros(0, np.int32)

    def _ascii(self, text: str) -> np.ndarray:
        data = bytearray(text.encode("ascii"))  # lowercased in place by the C++ side
        out = np.empty(len(data) + 1, dtype=np.int32)
        n = self._lib.w2v_tokenize(self._handle, (ctypes.c_char * len(data)).from_buffer(data), len(data),
                                   self._tokenize.kind == "words", self._tokenize.lowercase, out.ctypes.data)
        return out[:n].copy()

    def _ids(self, toks: list[str]) -> np.ndarray:
        encoded = [t.encode("utf-8") for t in toks]
        ends = np.cumsum([len(b) for b in encoded], dtype=np.int64)
        out = np.empty(len(toks) + 1, dtype=np.int32)
        self._lib.w2v_ids(self._handle, b"".join(encoded), ends.ctypes.data, len(toks), out.ctypes.data)
        out[-1] = SEPARATOR
        return out

    def words(self) -> list[str]:
        """Every token seen, in id order."""
        buffer = ctypes.create_string_buffer(self._lib.w2v_vocabulary_bytes(self._handle))
        self._lib.w2v_vocabulary_write(self._handle, buffer)
        return buffer.raw.decode("utf-8").split("\n")[:-1]


def _command(output: Path) -> list[str]:
    return [os.environ.get("CXX", "g++"), "-shared", "-fPIC", "-O2", "-std=c++17", "-o", str(output), str(_SOURCE)]


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled loop, built first when needed; None where it cannot be built."""
    try:
        lib = ctypes.CDLL(str(compiled.library("w2v_tokens", [_SOURCE], _command)))
    except (compiled.BuildError, OSError) as e:
        log.debug("tokenising in Python: the compiled tokeniser is not available (%s)", e)
        return None
    lib.w2v_vocabulary_new.restype = ctypes.c_void_p
    lib.w2v_vocabulary_free.argtypes = [ctypes.c_void_p]
    for name in ("w2v_vocabulary_size", "w2v_vocabulary_bytes"):
        getattr(lib, name).argtypes = [ctypes.c_void_p]
        getattr(lib, name).restype = ctypes.c_int64
    lib.w2v_vocabulary_write.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.w2v_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32, ctypes.c_int32,
                                 ctypes.c_void_p]
    lib.w2v_tokenize.restype = ctypes.c_int64
    lib.w2v_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]
    return lib


def encoder(tokenize: Callable[[str], list[str]]) -> PythonEncoder | CompiledEncoder:
    """The fastest encoder for ``tokenize``: the compiled one for a Tokenizer where it can be built."""
    lib = library() if isinstance(tokenize, Tokenizer) else None
    return CompiledEncoder(lib, tokenize) if lib is not None else PythonEncoder(tokenize)
