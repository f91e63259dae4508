"""Evaluation on its own envs: several episodes stepped together, batched actions.

Episode i of evaluation round k is reset with a seed drawn from the run's seed, so episodes
start from distinct states and the same run seed gives the same evaluation episodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from framework.envs import clip_actions, make_single


class EvalResult(NamedTuple):
    returns: np.ndarray
    lengths: np.ndarray
    seeds: np.ndarray

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))


class Evaluator:
    def __init__(self, cfg, n_envs: int, seed: int | None, stream: int = 0):
        self.cfg = cfg
        self.envs = [make_single(cfg) for _ in range(n_envs)]
        entropy = [seed, stream] if seed else None
        self.seed_rng = np.random.default_rng(np.random.SeedSequence(entropy))

    def run(
        self,
        act: Callable[[np.ndarray], np.ndarray],
        n_episodes: int,
        on_step: Callable | None = None,
    ) -> EvalResult:
        """Run ``n_episodes`` with ``act`` (batched obs -> actions). ``on_step(slot, obs,
        actions, rewards, next_obs, terminated, truncated, seed)`` sees every env step."""
        seeds = self.seed_rng.integers(0, 2**31 - 1, size=n_episodes)
        returns = np.zeros(n_episodes)
        lengths = np.zeros(n_episodes, np.int64)
        slot_episode = [-1] * len(self.envs)
        obs: list[np.ndarray | None] = [None] * len(self.envs)
        next_episode = 0

        def start(slot: int) -> None:
            nonlocal next_episode
            if next_episode >= n_episodes:
                slot_episode[slot] = -1
                return
            slot_episode[slot] = next_episode
            obs[slot], _ = self.envs[slot].reset(seed=int(seeds[next_episode]))
            next_episode += 1

        for slot in range(len(self.envs)):
            start(slot)
        space = self.envs[0].action_space
        while True:
            active = [s for s in range(len(self.envs)) if slot_episode[s] >= 0]
            if not active:
                break
            batch_obs = np.stack([obs[s] for s in active])
            actions = clip_actions(act(batch_obs), space)
            for j, slot in enumerate(active):
                ep = slot_episode[slot]
                nxt, r, term, trunc, _ = self.envs[slot].step(actions[j])
                returns[ep] += r
                lengths[ep] += 1
                if on_step is not None:
                    on_step(slot, obs[slot], actions[j], r, nxt, term, trunc, int(seeds[ep]))
                obs[slot] = nxt
                if term or trunc:
                    start(slot)
        return EvalResult(returns, lengths, seeds)

    def close(self) -> None:
        for env in self.envs:
            env.close()
