import io
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import small_config
from w2v import actions, meta, trainer

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^step (\d+)(/\d+)? \(\d+\.\d%\), loss \d+\.\d{4}, [\d,]+ words/s(, (\d+:)?\d+:\d\d left)?$")


def test_progress_to_a_pipe_is_plain_lines_and_the_stop_notice_its_own(tmp_path):
    """A real `w2v train` with stderr to a pipe: the plan, then a plain progress line every few seconds (no
    carriage returns), and the stop notice on a line of its own."""
    proc = subprocess.Popen([sys.executable, "-m", "w2v", "train", "--config", str(ROOT / "configs/tiny.yaml"),
                             "--run-dir", str(tmp_path / "run"), "--set", "train.steps=1000000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None and meta.read(tmp_path / "run").get("step", 0) < 1:
        time.sleep(0.05)
    time.sleep(actions.ProgressBar.LINE_SECONDS * 1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "\r" not in err
    # The first test to train on a clean machine also sees the engine's one-time build note.
    lines = [line for line in err.splitlines() if not line.startswith("WARNING building the fused training engine")]
    plan, *progress, notice = lines
    assert plan.startswith(f"run {tmp_path / 'run'}: gensim:lee: ")
    assert progress and all(LINE.match(line) for line in progress), err
    assert notice.startswith("SIGINT: stopping after the current steps")


def test_progress_lines_say_where_a_run_is(planted, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(actions.ProgressBar, "LINE_SECONDS", 0.0)
    result = trainer.train(small_config(planted, tmp_path), tmp_path / "run", show_progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step ")]
    assert len(lines) > 3 and all(LINE.match(line) for line in lines), lines
    steps = [int(LINE.match(line).group(1)) for line in lines]
    assert steps == sorted(steps) and steps[-1] == result.step
    assert lines[-1].startswith(f"step {result.step} (100.0%)") and lines[-1].endswith(" 0:00 left")


def test_the_time_left_is_for_what_remains_of_a_resumed_run():
    clock = actions.Clock(step=600, position=0, total_steps=1000, total_positions=1, words_scale=1.0)
    bar = actions.ProgressBar(clock, show=True, stream=io.StringIO())
    clock.step = 700  # 100 steps in this session's 10 s: the 300 left take 30 s
    bar.last_line = bar.start[1] + 10.0
    assert bar.line(clock, clock.step).endswith(", 0:30 left")
    bar.last_line = bar.start[1] + 100.0
    clock.step = 990
    assert bar.line(clock, clock.step).startswith("step 990/1000 (99.0%)")
    assert bar.line(clock, clock.step).endswith(", 0:03 left")
