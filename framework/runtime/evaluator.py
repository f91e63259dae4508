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

from envs.vector import EnvSlots, make_slots
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
        self.slots = make_slots(cfg, n_envs)
        self.render_slots = EnvSlots([render_env]) if render_env is not None else None
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
        n_plain = len(self.slots)
        render_slot = n_plain if self.render_slots is not None else -1
        # the render env takes episodes 0..n_render-1 in order, the others the rest
        n_render = min(self.render_episodes, n_episodes)
        queues = {"render": iter(range(n_render)), "plain": iter(range(n_render, n_episodes))}
        slot_episode = np.full(n_plain + (self.render_slots is not None), -1)
        obs: np.ndarray | None = None  # one row per slot

        def start(slot: int) -> None:
            nonlocal obs
            ep = next(queues["render" if slot == render_slot else "plain"], -1)
            slot_episode[slot] = ep
            if ep >= 0:
                seed = int(seeds[ep])
                if slot == render_slot:
                    first = self.render_slots.reset(0, seed)
                else:
                    first = self.slots.reset(slot, seed)
                if obs is None:
                    obs = np.zeros((len(slot_episode), *np.shape(first)), np.asarray(first).dtype)
                obs[slot] = first

        for slot in range(len(slot_episode)):
            start(slot)
        while True:
            active = np.flatnonzero(slot_episode >= 0)
            if not len(active):
                break
            actions = act(obs[active])
            n = len(active) - (active[-1] == render_slot)  # the plain slots come first
            parts = [self.slots.step(active[:n], actions[:n])] if n else []
            if n < len(active):
                parts.append(self.render_slots.step(np.zeros(1, np.int64), actions[n:]))
            nxt, rewards, terminated, truncated = (
                parts[0] if len(parts) == 1 else (np.concatenate(p) for p in zip(*parts))
            )
            episodes = slot_episode[active]
            returns[episodes] += rewards
            lengths[episodes] += 1
            if on_step is not None:
                for j, slot in enumerate(active):
                    on_step(
                        int(slot), obs[slot].copy(), actions[j], rewards[j], nxt[j], terminated[j],
                        truncated[j], int(seeds[episodes[j]]),
                    )  # fmt: skip
            obs[active] = nxt
            for j in np.flatnonzero(np.logical_or(terminated, truncated)):
                ep = episodes[j]
                if on_episode is not None:
                    on_episode(int(active[j]), int(ep), float(returns[ep]), int(lengths[ep]),
                               int(seeds[ep]))  # fmt: skip
                start(int(active[j]))
        return EvalResult(returns, lengths, seeds)

    def state_dict(self) -> dict:
        """The seed stream's position (a resumed run evaluates on the episodes it would have)."""
        return {"seed_rng": self.seed_rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.seed_rng.bit_generator.state = state["seed_rng"]

    def close(self) -> None:
        self.slots.close()
        if self.render_slots is not None:
            self.render_slots.close()
