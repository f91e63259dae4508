"""Checkpoint files: written atomically, read back with a format check."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from config.base import UserError
from framework.records.io import atomic_write

CHECKPOINT_FORMAT = "rldojo-checkpoint-1"


class CheckpointError(UserError):
    """A checkpoint that cannot be read or used with this config (one-line message)."""


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    payload = {"format": CHECKPOINT_FORMAT, **payload}
    return atomic_write(path, lambda f: torch.save(payload, f))


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint file; CheckpointError if it is not one of ours or is damaged."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except Exception as err:  # torch raises many types for damaged files
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({msg})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not an rldojo checkpoint (format {CHECKPOINT_FORMAT})")
    return data
