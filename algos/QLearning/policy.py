"""Tabular Q-learning (Watkins 1989; Sutton and Barto 2018, sec. 6.5): off-policy TD control,
Q(s, a) += alpha * (r + gamma * max_a' Q(s', a') - Q(s, a)), acting epsilon-greedily."""

from __future__ import annotations

import numpy as np

from algos.base.tabular import TabularPolicy
from framework.data.types import StepBatch


class Policy(TabularPolicy):
    def next_values(self, next_states: np.ndarray, t: int, batch: StepBatch) -> np.ndarray:
        return self.table[next_states].max(axis=1)
