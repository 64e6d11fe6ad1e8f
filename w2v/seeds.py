"""Runs that differ only by their seed, taken as one setting: each metric as mean ± standard deviation over
the seeds, and whether two settings differ by more than seed noise.

One run's score moves with its seed (about a point of analogy accuracy on Gutenberg), so a difference
between two settings means little until it is set against that spread. Everything is read from the run
directories, as ``w2v runs`` and ``w2v compare`` read them.
"""

from __future__ import annotations

import math
import re
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from w2v import config as config_lib
from w2v import evaluate, experiments, runs

# What a run is called and where it is kept says nothing about what it learned.
IGNORED = ("run.seed", "run.name", "run.output_dir")
NOISE_P = 0.05  # Welch's t-test: a difference with p at or above this is within seed noise


@dataclass
class Stat:
    """One metric over the runs of a group: the values (run order), their mean and sample standard
    deviation (None for a single run)."""

    values: list[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values) if self.n > 1 else None


@dataclass
class Group:
    """Runs whose configs are equal but for ``IGNORED`` keys: one setting, several seeds."""

    settings: dict[str, Any]  # the keys that set this group apart from the others given with it
    runs: list[Path]
    seeds: list[int]
    metrics: dict[str, Stat] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``model.loss=neg train.epochs=2``, or the seeds when nothing else differs."""
        return " ".join(f"{k}={v}" for k, v in self.settings.items()) or \
            "seeds " + ",".join(str(s) for s in self.seeds)


def _metrics(run_dir: Path) -> dict[str, float]:
    record = experiments.describe(run_dir)
    values = dict(record["metrics"])
    if isinstance(record["loss"], (int, float)):
        values["loss"] = record["loss"]
    return {k: v for k, v in values.items() if isinstance(v, (int, float)) and not math.isnan(v)}


def group(run_dirs: list[Path]) -> list[Group]:
    """The runs grouped by their config without the seed (first appearance order), with each metric of
    the newest evaluation, and the final loss, over the group's runs (none for no runs: a sweep whose every
    run failed)."""
    if not run_dirs:
        return []
    configs = [runs.load_config(d) for d in run_dirs]
    flats = [config_lib.flat(c) for c in configs]
    keys = [tuple(sorted((k, repr(v)) for k, v in f.items() if k not in IGNORED)) for f in flats]
    order = list(dict.fromkeys(keys))
    differing = [k for k in config_lib.differing(configs) if k not in IGNORED]
    groups = []
    for key in order:
        members = [i for i, k in enumerate(keys) if k == key]
        first = flats[members[0]]
        g = Group({k: first[k] for k in differing}, [Path(run_dirs[i]) for i in members],
                  [flats[i]["run.seed"] for i in members])
        per_run = [_metrics(g.runs[i]) for i in range(len(members))]
        names = sorted({m for values in per_run for m in values})
        # A metric counts only where every seed has it: a mean over some seeds would mix unlike runs.
        g.metrics = {m: Stat([v[m] for v in per_run]) for m in names if all(m in v for v in per_run)}
        groups.append(g)
    return groups


def within_noise(a: Stat, b: Stat) -> bool | None:
    """Whether two settings' values of a metric differ by no more than seed noise (Welch's t-test,
    p ≥ 0.05); None when either has fewer than two seeds."""
    if a.n < 2 or b.n < 2:
        return None
    if a.std == 0 and b.std == 0:
        return a.mean == b.mean
    from scipy import stats

    return bool(stats.ttest_ind(a.values, b.values, equal_var=False).pvalue >= NOISE_P)


def higher_is_better(metric: str) -> bool:
    """Evaluation scores rise as vectors improve; the loss falls."""
    return metric != "loss"


def best(groups: list[Group], metric: str) -> Group | None:
    """The group with the best mean of a metric (None when no group has it)."""
    having = [g for g in groups if metric in g.metrics]
    if not having:
        return None
    sign = 1 if higher_is_better(metric) else -1
    return max(having, key=lambda g: sign * g.metrics[metric].mean)


def to_json(groups: list[Group]) -> list[dict[str, Any]]:
    """The groups with every seed's value, and for each metric whether the group is within seed noise of
    the best group (null for the best itself or where it cannot be told)."""
    names = sorted({m for g in groups for m in g.metrics})
    tops = {m: best(groups, m) for m in names}
    return [{"settings": g.settings, "runs": [str(r) for r in g.runs], "seeds": g.seeds,
             "metrics": {m: {"mean": s.mean, "std": s.std, "n": s.n, "values": s.values,
                             "within_noise_of_best": None if tops[m] is g else within_noise(s, tops[m].metrics[m])}
                         for m, s in g.metrics.items()}}
            for g in groups]


def shown(metric: str, stat: Stat) -> str:
    """``41.20% ± 0.61%``, as ``w2v eval`` prints the metric; the loss as a number (``2.5042 ± 0.0130``)."""
    show = (lambda v: evaluate.shown(metric, v)) if metric != "loss" else (lambda v: f"{v:.4f}")
    return show(stat.mean) if stat.std is None else f"{show(stat.mean)} ± {show(stat.std)}"


LABEL_WIDTH = 32  # a setting's label longer than this heads its column as a letter, its keys given as rows


def table(groups: list[Group]) -> str:
    """Settings side by side: the keys that differ, the seeds, and every metric as mean ± std; ``~``
    marks a value within seed noise of the best setting's. Settings are named in the header
    (``model.loss=neg (n=3)``) when their labels are short, else lettered (``A (n=3)``) above a row for each
    key that differs, so that the table stays as wide as its values."""
    lettered = any(len(g.label) > LABEL_WIDTH for g in groups)
    names = [f"{chr(ord('A') + i) if i < 26 else i + 1}" if lettered else g.label for i, g in enumerate(groups)]
    header = ["setting"] + [f"{name} (n={len(g.runs)})" for name, g in zip(names, groups, strict=True)]
    keys = list(dict.fromkeys(k for g in groups for k in g.settings)) if lettered else []
    rows = [[k] + [experiments.show_value(g.settings.get(k)) for g in groups] for k in keys]
    rows.append(["seeds"] + [",".join(str(s) for s in g.seeds) for g in groups])
    metric_names = sorted({m for g in groups for m in g.metrics}, key=lambda m: (m == "loss", m))
    noisy = False
    for m in metric_names:
        top = best(groups, m)
        row = [experiments.short_name(m)]
        for g in groups:
            if m not in g.metrics:
                row.append("-")
                continue
            mark = ""
            if g is not top and len(groups) > 1 and within_noise(g.metrics[m], top.metrics[m]):
                mark, noisy = " ~", True
            row.append(shown(m, g.metrics[m]) + mark)
        rows.append(row)
    text = experiments.format_table(header, rows)
    if noisy:
        text += (f"\n~ within seed noise of the best setting (Welch's t-test over the seeds, p ≥ {NOISE_P}): "
                 f"not a real difference at these seeds")
    return text


def repeated(groups: list[Group]) -> bool:
    """Whether any setting was run with more than one seed."""
    return any(len(g.runs) > 1 for g in groups)


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=,-]+", "_", label)[:100]


def write_summaries(logdir: Path, groups: list[Group]) -> list[Path]:
    """TensorBoard's view of the seeds: for each setting run with several seeds, a run ``logdir/<setting>``
    whose ``<metric>/mean``, ``/lower`` and ``/upper`` (mean ∓ std) follow every evaluation step that all
    its seeds reached, drawn as one band per setting by the Custom Scalars dashboard; and the table as
    text. Written without TensorFlow, in place of what an earlier call wrote there; returns the
    directories written."""
    from tensorboard.plugins.custom_scalar import layout_pb2

    from w2v.events import ScalarEvents

    shutil.rmtree(logdir, ignore_errors=True)  # derived from the runs: a sweep run again writes it anew
    written, charted = [], set()
    for g in (g for g in groups if len(g.runs) > 1):
        curves = _curves(g.runs)
        if not curves:
            continue
        out = Path(logdir) / _slug(g.label)
        out.mkdir(parents=True, exist_ok=True)
        events = ScalarEvents(out)
        for step, by_metric in sorted(curves.items()):
            values = {}
            for m, stat in by_metric.items():
                spread = stat.std or 0.0
                values.update({f"{m}/mean": stat.mean, f"{m}/lower": stat.mean - spread,
                               f"{m}/upper": stat.mean + spread})
                charted.add(m)
            events.scalars(step, values)
        events.flush()
        written.append(out)
    if written:
        charts = [layout_pb2.Chart(title=f"{m} (mean ± std over seeds)", margin=layout_pb2.MarginChartContent(
            series=[layout_pb2.MarginChartContent.Series(value=f"{m}/mean", lower=f"{m}/lower",
                                                         upper=f"{m}/upper")])) for m in sorted(charted)]
        layout = layout_pb2.Layout(category=[layout_pb2.Category(title="seeds", chart=charts)])
        events = ScalarEvents(Path(logdir))
        events.layout(layout)
        events.text(0, "seeds/table", "    " + table(groups).replace("\n", "\n    "))
        events.flush()
    return written


def _curves(run_dirs: list[Path]) -> dict[int, dict[str, Stat]]:
    """Every evaluation step all the runs reached: each metric over the runs at that step."""
    per_run = [evaluate.reports(d) for d in run_dirs]
    steps = set.intersection(*(set(r) for r in per_run)) if per_run else set()
    curves = {}
    for step in steps:
        names = set.intersection(*(set(r[step]) for r in per_run))
        curves[step] = {m: Stat([r[step][m] for r in per_run]) for m in sorted(names)
                        if all(isinstance(r[step][m], (int, float)) and not math.isnan(r[step][m]) for r in per_run)}
    return {s: c for s, c in curves.items() if c}
