import logging
import math
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import small_config
from w2v import config as config_lib
from w2v import estimate, meta, runs, trainer

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_the_plan_line_counts_in_words(planted, tmp_path, capsys):
    trainer.train(small_config(planted, tmp_path, train__epochs=1), tmp_path / "run", show_progress=True)
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith(f"run {tmp_path}")]
    assert ", 1 epoch, vocabulary " in line
    assert "; a checkpoint every 20 steps, about " in line and " KB each, 5 kept: " in line
    assert [estimate.counted(n, "step") for n in (1, 2, 12000)] == ["1 step", "2 steps", "12,000 steps"]


def shipped(*sets):
    return config_lib.resolve(config_lib.load(ROOT / "configs" / "base.yaml", list(sets)), "fused")


def test_the_default_checkpoint_period_follows_the_size_of_the_tables():
    small, large = shipped(), shipped("model.embedding_dim=300", "model.loss=neg")
    at_small, at_large = (estimate.checkpoint_period(c, words, "fused", 2) for c, words in ((small, 10_000),
                                                                                          (large, 957_427)))
    assert 100 <= at_small < 2000 and 15_000 <= at_large <= 30_000
    # Saving takes its share of the training time by the estimate's own figures: at most, and not far under.
    for config, words, period in ((small, 10_000, at_small), (large, 957_427, at_large)):
        save = estimate.SAVE_SECONDS + estimate.table_bytes(config, words) / estimate.SAVE_BYTES_PER_SECOND
        step = config.train.batch_size / estimate.pairs_per_second(config, "fused", 2)
        assert 0.9 * estimate.CHECKPOINT_SHARE <= save / (period * step) <= estimate.CHECKPOINT_SHARE
    assert all(str(period)[2:].strip("0") == "" for period in (at_small, at_large))  # two significant digits
    # A period given is the period kept, whatever the tables.
    assert estimate.checkpoint_period(shipped("checkpoint.every_n_steps=7"), 957_427, "fused", 2) == 7


def test_a_run_without_a_period_saves_at_the_estimated_one(planted, tmp_path, monkeypatch):
    # A save said to take a millisecond and half the training time, so the run sees several periods.
    monkeypatch.setattr(estimate, "SAVE_SECONDS", 0.001)
    monkeypatch.setattr(estimate, "CHECKPOINT_SHARE", 0.5)
    cfg = small_config(planted, tmp_path, checkpoint__every_n_steps="null", checkpoint__max_to_keep=50)
    result = trainer.train(cfg, tmp_path / "run", show_progress=False)
    period = estimate.checkpoint_period(config_lib.resolve(cfg, "fused"), len(runs.load_vocab(result.run_dir)),
                                        "fused", len(os.sched_getaffinity(0)))
    saved = sorted(int(p.name.split("-")[1].split(".")[0]) for p in runs.checkpoint_dir(result.run_dir).glob("*.index"))
    assert 2 <= period < result.step // 2
    assert saved == [*range(period, result.step, period), result.step]


def test_the_plan_warns_when_the_kept_checkpoints_will_not_fit_on_the_disk(planted, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(estimate, "_free_disk", lambda path: 1000)
    with caplog.at_level(logging.WARNING):
        trainer.train(small_config(planted, tmp_path, train__epochs=1), tmp_path / "run", show_progress=False)
    (warning,) = [r.getMessage() for r in caplog.records if "checkpoint.max_to_keep" in r.getMessage()]
    assert warning.startswith(f"checkpoints in {tmp_path / 'run' / 'checkpoints'}: the 5 kept will take ")
    assert "the disk has 1 KB free" in warning


MEASURE = """
import os, sys
pid = os.fork()
if pid == 0:
    os.dup2(2, 1)  # its output with its log, this process's own stdout for the figures
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


@pytest.mark.parametrize("sets", [[], ["model.subwords=true", "model.loss=neg"]], ids=["words", "subwords"])
def test_the_plans_peak_memory_is_within_15_percent_of_the_runs(tmp_path, sets):
    """The shipped config's embedded run, as `w2v train` runs it (and a subword model of it, whose 2M n-gram
    rows dwarf the rest), its peak RSS from the kernel (the engine built and the corpus tokenised beforehand: a
    compiler or a tokenising child would count as the run's)."""
    from w2v import fused

    fused.load()
    trainer.load_corpus(shipped())
    args = [sys.executable, "-m", "w2v", "train", "--config", str(ROOT / "configs" / "base.yaml"), "--run-dir",
            str(tmp_path / "run"), "--set", "train.epochs=1", "--set", f"checkpoint.dir={tmp_path / 'c'}",
            *(a for s in sets for a in ("--set", s))]
    # Started from a small process of its own: a child's peak RSS starts at its parent's when it is forked, and
    # this test process holds TensorFlow and every earlier test's runs.
    with open(tmp_path / "log", "w") as log:
        measured = subprocess.run([sys.executable, "-c", MEASURE, *args], stderr=log, stdout=subprocess.PIPE,
                                  text=True, check=True).stdout
    text = (tmp_path / "log").read_text()
    status, measured = map(int, measured.split())
    assert status == 0, text
    amount, unit = re.search(r"peak memory about ([\d.]+) (MB|GB)", text).groups()
    planned = float(amount) * (1024 if unit == "GB" else 1)
    measured /= 1024
    assert abs(planned - measured) <= 0.15 * measured, (planned, measured)
    assert meta.read(tmp_path / "run")["status"] == "completed"


def test_a_resumes_plan_gives_the_time_left_from_its_checkpoint(planted, tmp_path):
    corpus = trainer.load_corpus(small_config(planted, tmp_path))
    per_epoch = estimate.pairs_per_epoch(corpus, small_config(planted, tmp_path))
    epochs = max(1, round(60 * estimate.pairs_per_second(small_config(planted, tmp_path), "fused", 2) / per_epoch))
    cfg = small_config(planted, tmp_path, train__epochs=epochs)  # about a minute
    total_steps = math.ceil(cfg.train.epochs * per_epoch / estimate._pairs_per_step(cfg))
    full = estimate.plan(cfg, corpus, "fused", 2, tmp_path, 100)[0]
    resumed = estimate.plan(cfg, corpus, "fused", 2, tmp_path, 100, start_step=total_steps // 2)[0]
    before, after = (int(re.search(r"about (\d+) s", line).group(1)) for line in (full, resumed))
    assert f" epochs from step {total_steps // 2:,}, vocabulary " in resumed
    assert " to go, " in resumed and " to go" not in full
    assert abs(after - before / 2) <= 1
