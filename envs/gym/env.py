"""Environment factory of the ``gym`` family: gymnasium.make + the configured wrappers."""

from __future__ import annotations

from functools import partial

import gymnasium as gym

from config.base import UserError
from envs.gym.config import EnvConfig, register_ale, resolve_wrapper
from envs.vector import EnvSlots, gym_slots, gym_vector, make_single


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
    try:
        env = gym.make(env_id, render_mode=render_mode, **kwargs)
    except TypeError as err:  # an argument the env's constructor does not take
        if not cfg.make_kwargs:
            raise
        raise UserError(
            f"env_cfg.make_kwargs: {env_id} does not accept {sorted(cfg.make_kwargs)} ({err}); "
            "remove or rename the argument (see the env's documentation)"
        ) from None
    for spec in cfg.wrappers:
        env = resolve_wrapper(spec.name)(env, **spec.kwargs)
    return env


def make_vector(cfg, n_envs: int) -> gym.vector.VectorEnv:
    """Training envs: with ``vector_mode: model`` the toy-text envs stepped from their
    transition tables (envs/gym/model_vector.py), with ``numpy`` CartPole or Pendulum
    in NumPy (envs/gym/numpy_vector.py), else gymnasium's sync or async vector env."""
    if cfg.env.vector_mode == "model":
        from envs.gym.model_vector import ModelVectorEnv

        return ModelVectorEnv(partial(make_single, cfg), n_envs, cfg.env.wrappers)
    if cfg.env.vector_mode == "numpy":
        from envs.gym.numpy_vector import NumpyVectorEnv

        return NumpyVectorEnv(
            partial(make_single, cfg), n_envs, cfg.env.make_kwargs, cfg.env.wrappers
        )
    return gym_vector(cfg, n_envs)


def make_slots(cfg, n: int) -> EnvSlots:
    """Evaluation envs: CartPole or Pendulum in NumPy with ``vector_mode: numpy``, the toy-text
    tables with ``model``, else gymnasium envs."""
    if cfg.env.vector_mode == "model":
        from envs.gym.model_vector import ModelSlots

        return ModelSlots(partial(make_single, cfg), n, cfg.env.wrappers)
    if cfg.env.vector_mode == "numpy":
        from envs.gym.numpy_vector import NumpySlots

        return NumpySlots(partial(make_single, cfg), n, cfg.env.make_kwargs, cfg.env.wrappers)
    return gym_slots(cfg, n)
