"""``env_cfg.vector_mode: model``: gymnasium's toy-text envs (FrozenLake, CliffWalking, Taxi)
stepped from their own transition tables, all envs at once in NumPy.

These envs are defined by ``env.unwrapped.P[s][a] = [(prob, next_s, reward, terminated), ...]``
and an initial-state distribution; their Python ``step`` (list building, ``np.cumsum`` per call,
info dicts) and the vector env's per-env loop cost about 60 us per env step, which dominates a
tabular run. :class:`ModelVectorEnv` compiles the tables into arrays once and steps every env
with a few array operations.

It is the same MDP drawn with the same random numbers: env ``i`` keeps its own
``np.random.Generator`` seeded as gymnasium seeds it and draws exactly what the gymnasium env
draws (one uniform per step and per reset, sampled by the same cumulative-probability rule), and
the time limit counts as ``TimeLimit`` does. So a run gives the same observations, rewards,
terminations and truncations as ``vector_mode: sync`` (tests/test_model_vector.py checks this
step by step). Not included: the per-step ``info`` entries (``prob``, Taxi's ``action_mask``),
which nothing in rldojo reads, and rendering (evaluation and render envs are ordinary gymnasium
envs). Same-step autoreset, final observations in a dense ``info["final_obs"]``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from config.base import UserError
from envs.vector import set_spaces

BLOCK = 256  # uniforms drawn per env at a time

# the env classes whose step and reset are exactly "sample from P / the initial distribution"
MODEL_ENVS = ("FrozenLakeEnv", "CliffWalkingEnv", "TaxiEnv")


def model_problem(env: gym.Env, wrappers: list) -> str | None:
    """Why ``env`` cannot run as a :class:`ModelVectorEnv`, or None when it can."""
    base = env.unwrapped
    name = type(base).__name__
    if name not in MODEL_ENVS or not isinstance(getattr(base, "P", None), dict):
        return f"{env.spec.id if env.spec else name} is not one of gymnasium's {MODEL_ENVS}"
    if getattr(base, "fickle_passenger", False):
        return "Taxi's fickle_passenger changes destinations outside its transition table"
    if wrappers:
        return "env_cfg.wrappers would be bypassed by the transition table"
    return None


class ModelVectorEnv(gym.vector.VectorEnv):
    """``n_envs`` copies of a toy-text env (made by ``make``), stepped from its tables."""

    def __init__(self, make, n_envs: int, wrappers: list):
        env = make()
        problem = model_problem(env, wrappers)
        if problem is not None:
            env.close()
            raise UserError(f"env_cfg.vector_mode: model cannot run this env: {problem}; use sync")
        base = env.unwrapped
        self.max_steps = env.spec.max_episode_steps if env.spec is not None else None
        P = base.P
        n_s, n_a = base.observation_space.n, base.action_space.n
        k = max(len(P[s][a]) for s in range(n_s) for a in range(n_a))
        cum = np.full((n_s, n_a, k), -np.inf)  # padding is never chosen
        self.next_s = np.zeros((n_s, n_a, k), np.int64)
        self.reward = np.zeros((n_s, n_a, k), np.float64)
        self.term = np.zeros((n_s, n_a, k), bool)
        for s in range(n_s):
            for a in range(n_a):
                outs = P[s][a]
                cum[s, a, : len(outs)] = np.cumsum([o[0] for o in outs])
                for j, (_, s2, r, t) in enumerate(outs):
                    self.next_s[s, a, j], self.reward[s, a, j], self.term[s, a, j] = s2, r, t
        self.cum = cum
        self.init_cum = np.cumsum(np.asarray(base.initial_state_distrib, np.float64))
        set_spaces(self, env.observation_space, env.action_space, n_envs)
        self.spec = env.spec
        env.close()
        self.all = np.arange(n_envs)
        self._seed([None] * n_envs)
        self.s = np.zeros(n_envs, np.int64)
        self.elapsed = np.zeros(n_envs, np.int64)

    def _uniform(self, ids: np.ndarray) -> np.ndarray:
        """The next uniform of each env in ``ids``: drawn in blocks (a Generator's ``random(B)``
        gives the same numbers as B calls of ``random()``)."""
        u = self.buf[ids, self.pos[ids]]
        self.pos[ids] += 1
        for i in ids[self.pos[ids] == BLOCK]:
            self.buf[i] = self.rngs[i].random(BLOCK)
            self.pos[i] = 0
        return u

    def _initial(self, envs) -> np.ndarray:
        return np.argmax(self.init_cum[None, :] > self._uniform(envs)[:, None], axis=1)

    def _seed(self, seeds) -> None:
        self.rngs = [np.random.default_rng(s) for s in seeds]
        self.buf = np.stack([r.random(BLOCK) for r in self.rngs])
        self.pos = np.zeros(self.num_envs, np.int64)

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            seeds = [seed + i for i in range(self.num_envs)] if np.ndim(seed) == 0 else seed
            self._seed(seeds)
        self.s = self._initial(self.all)
        self.elapsed[:] = 0
        return self.s.copy(), {}

    def step(self, actions):
        a = np.asarray(actions, np.int64)
        s = self.s
        # gymnasium's categorical_sample: the first outcome whose cumulative probability exceeds
        # u (the first outcome when none does, as np.argmax gives it)
        j = np.argmax(self.cum[s, a] > self._uniform(self.all)[:, None], axis=1)
        nxt = self.next_s[s, a, j]
        rewards = self.reward[s, a, j]
        terminated = self.term[s, a, j]  # fancy indexing: already a copy
        self.elapsed += 1
        truncated = (
            self.elapsed >= self.max_steps
            if self.max_steps is not None
            else np.zeros(self.num_envs, bool)
        )
        done = terminated | truncated
        info: dict[str, Any] = {}
        obs = nxt.copy()
        if done.any():
            ids = np.flatnonzero(done)
            info["final_obs"] = nxt
            obs[ids] = self._initial(ids)
            self.elapsed[ids] = 0
        self.s = obs
        return obs.copy(), rewards, terminated, truncated, info

    # ---- state (envs/state.py saves and restores it on checkpoints) --------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "s": self.s.copy(),
            "elapsed": self.elapsed.copy(),
            "rngs": [r.bit_generator.state for r in self.rngs],
            "buf": self.buf.copy(),
            "pos": self.pos.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        if len(state["rngs"]) != self.num_envs:
            return False
        self.s = np.array(state["s"], np.int64)
        self.elapsed = np.array(state["elapsed"], np.int64)
        for rng, st in zip(self.rngs, state["rngs"]):
            rng.bit_generator.state = st
        self.buf = np.array(state["buf"], np.float64)
        self.pos = np.array(state["pos"], np.int64)
        return True
