"""Evaluation on its own envs: several episodes stepped together, batched actions.

Episode i of evaluation round k is reset with a seed drawn from the run's seed, so episodes
start from distinct states and the same run seed gives the same evaluation episodes.

An optional extra *render env* (one non-vectorized env made with a render mode, see
framework/render.py) runs the first ``render_episodes`` episodes of a round, one after the
other, in the same batch as the evaluation envs; the evaluation envs themselves never render.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import gymnasium as gym
import numpy as np

from envs.vector import make_single
from framework.runtime.seeding import stream_rng


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
    """``n_envs`` plain envs, plus ``render_env`` (slot ``n_envs``) when one is given."""

    def __init__(
        self,
        cfg,
        n_envs: int,
        seed: int | None,
        stream: int = 0,
        render_env: gym.Env | None = None,
        render_episodes: int = 0,
    ):
        if n_envs < 1 and render_env is None:
            raise ValueError("an Evaluator needs at least one env")
        self.cfg = cfg
        self.envs = [make_single(cfg) for _ in range(n_envs)]
        self.render_env = render_env
        self.render_episodes = render_episodes if render_env is not None else 0
        self.seed_rng = stream_rng(seed, stream)

    def run(
        self,
        act: Callable[[np.ndarray], np.ndarray],
        n_episodes: int,
        on_step: Callable | None = None,
        on_episode: Callable | None = None,
    ) -> EvalResult:
        """Run ``n_episodes`` with ``act`` (batched obs -> env actions).

        ``on_step(slot, obs, action, reward, next_obs, terminated, truncated, seed)`` sees every
        env step; ``on_episode(slot, episode, ret, length, seed)`` is called right after the
        last step of each episode (``episode`` is its index in this round, 0-based).
        """
        seeds = self.seed_rng.integers(0, 2**31 - 1, size=n_episodes)
        returns = np.zeros(n_episodes)
        lengths = np.zeros(n_episodes, np.int64)
        envs = self.envs + ([self.render_env] if self.render_env is not None else [])
        render_slot = len(self.envs) if self.render_env is not None else -1
        # the render env takes episodes 0..n_render-1 in order, the others the rest
        n_render = min(self.render_episodes, n_episodes)
        queues = {"render": iter(range(n_render)), "plain": iter(range(n_render, n_episodes))}
        slot_episode = [-1] * len(envs)
        obs: list[np.ndarray | None] = [None] * len(envs)

        def start(slot: int) -> None:
            ep = next(queues["render" if slot == render_slot else "plain"], -1)
            slot_episode[slot] = ep
            if ep >= 0:
                obs[slot], _ = envs[slot].reset(seed=int(seeds[ep]))

        for slot in range(len(envs)):
            start(slot)
        while True:
            active = [s for s in range(len(envs)) if slot_episode[s] >= 0]
            if not active:
                break
            batch_obs = np.stack([obs[s] for s in active])
            actions = act(batch_obs)
            for j, slot in enumerate(active):
                ep = slot_episode[slot]
                nxt, r, term, trunc, _ = envs[slot].step(actions[j])
                returns[ep] += r
                lengths[ep] += 1
                if on_step is not None:
                    on_step(slot, obs[slot], actions[j], r, nxt, term, trunc, int(seeds[ep]))
                obs[slot] = nxt
                if term or trunc:
                    if on_episode is not None:
                        on_episode(slot, ep, float(returns[ep]), int(lengths[ep]), int(seeds[ep]))
                    start(slot)
        return EvalResult(returns, lengths, seeds)

    def state_dict(self) -> dict:
        """The seed stream's position (a resumed run evaluates on the episodes it would have)."""
        return {"seed_rng": self.seed_rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.seed_rng.bit_generator.state = state["seed_rng"]

    def close(self) -> None:
        for env in self.envs:
            env.close()
        if self.render_env is not None:
            self.render_env.close()
