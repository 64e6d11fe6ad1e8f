from tests.conftest import small_config
from w2v import estimate, trainer


def test_the_plan_line_counts_in_words(planted, tmp_path, capsys):
    trainer.train(small_config(planted, tmp_path, train__epochs=1), tmp_path / "run", show_progress=True)
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith(f"run {tmp_path}")]
    assert ", 1 epoch, vocabulary " in line
    assert [estimate.counted(n, "step") for n in (1, 2, 12000)] == ["1 step", "2 steps", "12,000 steps"]
