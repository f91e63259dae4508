"""Checkpoint files: written atomically, read back safely.

A checkpoint is an rldojo archive (``archive.py``: a NumPy ``.npz`` of plain arrays plus one JSON
structure, no pickle), so loading one, however it was made, cannot run code. It keeps the
``.pt`` name of earlier versions, but ``torch.load`` does not read it: use
:func:`read_checkpoint` (or ``np.load(path, allow_pickle=False)`` for the raw arrays).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from config.base import UserError
from framework.records.archive import ArchiveError, read_archive, write_archive

CHECKPOINT_FORMAT = "rldojo-checkpoint-2"


class CheckpointError(UserError):
    """A checkpoint that cannot be read or used with this config (one-line message)."""


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    return write_archive(path, {"format": CHECKPOINT_FORMAT, **payload})


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint file; CheckpointError if it is missing, not one of ours, or damaged."""
    try:
        data = read_archive(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file") from None
    except ArchiveError as err:
        raise CheckpointError(
            f"{path}: not a readable rldojo checkpoint ({err}); give a models/*.pt file of an "
            "rldojo task directory"
        ) from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(
            f"{path}: not an rldojo checkpoint of format {CHECKPOINT_FORMAT} (found {found!r})"
        )
    return data
