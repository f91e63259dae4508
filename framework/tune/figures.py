"""Figures of a search and of a comparison (matplotlib, Agg backend, written atomically)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from framework.records.io import atomic_write

STATUS_STYLE = {  # marker, colour of a trial's status
    "completed": ("o", "tab:blue"),
    "pruned": ("x", "tab:gray"),
    "error": ("s", "tab:red"),
    "interrupted": ("^", "tab:orange"),
    "pending": (".", "tab:gray"),
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    fig.clf()
    _pyplot().close(fig)
    return path


def search_figures(folder: Path, search, records: list, best) -> list[Path]:
    """curves.png (each trial's evaluation curve), params.png (score against each parameter),
    progress.png (score of each trial in order, and the best so far)."""
    plt = _pyplot()
    env = getattr(search.base.env, "id", search.base.general.env_name)
    title = f"{env} {search.base.general.algo_name}: {len(records)} trials"
    metric = f"score ({search.settings.metric} evaluation)"
    paths = []

    fig, ax = plt.subplots(figsize=(9, 5))
    scores = [r.score for r in records if r.score is not None]
    lo, hi = (min(scores), max(scores)) if scores else (0.0, 1.0)
    cmap = plt.get_cmap("viridis")
    for r in records:
        if not r.curve:
            continue
        steps, means = zip(*r.curve)
        if r is best:
            continue
        if r.status == "pruned":
            ax.plot(steps, means, color="tab:gray", lw=0.9, alpha=0.5, ls="--")
            ax.plot(steps[-1:], means[-1:], "x", color="tab:gray", alpha=0.7)
        else:
            shade = (r.score - lo) / (hi - lo) if r.score is not None and hi > lo else 0.5
            ax.plot(steps, means, color=cmap(0.15 + 0.7 * shade), lw=1.3, alpha=0.85)
    if best is not None and best.curve:
        steps, means = zip(*best.curve)
        ax.plot(steps, means, "o-", color="tab:red", lw=2.4, label=f"best: {best.name}")
    ax.plot([], [], color="tab:gray", ls="--", label="pruned (x: where)")
    ax.plot([], [], color=cmap(0.5), label="completed (colour: score)")
    ax.set(xlabel="env steps", ylabel="evaluation return (mean over seeds)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    paths.append(save(fig, folder / "curves.png"))

    n = len(search.params)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, p in zip(axes.flat, search.params):
        _param_panel(ax, p, records, best)
        ax.set_ylabel(metric if ax in axes[:, 0] else "")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    paths.append(save(fig, folder / "params.png"))

    fig, ax = plt.subplots(figsize=(8, 4.5))
    order = sorted(records, key=lambda r: r.name)
    running = -math.inf
    xs, best_line = [], []
    for i, r in enumerate(order, start=1):
        marker, colour = STATUS_STYLE.get(r.status, ("o", "tab:blue"))
        if r.score is not None:
            ax.plot(i, r.score, marker, color=colour, ms=7)
            running = max(running, r.score) if r.status == "completed" else running
        xs.append(i)
        best_line.append(running if math.isfinite(running) else np.nan)
    ax.step(xs, best_line, where="post", color="tab:red", lw=1.8, label="best completed so far")
    for status, (marker, colour) in STATUS_STYLE.items():
        if any(r.status == status and r.score is not None for r in order):
            ax.plot([], [], marker, color=colour, label=status)
    ax.set(xlabel="trial", ylabel=metric, title=f"{title}: progress")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    paths.append(save(fig, folder / "progress.png"))
    return paths


def _param_panel(ax, p, records: list, best) -> None:
    for r in records:
        if r.score is None or p.key not in r.values:
            continue
        marker, colour = STATUS_STYLE.get(r.status, ("o", "tab:blue"))
        x = p.args.index(r.values[p.key]) if p.kind == "choice" else r.values[p.key]
        ax.plot(x, r.score, marker, color=colour, ms=7, alpha=0.8)
        if r is best:
            ax.plot(x, r.score, "*", color="tab:red", ms=16)
    if p.kind == "loguniform":
        ax.set_xscale("log")
    if p.kind == "choice":
        labels = [_short(p.label(v)) for v in p.args]
        ax.set_xticks(range(len(labels)), labels, rotation=20 if len(labels) > 3 else 0)
        ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.set_xlabel(p.key.split(".", 1)[1])
    ax.grid(alpha=0.3)


def _short(text: str, n: int = 18) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def compare_figure(path: Path, lines: list[dict[str, Any]], stat: str, threshold, title: str):
    """One line per group: the centre (mean or IQM) of the evaluation return against env steps,
    with a band (± std, or the bootstrap confidence interval)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5))
    for line in lines:
        steps, centre, low, high = (np.asarray(line[k]) for k in ("steps", "centre", "low", "high"))
        (drawn,) = ax.plot(steps, centre, lw=2, label=f"{line['label']} (n={line['n']})")
        ax.fill_between(steps, low, high, color=drawn.get_color(), alpha=0.2)
    if threshold is not None:
        ax.axhline(threshold, color="black", ls=":", lw=1, label=f"threshold {threshold:g}")
    band = "± std over runs" if stat == "mean" else "IQM, 95% bootstrap CI"
    ax.set(xlabel="env steps", ylabel=f"evaluation return ({band})", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    fig.tight_layout()
    return save(fig, path)
