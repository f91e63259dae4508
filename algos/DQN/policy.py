"""DQN (Mnih et al. 2015) with Double-DQN, dueling, n-step and prioritized-replay switches.

The variants are switches on one learner, not copies: ``double_dqn`` changes how the next
action is chosen, ``dueling`` the head, ``n_step`` the adder, ``buffer_type`` the buffer.
"""

from __future__ import annotations

import copy
import math

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from algos.base.networks import build_trunk, orthogonal_init
from algos.base.optim import Adam
from algos.base.policy import BasePolicy, UnsupportedSpace
from algos.DQN.config import AlgoConfig
from framework.buffers import NStepAdder, PrioritizedReplayBuffer, ReplayBuffer
from framework.data import LearnOutput, ReplayBatch


class QNetwork(nn.Module):
    def __init__(self, obs_shape, cfg: AlgoConfig, n_actions: int):
        super().__init__()
        self.trunk, hidden = build_trunk(obs_shape, cfg.value_layers)
        self.dueling = cfg.dueling
        self.head = nn.Linear(hidden, n_actions)
        self.value = nn.Linear(hidden, 1) if cfg.dueling else None
        if cfg.ortho_init:
            orthogonal_init(self, self.head, 1.0)
            if self.value is not None:  # the dueling value stream is an output head too
                orthogonal_init(nn.Identity(), self.value, 1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = self.trunk(obs)
        q = self.head(h)
        if self.value is not None:
            q = self.value(h) + q - q.mean(dim=1, keepdim=True)
        return q


class Policy(BasePolicy):
    on_policy = False
    cfg: AlgoConfig

    def __init__(self, cfg: AlgoConfig, obs_space, action_space, device="cpu", **kwargs):
        super().__init__(cfg, obs_space, action_space, device, **kwargs)
        if not isinstance(action_space, gym.spaces.Discrete):
            raise UnsupportedSpace(f"DQN needs a Discrete action space, got {action_space}")
        self.n_actions = int(action_space.n)
        self.q = QNetwork(self.obs_shape, cfg, self.n_actions).to(self.device)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.optim = Adam(self.q.parameters(), lr=cfg.lr)

    # ---- acting ---------------------------------------------------------------------------
    @property
    def epsilon(self) -> float:
        c = self.cfg
        return c.epsilon_end + (c.epsilon_start - c.epsilon_end) * math.exp(
            -self.env_steps / c.epsilon_decay
        )

    def act(self, obs, deterministic=False, epsilon: float | None = None):
        with torch.no_grad():
            actions = self.q(self.preprocess(obs)).argmax(dim=1).cpu().numpy()
        eps = 0.0 if deterministic else (self.epsilon if epsilon is None else epsilon)
        if eps > 0:
            explore = self.rng.random(len(actions)) < eps
            actions = np.where(explore, self.rng.integers(0, self.n_actions, len(actions)), actions)
        return actions, {}

    # ---- data -----------------------------------------------------------------------------
    def make_adder(self, n_envs: int):
        return NStepAdder(n_envs, self.cfg.n_step, self.cfg.gamma)

    def make_buffer(self, parts_per_update: int = 1):
        seed = int(self.rng.integers(2**31))
        if self.cfg.buffer_type == "PER_QUE":
            return PrioritizedReplayBuffer(self.cfg.buffer_size, self.cfg.per_alpha, seed)
        return ReplayBuffer(self.cfg.buffer_size, seed)

    def collect_steps(self, n_envs: int) -> int:
        return -(-self.cfg.train_freq // n_envs)  # train_freq env steps, whole vector steps

    def updates_due(self, buffer) -> int:
        if len(buffer) < max(self.cfg.learning_starts, self.cfg.batch_size):
            return 0
        if isinstance(buffer, PrioritizedReplayBuffer):  # anneal beta to 1 over the budget
            buffer.beta = self.cfg.per_beta + (1.0 - self.cfg.per_beta) * self.progress
        return self.cfg.gradient_steps

    # ---- learning -------------------------------------------------------------------------
    def learn(self, batch: ReplayBatch) -> LearnOutput:
        n = len(batch)
        obs = self.preprocess(np.concatenate([batch.obs, batch.next_obs]))
        actions = torch.as_tensor(batch.actions, device=self.device).long()
        rewards = torch.as_tensor(batch.rewards, device=self.device)
        discounts = torch.as_tensor(batch.discounts, device=self.device)
        q_all = self.q(obs)  # Q(s) and Q(s') in one forward pass
        q = q_all[:n].gather(1, actions.view(-1, 1)).squeeze(1)
        with torch.no_grad():
            next_target = self.q_target(obs[n:])
            if self.cfg.double_dqn:
                next_a = q_all[n:].argmax(dim=1, keepdim=True)
                next_q = next_target.gather(1, next_a).squeeze(1)
            else:
                next_q = next_target.max(dim=1).values
            target = rewards + discounts * next_q
        td = q - target
        if self.cfg.loss == "huber":
            per_sample = F.smooth_l1_loss(q, target, reduction="none")
        else:
            per_sample = td.pow(2)
        if batch.weights is not None:
            per_sample = per_sample * torch.as_tensor(batch.weights, device=self.device)
        loss = per_sample.mean()
        lr = self._set_lr(self.optim)
        grad_norm = self._step(self.optim, loss, self.q.parameters())
        self.update_step += 1
        self._update_target()
        metrics = {
            "loss": loss.item(),
            "q_mean": q.mean().item(),
            "grad_norm": grad_norm,
            "lr": lr,
            "epsilon": self.epsilon,
        }
        return LearnOutput(metrics, td.detach().abs().cpu().numpy())

    def _update_target(self) -> None:
        if self.cfg.tau < 1.0:  # Polyak averaging every update
            with torch.no_grad():
                for p, tp in zip(self.q.parameters(), self.q_target.parameters()):
                    tp.lerp_(p, self.cfg.tau)
        elif self.update_step % self.cfg.target_update == 0:
            self.q_target.load_state_dict(self.q.state_dict())

    # ---- state ------------------------------------------------------------------------------
    def modules(self):
        return {"q": self.q, "q_target": self.q_target}

    def actor_modules(self):
        return ["q"]

    def optimizers(self):
        return {"optim": self.optim}
