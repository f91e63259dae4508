"""The Learner: updates the policy, evaluates it, keeps the run's records and checkpoints.

It is written once and used by both backends: the single-process Trainer calls it directly;
the Ray backend wraps the same class. It never steps training envs itself.
"""

from __future__ import annotations

import collections
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from framework.agent import checkpoint_payload
from framework.data import Episode
from framework.evaluator import Evaluator
from framework.recorder import CsvLog, TaskDir

EVAL_STREAM, TEST_STREAM = 1, 2  # seed streams: online evaluation vs test mode


@dataclass
class Counters:
    """Run progress; saved in every checkpoint so a resumed run continues them."""

    env_steps: int = 0
    episodes: int = 0
    update_steps: int = 0
    best_eval: float | None = None
    threshold_env_steps: int | None = None


@dataclass
class Metrics:
    """Running means of update metrics between two evaluations."""

    sums: dict[str, float] = field(default_factory=dict)
    count: int = 0

    def add(self, metrics: dict[str, float]) -> None:
        for k, v in metrics.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.count += 1

    def pop(self) -> dict[str, float]:
        out = {k: v / self.count for k, v in self.sums.items()} if self.count else {}
        self.sums, self.count = {}, 0
        return out


class Learner:
    def __init__(self, cfg, task: TaskDir, policy, counters: Counters | None = None,
                 console: Callable[[str], None] | None = None):  # fmt: skip
        """``console``: where progress lines go instead of the terminal (a Ray Learner actor
        hands them to the driver, which prints them and draws the progress bar)."""
        self.cfg, self.task, self.policy = cfg, task, policy
        self.console_sink = console
        g = cfg.general
        self.log = logging.getLogger("rldojo")
        self.counters = counters or Counters()
        self.start = time.perf_counter()
        self.wall_offset = 0.0
        self.ep_csv = CsvLog(
            task.results / "episodes.csv", ["episode", "env_steps", "return", "length", "wall_time"]
        )
        self.eval_csv = CsvLog(
            task.results / "evals.csv",
            ["update_step", "env_steps", "mean_return", "std_return", "min_return", "max_return",
             "wall_time"],
        )  # fmt: skip
        self.update_csv: CsvLog | None = None
        self.metrics = Metrics()
        self.last_metrics: dict[str, float] = {}
        self.recent = collections.deque(maxlen=20)
        self.last_eval: float | None = None
        self.stop_reason: str | None = None
        self.evaluator = None
        if g.online_eval:
            n_eval = min(cfg.env.n_eval_envs, g.online_eval_episode)
            self.evaluator = Evaluator(cfg, n_eval, g.seed, EVAL_STREAM)
        fre = g.online_eval_fre
        self.next_eval = (self.counters.env_steps // fre + 1) * fre
        self.tb = task.open_tensorboard() if g.tensorboard else None
        self.progress = make_progress(g, self.counters.env_steps) if console is None else None
        self.figure = figure_writer(cfg, task)
        self.traj_writer = None
        if g.collect_traj:
            from framework.trajectories import ShardWriter

            self.traj_writer = ShardWriter(task.results)

    # ---- records ---------------------------------------------------------------------------
    @property
    def wall(self) -> float:
        return time.perf_counter() - self.start

    def record(self, episodes: list[Episode], trajectories: list[dict], env_steps: int,
               n_envs: int) -> None:  # fmt: skip
        """Account one collection phase: counters, episode CSV, trajectories."""
        base = self.counters.env_steps
        g = self.cfg.general
        for ep in episodes:
            if g.max_episode > 0 and self.counters.episodes >= g.max_episode:
                break  # episodes past the limit finished in the same vector step: not counted
            self.counters.episodes += 1
            steps = base + (ep.step + 1) * n_envs
            self.ep_csv.write(
                episode=self.counters.episodes, env_steps=steps, **{"return": ep.ret},
                length=ep.length, wall_time=round(self.wall, 3),
            )  # fmt: skip
            self.recent.append(ep.ret)
            if self.tb is not None:
                self.tb.add_scalar("charts/episodic_return", ep.ret, steps)
                self.tb.add_scalar("charts/episodic_length", ep.length, steps)
        if self.traj_writer is not None:
            self.traj_writer.extend(trajectories)
        self.counters.env_steps += env_steps
        self.policy.env_steps = self.counters.env_steps
        if g.max_episode > 0 and self.counters.episodes >= g.max_episode:
            self.stop_reason = self.stop_reason or "max_episode"
        if 0 < g.max_env_steps <= self.counters.env_steps:
            self.stop_reason = self.stop_reason or "max_env_steps"
        self._update_progress(env_steps)

    def progress_info(self) -> dict[str, Any]:
        """What the progress bar shows next to the env-step count."""
        return {
            "ep": self.counters.episodes,
            "ret": f"{np.mean(self.recent):.1f}" if self.recent else "-",
            "eval": f"{self.last_eval:.1f}" if self.last_eval is not None else "-",
            "fps": int(self.counters.env_steps / max(self.wall, 1e-9)),
        }

    def _update_progress(self, steps: int) -> None:
        if self.progress is not None:
            self.progress.set_postfix(self.progress_info(), refresh=False)
            self.progress.update(steps)

    # ---- learning ----------------------------------------------------------------------------
    def learn(self, buffer) -> int:
        """Run the update steps that are due; returns how many ran."""
        n = self.policy.updates_due(buffer)
        save_fre = self.cfg.general.model_save_fre
        for _ in range(n):
            batch = buffer.sample(self.cfg.algo.batch_size)
            out = self.policy.learn(batch)
            if out.priorities is not None and getattr(batch, "indices", None) is not None:
                buffer.update_priorities(batch.indices, out.priorities)
            self.metrics.add(out.metrics)
            self.counters.update_steps = self.policy.update_step
            if save_fre and self.counters.update_steps % save_fre == 0:
                self.save(str(self.counters.update_steps))
        return n

    def evaluate_if_due(self) -> None:
        if self.evaluator is not None and self.counters.env_steps >= self.next_eval:
            fre = self.cfg.general.online_eval_fre
            self.next_eval = (self.counters.env_steps // fre + 1) * fre
            self.evaluate()

    def evaluate(self) -> None:
        g, c = self.cfg.general, self.counters
        res = self.evaluator.run(lambda o: self.policy.act(o, deterministic=True)[0],
                                 g.online_eval_episode)  # fmt: skip
        self.last_eval = res.mean
        self.eval_csv.write(
            update_step=c.update_steps, env_steps=c.env_steps, mean_return=round(res.mean, 4),
            std_return=round(res.std, 4), min_return=float(res.returns.min()),
            max_return=float(res.returns.max()), wall_time=round(self.wall, 3),
        )  # fmt: skip
        metrics = self.metrics.pop()
        if metrics:
            self.last_metrics = metrics
            self._write_update_row(metrics)
        if self.tb is not None:
            self.tb.add_scalar("eval/mean_return", res.mean, c.env_steps)
            for k, v in metrics.items():
                self.tb.add_scalar(f"losses/{k}", v, c.env_steps)
            self.tb.add_scalar("charts/SPS", c.env_steps / max(self.wall, 1e-9), c.env_steps)
        improved = c.best_eval is None or res.mean > c.best_eval
        if improved:
            c.best_eval = res.mean
            if g.save_best_model:
                self.save("best")
            if getattr(self.cfg.env, "render_mode", None) is not None:  # videos/best.gif
                from framework.render import on_new_best

                on_new_best(self.cfg, self.task, self.policy)
        self.log.info(
            "eval at %d env steps (%d updates): mean %.2f +- %.2f%s",
            c.env_steps, c.update_steps, res.mean, res.std, " (best)" if improved else "",
        )  # fmt: skip
        self.console(
            f"[eval] steps {c.env_steps:>8d}  episodes {c.episodes:>6d}  "
            f"return {res.mean:8.2f} +- {res.std:6.2f}{'  best' if improved else ''}"
        )
        if g.reward_threshold is not None and res.mean >= g.reward_threshold:
            if c.threshold_env_steps is None:
                c.threshold_env_steps = c.env_steps
                self.threshold_wall = self.wall
            self.stop_reason = "reward_threshold"

    def _write_update_row(self, metrics: dict[str, float]) -> None:
        if self.update_csv is None:
            self.update_csv = CsvLog(
                self.task.results / "updates.csv", ["update_step", "env_steps", *sorted(metrics)]
            )
        row = {k: round(v, 6) for k, v in metrics.items() if k in self.update_csv.fields}
        self.update_csv.write(update_step=self.counters.update_steps,
                              env_steps=self.counters.env_steps, **row)  # fmt: skip

    def console(self, line: str) -> None:
        if self.console_sink is not None:
            self.console_sink(line)
        elif self.progress is not None:
            self.progress.write(line)
        else:
            print(line, flush=True)

    # ---- checkpoints and the end -------------------------------------------------------------
    def save(self, name: str) -> None:
        self.task.save_checkpoint(
            name, checkpoint_payload(self.cfg, self.policy, asdict(self.counters))
        )

    @property
    def should_stop(self) -> bool:
        return self.stop_reason is not None

    def summary(self, interrupted: bool = False, files: list | None = None,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        """The run's summary.json as of now."""
        c = self.counters
        summary = {
            "mode": self.cfg.general.mode,
            "algo": self.cfg.general.algo_name,
            "env_id": getattr(self.cfg.env, "id", None),
            "env_steps": c.env_steps,
            "episodes": c.episodes,
            "update_steps": c.update_steps,
            "wall_seconds": round(self.wall, 3),
            "env_steps_per_second": round(c.env_steps / max(self.wall, 1e-9), 1),
            "best_eval": c.best_eval,
            "last_eval": self.last_eval,
            "reward_threshold": self.cfg.general.reward_threshold,
            "threshold_reached": c.threshold_env_steps is not None,
            "threshold_env_steps": c.threshold_env_steps,
            "threshold_wall_seconds": round(getattr(self, "threshold_wall", math.nan), 3)
            if c.threshold_env_steps is not None
            else None,
            "stop_reason": self.stop_reason,
            "interrupted": interrupted,
            "trajectory_files": [p.name for p in files or []],
            "last_metrics": self.last_metrics,
            **(extra or {}),
        }
        return summary

    def finish(self, interrupted: bool, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Final checkpoint, trajectories, figure and summary; safe after Ctrl-C."""
        if self.progress is not None:
            self.progress.close()
        if interrupted:
            self.stop_reason = "interrupted"
        self.save("last")
        files = self.traj_writer.close() if self.traj_writer is not None else []
        left = self.metrics.pop()
        if left:
            self._write_update_row(left)
        summary = self.summary(interrupted, files, extra)
        self.task.write_summary(summary)
        if self.figure is not None:
            self.figure.write(self.ep_csv.rows, self.eval_csv.rows)
        for log in (self.ep_csv, self.eval_csv, self.update_csv):
            if log is not None:
                log.close()
        if self.evaluator is not None:
            self.evaluator.close()
        return summary


def make_progress(general, initial: int):
    import sys

    if not general.progress or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    total = general.max_env_steps if general.max_env_steps > 0 else None
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, mininterval=0.25)


def figure_writer(cfg, task: TaskDir):
    """The FigureWriter for this run, or None when neither save_fig nor show_fig is on."""
    g = cfg.general
    if not (g.save_fig or g.show_fig):
        return None
    from framework.plot import FigureWriter, has_display

    show = g.show_fig and has_display()
    if g.show_fig and not show:
        logging.getLogger("rldojo").warning("show_fig: no display found; figure saved only")
    title = f"{g.mode} {getattr(cfg.env, 'id', g.env_name)} {g.algo_name}"
    return FigureWriter(task.figs / "rewards.png" if g.save_fig else None, title, show)
