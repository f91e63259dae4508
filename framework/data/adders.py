"""Adders: per-stream transforms from collected rollouts to what a buffer stores.

An *adder* (as in Acme) lives next to a collector and keeps the per-env stream state that must
not be split across workers (pending n-step windows). It is called once per collection phase
with the phase's :class:`~framework.data.types.StepBatch`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from framework.data.types import StepBatch, Transitions


class IdentityAdder:
    """Stores the rollout as collected (on-policy algorithms)."""

    def __call__(self, batch: StepBatch) -> StepBatch:
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class NStepAdder:
    """Folds n-step returns into flat transitions, per env stream, vectorized over [T, n_envs].

    For a window starting at step t it emits reward sum_{k<m} gamma^k r_{t+k} and
    discount gamma^m * (1 - terminated_{t+m-1}), where m <= n stops at an episode end.
    A time-limit truncation ends the window but keeps the bootstrap (discount gamma^m);
    only termination zeroes it. The last n-1 steps carry over to the next batch, so windows
    that straddle two collection phases are completed there (and emitted exactly once).
    """

    def __init__(self, n_step: int, gamma: float):
        self.n = n_step
        self.gamma = gamma
        self.carry: dict[str, np.ndarray] | None = None

    def __call__(self, batch: StepBatch) -> Transitions:
        if self.n == 1:
            return self.one_step(batch)
        return self.windows(batch)

    def one_step(self, batch: StepBatch) -> Transitions:
        """n = 1 needs no windows: every step is a transition with discount
        gamma * (1 - terminated), in the order the windows would emit them (step, then env).
        SAC and TD3 call the adder once per vector step, where the windowed code cost more
        than the env step itself."""
        rewards = batch.learn_rewards if batch.learn_rewards is not None else batch.rewards
        T, N = rewards.shape

        def flat(a: np.ndarray) -> np.ndarray:
            return a.reshape(T * N, *a.shape[2:])

        discounts = np.where(batch.terminated, 0.0, self.gamma).astype(np.float32)
        return Transitions(
            flat(batch.obs),
            flat(batch.actions),
            flat(rewards.astype(np.float32)),
            flat(batch.next_obs),
            flat(discounts),
        )

    def windows(self, batch: StepBatch) -> Transitions:
        """The general case: n-step windows over the batch and the carried-over steps."""
        rewards = batch.learn_rewards if batch.learn_rewards is not None else batch.rewards
        cur = {
            "obs": batch.obs,
            "actions": batch.actions,
            "rewards": rewards.astype(np.float32),
            "next_obs": batch.next_obs,
            "terminated": batch.terminated,
            "end": batch.terminated | batch.truncated,
            "emitted": np.zeros(rewards.shape, bool),
        }
        if self.carry is not None:
            cur = {k: np.concatenate([self.carry[k], v]) for k, v in cur.items()}
        T = len(cur["rewards"])
        starts = np.arange(T)[:, None]
        ret = np.zeros(cur["rewards"].shape, np.float64)
        discount = np.ones_like(ret)
        last = np.broadcast_to(starts, ret.shape).copy()
        alive = np.ones(ret.shape, bool)  # window still open
        ended = np.zeros(ret.shape, bool)  # window closed by an episode end
        steps = np.zeros(ret.shape, np.int64)
        cols = np.arange(ret.shape[1])[None, :]
        for k in range(self.n):
            idx = starts + k
            valid = idx < T
            idx_c = np.minimum(idx, T - 1)
            use = alive & valid
            ret += np.where(use, discount * cur["rewards"][idx_c, cols], 0.0)
            discount = np.where(use, discount * self.gamma, discount)
            last = np.where(use, idx_c, last)
            steps += use
            term = use & cur["terminated"][idx_c, cols]
            discount = np.where(term, 0.0, discount)
            end = use & cur["end"][idx_c, cols]
            ended |= end
            alive &= ~end & valid
        complete = ended | (steps == self.n)
        emit = complete & ~cur["emitted"]
        t_idx, e_idx = np.nonzero(emit)
        last_t = last[t_idx, e_idx]
        out = Transitions(
            cur["obs"][t_idx, e_idx],
            cur["actions"][t_idx, e_idx],
            ret[t_idx, e_idx].astype(np.float32),
            cur["next_obs"][last_t, e_idx],
            discount[t_idx, e_idx].astype(np.float32),
        )
        if self.n > 1:
            keep = slice(max(0, T - (self.n - 1)), T)
            self.carry = {k: v[keep] for k, v in cur.items()}
            self.carry["emitted"] = (complete | cur["emitted"])[keep]
        return out

    def state_dict(self) -> dict[str, Any]:
        """The carried-over window ends (a resumed run completes them)."""
        return {
            "carry": None if self.carry is None else {k: v.copy() for k, v in self.carry.items()}
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.carry = state["carry"]


class EpisodeAdder:
    """Emits complete episodes only (REINFORCE learns from whole episodes, Williams 1992).

    Each env stream's steps wait here until its episode ends (terminated or truncated), so an
    episode still running at the end of a collection phase is carried over and emitted, whole,
    by a later phase. The output is one stream: a StepBatch of shape [L, 1] holding the finished
    episodes one after another (every one ends with its terminal or truncated step, so
    per-column return computations restart at each boundary); L is 0 when none finished.

    Finished episodes are held here, too, until ``min_episodes`` of them are in, so that what
    waits for an update is part of the collector's state (saved at every loop boundary: a resumed
    run learns from the same episodes) rather than of a rollout buffer (not saved).
    """

    def __init__(self, n_envs: int, min_episodes: int = 1):
        self.n_envs = n_envs
        self.min_episodes = min_episodes
        self.carry: list[dict[str, Any]] | None = None  # per env: field -> [t, ...]
        self.held: dict[str, np.ndarray] | None = None  # finished, not yet emitted: field -> [L]

    @staticmethod
    def _fields(batch: StepBatch) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "obs": batch.obs,
            "actions": batch.actions,
            "rewards": batch.rewards,
            "next_obs": batch.next_obs,
            "terminated": batch.terminated,
            "truncated": batch.truncated,
            **{f"extras.{k}": v for k, v in batch.extras.items()},
        }
        if batch.learn_rewards is not None:
            fields["learn_rewards"] = batch.learn_rewards
        return fields

    def __call__(self, batch: StepBatch) -> StepBatch:
        fields = self._fields(batch)
        done = batch.terminated | batch.truncated
        if self.carry is None:
            self.carry = [{k: v[:0, i] for k, v in fields.items()} for i in range(self.n_envs)]
        out: dict[str, list[np.ndarray]] = {k: [] for k in fields}
        for i in range(self.n_envs):
            carried = len(self.carry[i]["rewards"])
            stream = {k: np.concatenate([self.carry[i][k], v[:, i]]) for k, v in fields.items()}
            ends = np.flatnonzero(done[:, i])
            cut = carried + int(ends[-1]) + 1 if len(ends) else 0  # past the last episode end
            for k, v in stream.items():
                out[k].append(v[:cut])
            self.carry[i] = {k: v[cut:] for k, v in stream.items()}
        joined = {k: np.concatenate(v) for k, v in out.items()}
        if self.held is not None:
            joined = {k: np.concatenate([self.held[k], v]) for k, v in joined.items()}
        done = joined["terminated"] | joined["truncated"]
        if int(done.sum()) < self.min_episodes:  # hold them; emit an empty stream
            self.held = joined
            joined = {k: v[:0] for k, v in joined.items()}
        else:
            self.held = None
        joined = {k: v[:, None] for k, v in joined.items()}
        return StepBatch(
            joined["obs"],
            joined["actions"],
            joined["rewards"],
            joined["next_obs"],
            joined["terminated"],
            joined["truncated"],
            {k[len("extras.") :]: v for k, v in joined.items() if k.startswith("extras.")},
            joined.get("learn_rewards"),
        )

    def state_dict(self) -> dict[str, Any]:
        """The unfinished episodes (a resumed run completes them) and the finished ones held."""
        return {
            "carry": None if self.carry is None else [dict(c) for c in self.carry],
            "held": None if self.held is None else dict(self.held),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.carry = state["carry"]
        self.held = state.get("held")
