"""A new corpus is tokenised in a child process while the parent imports TensorFlow: seen from real processes,
as users run `w2v train` (pytest's own process has TensorFlow loaded already, where nothing may be forked)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def write_corpus(path: Path, lines: int) -> Path:
    words = [f"w{i}" for i in range(500)]
    with open(path, "w") as f:
        for i in range(lines):
            f.write(" ".join(words[(i * 7 + j * 13) % 500] for j in range(20)) + "\n")
    return path


def caches(cache: Path, pattern: str) -> list[Path]:
    return list((cache / "encoded").glob(pattern)) if (cache / "encoded").exists() else []


def test_the_cache_is_written_while_the_block_runs(tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", 2000)
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from w2v import config, pretokenize
        cfg = config.apply_overrides(config.Config(), ["data.corpus={corpus}", "data.cache_dir={tmp_path}/cache"])
        with pretokenize.alongside(cfg.data):
            # This process only waits: the cache can appear only from the child.
            deadline = time.time() + 30
            while not list(Path("{tmp_path}/cache/encoded").glob("*/index.json")) and time.time() < deadline:
                time.sleep(0.05)
            print("written" if time.time() < deadline else "never written", flush=True)
        assert "tensorflow" not in sys.modules
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "written"
    assert len(caches(tmp_path / "cache", "*/index.json")) == 1


def w2v_train(tmp_path: Path, corpus: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "w2v", "train", "--config", str(ROOT / "configs" / "tiny.yaml"), "--run-dir",
            str(tmp_path / "run"), "--quiet", "--set", f"data.corpus={corpus}", "--set",
            f"data.cache_dir={tmp_path / 'cache'}", *extra]


def test_a_corpus_the_child_cannot_read_is_reported_by_the_parent(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"first line\ncaf\xe9\n")
    done = subprocess.run(w2v_train(tmp_path, bad), capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert errors == [f"error: corpus {bad}: not UTF-8 text (line 2, byte offset 14)"], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
    assert caches(tmp_path / "cache", "*") == []  # neither the child nor the parent left a half-written cache


def test_a_run_directory_in_use_is_refused_before_the_corpus_is_read(tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", 200)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("run: {}\n")
    done = subprocess.run(w2v_train(tmp_path, corpus), capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2
    assert "already holds a run" in done.stderr
    assert caches(tmp_path / "cache", "*") == []


@pytest.mark.skipif(sys.platform != "linux", reason="the child learns of its parent's death from Linux")
def test_killing_w2v_train_ends_its_tokeniser_and_leaves_no_partial_cache(tmp_path):
    corpus = write_corpus(tmp_path / "big.txt", 400_000)  # 8M tokens: several seconds to tokenise
    # Started as a shell starts a background job: with SIGINT ignored, which its child inherits.
    process = subprocess.Popen(w2v_train(tmp_path, corpus), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.time() + 60
    while not caches(tmp_path / "cache", "*.part") and time.time() < deadline:
        time.sleep(0.05)
    assert caches(tmp_path / "cache", "*.part"), "the tokeniser never started"
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert children, "no child process tokenises"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    def tokenising() -> bool:
        return any(Path(f"/proc/{pid}").exists() for pid in children)

    deadline = time.time() + 30
    while (caches(tmp_path / "cache", "*.part") or tokenising()) and time.time() < deadline:
        time.sleep(0.1)
    assert not tokenising(), "the tokeniser outlived w2v train"
    assert caches(tmp_path / "cache", "*") == []
