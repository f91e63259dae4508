"""The tabular half of the policy contract: a numpy Q-table over Discrete observations.

A tabular algorithm (Q-learning, Sarsa, ...) writes ``update_table(batch)``, the table update for
one collection phase's :class:`~framework.data.types.StepBatch` ([T, n_envs] arrays, in time
order per env stream, so an algorithm that needs the next action taken has it at ``t + 1``), or
only ``next_values``, the bootstrap value of the next states in the one-step target that the
default ``update_table`` applies step by step in time order; this class provides epsilon-greedy
acting with random tie-breaking, the epsilon and alpha schedules, the rollout-style storage
(every transition is used once, right after collection) and the state (table, counters, RNG)
for checkpoints. No torch anywhere.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from algos.base.config import TabularConfig
from algos.base.policy import ActMode, BasePolicy
from framework.data.buffers import RolloutBuffer
from framework.data.types import ActOutput, BufferStatus, LearnOutput, StepBatch


class TabularPolicy(BasePolicy):
    obs_kinds = ("discrete",)
    action_kinds = ("discrete",)
    stochastic = False
    cfg: TabularConfig

    def __init__(
        self, cfg: TabularConfig, obs_space, action_space, *, device: str = "cpu", **kwargs
    ):
        super().__init__(cfg, obs_space, action_space, **kwargs)
        self.device = "cpu"  # tables live in host memory (the Ray learner reports it)
        del device
        self.n_states, self.obs_start = int(obs_space.n), int(obs_space.start)
        self.n_actions, self.action_start = int(action_space.n), int(action_space.start)
        self.table = np.full((self.n_states, self.n_actions), cfg.q_init, np.float64)

    # ---- acting ---------------------------------------------------------------------------
    @property
    def exploration(self) -> str:
        return "epsilon-greedy"

    @property
    def epsilon(self) -> float:
        c = self.cfg
        return c.epsilon_end + (c.epsilon_start - c.epsilon_end) * math.exp(
            -self.env_steps / c.epsilon_decay
        )

    @property
    def alpha(self) -> float:
        c = self.cfg
        if c.alpha_end is None:
            return c.alpha
        return c.alpha + (c.alpha_end - c.alpha) * self.progress

    def states(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs, np.int64) - self.obs_start

    def greedy(self, states: np.ndarray) -> np.ndarray:
        """Argmax per row, ties broken uniformly at random (an all-equal fresh table must not
        always pick action 0 while it learns)."""
        q = self.table[states]
        best = q == q.max(axis=1, keepdims=True)
        noise = self.rng.random(best.shape) * best
        return noise.argmax(axis=1)

    def act(self, obs: np.ndarray, mode: ActMode = "explore") -> ActOutput:
        states = self.states(obs)
        if mode == "greedy":  # deterministic (evaluation, test): the first of tied actions
            return ActOutput(self.table[states].argmax(axis=1) + self.action_start, {})
        actions = self.greedy(states)
        if mode == "explore":
            explore = self.rng.random(len(actions)) < self.epsilon
            actions = np.where(explore, self.rng.integers(0, self.n_actions, len(actions)), actions)
        return ActOutput(actions + self.action_start, {})

    # ---- data and learning ----------------------------------------------------------------
    def make_buffer(self, parts_per_update: int = 1) -> RolloutBuffer:
        return RolloutBuffer(parts_per_update)

    def collect_steps(self, n_envs: int) -> int:
        return self.cfg.train_freq

    def updates_due(self, status: BufferStatus) -> int:
        return 1 if status.ready else 0

    def learn(self, batch: StepBatch) -> LearnOutput:
        metrics = self.update_table(batch)
        self.update_step += 1
        metrics.update(alpha=self.alpha, epsilon=self.epsilon)
        return LearnOutput(metrics)

    def update_table(self, batch: StepBatch) -> dict[str, float]:
        """Update the table from one phase's transitions; returns metrics.

        By default the one-step target r + gamma * next_values(...) (no bootstrap where the
        episode terminated; a time-limit truncation bootstraps from the final observation),
        applied one vector step at a time, in time order, so each step's target sees the
        updates of the steps before it."""
        rewards = batch.learn_rewards if batch.learn_rewards is not None else batch.rewards
        states, next_states = self.states(batch.obs), self.states(batch.next_obs)
        actions = np.asarray(batch.actions, np.int64) - self.action_start
        alive = self.cfg.gamma * ~np.asarray(batch.terminated)
        td_abs = 0.0
        for t in range(len(rewards)):
            targets = rewards[t] + alive[t] * self.next_values(next_states[t], t, batch)
            td_abs += self.td_update(states[t], actions[t], targets)
        return {"td_abs": td_abs / max(len(rewards), 1)}

    def next_values(self, next_states: np.ndarray, t: int, batch: StepBatch) -> np.ndarray:
        """The bootstrap values of step ``t``'s next states [n_envs] (Q-learning: the max)."""
        raise NotImplementedError

    def td_update(self, states: np.ndarray, actions: np.ndarray, targets: np.ndarray) -> float:
        """Q(s, a) += alpha * (target - Q(s, a)) for one vector step; returns the mean |TD
        error|. Envs that are in the same (s, a) at this step share one update by their mean TD
        error, so that alpha stays the step size however many envs run."""
        flat = states * self.n_actions + actions
        q = self.table.reshape(-1)  # a view: updates go into the table
        td = targets - q[flat]
        if len(flat) > 1:
            np.add.at(q, flat, self.alpha * td / np.bincount(flat)[flat])
        else:
            q[flat] += self.alpha * td
        return float(np.abs(td).mean()) if len(td) else 0.0

    def state_values(self) -> tuple[np.ndarray, np.ndarray]:
        return self.table.max(axis=1), self.table.argmax(axis=1) + self.action_start

    # ---- state ------------------------------------------------------------------------------
    def params_finite(self) -> bool:
        return bool(np.isfinite(self.table).all())

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "table": self.table.copy()}

    def load_state_dict(self, state: dict[str, Any], weights_only: bool = False) -> None:
        table = np.asarray(state["table"])
        if table.shape != self.table.shape:
            raise ValueError(f"table shape {table.shape} does not match {self.table.shape}")
        self.table = table.astype(np.float64, copy=True)
        super().load_state_dict(state, weights_only)

    def actor_state(self) -> dict[str, Any]:
        return {**super().actor_state(), "table": self.table.copy()}

    def load_actor_state(self, state: dict[str, Any]) -> None:
        super().load_actor_state(state)
        self.table = np.array(state["table"], np.float64)
