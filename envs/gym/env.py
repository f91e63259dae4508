"""Environment factory of the ``gym`` family: gymnasium.make + the configured wrappers."""

from __future__ import annotations

import gymnasium as gym

from envs.gym.config import EnvConfig, register_ale, resolve_wrapper


def env_label(cfg: EnvConfig) -> str:
    """Short name used in task-directory names (no path separators)."""
    return cfg.id.split(":")[-1].replace("/", "-")


def make_env(cfg: EnvConfig, max_step: int = -1, render_mode: str | None = None) -> gym.Env:
    """One environment as configured; ``render_mode`` overrides cfg.render_mode."""
    env_id = cfg.id
    if env_id.startswith("ALE/"):
        register_ale()
    kwargs = dict(cfg.make_kwargs)
    if max_step > 0:
        kwargs["max_episode_steps"] = max_step
    env = gym.make(env_id, render_mode=render_mode, **kwargs)
    for spec in cfg.wrappers:
        env = resolve_wrapper(spec.name)(env, **spec.kwargs)
    return env
