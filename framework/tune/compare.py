"""Comparing runs: ``python main.py --compare tasks/A tasks/B ...``.

Each argument is a task directory or a folder of them (a group: ``--seeds`` output, a trial of a
search). A group is one line; loose task directories are grouped by their config, the seed and
where the run wrote its files aside, so runs of one config with several seeds form one line.
Labels name the algorithm and the config keys in which the lines differ.

Runs are read from their ``results/evals.csv`` and ``results/summary.json``. A line's curve is
drawn where each of its runs has evaluated (a run that stopped at its reward_threshold keeps its
last evaluation); at each point, either the mean ± std over runs or, as rliable does (Agarwal et
al., 2021, "Deep RL at the Edge of the Statistical Precipice"), the interquartile mean (the mean
of the middle 50% of runs) with a 95% percentile-bootstrap confidence interval over runs.

The table (printed, and ``compare.csv``) gives per line the final and the best evaluation (the
same statistic over runs), and the time to threshold: how many runs reached it, and the median
env steps and seconds of their first evaluation at or above it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from config.base import UserError
from framework.records.io import atomic_write_text
from framework.records.taskdir import read_csv_rows
from framework.tune.folders import is_task_dir, new_folder, task_dirs

BOOTSTRAP = 2000  # resamples for the confidence interval
# general_cfg keys that say where and how a run writes, not what it learns
RUN_KEYS = {
    "seed", "tasks_dir", "progress", "show_fig", "save_fig", "tensorboard", "load_checkpoint",
    "load_path", "model_save_fre", "keep_checkpoints", "save_buffer", "buffer_save_limit_mb",
    "save_best_model", "torch_threads", "onednn_linear", "ray_address",
}  # fmt: skip


@dataclass
class Run:
    path: Path
    config: dict[str, Any]  # flattened: "algo_cfg.lr" -> value
    evals: list[dict[str, Any]]
    summary: dict[str, Any]

    @property
    def stopped_at_threshold(self) -> bool:
        return self.summary.get("stop_reason") == "reward_threshold"


@dataclass
class Line:
    label: str
    runs: list[Run]


def read_run(path: Path) -> Run:
    evals = read_csv_rows(path / "results" / "evals.csv")
    if not evals:
        raise UserError(f"{path}: no evaluations (results/evals.csv); train with online_eval")
    summary_path = path / "results" / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    config_path = path / "config.yaml"
    config = yaml.safe_load(config_path.read_text()) if config_path.is_file() else {}
    flat = {
        f"{section}.{key}": value
        for section, values in (config or {}).items()
        for key, value in (values or {}).items()
    }
    return Run(path, flat, evals, summary)


def learning_config(run: Run) -> dict[str, Any]:
    return {
        k: v
        for k, v in run.config.items()
        if k.split(".", 1)[1] not in RUN_KEYS or "general" not in k
    }


def gather(paths: list[str | Path]) -> list[Line]:
    """The lines to draw: one per group folder, and one per config among loose runs."""
    groups: list[tuple[str, list[Run]]] = []
    loose: dict[str, list[Run]] = {}
    for raw in paths:
        path = Path(raw)
        runs = [read_run(p) for p in task_dirs(path)]
        if is_task_dir(path):
            key = json.dumps(learning_config(runs[0]), sort_keys=True, default=str)
            loose.setdefault(key, []).extend(runs)
        else:
            groups.append((path.name, runs))
    groups += [(runs[0].path.name, runs) for runs in loose.values()]
    return [Line(label, runs) for label, runs in zip(labels(groups), (g[1] for g in groups))]


def labels(groups: list[tuple[str, list[Run]]]) -> list[str]:
    """The algorithm (and env) and up to three config keys in which the lines differ; the
    folder name otherwise."""
    configs = [learning_config(runs[0]) for _, runs in groups]
    keys = sorted({k for c in configs for k in c})
    differ = [k for k in keys if len({json.dumps(c.get(k), default=str) for c in configs}) > 1]
    out = []
    for (name, _), config in zip(groups, configs):
        words = [str(config.get("general_cfg.algo_name", "?"))]
        if "env_cfg.id" in differ:
            words.append(str(config.get("env_cfg.id")))
        shown = [k for k in differ if k not in ("general_cfg.algo_name", "env_cfg.id")]
        if len(shown) > 3 or (len(groups) > 1 and not differ):
            words.append(name)
        else:
            words += [f"{k.split('.', 1)[1]}={_short(config.get(k))}" for k in shown]
        out.append(" ".join(words))
    if len(set(out)) < len(out):  # the same config twice: tell them apart by folder
        out = [f"{label} ({name})" for label, (name, _) in zip(out, groups)]
    return out


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    text = text.removesuffix("...").strip()
    return text if len(text) <= 30 else text[:29] + "…"


# ---- statistics ----------------------------------------------------------------------------------
def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% (a quarter cut from each end, rounded
    down, as scipy.stats.trim_mean(x, 0.25) and rliable compute it)."""
    x = np.sort(values, axis=axis)
    n = x.shape[axis]
    cut = int(0.25 * n)
    return np.take(x, range(cut, n - cut), axis=axis).mean(axis=axis)


