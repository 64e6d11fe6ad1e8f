"""Runs as comparable objects: listing a root of run directories and comparing runs side by side.

Everything is read from the run directories (config.yaml, meta.json, eval/step-N.json): there is
no database or server to keep in sync.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from w2v import config as config_lib
from w2v import evaluate, runs
from w2v import meta as meta_lib
from w2v.errors import W2VError


def latest_metrics(run_dir: Path) -> dict[str, float]:
    """Metrics of the newest readable eval/step-N.json (by step; the run's own evaluation), or {}. Only that
    report is read: a long run keeps hundreds, and `w2v runs` lists every run."""
    files = evaluate.report_files(run_dir)
    for step in sorted(files, reverse=True):
        metrics = evaluate.read_metrics(files[step])
        if metrics is not None:
            return metrics
    return {}


def describe(run_dir: Path) -> dict[str, Any]:
    """One run as a flat record."""
    meta = meta_lib.read(run_dir)
    status = meta.get("status", "unknown")
    if status == "running" and runs.lock_holder(run_dir) is None:
        status = "interrupted"  # its process died without saying so (kill -9, power loss)
    return {
        "name": Path(run_dir).name,
        "path": str(run_dir),
        "status": status,
        "error": meta.get("error"),
        "step": meta.get("step", 0),
        "total_steps": meta.get("total_steps"),
        "progress": meta.get("progress", 0.0),
        "loss": meta.get("last_loss"),
        "wall_time_s": meta.get("wall_time_s", 0.0),
        "started": meta.get("started"),
        "metrics": latest_metrics(run_dir),
        "best": meta.get("best"),  # {metric, value, step, checkpoint} with checkpoint.keep_best or eval.early_stop
        "reason": meta.get("reason"),
        # A run that stopped between checkpoints goes back to its last one (to 0 before the first).
        "resumes_from": runs.resume_step(run_dir) if status in ("interrupted", "failed") else None,
    }


def find_runs(root: Path) -> list[Path]:
    """Run directories (those holding config.yaml) anywhere under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise W2VError(f"runs root {root}: not a directory")
    return sorted(p.parent for p in root.rglob(runs.CONFIG) if (p.parent / runs.VOCAB).exists())


def list_runs(root: Path, sort: str = "started", status: str | None = None) -> list[dict[str, Any]]:
    """Records of every run under ``root``, named by their path under it, filtered by status and sorted."""
    # Named as the commands take them: a sweep's members as sweep/member.
    records = [dict(describe(d), name=d.relative_to(root).as_posix()) for d in find_runs(root)]
    if status:
        records = [r for r in records if r["status"] == status]
    key = {"name": lambda r: r["name"], "status": lambda r: r["status"], "step": lambda r: r["step"],
           "loss": lambda r: _num(r["loss"]), "wall": lambda r: r["wall_time_s"],
           "started": lambda r: r["started"] or ""}[sort]
    return sorted(records, key=key)


def _num(x: Any) -> float:
    return x if isinstance(x, (int, float)) and not (isinstance(x, float) and math.isnan(x)) else math.inf


def show_value(x: Any) -> str:
    """A config value or metric in a table: ``-`` for none, floats to 4 significant digits."""
    if x is None:
        return "-"
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.4g}"
    return str(x)


def _best(best: dict[str, Any] | None) -> str:
    """A best value and its step: ``qw/acc 0.4123@8000``."""
    return f"{short_name(best['metric'])} {evaluate.shown(best['metric'], best['value'])}@{best['step']}" if best \
        else "-"


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


SHORT = {"accuracy": "acc", "semantic": "sem", "syntactic": "syn", "spearman": "rho", "questions-words": "qw",
         "wordsim353": "ws353", "simlex999": "simlex"}


def short_name(metric: str) -> str:
    """A metric's column title: eval/questions-words/accuracy -> qw/acc."""
    return "/".join(SHORT.get(part, part) for part in metric.removeprefix("eval/").split("/"))


def runs_table(records: list[dict[str, Any]], width: int | None = None) -> str:
    """The ``w2v runs`` table, its metric columns cut to ``width`` characters (None: all of them)."""
    if not records:
        return "no runs"
    metric_names = sorted({m for r in records for m in r["metrics"]})
    fixed = ["name", "status", "step", "progress", "loss", "wall"]
    best = any(r.get("best") for r in records)
    header = fixed + (["best@step"] if best else []) + [short_name(m) for m in metric_names]
    rows = [[r["name"], r["status"], f"{r['step']}" + (f"/{r['total_steps']}" if r["total_steps"] else "")
             + (f" (resumes from {r['resumes_from']})" if r.get("resumes_from") not in (None, r["step"]) else ""),
             f"{100 * (r['progress'] or 0):.0f}%", show_value(r["loss"]), f"{r['wall_time_s']:.0f}s"]
            + ([_best(r.get("best"))] if best else []) + [evaluate.shown(m, r["metrics"].get(m)) for m in metric_names]
            for r in records]
    table = format_table(header, rows)
    columns, least = len(header), len(fixed) + best
    while width is not None and columns > least and max(len(line) for line in table.splitlines()) > width:
        columns -= 1
        table = format_table(header[:columns], [row[:columns] for row in rows])
    hidden = len(header) - columns
    return table + (f"\n({hidden} more metric columns: --wide shows them)" if hidden else "")


def names(run_dirs: list[Path]) -> list[str]:
    """Short names that tell the runs apart: each one's last path components, as few as make them distinct
    (``exp1``; ``sweepA/seed-1`` beside ``sweepB/seed-1``)."""
    parts = [Path(d).resolve().parts for d in run_dirs]
    for n in range(1, max(len(p) for p in parts) + 1):
        tails = ["/".join(p[-n:]) for p in parts]
        if len(set(tails)) == len(tails):
            return tails
    return [str(d) for d in run_dirs]  # the same run given twice


def compare(run_dirs: list[Path]) -> dict[str, Any]:
    """The config keys that differ between runs, and every run's metrics, side by side."""
    if len(run_dirs) < 2:
        raise W2VError("compare: give at least two run directories")
    differing = config_lib.differing([runs.load_config(d) for d in run_dirs])
    labels = names(run_dirs)
    records = [describe(Path(d)) for d in run_dirs]
    metric_names = sorted({m for r in records for m in r["metrics"]})
    metrics = {"status": [r["status"] for r in records], "step": [r["step"] for r in records],
               "loss": [r["loss"] for r in records], "wall_time_s": [r["wall_time_s"] for r in records]}
    metrics.update({m: [r["metrics"].get(m) for r in records] for m in metric_names})
    return {"runs": labels, "config": differing, "metrics": metrics}


def compare_table(comparison: dict[str, Any]) -> str:
    """The ``w2v compare`` table."""
    header = ["key"] + comparison["runs"]
    rows = [[k] + [show_value(v) for v in vs] for k, vs in comparison["config"].items()]
    if not rows:
        rows = [["(configs identical)"] + [""] * len(comparison["runs"])]
    rows.append(["--"] + ["" for _ in comparison["runs"]])
    rows += [[k.removeprefix("eval/")] + [evaluate.shown(k, v) if k.startswith("eval/") else show_value(v) for v in vs]
             for k, vs in comparison["metrics"].items()]
    return format_table(header, rows)
