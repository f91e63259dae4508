"""Hyperparameter search: ``python main.py --yaml base.yaml --tune space.yaml``.

The search (Ray Tune with Optuna, see ``engine.py``) writes one folder:

    tasks/Tune_<env>_<algo>_<stamp>/
      space.yaml, base.yaml   the search-space file and the base config (YAML + overrides + budget)
      trial_001/              trial.yaml (the base with the trial's values) and one task
      ...                     directory per seed
      trials.csv              parameters, score, status, env steps, wall time of every trial
      best_config.yaml        the best trial's config: `--yaml` on it reruns the trial (first seed)
      figs/                   curves.png, params.png, progress.png
      summary.json            counts, the best trial, whether the search was interrupted
      ray/                    Ray Tune's experiment state (resuming)

``python main.py --tune tasks/Tune_...`` resumes a stopped search: finished trials are kept,
unfinished ones run again from the start.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from config.base import UserError
from envs.vector import env_module
from framework.records.io import atomic_write_json, atomic_write_text
from framework.records.taskdir import check_tasks_dir
from framework.tune.folders import new_folder
from framework.tune.space import Search, load_search, values_of

EXTRA = "pip install 'rldojo[tune]' (ray[tune] and optuna)"


def require_extra() -> None:
    """UserError naming the extra unless Ray Tune and Optuna import."""
    try:
        import optuna  # noqa: F401
        import ray.tune  # noqa: F401
    except ImportError as err:
        raise UserError(f"--tune needs the tune extra: {EXTRA}; {err}") from None


@dataclass
class TrialRecord:
    """One trial as the search's records show it."""

    name: str
    values: dict[str, Any]
    status: str  # completed, pruned, error, interrupted, pending
    score: float | None = None
    env_steps: int = 0
    evaluations: int = 0
    wall: float = 0.0
    stop_reason: str = ""
    seed_scores: list[float] = field(default_factory=list)
    task_dirs: list[str] = field(default_factory=list)
    error: str = ""
    curve: list[tuple[int, float]] = field(default_factory=list)


def record_of(search: Search, name: str, sampled, last, error: str | None) -> TrialRecord:
    last = last if last and "score" in last else {}  # Tune's placeholder of a trial not run
    try:
        values = values_of(search.params, sampled or {})
    except (KeyError, IndexError, TypeError, ValueError):
        values = {}
    reason = last.get("stop_reason") or ""
    if error:
        status = "error"
    elif last.get("done"):
        status = {"pruned": "pruned", "error": "error"}.get(reason, "completed")
    else:
        status = "interrupted" if last else "pending"
    score = last.get("score")
    return TrialRecord(
        name,
        values,
        status,
        score if score is not None and math.isfinite(score) else None,
        int(last.get("env_steps") or 0),
        int(last.get("evaluations") or 0),
        float(last.get("wall") or 0.0),
        reason,
        list(last.get("seed_scores") or []),
        [d for d in last.get("task_dirs") or [] if d],
        error or "",
    )


def error_of(trial) -> str | None:
    """The last line of a failed trial's error file (the exception), or None."""
    if trial.status != "ERROR":
        return None
    path = Path(trial.error_file) if trial.error_file else None
    lines = path.read_text().strip().splitlines() if path and path.is_file() else []
    return lines[-1][:300] if lines else "the trial failed"


def records_of(search: Search, trials, grid=None) -> list[TrialRecord]:
    """The trials (Tune's Trial objects, those of earlier sessions of a resumed search too),
    with their evaluation curves from Tune's ResultGrid when given."""
    frames = {}
    for result in grid or []:
        frames[Path(result.path).name] = result.metrics_dataframe
    out = []
    for t in trials:
        rec = record_of(search, str(t), t.config, t.last_result, error_of(t))
        frame = frames.get(rec.name)
        if frame is not None and "evaluations" in frame:
            rows = frame.drop_duplicates("evaluations")  # a pruned trial's end repeats its last
            rec.curve = [
                (int(s), float(m))
                for s, m in zip(rows["env_steps"], rows["eval_mean"])
                if math.isfinite(float(m))
            ]
        out.append(rec)
    return sorted(out, key=lambda r: r.name)


def best_of(records: list[TrialRecord]) -> TrialRecord | None:
    """The best completed trial (the best pruned one when none completed)."""
    for status in ("completed", "pruned"):
        scored = [r for r in records if r.status == status and r.score is not None]
        if scored:
            return max(scored, key=lambda r: r.score)
    return None


# ---- output --------------------------------------------------------------------------------------
def write_table(root: Path, search: Search, records: list[TrialRecord]) -> Path:
    """trials.csv: one row per trial."""
    keys = [p.key for p in search.params]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        ["trial", "status", "score", *keys, "env_steps", "evaluations", "wall_seconds"]
        + ["stop_reason", "seed_scores", "task_dirs", "error"]
    )
    labels = {p.key: p for p in search.params}
    for r in records:
        writer.writerow(
            [r.name, r.status, _num(r.score)]
            + [labels[k].label(r.values[k]) if k in r.values else "" for k in keys]
            + [r.env_steps, r.evaluations, round(r.wall, 1), r.stop_reason]
            + [" ".join(_num(s) for s in r.seed_scores), " ".join(map(_rel(root), r.task_dirs))]
            + [r.error]
        )
    return atomic_write_text(root / "trials.csv", buf.getvalue())


