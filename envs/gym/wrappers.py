"""Wrappers that ``env_cfg.wrappers`` can name besides gymnasium's own."""

from __future__ import annotations

import time

import gymnasium as gym


class StepDelay(gym.Wrapper):
    """Sleeps ``delay`` seconds per step: a stand-in for a slow simulator (not CPU-bound)."""

    def __init__(self, env: gym.Env, delay: float = 0.002):
        super().__init__(env)
        if delay < 0:
            raise ValueError("delay must be >= 0")
        self.delay = delay

    def step(self, action):
        time.sleep(self.delay)
        return self.env.step(action)


WRAPPERS: dict[str, type[gym.Wrapper]] = {"StepDelay": StepDelay}
