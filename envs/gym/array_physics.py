"""The base of the envs ``vector_mode: numpy`` steps on arrays (envs/gym/numpy_vector.py): their
states, elapsed steps and generators, and the time limit counted as ``TimeLimit`` counts it."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


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
