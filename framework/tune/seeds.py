"""Several seeds of one config: ``python main.py --yaml my.yaml --seeds 1,2,3 [--parallel]``.

The runs go into one group folder, ``<tasks_dir>/Seeds_<env>_<algo>_<stamp>/``, one task
directory per seed, with ``seeds.csv`` (a row per seed) and the group's comparison files
(``compare.png``: evaluation mean ± std over the seeds, ``compare.csv``, ``curves.csv``; see
``compare.py``). The folder is a group for ``--compare``.

Sequentially, each run is the run API in this process (Ctrl-C/SIGTERM stop the current run the
usual way, and the seeds after it are not run). ``--parallel`` runs every seed at once as a Ray
task (one CPU each, on the local Ray or ``general_cfg.ray_address``); a stop signal cancels the
tasks, which stop their runs at the end of a loop step and still write everything.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from config.base import UserError
from envs.vector import env_module
from framework.records.io import atomic_write_text
from framework.records.taskdir import check_tasks_dir
from framework.runtime.setup import load_run_config
from framework.runtime.signals import signal_name
from framework.tune.compare import Line, read_run, write_comparison
from framework.tune.folders import is_task_dir, new_folder

COLUMNS = ["seed", "stop_reason", "env_steps", "best_eval", "last_eval"]
COLUMNS += ["threshold_env_steps", "wall_seconds", "task_dir", "error"]


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--seeds {text}: give integers separated by commas, e.g. 1,2,3") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds {text}: give distinct seeds, e.g. 1,2,3")
    return seeds


def run_seeds(
    yaml_path: str | None, overrides: list[str], seeds: list[int], parallel: bool = False
) -> dict[str, Any]:
    """Run the config once per seed into a group folder; returns the group's summary
    (``group``, ``runs``: one summary per seed, ``interrupted``/``signal``, ``failed``)."""
    overrides = list(overrides)
    configs = [load_run_config(yaml_path, [*overrides, f"general_cfg.seed={s}"]) for s in seeds]
    g = configs[0].general
    if parallel and g.mp_backend == "ray":
        raise UserError(
            "--parallel: the runs use general_cfg.mp_backend: ray themselves; drop --parallel "
            "(the seeds then run one after another) or use mp_backend: single"
        )
    check_tasks_dir(g.tasks_dir)
    label = env_module(g.env_name).env_label(configs[0].env)
    group = new_folder(g.tasks_dir, "Seeds", label, g.algo_name).resolve()
    print(f"Group directory: {group}", flush=True)
    jobs = [[*overrides, f"general_cfg.seed={s}", f"general_cfg.tasks_dir={group}"] for s in seeds]
    runner = _parallel if parallel else _sequential
    summaries, stopped = runner(yaml_path, jobs, g)
    rows = [_row(s, summary) for s, summary in zip(seeds, summaries)]
    atomic_write_text(group / "seeds.csv", _table(rows, group))
    runs = [read_run(Path(r["task_dir"])) for r in rows if r["task_dir"] and _has_evals(r)]
    if runs:
        write_comparison(
            group, [Line(f"{g.algo_name} seeds", runs)], "mean", g.reward_threshold, group.name
        )
    for r in rows:
        print(
            f"seed {r['seed']}: {r['stop_reason'] or 'not run'}, best eval {r['best_eval']}, "
            f"last eval {r['last_eval']}, {r['env_steps']} env steps",
            flush=True,
        )
    print(f"Group directory: {group}", flush=True)
    return {
        "group": str(group),
        "runs": summaries,
        "interrupted": stopped is not None,
        "signal": stopped,
        "failed": any(r["error"] for r in rows),
    }


def _has_evals(row: dict[str, Any]) -> bool:
    return is_task_dir(Path(row["task_dir"])) and row["best_eval"] != ""


def _sequential(yaml_path, jobs, general) -> tuple[list[dict | None], str | None]:
    from framework.api import run

    summaries: list[dict | None] = [None] * len(jobs)
    for i, job in enumerate(jobs):
        try:
            summaries[i] = run(load_run_config(yaml_path, job))
        except KeyboardInterrupt as err:  # between two runs
            return summaries, signal_name(err)
        if summaries[i].get("interrupted"):
            return summaries, summaries[i].get("signal") or "SIGINT"
    return summaries, None


def _parallel(yaml_path, jobs, general) -> tuple[list[dict | None], str | None]:
    import ray

    from framework.api import stop_ray
    from framework.ray.session import init_ray

    started = init_ray(general)
    text = Path(yaml_path).read_text() if yaml_path else None  # workers may not see the file
    task = ray.remote(num_cpus=1)(_run_text)
    refs = [task.remote(text, job) for job in jobs]
    stopped = None
    try:
        try:
            ray.wait(refs, num_returns=len(refs))
        except KeyboardInterrupt as err:
            stopped = signal_name(err)
            print(f"{stopped}: stopping every seed's run at the end of its loop step", flush=True)
            for ref in refs:
                ray.cancel(ref)  # a KeyboardInterrupt in the task: the run ends cleanly
        summaries = []
        for ref in refs:
            try:
                summaries.append(ray.get(ref))
            except (ray.exceptions.TaskCancelledError, ray.exceptions.RayTaskError) as err:
                if not isinstance(err, ray.exceptions.TaskCancelledError):
                    print(f"rldojo: a seed's run failed: {str(err).splitlines()[-1]}", flush=True)
                summaries.append(None)
        return summaries, stopped
    finally:
        stop_ray(started)


def _run_text(text: str | None, job: list[str]) -> dict[str, Any]:
    """A seed's run on a Ray worker, from the YAML's text."""
    import tempfile

    from framework.api import run

    if text is None:
        return run(load_run_config(None, job))
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        return run(load_run_config(f.name, job))


def _row(seed: int, summary: dict | None) -> dict[str, Any]:
    s = summary or {}
    return {
        "seed": seed,
        "stop_reason": s.get("stop_reason") or "",
        "env_steps": s.get("env_steps", ""),
        "best_eval": _num(s.get("best_eval")),
        "last_eval": _num(s.get("last_eval")),
        "threshold_env_steps": s.get("threshold_env_steps") or "",
        "wall_seconds": s.get("wall_seconds", ""),
        "task_dir": s.get("task_dir") or "",
        "error": s.get("error") or "",
    }


def _num(value) -> str:
    return "" if value is None else f"{value:.6g}"


def _table(rows: list[dict[str, Any]], group: Path) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        task = row["task_dir"]
        writer.writerow({**row, "task_dir": Path(task).name if task else ""})
    return buf.getvalue()
