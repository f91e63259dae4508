"""The Learner: updates the policy, evaluates it, keeps the run's records and checkpoints.

It is written once and used by both backends: the single-process loop calls it directly; the
Ray backend's LearnerActor wraps the same class. It never steps training envs itself.
"""

from __future__ import annotations

import collections
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from framework.data.datasets import normalized_score
from framework.data.types import Record
from framework.records.archive import write_archive
from framework.records.taskdir import CsvLog, TaskDir
from framework.runtime.clock import Clock, Counters
from framework.runtime.evaluator import Evaluator
from framework.runtime.faults import attempt, copy_checkpoint
from framework.runtime.seeding import EVAL, rng_state
from framework.runtime.setup import buffer_path, checkpoint_payload


class EvalEvent(NamedTuple):
    """One online evaluation, as the run API's ``on_eval`` hook receives it."""

    env_steps: int
    update_steps: int
    mean: float
    std: float
    min: float
    max: float
    wall: float
    best: bool
    solved: bool = False  # reward_threshold reached (threshold_evals in a row): the run stops


OnEval = Callable[[EvalEvent], "str | None"]


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
    def __init__(
        self,
        cfg,
        task: TaskDir,
        policy,
        clock: Clock,
        counters: Counters | None = None,
        console: Callable[[str], None] | None = None,
        on_eval: OnEval | None = None,
        reference: tuple[float, float] | None = None,
    ):
        """``console``: where progress lines go instead of the terminal (a Ray Learner actor
        hands them to the driver, which prints them and draws the progress bar). ``on_eval``:
        called with every evaluation; a string it returns stops the run with that reason.
        ``reference``: a dataset's (ref_min_score, ref_max_score); evaluations then also report
        the normalized score (D4RL: 0 at the minimum, 100 at the maximum)."""
        self.cfg, self.task, self.policy, self.clock = cfg, task, policy, clock
        self.console_sink = console
        self.on_eval = on_eval
        self.reference = reference
        g = cfg.general
        self.log = logging.getLogger("rldojo")
        self.counters = counters or Counters()
        self.start = time.perf_counter()
        self.ep_csv = CsvLog(
            task.results / "episodes.csv", ["episode", "env_steps", "return", "length", "wall_time"]
        )
        self.eval_csv = CsvLog(
            task.results / "evals.csv",
            [
                "update_step",
                "env_steps",
                "mean_return",
                "std_return",
                "min_return",
                "max_return",
                "wall_time",
                *(["normalized_score"] if reference is not None else []),
            ],
        )
        self.update_csv: CsvLog | None = None
        self.metrics = Metrics()
        self.last_metrics: dict[str, float] = {}
        self.recent: collections.deque[float] = collections.deque(maxlen=20)
        self.last_eval: float | None = None
        self.threshold_wall: float | None = None
        self.stop_reason: str | None = None
        self.error: str | None = None  # a fault that stopped the run (one line)
        self.periodic: list[Path] = []  # periodic checkpoints written, oldest first
        self.last_saved: Path | None = None  # the newest checkpoint written (all finite)
        # set by the loop that owns the other parts: their state for last.pt, and the buffer
        self.snapshot: Callable[[], dict[str, Any]] | None = None
        self.buffer = None
        self.evaluator = None
        if g.online_eval:
            n_eval = min(cfg.env.n_eval_envs, g.online_eval_episode)
            self.evaluator = Evaluator(cfg, n_eval, g.seed, EVAL)
        self.next_eval = clock.next_eval(self.counters)
        save_fre = g.model_save_fre
        self.next_save = (self.counters.update_steps // save_fre + 1) * save_fre if save_fre else 0
        self.tb = task.open_tensorboard() if g.tensorboard else None
        self.progress = (
            make_progress(g, clock.now(self.counters), clock) if console is None else None
        )
        self.figure = figure_writer(cfg, task)
        self.traj_writer = None
        if g.collect_traj:
            from framework.data.trajectories import ShardWriter

            self.traj_writer = ShardWriter(task.results)
        self.check_limits()

    # ---- records ---------------------------------------------------------------------------
    @property
    def wall(self) -> float:
        return time.perf_counter() - self.start

    def record(self, rec: Record) -> None:
        """Account one collection phase: counters, episode CSV, trajectories. Episodes past
        ``max_episode`` (finished in the same vector step as the last one counted) are dropped
        together with their trajectories."""
        base = self.counters.env_steps
        g = self.cfg.general
        counted = 0
        for ep in rec.episodes:
            if g.max_episode > 0 and self.counters.episodes >= g.max_episode:
                break
            if counted < len(rec.trajectories):  # numbered across resumes, like the CSV
                rec.trajectories[counted]["episode"] = self.counters.episodes
            self.counters.episodes += 1
            counted += 1
            steps = base + (ep.step + 1) * rec.n_envs
            self.ep_csv.write(
                episode=self.counters.episodes,
                env_steps=steps,
                **{"return": ep.ret},
                length=ep.length,
                wall_time=round(self.wall, 3),
            )
            self.recent.append(ep.ret)
            if self.tb is not None:
                self.tb.add_scalar("charts/episodic_return", ep.ret, steps)
                self.tb.add_scalar("charts/episodic_length", ep.length, steps)
        if self.traj_writer is not None:
            self.traj_writer.extend(rec.trajectories[:counted])
        self.counters.env_steps += rec.env_steps
        self.policy.env_steps = self.counters.env_steps
        self.check_limits()
        self._update_progress(rec.env_steps)

    def check_limits(self) -> None:
        """Stop once the budget on the run's clock, or max_episode, is reached."""
        g = self.cfg.general
        if g.max_episode > 0 and self.counters.episodes >= g.max_episode:
            self.stop_reason = self.stop_reason or "max_episode"
        if self.clock.spent(self.counters):
            self.stop_reason = self.stop_reason or f"max_{self.clock.unit}"

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
        policy = self.policy
        n = policy.updates_due(buffer.status())
        if n == 0:
            return 0
        spec = policy.sample_spec()
        prefetch = getattr(buffer, "prefetch", None)
        if prefetch is not None:  # a remote buffer fetches the phase's batches in one call
            prefetch(n, spec)
        for _ in range(n):
            batch = buffer.sample(spec.batch_size, spec.beta)
            out = policy.learn(batch)
            if out.priorities is not None and getattr(batch, "indices", None) is not None:
                buffer.update_priorities(batch.indices, out.priorities)
            self.metrics.add(out.metrics)
        self.counters.update_steps = policy.update_step
        self.check_limits()
        if self.clock.unit == "update_steps":
            self._update_progress(n)
        return n

    def at_boundary(self) -> None:
        """Between two loop steps (no learn phase in progress): periodic checkpoint, then an
        evaluation when one is due."""
        if self.next_save and self.counters.update_steps >= self.next_save:
            save_fre = self.cfg.general.model_save_fre
            self.next_save = (self.counters.update_steps // save_fre + 1) * save_fre
            self.save(str(self.counters.update_steps))
        if self.evaluator is not None and self.clock.now(self.counters) >= self.next_eval:
            self.next_eval = self.clock.next_eval(self.counters)
            self.evaluate()

    def evaluate(self) -> EvalEvent:
        g, c = self.cfg.general, self.counters
        res = self.evaluator.run(
            lambda o: self.policy.act(o, "greedy").actions, g.online_eval_episode
        )
        self.last_eval = res.mean
        normalized = {}
        if self.reference is not None:
            normalized["normalized_score"] = round(normalized_score(res.mean, self.reference), 4)
        self.eval_csv.write(
            update_step=c.update_steps,
            env_steps=c.env_steps,
            mean_return=round(res.mean, 4),
            std_return=round(res.std, 4),
            min_return=float(res.returns.min()),
            max_return=float(res.returns.max()),
            wall_time=round(self.wall, 3),
            **normalized,
        )
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
                from framework.runtime.render import on_new_best

                on_new_best(self.cfg, self.task, self.policy)
        self.log.info(
            "eval at %d env steps (%d updates): mean %.2f +- %.2f%s",
            c.env_steps,
            c.update_steps,
            res.mean,
            res.std,
            " (best)" if improved else "",
        )
        where = f"steps {c.env_steps:>8d}  episodes {c.episodes:>6d}"
        if self.clock.unit == "update_steps":
            where = f"updates {c.update_steps:>8d}"
        score = f"  normalized {normalized['normalized_score']:6.1f}" if normalized else ""
        self.console(
            f"[eval] {where}  return {res.mean:8.2f} +- {res.std:6.2f}{score}"
            f"{'  best' if improved else ''}"
        )
        c.eval_means.append(float(res.mean))
        solved = c.threshold_met(g.reward_threshold, g.threshold_evals)
        if solved:
            if c.threshold_env_steps is None:
                c.threshold_env_steps = c.env_steps
                self.threshold_wall = self.wall
            self.stop_reason = "reward_threshold"
        event = EvalEvent(
            c.env_steps,
            c.update_steps,
            res.mean,
            res.std,
            float(res.returns.min()),
            float(res.returns.max()),
            self.wall,
            improved,
            solved,
        )
        if self.on_eval is not None:
            reason = self.on_eval(event)
            if reason:
                self.stop(str(reason))
        return event

    def stop(self, reason: str) -> None:
        """Stop the run at the next loop boundary with ``reason`` (e.g. a tuner's ``pruned``)."""
        self.stop_reason = reason
        self.log.info("run stopped: %s", reason)

    def fail(self, message: str) -> None:
        """Stop the run for a fault (a full disk, diverged training); ``message`` is one line."""
        self.stop_reason = "error"
        if self.error is None:
            self.error = message
            self.log.error(message)

    def _write_update_row(self, metrics: dict[str, float]) -> None:
        if self.update_csv is None:
            self.update_csv = CsvLog(
                self.task.results / "updates.csv", ["update_step", "env_steps", *sorted(metrics)]
            )
        row = {k: round(v, 6) for k, v in metrics.items() if k in self.update_csv.fields}
        self.update_csv.write(
            update_step=self.counters.update_steps, env_steps=self.counters.env_steps, **row
        )

    def console(self, line: str) -> None:
        if self.console_sink is not None:
            self.console_sink(line)
        elif self.progress is not None:
            self.progress.write(line)
        else:
            print(line, flush=True)

    # ---- checkpoints and the end -------------------------------------------------------------
    def save(self, name: str, resume: dict[str, Any] | None = None) -> Path | None:
        """Write models/<name>.pt unless the parameters went non-finite (no checkpoint ever
        holds NaN weights); prune periodic checkpoints to ``keep_checkpoints``."""
        if not self.policy.params_finite():
            self.log.warning("not saving %s.pt: the parameters are not finite", name)
            return None
        path = self.task.save_checkpoint(
            name, checkpoint_payload(self.cfg, self.policy, self.counters, resume)
        )
        self.last_saved = path
        if name not in ("best", "last"):
            self.periodic.append(path)
            keep = self.cfg.general.keep_checkpoints
            while keep and len(self.periodic) > keep:
                self.periodic.pop(0).unlink(missing_ok=True)
        return path

    # ---- the state a resumed run continues ------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {  # next_eval and next_save follow from the counters and this run's config
            "metrics": {"sums": dict(self.metrics.sums), "count": self.metrics.count},
            "recent": list(self.recent),
            "last_eval": self.last_eval,
            "threshold_wall": self.threshold_wall,
            "wall": self.wall,
            "evaluator": self.evaluator.state_dict() if self.evaluator is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.metrics = Metrics(dict(state["metrics"]["sums"]), int(state["metrics"]["count"]))
        self.recent.extend(state["recent"])
        self.last_eval, self.threshold_wall = state["last_eval"], state["threshold_wall"]
        if self.counters.threshold_env_steps is None:  # a raised threshold, not reached yet
            self.threshold_wall = None
        self.start = time.perf_counter() - float(state["wall"])  # wall times continue
        if self.evaluator is not None and state["evaluator"] is not None:
            self.evaluator.load_state_dict(state["evaluator"])

    def resume_state(self) -> dict[str, Any]:
        """Everything besides the policy that the next loop step depends on (taken at a loop
        boundary): this learner, the loop's parts (``snapshot``) and every global RNG."""
        state = {"learner": self.state_dict(), "rng": rng_state()}
        if self.snapshot is not None:
            state.update(self.snapshot())
        return state

    def save_buffer(self) -> None:
        """models/last.buffer.npz beside last.pt: the replay buffer (save_buffer, within
        buffer_save_limit_mb)."""
        g = self.cfg.general
        if not g.save_buffer or self.buffer is None or self.buffer.status().kind != "replay":
            return
        size = self.buffer.state_nbytes()  # before any copy (a full Atari replay: 7 GB)
        if not self.buffer_fits(size):
            self.log.warning(
                "replay buffer not saved: %.0f MB is above buffer_save_limit_mb (%d); a resumed "
                "run refills it",
                size / 2**20,
                g.buffer_save_limit_mb,
            )
            return
        write_archive(
            buffer_path(self.task.models / "last.pt"), {"buffer": self.buffer.state_dict()}
        )

    def buffer_fits(self, nbytes: int) -> bool:
        """Whether a replay buffer state of ``nbytes`` is within buffer_save_limit_mb."""
        return nbytes <= self.cfg.general.buffer_save_limit_mb * 2**20

    def save_last(self) -> None:
        """models/last.pt: the complete state (policy, optimizers, learner, loop, RNGs; the
        replay buffer beside it), or, when the parameters went non-finite, a copy of the newest
        finite checkpoint of this run (none: no last.pt, and the log says so)."""
        if self.save("last", self.resume_state()) is not None:
            self.save_buffer()
            return
        if self.last_saved is not None:
            copy_checkpoint(self.last_saved, self.task.models / "last.pt")
            self.log.warning(
                "last.pt is a copy of %s, the last finite checkpoint", self.last_saved.name
            )
        else:
            self.log.warning("no finite checkpoint was saved; there is no last.pt")

    @property
    def should_stop(self) -> bool:
        return self.stop_reason is not None

    def summary(
        self,
        interrupted: str | None = None,
        files: list | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The run's summary.json as of now."""
        c = self.counters
        reached = c.threshold_env_steps is not None
        return {
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
            "threshold_reached": reached,
            "threshold_env_steps": c.threshold_env_steps,
            "threshold_wall_seconds": round(self.threshold_wall, 3)
            if self.threshold_wall is not None
            else None,
            "stop_reason": self.stop_reason,
            **self._normalized_summary(),
            "error": self.error,
            "interrupted": interrupted is not None,
            "signal": interrupted,
            "trajectory_files": [p.name for p in files or []],
            "last_metrics": {  # JSON has no NaN: undefined metrics (explained_var) are null
                k: v if math.isfinite(v) else None for k, v in self.last_metrics.items()
            },
            **(extra or {}),
        }

    def _normalized_summary(self) -> dict[str, Any]:
        """D4RL normalized scores of the best and last evaluations (a dataset with reference
        scores only)."""
        if self.reference is None:
            return {}
        best, last = self.counters.best_eval, self.last_eval
        return {
            "reference_scores": list(self.reference),
            "best_normalized_score": None
            if best is None
            else normalized_score(best, self.reference),
            "last_normalized_score": None
            if last is None
            else normalized_score(last, self.reference),
        }

    def finish(
        self, interrupted: str | None = None, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Final checkpoint, trajectories, figure and summary; safe after a stop signal
        (``interrupted``: its name)."""
        if self.progress is not None:
            self.progress.close()
        if interrupted is not None:
            self.stop_reason = "interrupted"
        errors: list[str] = []  # each final write is attempted on its own
        attempt(self.save_last, errors)
        files: list = []
        if self.traj_writer is not None:
            attempt(lambda: files.extend(self.traj_writer.close()), errors)
        left = self.metrics.pop()
        if left:
            attempt(lambda: self._write_update_row(left), errors)
        if errors and self.error is None:
            self.fail(errors[0])
        summary = self.summary(interrupted, files, extra)
        attempt(lambda: self.task.write_summary(summary), errors)
        if self.figure is not None:
            value_map = grid_value_map(self.cfg, self.task, self.policy)
            attempt(
                lambda: self.figure.write(
                    self.ep_csv.path, self.eval_csv.path, value_map=value_map
                ),
                errors,
            )
        for log in (self.ep_csv, self.eval_csv, self.update_csv):
            if log is not None:
                log.close()
        if self.evaluator is not None:
            self.evaluator.close()
        return summary


def make_progress(general, initial: int, clock: Clock | None = None):
    """A progress bar on the run's clock (env steps, or update steps offline)."""
    import sys

    if not general.progress or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    if clock is None or clock.unit == "env_steps":
        total, unit = (general.max_env_steps if general.max_env_steps > 0 else None), "step"
    else:
        total, unit = clock.budget, "update"
    return tqdm(total=total, initial=initial, unit=unit, dynamic_ncols=True, mininterval=0.25)


def figure_writer(cfg, task: TaskDir):
    """The FigureWriter for this run, or None when neither save_fig nor show_fig is on."""
    g = cfg.general
    if not (g.save_fig or g.show_fig):
        return None
    from framework.records.plot import FigureWriter, has_display

    show = g.show_fig and has_display()
    if g.show_fig and not show:
        logging.getLogger("rldojo").warning("show_fig: no display found; figure saved only")
    title = f"{g.mode} {getattr(cfg.env, 'id', g.env_name)} {g.algo_name}"
    return FigureWriter(task.figs / "rewards.png" if g.save_fig else None, title, show)


# the arrow of each action in the grid worlds whose value map is drawn (gymnasium's numbering)
GRID_ARROWS = {
    "FrozenLakeEnv": "\u2190\u2193\u2192\u2191",
    "CliffWalkingEnv": "\u2191\u2192\u2193\u2190",
}


def grid_value_map(cfg, task: TaskDir, policy) -> dict | None:
    """The value map request (:func:`framework.records.plot.plot_value_map`) for
    ``figs/values.png`` when the env is a grid world (FrozenLake, CliffWalking) and the policy
    keeps state values; None otherwise."""
    if not cfg.general.save_fig:
        return None
    values = policy.state_values()
    if values is None:
        return None
    from envs.vector import make_single

    env = make_single(cfg)
    grid = env.unwrapped
    env.close()
    kind = type(grid).__name__
    if kind == "FrozenLakeEnv":
        desc = [b"".join(row).decode() for row in grid.desc]
    elif kind == "CliffWalkingEnv":
        desc = ["".join("C" if cliff else "." for cliff in row) for row in grid._cliff]
        desc[-1] = desc[-1][:-1] + "G"
    else:
        return None
    if len(values[0]) != len(desc) * len(desc[0]):
        return None
    g = cfg.general
    return {
        "path": str(task.figs / "values.png"),
        "title": f"{g.mode} {cfg.env.id} {g.algo_name}: state values, greedy actions",
        "values": values[0].tolist(),
        "actions": (values[1] - policy.action_space.start).tolist(),
        "arrows": GRID_ARROWS[kind],
        "desc": desc,
    }
