"""Faults a run survives by stopping cleanly: a disk that fills up (or a file size limit, or a
file system that turned read-only) and training that diverges to non-finite numbers.

A run that hits one stops at once, writes what it still can (each final write is attempted on
its own), keeps the checkpoints and records already complete on disk, and reports one line
naming the file it could not write or the update step that diverged (exit code 1).
"""

from __future__ import annotations

import errno
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from algos.base.policy import NonFiniteError

DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}
STALE_TMP_SECONDS = 600  # an atomic write takes seconds; older temp files are leftovers

log = logging.getLogger("rldojo")


def is_disk_error(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in DISK_ERRNOS


def write_error(err: OSError) -> str:
    return (
        f"cannot write {err.filename or 'a file'}: {err.strerror}; the run stopped and kept the "
        "checkpoints and records already complete; free some space and resume from its task "
        "directory (general_cfg.load_checkpoint)"
    )


def fault_message(err: BaseException) -> str | None:
    """The one-line report of a fault the run stops for, or None for any other error."""
    if is_disk_error(err):
        return write_error(err)
    if isinstance(err, NonFiniteError):
        return (
            f"training diverged: {err}; the last finite checkpoint is kept; lower algo_cfg.lr "
            "or clip gradients (algo_cfg.max_grad_norm)"
        )
    return None


def attempt(action: Callable[[], object], errors: list[str]) -> None:
    """Run one final write; a disk fault is recorded in ``errors`` instead of raised."""
    try:
        action()
    except OSError as err:
        if not is_disk_error(err):
            raise
        errors.append(write_error(err))
        log.error(write_error(err))


def copy_checkpoint(source: Path, target: Path) -> None:
    """``target`` becomes a copy of ``source`` (atomically)."""
    from framework.records.io import atomic_write

    with open(source, "rb") as f:
        atomic_write(target, lambda out: shutil.copyfileobj(f, out))


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Hidden ``.<name>.<random>.tmp`` files of atomic writes that a killed run (kill -9, power
    loss) left behind, older than a few minutes (a live writer's file is never touched)."""
    removed = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for path in folder.glob(".*.tmp"):
        try:
            if now - path.stat().st_mtime > STALE_TMP_SECONDS:
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    if removed:
        log.info("removed %d stale temporary files in %s", len(removed), folder)
    return removed
