"""Reward curves: raw and smoothed training returns and evaluation returns vs env steps."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np


def has_display() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def smooth(values: np.ndarray, weight: float = 0.9) -> np.ndarray:
    """Exponential moving average with bias correction (TensorBoard's smoothing)."""
    out = np.empty(len(values))
    last = 0.0
    for i, v in enumerate(values):
        last = weight * last + (1 - weight) * v
        out[i] = last / (1 - weight ** (i + 1))
    return out


def plot_rewards(
    path: Path | None, title: str, episodes: list[dict], evals: list[dict], show: bool
) -> None:
    """Draw the curve; save it to ``path`` (unless None) and/or show it."""
    import matplotlib

    if not show:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    if episodes:
        steps = np.array([r["env_steps"] for r in episodes])
        rets = np.array([r["return"] for r in episodes], float)
        ax.plot(steps, rets, color="tab:blue", alpha=0.25, lw=0.8, label="episode return")
        ax.plot(steps, smooth(rets), color="tab:blue", lw=1.8, label="smoothed")
    if evals:
        steps = np.array([r["env_steps"] for r in evals])
        mean = np.array([r["mean_return"] for r in evals], float)
        std = np.array([r["std_return"] for r in evals], float)
        ax.plot(steps, mean, "o-", color="tab:orange", lw=1.8, label="evaluation mean")
        ax.fill_between(steps, mean - std, mean + std, color="tab:orange", alpha=0.2)
    ax.set_xlabel("env steps")
    ax.set_ylabel("return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    if path is not None:
        tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, path)
    if show:
        plt.show()
    plt.close(fig)
