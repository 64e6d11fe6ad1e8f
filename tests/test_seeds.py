"""Seeds as a sweep axis: settings as mean ± std over their seeds, in the sweep's table, `w2v compare` and
TensorBoard; a difference within seed noise is flagged."""

import json
import statistics
import time
import urllib.parse
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import http_get, start_tensorboard
from w2v import seeds
from w2v.cli import cli

ROOT = Path(__file__).resolve().parents[1]
SPEARMAN = "eval/simlex999/spearman"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """configs/tiny.yaml with three seeds, evaluated at steps 20 and 40."""
    out = tmp_path_factory.mktemp("seeds")
    result = invoke("sweep", "--config", ROOT / "configs" / "tiny.yaml", "--seeds", 3, "--set", "train.steps=40",
                    "--set", "eval.every_n_steps=20", "--set", f"run.output_dir={out}", "--parallel", 2)
    assert result.exit_code == 0, result.output
    return next(out.iterdir()), result.stdout


def eval_metric(run_dir: Path, step: int, metric: str) -> float:
    return json.loads((run_dir / "eval" / f"step-{step}.json").read_text())["metrics"][metric]


def test_three_seeds_give_a_mean_and_a_spread(seeded):
    sweep_dir, printed = seeded
    members = sorted(p for p in sweep_dir.iterdir() if (p / "config.yaml").exists())
    assert [p.name for p in members] == ["seed-1", "seed-2", "seed-3"]  # tiny.yaml's run.seed is 1
    values = [eval_metric(p, 40, SPEARMAN) for p in members]
    assert statistics.stdev(values) > 0
    over_seeds = printed.split("over seeds:\n")[1].splitlines()
    assert over_seeds[0].split() == ["setting", "seeds", "1,2,3", "(n=3)"]
    row = next(line for line in over_seeds if line.startswith("simlex/rho"))
    assert row.split()[1:] == [f"{statistics.fmean(values):.4f}", "±", f"{statistics.stdev(values):.4f}"]
    # `w2v compare SWEEP --json`: every seed's value, and their mean and spread.
    compared = invoke("compare", sweep_dir, "--json")
    assert compared.exit_code == 0, compared.output
    (group,) = json.loads(compared.output)["seeds"]
    assert group["seeds"] == [1, 2, 3] and group["runs"] == [str(p) for p in members]
    stat = group["metrics"][SPEARMAN]
    assert stat["values"] == values and stat["n"] == 3
    assert stat["mean"] == pytest.approx(statistics.fmean(values)) and stat["std"] == pytest.approx(
        statistics.stdev(values))
    table = invoke("compare", sweep_dir).output
    assert table.startswith("setting") and "± " in table


def test_tensorboard_draws_the_seeds_as_a_band(seeded):
    sweep_dir, _ = seeded
    members = sorted(p for p in sweep_dir.iterdir() if (p / "config.yaml").exists())
    with start_tensorboard(sweep_dir) as base:
        deadline = time.time() + 60
        while True:
            layout = json.loads(http_get(base + "/data/plugin/custom_scalars/layout"))
            if layout or time.time() > deadline:
                break
            time.sleep(1)
        (category,) = layout["category"]
        chart = next(c for c in category["chart"] if c["title"].startswith(SPEARMAN))
        assert chart["margin"]["series"] == [{"value": f"{SPEARMAN}/mean", "lower": f"{SPEARMAN}/lower",
                                              "upper": f"{SPEARMAN}/upper"}]
        band = {}
        for part in ("mean", "lower", "upper"):
            query = urllib.parse.urlencode({"run": "seeds/seeds_1,2,3", "tag": f"{SPEARMAN}/{part}"})
            band[part] = {step: value for _, step, value in
                          json.loads(http_get(base + "/data/plugin/scalars/scalars?" + query))}
    for step in (20, 40):
        values = [eval_metric(p, step, SPEARMAN) for p in members]
        mean, std = statistics.fmean(values), statistics.stdev(values)
        assert band["mean"][step] == pytest.approx(mean, abs=1e-6)
        assert band["lower"][step] == pytest.approx(mean - std, abs=1e-6)
        assert band["upper"][step] == pytest.approx(mean + std, abs=1e-6)


def test_a_difference_within_seed_noise_is_flagged():
    def group(value, values):
        return seeds.Group({"model.loss": value}, [Path(f"r{i}") for i in range(len(values))],
                           list(range(len(values))), {"eval/x/accuracy": seeds.Stat(values)})

    best = group("nce", [0.40, 0.41, 0.42])
    clearly_worse = group("neg", [0.30, 0.31, 0.29])
    as_good = group("sampled_softmax", [0.405, 0.38, 0.43])
    assert seeds.within_noise(clearly_worse.metrics["eval/x/accuracy"], best.metrics["eval/x/accuracy"]) is False
    assert seeds.within_noise(as_good.metrics["eval/x/accuracy"], best.metrics["eval/x/accuracy"]) is True
    assert seeds.within_noise(seeds.Stat([0.4]), best.metrics["eval/x/accuracy"]) is None
    lines = seeds.table([best, clearly_worse, as_good]).splitlines()
    row = next(line for line in lines if line.startswith("x/acc"))
    assert row.split("  ")[0] == "x/acc" and row.count("~") == 1 and row.rstrip().endswith("~")
    assert "41.00% ± 1.00%" in row and lines[-1].startswith("~ within seed noise of the best setting")
    flags = {g["settings"]["model.loss"]: g["metrics"]["eval/x/accuracy"]["within_noise_of_best"]
             for g in seeds.to_json([best, clearly_worse, as_good])}
    assert flags == {"nce": None, "neg": False, "sampled_softmax": True}


def test_seeds_are_given_one_way(tmp_path):
    both = invoke("sweep", "--config", ROOT / "configs" / "tiny.yaml", "--seeds", 2, "--grid", "run.seed=1,2")
    assert both.exit_code == 2 and "--seeds N or with --grid run.seed" in both.stderr
    neither = invoke("sweep", "--config", ROOT / "configs" / "tiny.yaml")
    assert neither.exit_code == 2 and "give --grid KEY=V1,V2" in neither.stderr


def test_a_single_runs_loss_is_a_number_and_long_settings_become_rows():
    """`w2v compare SWEEP RUN`: the lone run's loss is shown as a loss (not 250.42%), and settings that differ
    in many keys head their columns with letters, each key on a row of its own, so no line runs wide."""
    keys = {f"data.some_long_setting_{i}": f"/data/corpora/a-long-corpus-name-{i}.txt.gz" for i in range(8)}
    sweep = seeds.Group(keys, [Path("s1"), Path("s2")], [1, 2],
                        {"loss": seeds.Stat([2.50, 2.52]), "eval/x/accuracy": seeds.Stat([0.40, 0.41])})
    single = seeds.Group({k: "other" for k in keys}, [Path("r")], [1],
                         {"loss": seeds.Stat([2.5042]), "eval/x/accuracy": seeds.Stat([0.3])})
    lines = seeds.table([sweep, single]).splitlines()
    assert lines[0].split() == ["setting", "A", "(n=2)", "B", "(n=1)"]
    assert max(len(line) for line in lines) < 100
    rows = {line.split()[0]: line.split()[1:] for line in lines}
    assert rows["data.some_long_setting_3"] == ["/data/corpora/a-long-corpus-name-3.txt.gz", "other"]
    assert rows["loss"] == ["2.5100", "±", "0.0141", "2.5042"]
    assert rows["x/acc"] == ["40.50%", "±", "0.71%", "30.00%"]
