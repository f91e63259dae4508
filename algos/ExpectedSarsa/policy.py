"""Expected Sarsa (van Seijen et al. 2009; Sutton and Barto 2018, sec. 6.6): the target takes
the expectation of Q(s', .) under the epsilon-greedy policy that acts, instead of Sarsa's
sampled next action: the same fixed point as Sarsa with less variance."""

from __future__ import annotations

import numpy as np

from algos.base.tabular import TabularPolicy
from framework.data.types import StepBatch


class Policy(TabularPolicy):
    def policy_probs(self, states: np.ndarray) -> np.ndarray:
        """pi(a | s) [n, n_actions] of the epsilon-greedy policy (tied greedy actions share the
        greedy mass, as random tie-breaking picks them)."""
        q = self.table[states]
        best = q == q.max(axis=1, keepdims=True)
        eps = self.epsilon
        return eps / self.n_actions + (1.0 - eps) * best / best.sum(axis=1, keepdims=True)

    def next_values(self, next_states: np.ndarray, t: int, batch: StepBatch) -> np.ndarray:
        return (self.policy_probs(next_states) * self.table[next_states]).sum(axis=1)
