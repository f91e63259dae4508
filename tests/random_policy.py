"""A uniformly random policy with only what a Collector needs of a policy (tests of envs,
adders and buffers that must not depend on an algorithm)."""

from __future__ import annotations

import numpy as np

from framework.data.frames import FrameAdder


class RandomPolicy:
    def __init__(self, n_actions: int, adder=None, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.n, self.adder = n_actions, adder

    def act(self, obs, mode):
        return self.rng.integers(0, self.n, len(obs)), {}

    def make_adder(self, n_envs):
        """The given adder, else a FrameAdder (the stacked-frame envs of these tests)."""
        return self.adder if self.adder is not None else FrameAdder(n_envs)

    def make_reward_scaler(self, n_envs):
        return None
