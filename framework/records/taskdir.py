"""The task directory: layout, CSV logs, TensorBoard, summary, checkpoints.

tasks/{Mode}_{env}_{algo}_{YYYYmmdd-HHMMSS}/
  config.yaml   merged config (written first; `--yaml` on it reruns the run)
  models/       <update_step>.pt, best.pt, last.pt
  results/      episodes.csv, evals.csv, updates.csv, summary.json, trajs*.pkl
  figs/         rewards.png
  logs/         run.log (+ TensorBoard event files)
"""

from __future__ import annotations

import csv
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from config.base import UserError
from framework.records.checkpoint import save_checkpoint
from framework.records.io import atomic_write_json, atomic_write_text


class CsvLog:
    """Append-only CSV with a fixed header (``\n`` line ends), flushed per row so an interrupted
    run keeps it. Rows are not kept in memory: the figure reads the file back at the end. A
    failed write (a full disk) raises an OSError that names this file."""

    def __init__(self, path: Path, fields: list[str]):
        self.path = path
        self.fields = fields
        self._file = open(path, "w", newline="")  # noqa: SIM115 - closed in close()
        self._writer = csv.DictWriter(self._file, fieldnames=fields, lineterminator="\n")
        self._guarded(self._writer.writeheader)

    def write(self, **row: Any) -> None:
        self._guarded(lambda: self._writer.writerow(row))

    def _guarded(self, write) -> None:
        try:
            write()
            self._file.flush()
        except OSError as err:
            raise OSError(err.errno, err.strerror, str(self.path)) from None

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:  # the disk is full: what was flushed is kept
            pass


def read_csv_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a CsvLog file, numbers parsed (empty when the file is missing)."""

    def parse(value: str) -> Any:
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                continue
        return value

    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def check_tasks_dir(tasks_dir: str | Path) -> Path:
    """The tasks folder, created if missing and checked writable (a one-line UserError
    otherwise), before a run writes anything into it."""
    path = Path(tasks_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"general_cfg.tasks_dir: {path} is a file, not a folder; give a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise UserError(
            f"general_cfg.tasks_dir: cannot write into {path} ({err.strerror}); give a "
            "writable folder"
        ) from None
    return path


class TaskDir:
    def __init__(self, root: Path):
        self.root = root
        for sub in ("models", "results", "figs", "logs"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.models, self.results = root / "models", root / "results"
        self.figs, self.logs = root / "figs", root / "logs"
        self.tb = None

    @classmethod
    def create(cls, tasks_dir: str | Path, mode: str, env: str, algo: str) -> TaskDir:
        """A new, unique task directory (a suffix is added when the second is taken)."""
        base = Path(tasks_dir)
        base.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = f"{mode.capitalize()}_{env}_{algo}_{stamp}"
        for i in range(1000):
            root = base / (name if i == 0 else f"{name}_{i}")
            try:
                root.mkdir()  # atomic: fails if another run took the name
                return cls(root)
            except FileExistsError:
                continue
        raise RuntimeError(f"cannot create a task directory under {base}")

    def setup_logging(self) -> logging.Logger:
        logger = logging.getLogger("rldojo")
        logger.setLevel(logging.INFO)
        for h in list(logger.handlers):
            if getattr(h, "_rldojo_file", False):
                logger.removeHandler(h)
                h.close()
        handler = logging.FileHandler(self.logs / "run.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler._rldojo_file = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        return logger

    def open_tensorboard(self):
        from torch.utils.tensorboard import SummaryWriter

        self.tb = SummaryWriter(str(self.logs))
        return self.tb

    def save_config(self, text: str) -> None:
        atomic_write_text(self.root / "config.yaml", text)

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_json(self.results / "summary.json", summary)

    def save_checkpoint(self, name: str, payload: dict[str, Any]) -> Path:
        return save_checkpoint(self.models / f"{name}.pt", payload)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        logger = logging.getLogger("rldojo")
        for h in list(logger.handlers):
            if getattr(h, "_rldojo_file", False):
                logger.removeHandler(h)
                h.close()
