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
(envs/gym/cartpole_numpy.py, envs/gym/pendulum_numpy.py).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from config.base import UserError
from envs.vector import EnvSlots, set_spaces


class ArrayPhysics:
    """``n`` envs of one kind: their states (float64 rows), elapsed steps and generators. A
    subclass names the gymnasium env it copies (``ENV``, the unwrapped class's name), the
    make_kwargs it implements (``KWARGS``), and provides ``draw`` (a reset's state), ``step`` and
    ``obs``."""

    ENV = ""
    KWARGS: tuple[str, ...] = ("max_episode_steps",)  # the latter: the TimeLimit, counted here
    DIM = 0  # length of a state row

    def __init__(self, env: gym.Env, n: int):
        self.max_steps = env.spec.max_episode_steps if env.spec is not None else None
        self.state = np.zeros((n, self.DIM), np.float64)
        self.elapsed = np.zeros(n, np.int64)
        self.rngs = [np.random.default_rng() for _ in range(n)]

    @classmethod
    def problem(cls, base: gym.Env) -> str | None:
        """Why this env of the right class still cannot run here (None: it can)."""
        return None

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def step(self, ids: np.ndarray | slice, actions: np.ndarray):
        """Steps envs ``ids``; returns their next observations, rewards, terminations and
        truncations."""
        raise NotImplementedError

    def obs(self, ids) -> np.ndarray:
        raise NotImplementedError

    def reset(self, i: int, seed: int | None = None) -> None:
        if seed is not None:
            self.rngs[i] = np.random.default_rng(seed)
        self.state[i] = self.draw(self.rngs[i])
        self.elapsed[i] = 0

    def truncated(self, ids, n: int) -> np.ndarray:
        """Counts one step of envs ``ids`` (``n`` of them) against the time limit."""
        self.elapsed[ids] += 1
        if self.max_steps is None:
            return np.zeros(n, bool)
        return self.elapsed[ids] >= self.max_steps

    def state_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.copy(),
            "elapsed": self.elapsed.copy(),
            "rngs": [r.bit_generator.state for r in self.rngs],
        }

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        if len(state["rngs"]) != len(self.rngs):
            return False
        self.state = np.array(state["state"], np.float64)
        self.elapsed = np.array(state["elapsed"], np.int64)
        for rng, st in zip(self.rngs, state["rngs"]):
            rng.bit_generator.state = st
        return True


def physics_classes() -> list[type[ArrayPhysics]]:
    from envs.gym.cartpole_numpy import CartPolePhysics
    from envs.gym.pendulum_numpy import PendulumPhysics

    return [CartPolePhysics, PendulumPhysics]


def numpy_problem(env: gym.Env, make_kwargs: dict, wrappers: list) -> str | None:
    """Why ``env`` cannot run in NumPy, or None when it can."""
    base = env.unwrapped
    kinds = {cls.ENV: cls for cls in physics_classes()}
    cls = kinds.get(type(base).__name__)
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
    kinds = {cls.ENV: cls for cls in physics_classes()}
    return env, kinds[type(env.unwrapped).__name__](env, n)


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
