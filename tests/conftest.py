"""Shared helpers: run the real CLI (in-process or as a subprocess) into a temp tasks dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def run_main(tasks: Path, *args: str) -> Path:
    """Run ``framework.cli.main`` in-process; returns the task directory it created."""
    from framework.cli import main

    before = set(tasks.iterdir()) if tasks.exists() else set()
    rc = main([*args, f"general_cfg.tasks_dir={tasks}", "general_cfg.progress=false"])
    assert rc == 0, f"main exited {rc}"
    (new,) = set(tasks.iterdir()) - before
    return new


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = 300):
    """``python main.py ARGS`` as a subprocess (for exit codes, stderr and signals)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def summary(task: Path) -> dict:
    return json.loads((task / "results" / "summary.json").read_text())


@pytest.fixture
def tasks(tmp_path: Path) -> Path:
    return tmp_path / "tasks"
