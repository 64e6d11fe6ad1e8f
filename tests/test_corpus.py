import bz2
import gzip
import hashlib
import http.server
import threading
import zipfile

import pytest

from w2v import corpus
from w2v.errors import W2VError

TEXT = "the cat sat\non the mat\n"


def lines(spec, **kw):
    return list(corpus.iter_lines(str(spec), **kw))


def test_plain_and_compressed_files(tmp_path):
    (tmp_path / "a.txt").write_text(TEXT)
    (tmp_path / "a.gz").write_bytes(gzip.compress(TEXT.encode()))
    (tmp_path / "a.bz2").write_bytes(bz2.compress(TEXT.encode()))
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        z.writestr("inner.txt", TEXT)
    for name in ("a.txt", "a.gz", "a.bz2", "a.zip"):
        assert [line.strip() for line in lines(tmp_path / name)] == ["the cat sat", "on the mat"], name


def test_directory_reads_every_text_file_in_order(tmp_path):
    (tmp_path / "b.txt").write_text("second\n")
    (tmp_path / "a.txt").write_text("first\n")
    (tmp_path / ".hidden").write_text("never\n")
    assert [line.strip() for line in lines(tmp_path)] == ["first", "second"]


def test_long_lines_are_cut_at_spaces():
    import io

    words = " ".join(f"w{i}" for i in range(400_000))
    got = list(corpus._decode_lines(io.BytesIO(words.encode()), "mem"))
    assert len(got) > 1
    assert " ".join(got).split() == words.split()


@pytest.mark.parametrize("content, message", [
    (b"caf\xe9 au lait\n", r"not UTF-8 text \(line 1, byte offset 3\)"),
    (b"\x00\x01\x02binary", "binary file"),
])
def test_bad_bytes_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(W2VError, match=message):
        lines(path)


def test_bad_bytes_are_located_by_line_and_offset(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"first line\nsecond\nthird caf\xe9\n")
    with pytest.raises(W2VError, match=r"not UTF-8 text \(line 3, byte offset 27\)"):
        lines(path)


def test_missing_and_empty_sources(tmp_path):
    with pytest.raises(W2VError, match="no such file or directory"):
        lines(tmp_path / "nope.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(W2VError, match="holds no text files"):
        lines(tmp_path / "empty")
    with pytest.raises(W2VError, match="unknown bundled corpus"):
        lines("gensim:nope")


def test_bundled_gensim_corpora():
    lee = lines("gensim:lee")
    assert len(lee) > 250 and "Southern Highlands" in lee[0]
    wiki = list(corpus.iter_lines("gensim:wiki"))
    assert len(wiki) > 1000 and not any("[[" in line for line in wiki[:200])


def test_tokenizers():
    assert corpus.tokenizer("words", True)("Don't STOP, 2 go!") == ["don't", "stop", "2", "go"]
    assert corpus.tokenizer("whitespace", False)("A b,  c") == ["A", "b,", "c"]


@pytest.fixture
def served_zip(tmp_path):
    payload = tmp_path / "served" / "text8.zip"
    payload.parent.mkdir()
    with zipfile.ZipFile(payload, "w") as z:
        z.writestr("text8", " anarchism originated as a term")
    data = payload.read_bytes()

    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(payload.parent))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/text8.zip", len(data), hashlib.sha256(data).hexdigest()
    finally:
        server.shutdown()
        server.server_close()


def test_text8_download_is_verified_and_cached(tmp_path, served_zip):
    url, size, digest = served_zip
    cache = tmp_path / "cache"
    path = corpus.text8_path(str(cache), url=url, size=size, sha256=digest)
    assert path.read_bytes()[:2] == b"PK"
    # Cached: a second call does not need the server.
    assert corpus.text8_path(str(cache), url="http://127.0.0.1:9/none", size=size, sha256=digest) == path
    with pytest.raises(W2VError, match="expected .* bytes"):
        corpus.text8_path(str(tmp_path / "other"), url=url, size=size + 1, sha256=digest)
    assert not list((tmp_path / "other").glob("*"))
    with pytest.raises(W2VError, match=f"got {size} bytes with SHA-256 {digest[:12]}"):  # right size, wrong digest
        corpus.text8_path(str(tmp_path / "third"), url=url, size=size, sha256="0" * 64)
    assert not list((tmp_path / "third").glob("*"))


def test_text8_offline_gives_advice(tmp_path):
    with pytest.raises(W2VError, match="cannot download .* copy it to"):
        corpus.text8_path(str(tmp_path), url="http://127.0.0.1:9/text8.zip")
