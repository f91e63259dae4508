"""``env_cfg.vector_mode: numpy``: gymnasium's CartPole stepped in NumPy, all envs at once, for
training and for evaluation.

A CartPole step is a few floating-point operations, but through gymnasium's wrappers (TimeLimit,
OrderEnforcing, the passive env checker) and a SyncVectorEnv's per-env loop it costs about 25 us
per env, and a CartPole run spends more time there and in the evaluation loop than in acting.
(gymnasium's own ``CartPoleVectorEnv`` takes 150 us for 10 envs, resets with one generator for
all envs and autoresets on the next step, so its episodes differ from the sync ones.)

Here it is the same physics on the same random numbers: env ``i`` keeps its own
``np.random.Generator``, seeded as gymnasium seeds it and drawing what ``CartPoleEnv.reset``
draws (4 uniforms in [-0.05, 0.05)); a step evaluates ``CartPoleEnv.step``'s float64 expressions
in the same order on arrays; the time limit counts as ``TimeLimit`` does. So a run gives the same
observations, rewards, terminations, truncations and final observations as ``vector_mode: sync``
(tests/test_cartpole_numpy.py checks this step by step). Not included: the envs' ``info`` (empty
for CartPole) and rendering (render envs are ordinary gymnasium envs).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from config.base import UserError
from envs.vector import EnvSlots, set_spaces

KWARGS = ("sutton_barto_reward", "max_episode_steps")  # the latter: the TimeLimit, as counted here


def numpy_problem(env: gym.Env, make_kwargs: dict, wrappers: list) -> str | None:
    """Why ``env`` cannot run in NumPy, or None when it can."""
    base = env.unwrapped
    if type(base).__name__ != "CartPoleEnv" or not hasattr(base, "kinematics_integrator"):
        return f"{env.spec.id if env.spec else type(base).__name__} is not gymnasium's CartPole"
    if base.kinematics_integrator != "euler":
        return "only CartPole's euler integrator is implemented"
    other = sorted(set(make_kwargs) - set(KWARGS))
    if other:
        return f"make_kwargs {other} are not implemented (only {list(KWARGS)})"
    if wrappers:
        return "env_cfg.wrappers would be bypassed"
    return None


class CartPolePhysics:
    """``n`` CartPoles: their states, elapsed steps and generators, and one step of all of them."""

    def __init__(self, env: gym.Env, n: int):
        base = env.unwrapped
        self.max_steps = env.spec.max_episode_steps if env.spec is not None else None
        self.sutton_barto = bool(base._sutton_barto_reward)
        for key in ("gravity", "masspole", "total_mass", "length", "polemass_length"):
            setattr(self, key, float(getattr(base, key)))
        self.force_mag, self.tau = float(base.force_mag), float(base.tau)
        self.x_threshold = float(base.x_threshold)
        self.theta_threshold = float(base.theta_threshold_radians)
        self.state = np.zeros((n, 4), np.float64)
        self.elapsed = np.zeros(n, np.int64)
        self.rngs = [np.random.default_rng() for _ in range(n)]

    def reset(self, i: int, seed: int | None = None) -> None:
        if seed is not None:
            self.rngs[i] = np.random.default_rng(seed)
        self.state[i] = self.rngs[i].uniform(low=-0.05, high=0.05, size=(4,))
        self.elapsed[i] = 0

    def step(self, ids: np.ndarray | slice, actions: np.ndarray):
        """Steps envs ``ids``; returns their next observations, rewards, terminations and
        truncations (CartPoleEnv.step's expressions, in its order)."""
        x, x_dot, theta, theta_dot = self.state[ids].T
        force = np.where(np.asarray(actions) == 1, self.force_mag, -self.force_mag)
        costheta = np.cos(theta)
        sintheta = np.sin(theta)
        temp = (force + self.polemass_length * np.square(theta_dot) * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * np.square(costheta) / self.total_mass)
        )
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        x = x + self.tau * x_dot
        x_dot = x_dot + self.tau * xacc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * thetaacc
        state = np.stack((x, x_dot, theta, theta_dot), axis=1)
        self.state[ids] = state
        terminated = (
            (x < -self.x_threshold)
            | (x > self.x_threshold)
            | (theta < -self.theta_threshold)
            | (theta > self.theta_threshold)
        )
        if self.sutton_barto:
            rewards = np.where(terminated, -1.0, 0.0)
        else:
            rewards = np.ones(len(x))
        self.elapsed[ids] += 1
        if self.max_steps is None:
            truncated = np.zeros(len(x), bool)
        else:
            truncated = self.elapsed[ids] >= self.max_steps
        return state.astype(np.float32), rewards, terminated, truncated

    def obs(self, ids) -> np.ndarray:
        return self.state[ids].astype(np.float32)

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


def _physics(make, n: int, make_kwargs: dict, wrappers: list) -> tuple[gym.Env, CartPolePhysics]:
    env = make()
    problem = numpy_problem(env, make_kwargs, wrappers)
    if problem is not None:
        env.close()
        raise UserError(f"env_cfg.vector_mode: numpy cannot run this env: {problem}; use sync")
    return env, CartPolePhysics(env, n)


class CartPoleVectorEnv(gym.vector.VectorEnv):
    """Training envs: ``n_envs`` CartPoles with same-step autoreset, final observations in a
    dense ``info["final_obs"]``."""

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


class CartPoleSlots(EnvSlots):
    """Evaluation envs: ``n`` CartPoles, each reset with its episode's seed, stepped together."""

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
