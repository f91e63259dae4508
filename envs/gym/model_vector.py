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
which nothing in rldojo reads, and rendering (render envs are ordinary gymnasium envs). The
training envs autoreset on the same step (final observations in a dense ``info["final_obs"]``);
the evaluation envs (:class:`ModelSlots`) are reset per episode with the episode's seed.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from config.base import UserError
from envs.vector import EnvSlots, set_spaces

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


class ModelTables:
    """The compiled tables of a toy-text env and the state of ``n`` copies of it: each copy's
    state, elapsed steps and generator (with a block of its next uniforms)."""

    def __init__(self, env: gym.Env, n: int):
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
        self.rngs = [np.random.default_rng() for _ in range(n)]
        self.buf = np.stack([r.random(BLOCK) for r in self.rngs])
        self.pos = np.zeros(n, np.int64)
        self.s = np.zeros(n, np.int64)
        self.elapsed = np.zeros(n, np.int64)

    def seed(self, i: int, seed: int | None) -> None:
        self.rngs[i] = np.random.default_rng(seed)
        self.buf[i] = self.rngs[i].random(BLOCK)
        self.pos[i] = 0

    def _uniform(self, ids: np.ndarray) -> np.ndarray:
        """The next uniform of each env in ``ids``: drawn in blocks (a Generator's ``random(B)``
        gives the same numbers as B calls of ``random()``)."""
        u = self.buf[ids, self.pos[ids]]
        self.pos[ids] += 1
        for i in ids[self.pos[ids] == BLOCK]:
            self.buf[i] = self.rngs[i].random(BLOCK)
            self.pos[i] = 0
        return u

    def restart(self, ids: np.ndarray) -> None:
        """New episodes in ``ids``: initial states drawn, elapsed steps cleared."""
        self.s[ids] = np.argmax(self.init_cum[None, :] > self._uniform(ids)[:, None], axis=1)
        self.elapsed[ids] = 0

    def step(self, ids: np.ndarray, actions) -> tuple[np.ndarray, ...]:
        """Next states, rewards, terminations and truncations of the envs ``ids`` (no reset)."""
        a = np.asarray(actions, np.int64)
        s = self.s[ids]
        # gymnasium's categorical_sample: the first outcome whose cumulative probability exceeds
        # u (the first outcome when none does, as np.argmax gives it)
        j = np.argmax(self.cum[s, a] > self._uniform(ids)[:, None], axis=1)
        nxt = self.next_s[s, a, j]  # fancy indexing: copies
        self.s[ids] = nxt
        self.elapsed[ids] += 1
        if self.max_steps is not None:
            truncated = self.elapsed[ids] >= self.max_steps
        else:
            truncated = np.zeros(len(nxt), bool)
        return nxt, self.reward[s, a, j], self.term[s, a, j], truncated

    def state_dict(self) -> dict[str, Any]:
        return {
            "s": self.s.copy(),
            "elapsed": self.elapsed.copy(),
            "rngs": [r.bit_generator.state for r in self.rngs],
            "buf": self.buf.copy(),
            "pos": self.pos.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        if len(state["rngs"]) != len(self.rngs):
            return False
        self.s = np.array(state["s"], np.int64)
        self.elapsed = np.array(state["elapsed"], np.int64)
        for rng, st in zip(self.rngs, state["rngs"]):
            rng.bit_generator.state = st
        self.buf = np.array(state["buf"], np.float64)
        self.pos = np.array(state["pos"], np.int64)
        return True


def _tables(make, n: int, wrappers: list) -> tuple[gym.Env, ModelTables]:
    env = make()
    problem = model_problem(env, wrappers)
    if problem is not None:
        env.close()
        raise UserError(f"env_cfg.vector_mode: model cannot run this env: {problem}; use sync")
    return env, ModelTables(env, n)


class ModelVectorEnv(gym.vector.VectorEnv):
    """Training envs: ``n_envs`` copies of a toy-text env (made by ``make``), stepped from its
    tables with same-step autoreset."""

    def __init__(self, make, n_envs: int, wrappers: list):
        env, self.tables = _tables(make, n_envs, wrappers)
        set_spaces(self, env.observation_space, env.action_space, n_envs)
        self.spec = env.spec
        env.close()
        self.all = np.arange(n_envs)

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            seeds = [seed + i for i in range(self.num_envs)] if np.ndim(seed) == 0 else seed
            for i, s in enumerate(seeds):
                self.tables.seed(i, s)
        self.tables.restart(self.all)
        return self.tables.s.copy(), {}

    def step(self, actions):
        t = self.tables
        nxt, rewards, terminated, truncated = t.step(self.all, actions)
        done = terminated | truncated
        info: dict[str, Any] = {}
        if done.any():
            info["final_obs"] = nxt
            t.restart(np.flatnonzero(done))
        return t.s.copy(), rewards, terminated, truncated, info

    # ---- state (envs/state.py saves and restores it on checkpoints) --------------------------
    def state_dict(self) -> dict[str, Any]:
        return self.tables.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        return self.tables.load_state_dict(state)


class ModelSlots(EnvSlots):
    """Evaluation envs: ``n`` copies, each reset with its episode's seed, stepped together."""

    def __init__(self, make, n: int, wrappers: list):
        env, self.tables = _tables(make, n, wrappers)
        env.close()
        self.n = n

    def __len__(self) -> int:
        return self.n

    def reset(self, slot: int, seed: int) -> np.ndarray:
        self.tables.seed(slot, seed)
        self.tables.restart(np.array([slot]))
        return self.tables.s[slot].copy()

    def step(self, slots, actions):
        return self.tables.step(np.asarray(slots, np.int64), actions)

    def close(self) -> None:
        pass
