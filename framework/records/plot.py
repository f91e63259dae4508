"""Reward figures: training returns (raw and smoothed) and evaluation returns against env steps;
for test runs, each test episode's return as a point with their mean. Drawn from the run's CSV
files at its end (no rows are kept in memory while it runs). And the value map of a grid world
(state values as a heat map, the greedy action in each cell)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from framework.records.io import atomic_write
from framework.records.taskdir import read_csv_rows


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
    path: Path | None,
    title: str,
    episodes_csv: Path,
    evals_csv: Path | None,
    show: bool,
    test: bool = False,
) -> None:
    """Draw the figure from the CSV files; save it to ``path`` (unless None) and/or show it."""
    import matplotlib

    if not show:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    episodes = read_csv_rows(Path(episodes_csv))
    evals = read_csv_rows(Path(evals_csv)) if evals_csv is not None else []
    fig, ax = plt.subplots(figsize=(8, 4.5))
    draw_rewards(ax, episodes, evals, test)
    ax.set_title(title)
    fig.tight_layout()
    if path is not None:
        atomic_write(
            path, lambda f: fig.savefig(f, format=path.suffix.lstrip(".") or "png", dpi=100)
        )
    if show:
        plt.show()
    plt.close(fig)


def draw_rewards(ax, episodes: list[dict], evals: list[dict], test: bool) -> None:
    """Training: episode returns (raw, smoothed) and evaluation mean +- std against env steps.
    Test: a handful of episodes, so each one as a point, and their mean (no smoothed trend)."""
    if episodes and test:
        number = np.array([r["episode"] for r in episodes])
        rets = np.array([r["return"] for r in episodes], float)
        ax.plot(number, rets, "o", color="tab:blue", label="test episode return")
        ax.axhline(rets.mean(), color="tab:orange", lw=1.8, label=f"mean {rets.mean():.2f}")
        ax.set_xlabel("test episode")
    elif episodes:
        steps = np.array([r["env_steps"] for r in episodes])
        rets = np.array([r["return"] for r in episodes], float)
        ax.plot(steps, rets, color="tab:blue", alpha=0.25, lw=0.8, label="episode return")
        ax.plot(steps, smooth(rets), color="tab:blue", lw=1.8, label="smoothed")
    offline = bool(evals) and not episodes and all(r["env_steps"] == 0 for r in evals)
    if evals:  # an offline run (a dataset, no env steps) is drawn against update steps
        steps = np.array([r["update_step" if offline else "env_steps"] for r in evals])
        mean = np.array([r["mean_return"] for r in evals], float)
        std = np.array([r["std_return"] for r in evals], float)
        ax.plot(steps, mean, "o-", color="tab:orange", lw=1.8, label="evaluation mean")
        ax.fill_between(steps, mean - std, mean + std, color="tab:orange", alpha=0.2)
    if not test:
        ax.set_xlabel("update steps" if offline else "env steps")
    ax.set_ylabel("return")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")


def plot_value_map(
    path: Path, title: str, values: list, actions: list, arrows: str, desc: list[str]
) -> None:
    """Heat map of the state values on the grid ``desc`` (one string per row; cells marked H,
    G or C (holes, goal, cliff) are ends and get their letter), with an arrow for the greedy
    action in every other cell; ``arrows[a]`` is the arrow of action a."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.asarray(values, float).reshape(len(desc), len(desc[0]))
    acts = np.asarray(actions, int).reshape(grid.shape)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * grid.shape[1], 0.9 + 0.7 * grid.shape[0]))
    image = ax.imshow(grid, cmap="viridis")
    fig.colorbar(image, ax=ax, label="state value (max_a Q)", shrink=0.8)
    for (r, c), v in np.ndenumerate(grid):
        cell = desc[r][c]
        mark = cell if cell in "HGC" else arrows[acts[r, c]]
        ax.text(c, r, mark, ha="center", va="center", color="white", fontsize=14)
        if cell not in "HGC":
            ax.text(c, r + 0.35, f"{v:.2f}", ha="center", va="center", color="white", fontsize=6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)


_ROOT = str(Path(__file__).resolve().parents[2])
_SERVE = (
    f"import sys; sys.path.insert(0, {_ROOT!r}); from framework.records.plot import serve; serve()"
)


def _warm_up() -> None:
    """Import matplotlib (Agg) and render a tiny figure so fonts and caches are loaded."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [0, 1], label="x")
    ax.legend()
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)


def serve() -> None:
    """The figure process: warm up, then draw the one figure described on stdin (JSON)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run's Ctrl-C is for the run
    _warm_up()
    request = sys.stdin.read()
    if not request:  # the run ended without asking (crash, or nothing to draw)
        return
    r = json.loads(request)
    plot_rewards(Path(r["path"]), r["title"], r["episodes"], r["evals"], False, r["test"])
    if r.get("value_map"):
        m = r["value_map"]
        plot_value_map(
            Path(m["path"]), m["title"], m["values"], m["actions"], m["arrows"], m["desc"]
        )


class FigureWriter:
    """Draws a run's reward curve when it ends.

    When the figure is only saved (no window), a helper process imports matplotlib while the
    run trains, on a core the single-threaded loop leaves idle: the end of a run then waits
    ~0.1 s for the figure instead of ~0.7 s. Without that process (it could not start, or it
    failed) the figure is drawn in this process, as it is when it is shown on screen.
    """

    def __init__(self, path: Path | None, title: str, show: bool):
        self.path, self.title, self.show = path, title, show
        self.proc: subprocess.Popen | None = None
        if path is not None and not show:
            try:
                self.proc = subprocess.Popen(
                    [sys.executable, "-c", _SERVE],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError:
                self.proc = None

    def write(
        self,
        episodes_csv: Path,
        evals_csv: Path | None = None,
        test: bool = False,
        value_map: dict | None = None,
    ) -> None:
        """Draw the reward curve, and the value map when one is given (the keyword arguments
        of :func:`plot_value_map`, drawn only when the figure is saved)."""
        if self.proc is not None and self._write_remote(episodes_csv, evals_csv, test, value_map):
            return
        plot_rewards(self.path, self.title, episodes_csv, evals_csv, self.show, test)
        if value_map and self.path is not None:
            plot_value_map(**value_map)

    def _write_remote(
        self, episodes_csv: Path, evals_csv: Path | None, test: bool, value_map: dict | None
    ) -> bool:
        proc, self.proc = self.proc, None
        request = {
            "path": str(self.path),
            "title": self.title,
            "episodes": str(episodes_csv),
            "evals": str(evals_csv) if evals_csv is not None else None,
            "test": test,
            "value_map": value_map,
        }
        try:
            proc.communicate(json.dumps(request, default=float).encode(), timeout=120)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
            return False
        drawn = value_map is None or Path(value_map["path"]).is_file()
        return proc.returncode == 0 and self.path.is_file() and drawn

    def close(self) -> None:
        """Stop the helper without drawing (a run that ends before its figure)."""
        if self.proc is not None:
            proc, self.proc = self.proc, None
            try:
                proc.communicate(b"", timeout=30)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
