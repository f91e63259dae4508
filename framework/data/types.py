"""Typed data passed between the parts (source -> adder -> buffer -> policy.learn).

Glossary
- env step: one transition of one environment; a vector step is one step of all n_envs envs.
- rollout / StepBatch: [T, n_envs] arrays straight from the vectorized envs.
- Transitions: flat [B] arrays ready for replay (n-step returns already folded in).
- update step: one call of ``policy.learn`` (DQN: one gradient step; PPO: the epochs over one
  rollout).
- Record: what one collection phase of one collector brought besides the data for the buffer
  (finished episodes, trajectories, env steps, raw observations for the normalizer).
- Chunk: what a data source delivers for one step of the training loop: data for the buffer
  (None when it was stored elsewhere, e.g. on the Ray DataServer) and its records (none for a
  dataset source).
- clock: the run's time axis, env steps online and update steps offline; it drives evaluation
  cadence, budgets and schedules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np


@dataclass
class StepBatch:
    """T vector steps of n_envs envs: every array is [T, n_envs, ...].

    ``next_obs`` is the true next observation: the final observation where an episode ended
    (not the first observation of the next episode). ``rewards`` are raw env rewards;
    ``learn_rewards`` the ones used for learning (scaled/clipped when switched on).
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    learn_rewards: np.ndarray | None = None

    @property
    def n_steps(self) -> int:
        return int(self.rewards.size)

    @staticmethod
    def concat_envs(parts: list[StepBatch]) -> StepBatch:
        """Join rollouts of equal T from several collectors along the env axis."""
        if len(parts) == 1:
            return parts[0]

        def cat(name):
            return np.concatenate([getattr(p, name) for p in parts], axis=1)

        extras = {k: np.concatenate([p.extras[k] for p in parts], axis=1) for k in parts[0].extras}
        learn = None
        if parts[0].learn_rewards is not None:
            learn = cat("learn_rewards")
        return StepBatch(
            cat("obs"),
            cat("actions"),
            cat("rewards"),
            cat("next_obs"),
            cat("terminated"),
            cat("truncated"),
            extras,
            learn,
        )


@dataclass
class Transitions:
    """Flat transitions for replay: reward is the n-step discounted sum, ``discount`` is
    gamma**k for bootstrapping from next_obs (0 where the episode terminated)."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    discounts: np.ndarray

    def __len__(self) -> int:
        return len(self.rewards)


@dataclass
class ReplayBatch(Transitions):
    """A sampled minibatch; ``weights`` are importance weights (1 for uniform replay)."""

    weights: np.ndarray | None = None
    indices: np.ndarray | None = None


class Episode(NamedTuple):
    """A finished training episode: raw reward sum, length, and the vector step (within its
    collection phase) at which it ended."""

    ret: float
    length: int
    step: int = 0


class Record(NamedTuple):
    """One collection phase of one collector: finished episodes, their trajectories (one per
    episode, same order, when recording), env steps taken, the collector's env count, and the
    raw observations for the observation normalizer (None when the policy has none)."""

    episodes: list[Episode]
    trajectories: list[dict]
    env_steps: int
    n_envs: int
    obs: np.ndarray | None = None
    worker: int = 0


class Chunk(NamedTuple):
    """What a data source delivers for one step of the training loop."""

    data: Any
    records: list[Record]


BufferKind = Literal["replay", "rollout", "dataset"]


class BufferStatus(NamedTuple):
    """Numbers about a buffer that decide how many updates are due (no buffer object needed)."""

    kind: BufferKind
    size: int
    ready: bool


class SampleSpec(NamedTuple):
    """How the learner samples for one update: batch size (None: everything, e.g. a rollout) and
    PER's importance-sampling exponent (None for other buffers)."""

    batch_size: int | None
    beta: float | None = None


class ActOutput(NamedTuple):
    """``policy.act``: actions the env can execute, and per-step extras to store with them
    (e.g. PPO's log-probabilities and its raw Gaussian sample)."""

    actions: np.ndarray
    extras: dict[str, np.ndarray]


class LearnOutput(NamedTuple):
    """What one update step returns: scalar metrics, and new priorities for PER."""

    metrics: dict[str, float]
    priorities: np.ndarray | None = None