def bootstrap_ci(values: np.ndarray, rng: np.random.Generator, level: float = 0.95):
    """Percentile-bootstrap interval of the IQM over runs (resampled with replacement)."""
    n = len(values)
    samples = values[rng.integers(0, n, size=(BOOTSTRAP, n))]
    stats = iqm(samples, axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(stats, tail)), float(np.percentile(stats, 100 - tail))


def centre_and_band(values: np.ndarray, stat: str, rng: np.random.Generator):
    """(centre, low, high) over runs: mean ± std, or IQM with its bootstrap interval."""
    values = np.asarray(values, float)
    if stat == "mean":
        m, s = float(values.mean()), float(values.std())
        return m, m - s, m + s
    low, high = bootstrap_ci(values, rng)
    return float(iqm(values)), low, high


def curve(line: Line, stat: str, rng: np.random.Generator) -> dict[str, Any]:
    """The line's evaluation curve on the env steps at which every run has a value."""
    grid = sorted({int(r["env_steps"]) for run in line.runs for r in run.evals})
    columns = []
    for run in line.runs:
        steps = np.array([int(r["env_steps"]) for r in run.evals])
        means = np.array([float(r["mean_return"]) for r in run.evals])
        idx = np.searchsorted(steps, grid, side="right") - 1
        col = np.where(idx >= 0, means[np.clip(idx, 0, None)], np.nan)
        if not run.stopped_at_threshold:
            col[np.array(grid) > steps[-1]] = np.nan
        columns.append(col)
    matrix = np.array(columns)
    keep = ~np.isnan(matrix).any(axis=0)
    out = {
        "label": line.label,
        "n": len(line.runs),
        "steps": [],
        "centre": [],
        "low": [],
        "high": [],
    }
    for step, values in zip(np.array(grid)[keep], matrix[:, keep].T):
        c, lo, hi = centre_and_band(values, stat, rng)
        for key, v in zip(("steps", "centre", "low", "high"), (int(step), c, lo, hi)):
            out[key].append(v)
    return out


def table_row(line: Line, stat: str, threshold: float | None, rng) -> dict[str, Any]:
    finals = np.array([float(run.evals[-1]["mean_return"]) for run in line.runs])
    bests = np.array([max(float(r["mean_return"]) for r in run.evals) for run in line.runs])
    row: dict[str, Any] = {"label": line.label, "runs": len(line.runs)}
    for name, values in (("final", finals), ("best", bests)):
        c, lo, hi = centre_and_band(values, stat, rng)
        row.update({name: c, f"{name}_low": lo, f"{name}_high": hi})
    row["threshold"] = threshold
    steps, seconds = [], []
    if threshold is not None:
        for run in line.runs:
            first = next((r for r in run.evals if float(r["mean_return"]) >= threshold), None)
            if first is not None:
                steps.append(int(first["env_steps"]))
                seconds.append(float(first["wall_time"]))
    row["reached"] = f"{len(steps)}/{len(line.runs)}" if threshold is not None else ""
    row["steps_to_threshold"] = float(np.median(steps)) if steps else None
    row["steps_to_threshold_min"] = min(steps) if steps else None
    row["steps_to_threshold_max"] = max(steps) if steps else None
    row["seconds_to_threshold"] = float(np.median(seconds)) if seconds else None
    row["dirs"] = " ".join(str(run.path) for run in line.runs)
    return row