def _num(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.6g}"


def _rel(root: Path):
    def rel(path: str) -> str:
        try:
            return str(Path(path).relative_to(root.resolve()))
        except ValueError:
            return path

    return rel


def write_best_config(root: Path, search: Search, best: TrialRecord) -> Path:
    """best_config.yaml: the base config with the best trial's values and its first seed."""
    sections = search.trial_config(best.values, seed=search.seeds[0])
    seeds = ",".join(map(str, search.seeds))
    path = root / "best_config.yaml"
    header = (
        f"# Best trial of {root.name}: {best.name}, score {best.score:.6g} ({best.status}; "
        f"{search.settings.metric} evaluation, mean over seeds {seeds}).\n"
        f"# Rerun it: python main.py --yaml {path}   (seed {search.seeds[0]})\n"
        f"# Every seed, and seeds never tuned on: python main.py --yaml {path} --seeds ...\n"
    )
    text = header + yaml.safe_dump(sections, sort_keys=False)
    return atomic_write_text(path, text)


def write_outputs(root: Path, search: Search, records: list[TrialRecord], signal: str | None):
    write_table(root, search, records)
    best = best_of(records)
    if best is not None:
        write_best_config(root, search, best)
    from framework.tune.figures import search_figures

    search_figures(root / "figs", search, records, best)
    counts = {s: sum(r.status == s for r in records) for s in ("completed", "pruned", "error")}
    summary = {
        "search_dir": str(root),
        "trials": len(records),
        **counts,
        "unfinished": len(records) - sum(counts.values()),
        "interrupted": signal is not None,
        "signal": signal,
        "metric": search.settings.metric,
        "best": None
        if best is None
        else {
            "trial": best.name,
            "score": best.score,
            "values": best.values,
            "status": best.status,
        },
    }
    atomic_write_json(root / "summary.json", summary)
    return summary


# ---- the command -----------------------------------------------------------------------------
def run_search(
    space: str | Path, yaml_path: str | Path | None = None, overrides: list[str] | None = None
) -> dict[str, Any]:
    """Run the search ``space`` over the base config (YAML + overrides), or resume the search
    folder ``space``; returns its summary (``search_dir``, counts, ``best``, ``interrupted``)."""
    require_extra()
    root = Path(space)
    resume = root.is_dir()
    if resume:
        if yaml_path or overrides:
            raise UserError(
                f"--tune {root}: a search resumes with its own base.yaml and space.yaml; "
                "drop --yaml and the overrides"
            )
        if not (root / "ray" / "tuner.pkl").is_file() or not (root / "space.yaml").is_file():
            raise UserError(f"--tune {root}: not a search folder (no space.yaml, ray/tuner.pkl)")
        search = load_search(root / "space.yaml", root / "base.yaml")
    else:
        search = load_search(root, yaml_path, overrides)
    from framework.runtime.setup import Setup

    Setup(search.base)  # spaces, networks: what would fail every trial fails here
    g = search.base.general
    check_tasks_dir(g.tasks_dir)
    from framework.api import stop_ray
    from framework.ray.session import init_ray

    started = init_ray(SimpleNamespace(ray_address=search.settings.ray_address))
    try:
        check_cpus(search)
        if not resume:
            label = env_module(g.env_name).env_label(search.base.env)
            root = new_folder(g.tasks_dir, "Tune", label, g.algo_name)
            atomic_write_text(root / "space.yaml", search.space_path.read_text())
            atomic_write_text(root / "base.yaml", search.base.dump())
        print(f"Search directory: {root}", flush=True)
        from framework.tune.engine import fit

        def on_table(trials) -> None:
            write_table(root, search, records_of(search, trials))

        trials, grid, signal = fit(search, root, resume, on_table)
        return write_outputs(root, search, records_of(search, trials, grid), signal)
    finally:
        stop_ray(started)


def check_cpus(search: Search) -> None:
    import ray

    have = ray.cluster_resources().get("CPU", 0.0)
    if search.cpus_per_trial > have and search.settings.ray_address is None:
        raise UserError(
            f"{search.space_path}: search.cpus_per_trial: a trial needs "
            f"{search.cpus_per_trial:g} CPUs (one per seed) but Ray has {have:g}; set "
            "search.cpus_per_trial lower (seeds then share CPUs) or use fewer seeds"
        )


def print_summary(summary: dict[str, Any], out=sys.stdout) -> None:
    root = Path(summary["search_dir"])
    print(
        f"{summary['trials']} trials: {summary['completed']} completed, {summary['pruned']} "
        f"pruned, {summary['error']} failed, {summary['unfinished']} unfinished",
        file=out,
    )
    best = summary["best"]
    if best is not None:
        values = "  ".join(f"{k}={v}" for k, v in best["values"].items())
        print(f"best: {best['trial']} score {best['score']:.2f}  {values}", file=out)
        print(f"rerun it: python main.py --yaml {root / 'best_config.yaml'}", file=out)
    if summary["interrupted"]:
        print(f"resume the search: python main.py --tune {root}", file=out)
    print(f"Search directory: {root}", file=out, flush=True)
