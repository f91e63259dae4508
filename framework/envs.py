"""Environment construction for every env family (envs/<env_name>/env.py provides make_env)."""

from __future__ import annotations

import importlib
from functools import partial

import gymnasium as gym
import numpy as np


def env_module(env_name: str):
    return importlib.import_module(f"envs.{env_name}.env")


def make_single(cfg, render_mode: str | None = None) -> gym.Env:
    """One env of the run's config (``cfg`` is the merged Config)."""
    return env_module(cfg.general.env_name).make_env(cfg.env, cfg.general.max_step, render_mode)


def make_vector(cfg, n_envs: int) -> gym.vector.VectorEnv:
    """Training envs with same-step autoreset: the final observation of an ended episode is
    in info['final_obs'] and the returned observation already starts the next episode."""
    fn = partial(make_single, cfg)
    kwargs = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
    if cfg.env.vector_mode == "async" and n_envs > 1:
        return gym.vector.AsyncVectorEnv([fn] * n_envs, **kwargs)
    return gym.vector.SyncVectorEnv([fn] * n_envs, **kwargs)


def spaces_of(cfg) -> tuple[gym.Space, gym.Space]:
    env = make_single(cfg)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def clip_actions(actions: np.ndarray, space: gym.Space) -> np.ndarray:
    """Box actions clipped to the bounds (the policy's raw sample is what gets stored)."""
    if isinstance(space, gym.spaces.Box):
        return np.clip(actions, space.low, space.high)
    return actions
