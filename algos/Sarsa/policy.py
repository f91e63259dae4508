"""Sarsa (Rummery and Niranjan 1994; Sutton and Barto 2018, sec. 6.4): on-policy TD control,
Q(s, a) += alpha * (r + gamma * Q(s', a') - Q(s, a)) with a' the action actually taken next.

The next action comes from the env stream itself: :class:`NextActionAdder` (one per collector,
so per Ray worker too) holds back each phase's last vector step until the next phase has taken
its next action. Where an episode was truncated by a time limit, no action was taken at the
final observation: the target bootstraps from the policy's own epsilon-greedy choice there, as
Sarsa's target would have been. Where it terminated, there is no bootstrap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from algos.base.tabular import TabularPolicy
from framework.data.types import StepBatch

TIME_FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "learn_rewards")


def time_slice(batch: StepBatch, index: slice) -> StepBatch:
    """Vector steps ``index`` of a batch (every [T, n_envs, ...] array, extras included)."""
    parts = {
        k: None if getattr(batch, k) is None else getattr(batch, k)[index] for k in TIME_FIELDS
    }
    return StepBatch(**parts, extras={k: v[index] for k, v in batch.extras.items()})


def time_concat(a: StepBatch, b: StepBatch) -> StepBatch:
    """``a`` then ``b`` along the time axis."""

    def cat(x, y):
        return None if x is None or y is None else np.concatenate([x, y])

    parts = {k: cat(getattr(a, k), getattr(b, k)) for k in TIME_FIELDS}
    extras = {k: np.concatenate([a.extras[k], b.extras[k]]) for k in a.extras if k in b.extras}
    return StepBatch(**parts, extras=extras)


class NextActionAdder:
    """Pairs every step with the action its env took next (``extras["next_actions"]``). The
    last vector step of a phase is carried over to the next phase, where that action is taken,
    so a phase's output is the carried step and its own first T - 1 steps: always T long (the
    rollout buffer joins parts of equal length). In the very first phase a placeholder row
    stands where the carried step would be (``extras["valid"]`` False)."""

    def __init__(self):
        self.carry: StepBatch | None = None

    def __call__(self, batch: StepBatch) -> StepBatch:
        valid = np.ones(batch.rewards.shape, bool)
        carry = self.carry
        if carry is None:
            carry = time_slice(batch, slice(0, 1))
            valid[0] = False
        full = time_concat(carry, batch)
        self.carry = time_slice(full, slice(len(full.rewards) - 1, None))
        out = time_slice(full, slice(0, -1))
        out.extras["next_actions"] = full.actions[1:]
        out.extras["valid"] = valid
        return out

    def state_dict(self) -> dict[str, Any]:
        """The carried step as plain arrays (checkpoints hold no objects)."""
        if self.carry is None:
            return {"carry": None}
        c = self.carry
        fields = {k: None if getattr(c, k) is None else getattr(c, k).copy() for k in TIME_FIELDS}
        return {"carry": {**fields, "extras": {k: v.copy() for k, v in c.extras.items()}}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        c = state["carry"]
        if c is None:
            self.carry = None
            return
        extras = {k: np.asarray(v) for k, v in c["extras"].items()}
        fields = {k: None if c.get(k) is None else np.asarray(c[k]) for k in TIME_FIELDS}
        self.carry = StepBatch(**fields, extras=extras)


class Policy(TabularPolicy):
    def make_adder(self, n_envs: int) -> NextActionAdder:
        return NextActionAdder()

    def update_table(self, batch: StepBatch) -> dict[str, float]:
        if not batch.extras["valid"][0].all():  # the first phase's placeholder row
            batch = time_slice(batch, slice(1, None))
        return super().update_table(batch)

    def next_values(self, next_states: np.ndarray, t: int, batch: StepBatch) -> np.ndarray:
        next_actions = np.asarray(batch.extras["next_actions"][t], np.int64) - self.action_start
        truncated = np.asarray(batch.truncated[t])
        if truncated.any():  # no action at the final observation: the policy's own choice
            chosen = self.greedy(next_states)
            explore = self.rng.random(len(chosen)) < self.epsilon
            chosen = np.where(explore, self.rng.integers(0, self.n_actions, len(chosen)), chosen)
            next_actions = np.where(truncated, chosen, next_actions)
        return self.table[next_states, next_actions]
