"""Corpora tokenised once into int32 shards: split, reopened, cached and invalidated."""

from w2v import corpus, shards, vocab

tok = corpus.tokenizer("whitespace", True)


def test_shards_split_long_corpora_and_reopen(tmp_path):
    lines = [" ".join(f"w{i % 7}" for i in range(j, j + 10)) for j in range(100)]
    enc = vocab.build(lines, tok, 1, None, directory=tmp_path / "enc", shard_tokens=64)
    assert len(enc.shards.shard_sizes) > 10
    assert enc.raw_tokens == 1000 and enc.shards.stream_length == 1100
    again = shards.ShardedCorpus.load(tmp_path / "enc")
    assert again.words == enc.shards.words and again.shard_sizes == enc.shards.shard_sizes


def test_cache_is_reused_and_invalidated_by_a_changed_file(tmp_path):
    text = tmp_path / "c.txt"
    text.write_text("a b c\n")
    calls = []

    def lines():
        calls.append(1)
        return text.read_text().splitlines()

    first = shards.open_or_write(str(text), [text], lines, tok, tmp_path / "cache", "whitespace", True)
    again = shards.open_or_write(str(text), [text], lines, tok, tmp_path / "cache", "whitespace", True)
    assert len(calls) == 1 and again.directory == first.directory
    text.write_text("a b c d e\n")
    changed = shards.open_or_write(str(text), [text], lines, tok, tmp_path / "cache", "whitespace", True)
    assert len(calls) == 2 and changed.raw_tokens == 5
    assert not list((tmp_path / "cache" / "encoded").glob(".*")), "no temporary directories left"
