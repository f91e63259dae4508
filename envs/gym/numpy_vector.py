"""``env_cfg.vector_mode: numpy``: gymnasium's CartPole and Pendulum stepped in NumPy, all envs
at once, for training and for evaluation.

A classic-control step is a few floating-point operations, but through gymnasium's wrappers
(TimeLimit, OrderEnforcing, the passive env checker) and a SyncVectorEnv's per-env loop it costs
about 25 us per env: a CartPole run spends more time there and in the evaluation loop than in
acting, and a 100-episode Pendulum evaluation (20,000 env steps) takes about a second.
(gymnasium's own ``CartPoleVectorEnv`` takes 150 us for 10 envs, resets with one generator for
all envs and autoresets on the next step, so its episodes differ from the sync ones; Pendulum
has none.)

Here it is the same physics on the same random numbers: env ``i`` keeps its own
``np.random.Generator``, seeded as gymnasium seeds it and drawing what the env's ``reset`` draws;
a step evaluates the env's ``step`` expressions in the same order and dtypes on arrays; the time
limit counts as ``TimeLimit`` does. So a run gives the same observations, rewards, terminations,
truncations and final observations as ``vector_mode: sync`` (tests/test_numpy_vector.py checks
this step by step). Not included: the envs' ``info`` (empty for both) and rendering (render envs
are ordinary gymnasium envs). The physics of each env is in its own module
(envs/gym/cartpole_numpy.py, envs/gym/pendulum_numpy.py) on a shared base
(envs/gym/array_physics.py).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from config.base import UserError
from envs.gym.array_physics import ArrayPhysics
from envs.gym.cartpole_numpy import CartPolePhysics
from envs.gym.pendulum_numpy import PendulumPhysics
from envs.vector import EnvSlots, set_spaces

PHYSICS: dict[str, type[ArrayPhysics]] = {c.ENV: c for c in (CartPolePhysics, PendulumPhysics)}


def numpy_problem(env: gym.Env, make_kwargs: dict, wrappers: list) -> str | None:
    """Why ``env`` cannot run in NumPy, or None when it can."""
    base = env.unwrapped
    cls = PHYSICS.get(type(base).__name__)
    if cls is None:
        name = env.spec.id if env.spec else type(base).__name__
        return f"{name} is not gymnasium's CartPole or Pendulum"
    problem = cls.problem(base)
    if problem is not None:
        return problem
    other = sorted(set(make_kwargs) - set(cls.KWARGS))
    if other:
        return f"make_kwargs {other} are not implemented (only {list(cls.KWARGS)})"
    if wrappers:
        return "env_cfg.wrappers would be bypassed"
    return None


def _physics(make, n: int, make_kwargs: dict, wrappers: list) -> tuple[gym.Env, ArrayPhysics]:
    env = make()
    problem = numpy_problem(env, make_kwargs, wrappers)
    if problem is not None:
        env.close()
        raise UserError(f"env_cfg.vector_mode: numpy cannot run this env: {problem}; use sync")
    return env, PHYSICS[type(env.unwrapped).__name__](env, n)


class NumpyVectorEnv(gym.vector.VectorEnv):
    """Training envs: ``n_envs`` envs with same-step autoreset, final observations in a dense
    ``info["final_obs"]``."""

    def __init__(self, make, n_envs: int, make_kwargs: dict, wrappers: list):
        env, self.physics = _physics(make, n_envs, make_kwargs, wrappers)
        set_spaces(self, env.observation_space, env.action_space, n_envs)
        self.spec = env.spec
        env.close()

    def reset(self, *, seed=None, options=None):
        seeds = [None] * self.num_envs
        if seed is not None:
            seeds = [seed + i for i in range(self.num_envs)] if np.ndim(seed) == 0 else seed
        for i, s in enumerate(seeds):
            self.physics.reset(i, None if s is None else int(s))
        return self.physics.obs(slice(None)), {}

    def step(self, actions):
        p = self.physics
        obs, rewards, terminated, truncated = p.step(slice(None), actions)
        info: dict[str, Any] = {}
        done = terminated | truncated
        if done.any():
            info["final_obs"] = obs.copy()
            for i in np.flatnonzero(done):
                p.reset(int(i))
                obs[i] = p.obs(i)
        return obs, rewards, terminated, truncated, info

    def state_dict(self) -> dict[str, Any]:
        return self.physics.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        return self.physics.load_state_dict(state)


class NumpySlots(EnvSlots):
    """Evaluation envs: ``n`` envs, each reset with its episode's seed, stepped together."""

    def __init__(self, make, n: int, make_kwargs: dict, wrappers: list):
        env, self.physics = _physics(make, n, make_kwargs, wrappers)
        env.close()
        self.n = n

    def __len__(self) -> int:
        return self.n

    def reset(self, slot: int, seed: int) -> np.ndarray:
        self.physics.reset(slot, seed)
        return self.physics.obs(slot)

    def step(self, slots: list[int], actions: np.ndarray):
        return self.physics.step(np.asarray(slots), actions)

    def close(self) -> None:
        pass
