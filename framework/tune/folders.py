"""Folders of several runs: a search (``Tune_...``), a group of seeds (``Seeds_...``), a
comparison (``Compare_...``), and how to find the runs (task directories) inside them."""

from __future__ import annotations

import time
from pathlib import Path

from config.base import UserError


def new_folder(tasks_dir: str | Path, kind: str, *parts: str) -> Path:
    """``<tasks_dir>/<kind>_<parts...>_<YYYYmmdd-HHMMSS>`` (a suffix keeps it unique)."""
    base = Path(tasks_dir)
    base.mkdir(parents=True, exist_ok=True)
    name = "_".join([kind, *parts, time.strftime("%Y%m%d-%H%M%S")])
    for i in range(1000):
        root = base / (name if i == 0 else f"{name}_{i}")
        try:
            root.mkdir()  # atomic: another process cannot take the same name
            return root
        except FileExistsError:
            continue
    raise UserError(f"cannot create a folder {name} under {base}")


def is_task_dir(path: Path) -> bool:
    return (path / "results" / "evals.csv").is_file() or (
        path / "results" / "summary.json"
    ).is_file()


def task_dirs(path: Path) -> list[Path]:
    """The task directories a folder holds: itself, or those directly inside it (a group of
    seeds, a trial of a search). UserError when there are none."""
    if is_task_dir(path):
        return [path]
    if not path.is_dir():
        raise UserError(f"{path}: no such folder; give a task directory or a group of them")
    runs = sorted(p for p in path.iterdir() if p.is_dir() and is_task_dir(p))
    if not runs:
        raise UserError(
            f"{path}: holds no task directory (results/evals.csv); give a run's task directory "
            "or a folder of runs (e.g. from --seeds)"
        )
    return runs
