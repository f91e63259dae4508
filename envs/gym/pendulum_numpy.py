"""gymnasium's Pendulum on arrays, for ``vector_mode: numpy`` (envs/gym/numpy_vector.py): env
``i`` draws what ``PendulumEnv.reset`` draws (angle and velocity uniform in [-pi, pi) and
[-1, 1)) and a step evaluates ``PendulumEnv.step``'s expressions in the same order and dtypes
(the torque keeps the action's dtype, as there). Pendulum never terminates; its 200-step limit
truncates."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.pendulum import DEFAULT_X, DEFAULT_Y

from envs.gym.array_physics import ArrayPhysics

HIGH = np.array([DEFAULT_X, DEFAULT_Y])


def angle_normalize(x: np.ndarray) -> np.ndarray:
    return ((x + np.pi) % (2 * np.pi)) - np.pi


def pow2(x: np.ndarray) -> np.ndarray:
    """``x**2`` as NumPy scalars compute it: C's ``pow`` for float64, ``powf`` for float32.
    An array's ``x**2`` is ``x * x``, and ``np.power`` runs a SIMD pow on CPUs with AVX-512:
    each differs from C's in the last bit for some values (1 in 1,000 and 1 in 40 of float64s).
    ``np.float_power`` has only C's ``pow`` (float64); other dtypes go through their scalars."""
    if x.dtype == np.float64:
        return np.float_power(x, 2)
    return np.array([v**2 for v in x], dtype=x.dtype)


class PendulumPhysics(ArrayPhysics):
    ENV = "PendulumEnv"
    KWARGS = ("g", "max_episode_steps")
    DIM = 2

    def __init__(self, env: gym.Env, n: int):
        super().__init__(env, n)
        base = env.unwrapped
        self.g, self.m, self.l, self.dt = base.g, base.m, base.l, base.dt
        self.max_speed, self.max_torque = base.max_speed, base.max_torque

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(low=-HIGH, high=HIGH)

    def step(self, ids: np.ndarray | slice, actions: np.ndarray):
        th, thdot = self.state[ids].T
        g, m, l, dt = self.g, self.m, self.l, self.dt  # noqa: E741 (gymnasium's names)
        u = np.clip(np.asarray(actions), -self.max_torque, self.max_torque)[:, 0]
        costs = pow2(angle_normalize(th)) + 0.1 * pow2(thdot) + 0.001 * pow2(u)
        newthdot = thdot + (3 * g / (2 * l) * np.sin(th) + 3.0 / (m * l**2) * u) * dt
        newthdot = np.clip(newthdot, -self.max_speed, self.max_speed)
        newth = th + newthdot * dt
        self.state[ids] = np.stack((newth, newthdot), axis=1)
        return self.obs(ids), -costs, np.zeros(len(th), bool), self.truncated(ids, len(th))

    def obs(self, ids) -> np.ndarray:
        th, thdot = self.state[ids].T  # rows, or one env's two numbers
        return np.stack((np.cos(th), np.sin(th), thdot), axis=-1).astype(np.float32)
