"""Tests of tests/test_fused.py: the C++ engine broken on purpose, one change at a time, where mutmut cannot
reach (C++). Each breakage is a bug the engine could plausibly have in how it shares a batch among threads
or applies a window; the fused tests must fail on every one. `make mutate` runs these (-m mutation): each
builds its own engine (about 20 s) and runs the fused tests against it.

Left out, with why: a missing barrier between the phases is a race, which the thread-count test catches only
when the threads happen to interleave badly (a test that may pass on broken code proves nothing). Changes that
give the same bits are no bugs these tests could see: rows owned by fewer threads than the pool has (all by
thread 0), a thread taking fewer windows at a time, one worker fewer in the pool.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SELECTION = ["tests/test_fused.py", "-k", "numpy_reference or same_bits_whatever_the_threads or noise_stream"]

# (file, the code as it is, the broken code): each replaced once.
BREAKAGES = {
    "every thread applies every row": (
        "fused_op.cc", "return static_cast<int>((hash * threads) >> 32) == t;", "return hash == hash;"),
    "input rows updated before output rows": (
        "fused_op.cc",
        "for (int64_t i = first; i < first + size; ++i) ApplyOutputs(s, pending_[i - first], owns);\n"
        "        barrier.Wait();\n"
        "        for (int64_t i = first; i < first + size; ++i) ApplyInputs(s, ws[i], pending_[i - first], owns);",
        "for (int64_t i = first; i < first + size; ++i) ApplyInputs(s, ws[i], pending_[i - first], owns);\n"
        "        barrier.Wait();\n"
        "        for (int64_t i = first; i < first + size; ++i) ApplyOutputs(s, pending_[i - first], owns);"),
    "a group's last window not applied": (
        "fused_op.cc", "for (int64_t i = first; i < first + size; ++i) ApplyOutputs(",
        "for (int64_t i = first; i < first + size - 1; ++i) ApplyOutputs("),
    "a Hogwild thread's last window skipped": (
        "fused_op.cc", "const int64_t begin = n * t / threads, end = n * (t + 1) / threads;",
        "const int64_t begin = n * t / threads, end = n * (t + 1) / threads - 1;"),
    "a group's first window never scored": (
        "fused_op.cc", "cursors[g].store(static_cast<int64_t>(g) * group_);",
        "cursors[g].store(static_cast<int64_t>(g) * group_ + 1);"),
    "frozen output rows trained": (
        "fused_window.h", "if (id < s.frozen_outputs || !owns(id)) continue;", "if (!owns(id)) continue;"),
    "a pair far beyond +-6 still learnt from": (
        "fused_window.h", "logits[i] = std::fabs(f) < kMaxScore ? g : 0.0f;", "logits[i] = g;"),
    "one draw of negatives a pair, not a window": (
        "fused_op.cc", "while (e < batch && wid[e] == wid[b]) ++e;", "while (e < batch && wid[e] == wid[b] && 0) ++e;"),
    "negatives drawn without their index": (
        "fused_window.h", "static_cast<uint64_t>(w.first * s.k + j)", "static_cast<uint64_t>(w.first * s.k)"),
}


@pytest.mark.mutation
@pytest.mark.parametrize("name", list(BREAKAGES))
def test_the_fused_tests_fail_on_a_broken_engine(tmp_path: Path, name: str) -> None:
    source, before, after = BREAKAGES[name]
    shutil.copytree(ROOT / "w2v", tmp_path / "w2v", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", tmp_path / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    path = tmp_path / "w2v" / source
    text = path.read_text()
    assert text.count(before) == 1, f"{name}: the code to break is no longer in {source}"
    path.write_text(text.replace(before, after))
    # The copy comes first on the path; the engine is built from the copy's source (its own cache entry).
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "-m", "not mutation", *SELECTION], cwd=tmp_path, env=env, capture_output=True, text=True)
    out = done.stdout + done.stderr
    assert str(tmp_path / "w2v") in subprocess.run(
        [sys.executable, "-c", "import w2v; print(w2v.__file__)"], cwd=tmp_path, env=env, capture_output=True,
        text=True).stdout, "the tests did not import the broken copy"
    # Failed by an assertion of the tests (exit 1), not by a build, an import or collection (2-5).
    assert done.returncode == 1 and "AssertionError" in out and "W2VError" not in out, \
        f"{name}: the fused tests did not fail on an assertion\n{out[-1500:]}"
