"""Environment construction for every env family, and the vector-env conventions the runtime
relies on.

An env family is a folder ``envs/<env_name>/`` with ``config.py`` (``EnvConfig``) and ``env.py``,
which provides ``make_env(env_cfg, max_step, render_mode)`` and ``env_label(env_cfg)`` and may
provide ``make_vector(cfg, n_envs)`` for its own training vector env (ale-py's C++ Atari envs;
the gym family's toy-text tables with ``vector_mode: model``, else :func:`gym_vector`).

Conventions of the training vector envs (any family):
- same-step autoreset: where an episode ended, the returned observation already starts the next
  episode, and the final observation is in ``info`` (:func:`true_next_obs` reads both gymnasium's
  masked ``final_obs`` and a dense ``final_obs`` array, as ale-py gives);
- Dict and Tuple observation spaces are flattened into one float vector
  (``gymnasium.spaces.flatten``: Box parts flattened, Discrete parts one-hot), so every policy,
  buffer and trajectory file sees a plain array. Image parts inside a Dict are refused.
"""

from __future__ import annotations

import importlib
from functools import partial

import gymnasium as gym
import numpy as np

from config.base import UserError


def env_module(env_name: str):
    return importlib.import_module(f"envs.{env_name}.env")


def is_image_space(space: gym.Space) -> bool:
    """A uint8 Box of rank 2 (H, W) or 3 (H, W, C or C, H, W): pixels."""
    return (
        isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) in (2, 3)
    )


def flatten_structured(env: gym.Env) -> gym.Env:
    """Dict/Tuple observations flattened to one float vector (see the module docstring)."""
    space = env.observation_space
    if not isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple)):
        return env
    parts = space.spaces.values() if isinstance(space, gym.spaces.Dict) else space.spaces
    for part in parts:
        if is_image_space(part) or isinstance(part, (gym.spaces.Dict, gym.spaces.Tuple)):
            raise UserError(
                f"env_cfg.id: observation space {space} has image or nested parts, which rldojo "
                "does not flatten; wrap the env (env_cfg.wrappers) to give a Box observation"
            )
    return gym.wrappers.FlattenObservation(env)


def set_spaces(venv: gym.vector.VectorEnv, obs_space: gym.Space, action_space: gym.Space, n: int):
    """The space attributes of a vector env of ``n`` envs with same-step autoreset (for vector
    envs written here rather than built by gymnasium)."""
    venv.num_envs = n
    venv.single_observation_space = obs_space
    venv.single_action_space = action_space
    venv.observation_space = gym.vector.utils.batch_space(obs_space, n)
    venv.action_space = gym.vector.utils.batch_space(action_space, n)
    venv.metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}


def make_single(cfg, render_mode: str | None = None) -> gym.Env:
    """One env of the run's config (``cfg`` is the merged Config)."""
    env = env_module(cfg.general.env_name).make_env(cfg.env, cfg.general.max_step, render_mode)
    return flatten_structured(env)


def make_vector(cfg, n_envs: int) -> gym.vector.VectorEnv:
    """Training envs with same-step autoreset (the family's own vector env where it has one)."""
    module = env_module(cfg.general.env_name)
    if hasattr(module, "make_vector"):
        return module.make_vector(cfg, n_envs)
    return gym_vector(cfg, n_envs)


def gym_vector(cfg, n_envs: int) -> gym.vector.VectorEnv:
    """gymnasium's SyncVectorEnv of :func:`make_single` envs (AsyncVectorEnv with
    ``env_cfg.vector_mode: async``)."""
    fn = partial(make_single, cfg)
    kwargs = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
    if getattr(cfg.env, "vector_mode", "sync") == "async" and n_envs > 1:
        return gym.vector.AsyncVectorEnv([fn] * n_envs, **kwargs)
    return gym.vector.SyncVectorEnv([fn] * n_envs, **kwargs)


def true_next_obs(next_obs: np.ndarray, info: dict, done: np.ndarray) -> np.ndarray:
    """The true next observation of every env: the final observation where an episode ended.

    Gymnasium's vector envs give ``info["final_obs"]`` as an object array with a ``_final_obs``
    mask; others (ale-py) give a dense array of final observations for every env. Without any
    ``final_obs`` (a family that does not autoreset) ``next_obs`` is already the true one.
    """
    if not done.any() or "final_obs" not in info:
        return next_obs
    final = info["final_obs"]
    real = next_obs.copy()
    mask = info.get("_final_obs")
    rows = np.flatnonzero(done if mask is None else mask)
    if isinstance(final, np.ndarray) and final.dtype != object:
        real[rows] = final[rows]  # dense array (one row per env)
    else:
        for i in rows:
            real[i] = final[i]
    return real


class EnvSlots:
    """Independent envs for evaluation, each reset with its own seed and stepped together (only
    the slots given). This one holds gymnasium envs and steps them one by one; a family may
    provide ``make_slots(cfg, n)`` that steps them at once (CartPole and Pendulum with
    ``vector_mode: numpy``)."""

    def __init__(self, envs: list[gym.Env]):
        self.envs = envs

    def __len__(self) -> int:
        return len(self.envs)

    def reset(self, slot: int, seed: int) -> np.ndarray:
        return self.envs[slot].reset(seed=seed)[0]

    def step(self, slots: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Arrays of the next observations, rewards, terminations and truncations of ``slots``."""
        out = [self.envs[s].step(a)[:4] for s, a in zip(slots, actions)]
        nxt, rewards, terminated, truncated = zip(*out)
        return (
            np.stack(nxt),
            np.asarray(rewards, np.float64),
            np.array(terminated),
            np.array(truncated),
        )

    def close(self) -> None:
        for env in self.envs:
            env.close()


def make_slots(cfg, n: int) -> EnvSlots:
    """``n`` evaluation envs (the family's own batched ones where it has them)."""
    module = env_module(cfg.general.env_name)
    if hasattr(module, "make_slots"):
        return module.make_slots(cfg, n)
    return gym_slots(cfg, n)


def gym_slots(cfg, n: int) -> EnvSlots:
    """``n`` :func:`make_single` envs, stepped one by one."""
    return EnvSlots([make_single(cfg) for _ in range(n)])


def spaces_of(cfg) -> tuple[gym.Space, gym.Space]:
    env = make_single(cfg)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()