def comparison_title(lines: list[Line]) -> str:
    envs = sorted({str(run.config.get("env_cfg.id", "?")) for line in lines for run in line.runs})
    runs = sum(len(line.runs) for line in lines)
    return f"{', '.join(envs)}: {len(lines)} line{'s' * (len(lines) > 1)}, {runs} runs"


def default_threshold(lines: list[Line]) -> float | None:
    values = {run.config.get("general_cfg.reward_threshold") for line in lines for run in line.runs}
    values.discard(None)
    return float(values.pop()) if len(values) == 1 else None


# ---- output --------------------------------------------------------------------------------------
def write_comparison(
    folder: Path, lines: list[Line], stat: str, threshold: float | None, title: str
) -> list[dict[str, Any]]:
    """compare.png, compare.csv (the table) and curves.csv (the drawn curves) in ``folder``."""
    from framework.tune.figures import compare_figure

    rng = np.random.default_rng(0)  # the same runs give the same intervals
    curves = [curve(line, stat, rng) for line in lines]
    rows = [table_row(line, stat, threshold, rng) for line in lines]
    compare_figure(folder / "compare.png", curves, stat, threshold, title)
    atomic_write_text(folder / "compare.csv", _csv(rows))
    points = [
        {"label": c["label"], "env_steps": s, stat: m, "low": lo, "high": hi, "runs": c["n"]}
        for c in curves
        for s, m, lo, hi in zip(c["steps"], c["centre"], c["low"], c["high"])
    ]
    atomic_write_text(folder / "curves.csv", _csv(points))
    return rows


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()


def _cell(value: Any) -> Any:
    return "" if value is None else f"{value:.6g}" if isinstance(value, float) else value


def format_table(rows: list[dict[str, Any]], stat: str) -> str:
    """The table as text (what --compare prints)."""

    def band(row, name):
        c, lo, hi = row[name], row[f"{name}_low"], row[f"{name}_high"]
        if stat == "mean":
            return f"{c:.1f} ± {(hi - c):.1f}"
        return f"{c:.1f} [{lo:.1f}, {hi:.1f}]"

    def to_threshold(row):
        if row["steps_to_threshold"] is None:
            return row["reached"] or "-"
        spread = f"{row['steps_to_threshold_min']}-{row['steps_to_threshold_max']}"
        return (
            f"{row['reached']}: {row['steps_to_threshold']:.0f} steps ({spread}), "
            f"{row['seconds_to_threshold']:.1f} s"
        )

    threshold = next((r["threshold"] for r in rows if r["threshold"] is not None), None)
    head = [
        "line",
        "runs",
        f"final ({stat})",
        f"best ({stat})",
        f"to {threshold:g} (median)" if threshold is not None else "to threshold",
    ]
    body = [
        [r["label"], str(r["runs"]), band(r, "final"), band(r, "best"), to_threshold(r)]
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_compare(
    paths: list[str],
    overrides: list[str] | None,
    stat: str = "mean",
    threshold: float | None = None,
) -> dict[str, Any]:
    """Compare the runs in ``paths`` into ``<tasks_dir>/Compare_<stamp>/``; returns a summary
    with the folder and the table."""
    tasks_dir = "tasks"
    for item in overrides or []:
        key, _, value = item.partition("=")
        if key != "general_cfg.tasks_dir" or not value:
            raise UserError(
                f"--compare: {item!r}: only general_cfg.tasks_dir=DIR (where the comparison's "
                "folder goes) applies"
            )
        tasks_dir = value
    if stat not in ("mean", "iqm"):
        raise UserError(f"--stat: {stat!r}: choose mean or iqm")
    lines = gather(paths)
    if threshold is None:
        threshold = default_threshold(lines)
    if threshold is not None and not math.isfinite(threshold):
        raise UserError("--threshold: give a finite return")
    folder = new_folder(tasks_dir, "Compare")
    title = comparison_title(lines)
    rows = write_comparison(folder, lines, stat, threshold, title)
    print(format_table(rows, stat))
    print(f"Comparison: {folder}", flush=True)
    return {"folder": str(folder), "rows": rows}
