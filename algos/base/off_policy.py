"""The off-policy base: replay, n-step returns, update cadence, warm-up and target networks.

An off-policy algorithm writes its networks, ``policy_act`` (acting after the warm-up) and
``update(batch)`` (the losses and optimizer steps of one update); this base does the rest:

- storage: an :class:`~framework.data.adders.NStepAdder` per collector and a uniform or
  prioritized replay buffer (``buffer_type``); PER's beta is annealed to 1 over the budget and
  passed with every sample (``sample_spec``), and the per-sample losses that ``update`` returns
  become the new priorities. Stacked frames (Atari's 4 x 84 x 84 uint8) go to uniform replay
  that stores each frame once (``framework/data/frames.py``: a ``FrameAdder`` per collector,
  n-step returns folded at sample time), about 1/8 of the memory;
- cadence: ``train_freq`` env steps per collection phase, ``gradient_steps`` updates per phase
  once the buffer holds ``learning_starts`` transitions (every phase for a dataset);
- warm-up: while ``env_steps < learning_starts``, exploring actions are uniformly random;
- target networks (``add_target``): a hard copy every ``target_update`` updates, or a Polyak
  blend with factor ``tau`` after every update;
- extra loss terms (``add_loss_term``): objects called by name from inside ``update`` (e.g.
  ``self.extra_loss("critic", ...)``) that add a regularizer such as CQL's or BC's without a copy
  of the algorithm.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from algos.base.config import OffPolicyConfig
from algos.base.policy import ActMode
from algos.base.torch_policy import TorchPolicy
from framework.data.adders import NStepAdder
from framework.data.buffers import PrioritizedReplayBuffer, ReplayBuffer
from framework.data.frames import FrameAdder, FrameReplayBuffer, is_frame_stack
from framework.data.types import ActOutput, BufferStatus, LearnOutput, ReplayBatch, SampleSpec


class TensorBatch:
    """A replay batch on the device: encoded observations of s and s' in one tensor (one encoder
    call, and one forward pass where a network sees both), actions, n-step rewards, bootstrap
    discounts and importance weights (None for uniform replay)."""

    def __init__(self, policy: TorchPolicy, batch: ReplayBatch):
        dev = policy.device
        self.n = n = len(batch)
        self.obs_all = policy.preprocess(np.concatenate([batch.obs, batch.next_obs]))
        self.obs, self.next_obs = self.obs_all[:n], self.obs_all[n:]
        self.actions = torch.as_tensor(batch.actions, device=dev)
        self.rewards = torch.as_tensor(batch.rewards, device=dev)
        self.discounts = torch.as_tensor(batch.discounts, device=dev)
        self.weights = None if batch.weights is None else torch.as_tensor(batch.weights, device=dev)

    def weighted_mean(self, per_sample: torch.Tensor) -> torch.Tensor:
        """Mean of per-sample losses, importance-weighted under PER."""
        if self.weights is not None:
            per_sample = per_sample * self.weights
        return per_sample.mean()


LossTerm = Callable[..., tuple[torch.Tensor, dict[str, float]]]


class OffPolicyPolicy(TorchPolicy):
    cfg: OffPolicyConfig
    learns_from_datasets = True

    def __init__(self, cfg: OffPolicyConfig, obs_space, action_space, **kwargs):
        super().__init__(cfg, obs_space, action_space, **kwargs)
        self._targets: list[tuple[nn.Module, nn.Module]] = []
        self._polyak: tuple[list[torch.Tensor], list[torch.Tensor]] = ([], [])
        self._loss_terms: dict[str, list[LossTerm]] = {}
        # drawn once here: make_buffer draws nothing, so a resumed run (whose RNG state comes
        # from the checkpoint) draws exactly what the uninterrupted run draws
        self.buffer_seed = int(self.rng.integers(2**31))

    # ---- acting ------------------------------------------------------------------------------
    @property
    def warming_up(self) -> bool:
        return self.env_steps < self.cfg.learning_starts

    def act(self, obs: np.ndarray, mode: ActMode = "explore") -> ActOutput:
        if mode == "explore" and self.warming_up:
            return ActOutput(self.random_actions(len(obs)), {})
        self.set_training(mode != "greedy")
        return self.policy_act(obs, mode)

    def policy_act(self, obs: np.ndarray, mode: ActMode) -> ActOutput:
        """Actions after the warm-up (explore, sample or greedy)."""
        raise NotImplementedError

    # ---- data --------------------------------------------------------------------------------
    @property
    def frame_replay(self) -> bool:
        """Whether replay stores frames once (stacked frames; uniform or prioritized)."""
        space = self.obs_space
        return is_frame_stack(space.shape, space.dtype)

    def make_adder(self, n_envs: int) -> NStepAdder | FrameAdder:
        if self.frame_replay:  # n-step returns are folded at sample time
            return FrameAdder(n_envs)
        return NStepAdder(self.cfg.n_step, self.cfg.gamma)

    def make_buffer(self, parts_per_update: int = 1) -> ReplayBuffer | FrameReplayBuffer:
        c = self.cfg
        seed = self.buffer_seed
        if self.frame_replay:
            alpha = c.per_alpha if c.buffer_type == "PER_QUE" else None
            return FrameReplayBuffer(c.buffer_size, c.n_step, c.gamma, seed, alpha=alpha)
        if c.buffer_type == "PER_QUE":
            return PrioritizedReplayBuffer(c.buffer_size, c.per_alpha, seed)
        return ReplayBuffer(c.buffer_size, seed)

    def collect_steps(self, n_envs: int) -> int:
        return -(-self.cfg.train_freq // n_envs)  # train_freq env steps, whole vector steps

    def updates_due(self, status: BufferStatus) -> int:
        if status.kind != "dataset" and status.size < max(
            self.cfg.learning_starts, self.cfg.batch_size
        ):
            return 0
        return self.cfg.gradient_steps

    def sample_spec(self) -> SampleSpec:
        beta = None
        if self.cfg.buffer_type == "PER_QUE":  # annealed to 1 over the budget
            beta = self.cfg.per_beta + (1.0 - self.cfg.per_beta) * self.progress
        return SampleSpec(self.cfg.batch_size, beta)

    # ---- learning ----------------------------------------------------------------------------
    def learn(self, batch: ReplayBatch) -> LearnOutput:
        self.set_training(True)
        lr = self.apply_lr()
        metrics, priorities = self.update(TensorBatch(self, batch))
        self.update_step += 1
        self.update_targets()
        metrics["lr"] = lr
        return LearnOutput(metrics, priorities)

    def update(self, batch: TensorBatch) -> tuple[dict[str, float], np.ndarray | None]:
        """One update: losses and optimizer steps. Returns metrics and per-sample priorities
        (None when the algorithm has none)."""
        raise NotImplementedError

    # ---- target networks -----------------------------------------------------------------------
    def add_target(self, name: str, online: nn.Module) -> nn.Module:
        """A frozen copy of ``online``, kept in step by :meth:`update_targets` (saved in
        checkpoints, never optimized)."""
        target = copy.deepcopy(online).requires_grad_(False)
        self.add_network(name, target)
        self._targets.append((online, target))
        self._polyak = (
            [p for o, _ in self._targets for p in o.parameters()],
            [p for _, t in self._targets for p in t.parameters()],
        )
        return target

    def update_targets(self) -> None:
        if self.cfg.tau < 1.0:  # Polyak averaging every update, all parameters in one op
            with torch.no_grad():
                torch._foreach_lerp_(self._polyak[1], self._polyak[0], self.cfg.tau)
        elif self.update_step % self.cfg.target_update == 0:
            for online, target in self._targets:
                target.load_state_dict(online.state_dict())

    # ---- extra loss terms ------------------------------------------------------------------------
    def add_loss_term(self, on: str, term: LossTerm) -> None:
        """Add ``term(**context) -> (loss, metrics)`` to the loss named ``on``."""
        self._loss_terms.setdefault(on, []).append(term)

    def extra_loss(
        self, on: str, metrics: dict[str, float], **context: Any
    ) -> torch.Tensor | float:
        """The sum of the terms added to loss ``on`` (0 without any); their metrics go into
        ``metrics``."""
        total: torch.Tensor | float = 0.0
        for term in self._loss_terms.get(on, ()):
            loss, info = term(**context)
            total = total + loss
            metrics.update(info)
        return total
