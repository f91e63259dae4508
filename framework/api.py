"""The run API: one call trains, tests, renders or collects as a config says.

    from framework.api import Hooks, run
    from framework.runtime.setup import load_run_config

    cfg = load_run_config("config/presets/CartPole-v1_DQN.yaml", ["general_cfg.seed=2"])
    summary = run(cfg, Hooks(on_eval=lambda e: "pruned" if e.mean < 20 else None))
    summary["task_dir"], summary["best_eval"], summary["stop_reason"]

Everything that can be checked is checked before the task directory exists (config, spaces,
checkpoint, display, Ray resources); those problems raise a
:class:`~config.base.UserError` with a one-line message and leave nothing on disk. The
command line (``framework/cli.py``) is a thin layer over :func:`run`; so is the tuner.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.base import UserError
from config.config import GeneralConfig
from config.loader import Config, resolve_load_path
from envs.vector import env_module
from framework.records.taskdir import TaskDir, check_tasks_dir
from framework.runtime.episodes import check_exploration, run_episodes
from framework.runtime.faults import remove_stale_temp_files
from framework.runtime.learner import EvalEvent, OnEval
from framework.runtime.loop import train_single
from framework.runtime.render import display_error, effective_render_mode
from framework.runtime.setup import Setup
from framework.runtime.signals import stop_signals

__all__ = ["EvalEvent", "Hooks", "run"]


@dataclass
class Hooks:
    """Callbacks of a run (all optional).

    - ``on_start(task_dir)``: the task directory exists (config written, nothing else yet);
    - ``on_eval(event) -> str | None``: each online evaluation (an :class:`EvalEvent`); a string
      stops the run at the next loop boundary with that ``stop_reason`` (e.g. ``"pruned"``),
      which still writes the final checkpoint, records and summary;
    - ``on_ray_started(handles)``: Ray backend, once the run's actors exist (tests, tools);
    - ``ray_policy_hook(policy)``: Ray backend, runs on the LearnerActor's policy (tests).
    """

    on_start: Callable[[Path], None] | None = None
    on_eval: OnEval | None = None
    on_ray_started: Callable[[Any], None] | None = None
    ray_policy_hook: Callable[[Any], None] | None = None


def run(cfg: Config, hooks: Hooks | None = None) -> dict[str, Any]:
    """Run ``cfg`` to the end; returns the summary (as in ``results/summary.json``) with
    ``task_dir`` added. Raises UserError, before writing anything, for bad input. Ctrl-C and
    SIGTERM (in the main thread) stop the run and still write its final checkpoint, records and
    summary (``interrupted``, ``signal``)."""
    with stop_signals():
        return _run(cfg, hooks or Hooks())


def _log_start(
    g: GeneralConfig, setup: Setup, checkpoint: Path | None, logger: logging.Logger
) -> None:
    """Where the run's weights come from: the checkpoint it resumes or loads, or init_from's."""
    if checkpoint is not None:
        what = "resumed from" if g.mode == "train" else "loaded"
        message = f"{what} {checkpoint} at {setup.counters.env_steps} env steps"
        logger.info(message)
        if g.mode == "train":
            print(message, flush=True)
        if g.init_from is not None:
            logger.info("init_from is not used: the run %s %s", what, checkpoint)
    if setup.initialized is not None:
        logger.info(setup.initialized)
        print(setup.initialized, flush=True)


def _run(cfg: Config, hooks: Hooks) -> dict[str, Any]:
    g = cfg.general
    for note in cfg.warnings:
        print(f"rldojo: warning: {note}", file=sys.stderr, flush=True)
    checkpoint = resolve_load_path(g) if g.load_checkpoint else None
    no_display = display_error(effective_render_mode(cfg))
    if no_display:
        raise UserError(f"env_cfg.render_mode: {no_display}")
    setup = Setup(cfg, checkpoint)
    finished = finished_already(cfg, setup)
    if finished is not None:  # nothing to do, and no empty task directory for it
        print(f"rldojo: {finished}", flush=True)
        return {"task_dir": None, "stop_reason": "finished", "message": finished}
    check_exploration(cfg, setup.policy)
    check_tasks_dir(g.tasks_dir)
    ray_started = False
    if g.mode == "train" and g.mp_backend == "ray":  # Ray's resources, before any file
        from framework.ray.session import check_resources, init_ray

        try:
            ray_started = init_ray(g)
            check_resources(g)
        except BaseException:
            stop_ray(ray_started)
            raise
    try:
        task = TaskDir.create(
            g.tasks_dir, g.mode, env_module(g.env_name).env_label(cfg.env), g.algo_name
        )
    except BaseException:
        stop_ray(ray_started)
        raise
    task.save_config(cfg.dump())
    logger = task.setup_logging()
    logger.info("rldojo run in %s\n%s", task.root, cfg.dump())
    for note in cfg.warnings:
        logger.warning(note)
    _log_start(g, setup, checkpoint, logger)
    if checkpoint is not None and g.mode == "train":
        remove_stale_temp_files(checkpoint.parent)  # left by a run killed mid-write
    if hooks.on_start is not None:
        hooks.on_start(task.root)
    try:
        if g.mode != "train":
            summary = run_episodes(cfg, task, setup)
        elif g.mp_backend == "ray":
            from framework.ray.driver import train_ray

            summary = train_ray(
                cfg, task, setup, hooks.on_eval, hooks.on_ray_started, hooks.ray_policy_hook
            )
        else:
            summary = train_single(cfg, task, setup, hooks.on_eval)
    finally:
        task.close()
        stop_ray(ray_started)
    return {**summary, "task_dir": str(task.root)}


def finished_already(cfg: Config, setup: Setup) -> str | None:
    """Why resuming this checkpoint has nothing left to do (None when it has)."""
    g, c = cfg.general, setup.counters
    if g.mode != "train" or setup.checkpoint is None:
        return None
    where = f"{setup.checkpoint} finished already"
    if 0 < g.max_env_steps <= c.env_steps:
        return (
            f"{where}: {c.env_steps} env steps of general_cfg.max_env_steps "
            f"{g.max_env_steps}; raise it to train on"
        )
    if 0 < g.max_update_steps <= c.update_steps:  # a run that learns from a dataset
        return (
            f"{where}: {c.update_steps} update steps of general_cfg.max_update_steps "
            f"{g.max_update_steps}; raise it to train on"
        )
    if 0 < g.max_episode <= c.episodes:
        return (
            f"{where}: {c.episodes} episodes of general_cfg.max_episode {g.max_episode}; "
            "raise it to train on"
        )
    if g.reward_threshold is not None and c.threshold_env_steps is not None:
        return (
            f"{where}: it reached general_cfg.reward_threshold at {c.threshold_env_steps} "
            "env steps; raise or remove the threshold to train on"
        )
    return None


def stop_ray(started: bool) -> None:
    if started:
        import ray

        ray.shutdown()


logging.getLogger("rldojo").addHandler(logging.NullHandler())
