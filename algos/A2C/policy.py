"""A2C (Mnih et al. 2016, synchronous) and REINFORCE (Williams 1992) on the on-policy base.

A2C: rollouts of ``n_steps`` per env, n-step advantages (GAE with lambda 1, or lower), one
gradient step of policy gradient + value regression - entropy bonus per rollout, RMSprop or
Adam, shared or separate trunks. REINFORCE is the same learner on other data: with ``episodes``
the collector's adder emits complete episodes only (``EpisodeAdder``; unfinished ones wait for the
next rollout), advantages are Monte-Carlo returns, minus the critic's value when ``baseline``.

The policy-gradient term is written as the importance-weighted surrogate
-(pi/pi_old * A), whose gradient at collection time is the plain -grad log pi * A: identical for
fresh data, and a per-step importance correction for steps collected one update earlier (the
start of an episode carried over to the next rollout, or later minibatches).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from algos.A2C.config import AlgoConfig
from algos.base.on_policy import Minibatch, OnPolicyPolicy
from framework.data.adders import EpisodeAdder, IdentityAdder
from framework.data.buffers import RolloutBuffer
from framework.data.types import BufferKind, BufferStatus, StepBatch


class EpisodeBuffer:
    """Complete episodes (from :class:`EpisodeAdder`, [L, 1] each) until ``min_episodes`` have
    arrived, from any number of collectors; ``sample()`` hands them over joined along time (in
    collector order, so a Ray run does not depend on which worker finished first) and empties
    the buffer. Locally it is empty at every loop boundary: the adder holds episodes until
    ``min_episodes`` are in, so its first non-empty part makes it ready."""

    kind: ClassVar[BufferKind] = "rollout"

    def __init__(self, min_episodes: int):
        self.min_episodes = min_episodes
        self.parts: list[StepBatch] = []
        self.order: list[int] = []

    def __len__(self) -> int:
        return sum(p.n_steps for p in self.parts)

    def add(self, batch: StepBatch, part: int | None = None) -> None:
        if batch.n_steps:
            self.parts.append(batch)
            self.order.append(len(self.order) if part is None else part)

    @property
    def episodes(self) -> int:
        return sum(int((p.terminated | p.truncated).sum()) for p in self.parts)

    def status(self) -> BufferStatus:
        return BufferStatus(self.kind, len(self), self.episodes >= self.min_episodes)

    def sample(self, batch_size: int | None = None, beta: float | None = None) -> StepBatch:
        parts = [p for _, p in sorted(zip(self.order, self.parts), key=lambda x: x[0])]
        self.parts, self.order = [], []
        if len(parts) == 1:
            return parts[0]
        cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
        return StepBatch(
            cat("obs"),
            cat("actions"),
            cat("rewards"),
            cat("next_obs"),
            cat("terminated"),
            cat("truncated"),
            {k: np.concatenate([p.extras[k] for p in parts]) for k in parts[0].extras},
            None if parts[0].learn_rewards is None else cat("learn_rewards"),
        )

    def update_priorities(self, indices, priorities) -> None:
        """Nothing to do for on-policy data."""

    def state_dict(self) -> dict[str, Any]:
        """Plain arrays only (checkpoints hold no objects)."""
        return {"parts": [vars(p).copy() for p in self.parts], "order": list(self.order)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.parts = [StepBatch(**p) for p in state["parts"]]
        self.order = list(state["order"])


class Policy(OnPolicyPolicy):
    cfg: AlgoConfig

    def __init__(self, cfg: AlgoConfig, obs_space, action_space, **kwargs):
        super().__init__(cfg, obs_space, action_space, **kwargs)
        optim_kw: dict[str, Any] = {"eps": cfg.optim_eps}
        if cfg.optimizer == "rmsprop":
            optim_kw["alpha"] = cfg.rmsprop_alpha
        self.build_actor_critic(
            cfg.actor_layers, cfg.critic_layers, cfg.shared_trunk, cfg.optimizer, **optim_kw
        )

    # ---- data -----------------------------------------------------------------------------
    def make_adder(self, n_envs: int):
        return EpisodeAdder(n_envs, self.cfg.min_episodes) if self.cfg.episodes else IdentityAdder()

    def make_buffer(self, parts_per_update: int = 1):
        if self.cfg.episodes:  # any number of collectors: learn once enough episodes are in
            return EpisodeBuffer(self.cfg.min_episodes)
        return RolloutBuffer(parts_per_update)

    def advantages(self, batch: StepBatch, values: np.ndarray, next_values: np.ndarray):
        if not self.cfg.baseline:  # vanilla REINFORCE: the returns themselves, no bootstrap
            zeros = np.zeros_like(values)
            return super().advantages(batch, zeros, zeros)
        return super().advantages(batch, values, next_values)

    # ---- learning -------------------------------------------------------------------------
    def loss(self, mb: Minibatch):
        c = self.cfg
        logp, entropy = self.log_prob_entropy(mb.obs, mb.actions)
        ratio = (logp - mb.old_log_prob).exp()  # 1 at collection time (see the docstring)
        pg_loss = -(ratio * mb.advantages).mean()
        entropy = entropy.mean()
        loss = pg_loss - self.ent_coef * entropy
        stats = torch.stack([pg_loss.detach(), entropy.detach()])
        if c.baseline:
            v_loss = F.mse_loss(self.ac.value(mb.obs), mb.returns)
            loss = loss + c.vf_coef * v_loss
            stats = torch.cat([stats, v_loss.detach()[None]])
        names = ("pg_loss", "entropy", "v_loss")
        return loss, dict(zip(names, stats.tolist()))
