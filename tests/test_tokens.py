"""Text to token ids: the compiled encoder gives the Python encoder's ids, words and shards, and w2v tokenises in
Python where it cannot be built."""

import numpy as np
import pytest

from w2v import shards, tokens

# ASCII lines of every kind the tokenisers treat apart (case, digits, apostrophes, underscores, every whitespace
# byte str.split knows, NUL, empty lines, no final newline), and lines that Python tokenises (letters and
# spaces beyond ASCII, case that changes length), mixed.
LINES = [
    "Don't STOP, 2 go!\n", "rock'n'roll' 'quoted' a''b snake_case x_1 9'9\n", "\n", "   \n",
    "tab\tsep\x0bvt\x0cff\rcr\x1cfs\x1dgs\x1erS\x1fus end\n", "NUL\x00inside word\n", "AAAAA'\n",
    "caf\u00e9 na\u00efve \u00c9COLE \u2014 dash\u00a0nbsp\n", "\u00df stra\u00dfe \u0130stanbul\n",
    "x\u2028y\u0085z\n",
    "tokens here, Tokens HERE", "a b c AZ az Zz\n", "no newline",
]
TOKENIZERS = [tokens.Tokenizer(kind, lowercase) for kind in ("words", "whitespace") for lowercase in (True, False)]


def compiled(tokenize):
    encoder = tokens.encoder(tokenize)
    assert isinstance(encoder, tokens.CompiledEncoder), "the test machine has a C++ compiler"
    return encoder


@pytest.mark.parametrize("tokenize", TOKENIZERS, ids=lambda t: f"{t.kind}-{'lower' if t.lowercase else 'cased'}")
def test_the_compiled_encoder_gives_pythons_ids_and_words(tokenize):
    fast, python = compiled(tokenize), tokens.PythonEncoder(tokenize)
    for batch in (LINES[:7], LINES[7:], LINES, ["\n"], []):
        got, want = fast.encode(batch), python.encode(batch)
        assert got.dtype == np.int32 and got.tolist() == want.tolist()
    assert fast.words() == python.words() and len(fast) == len(python)
    if tokenize.kind == "words" and tokenize.lowercase:
        assert fast.words()[:5] == ["don't", "stop", "2", "go", "rock'n'roll"]


def reference_shards(lines, tokenize, shard_tokens):
    """Shards as a line-by-line loop makes them: a shard ends with the line that brings it to shard_tokens."""
    ids, out, stream = {}, [], []
    for line in lines:
        toks = tokenize(line)
        if toks:
            stream += [ids.setdefault(t, len(ids)) for t in toks] + [shards.SEPARATOR]
            if len(stream) >= shard_tokens:
                out.append(stream)
                stream = []
    return out + ([stream] if stream else []), list(ids)


@pytest.mark.parametrize("batch", [3, 4096])
def test_shards_end_where_a_line_by_line_loop_ends_them(tmp_path, monkeypatch, batch):
    monkeypatch.setattr(shards, "LINES_A_BATCH", batch)
    lines = LINES * 5 + [" ".join(f"w{i % 13}" for i in range(j, j + j % 9)) + "\n" for j in range(60)]
    tokenize = tokens.Tokenizer("words", True)
    written = shards.write(iter(lines), tokenize, tmp_path / "enc", shard_tokens=17)
    want, words = reference_shards(lines, tokenize, 17)
    got = [np.fromfile(written.path(i), dtype=np.int32).tolist() for i in range(len(written.shard_sizes))]
    assert got == want and written.words == words
    assert written.counts.tolist() == np.bincount([i for s in want for i in s if i >= 0]).tolist()


def test_without_a_compiler_python_tokenises_the_same(tmp_path, monkeypatch):
    tokenize = tokens.Tokenizer("whitespace", True)
    fast = shards.write(iter(LINES), tokenize, tmp_path / "fast", shard_tokens=5)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("CXX", "false")  # a compiler that always fails
    monkeypatch.setattr(tokens, "library", tokens.library.__wrapped__)
    assert isinstance(tokens.encoder(tokenize), tokens.PythonEncoder)
    slow = shards.write(iter(LINES), tokenize, tmp_path / "slow", shard_tokens=5)
    assert slow.words == fast.words and slow.shard_sizes == fast.shard_sizes
    for i in range(len(fast.shard_sizes)):
        assert fast.path(i).read_bytes() == slow.path(i).read_bytes()
