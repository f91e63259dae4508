"""DQN (Mnih et al. 2015) with Double-DQN, dueling, n-step and prioritized-replay switches.

The variants are switches on one learner, not copies: ``double_dqn`` changes how the next
action is chosen, ``dueling`` the head, ``n_step`` the adder, ``buffer_type`` the buffer (the
last two live in the off-policy base).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from algos.base.networks import QNetwork
from algos.base.off_policy import OffPolicyPolicy, TensorBatch
from algos.DQN.config import AlgoConfig
from framework.data.types import ActOutput


class Policy(OffPolicyPolicy):
    obs_kinds = ("vector", "image", "discrete")
    action_kinds = ("discrete",)
    stochastic = False
    cfg: AlgoConfig

    def __init__(self, cfg: AlgoConfig, obs_space, action_space, **kwargs):
        super().__init__(cfg, obs_space, action_space, **kwargs)
        self.n_actions = int(action_space.n)
        self.action_start = int(action_space.start)
        q = QNetwork(
            self.obs_shape, cfg.value_layers, self.n_actions, cfg.dueling, ortho_init=cfg.ortho_init
        )
        self.q = self.add_network("q", q, acting=True)
        self.q_target = self.add_target("q_target", self.q)
        self.add_optimizer("q", self.q.parameters(), cfg.lr)

    # ---- acting ---------------------------------------------------------------------------
    @property
    def exploration(self) -> str:
        return "epsilon-greedy"

    @property
    def epsilon(self) -> float:
        c = self.cfg
        return c.epsilon_end + (c.epsilon_start - c.epsilon_end) * math.exp(
            -self.env_steps / c.epsilon_decay
        )

    def policy_act(self, obs, mode):
        with torch.no_grad():
            actions = self.q(self.preprocess(obs)).argmax(dim=1).cpu().numpy()
        if mode == "explore":
            explore = self.rng.random(len(actions)) < self.epsilon
            actions = np.where(explore, self.rng.integers(0, self.n_actions, len(actions)), actions)
        return ActOutput(actions + self.action_start, {})

    # ---- learning -------------------------------------------------------------------------
    def update(self, batch: TensorBatch):
        n = batch.n
        actions = (batch.actions.long() - self.action_start).view(-1, 1)
        if self.cfg.double_dqn:  # Q(s) and the online Q(s') in one forward pass
            q_all = self.q(batch.obs_all)
            q_values, next_online = q_all[:n], q_all[n:]
        else:
            q_values, next_online = self.q(batch.obs), None
        q = q_values.gather(1, actions).squeeze(1)
        with torch.no_grad():
            next_target = self.q_target(batch.next_obs)
            if next_online is not None:
                next_q = next_target.gather(1, next_online.argmax(dim=1, keepdim=True)).squeeze(1)
            else:
                next_q = next_target.max(dim=1).values
            target = batch.rewards + batch.discounts * next_q
        td = q - target
        if self.cfg.loss == "huber":
            per_sample = F.smooth_l1_loss(q, target, reduction="none")
        else:
            per_sample = td.pow(2)
        metrics: dict[str, float] = {}
        loss = batch.weighted_mean(per_sample)
        loss = loss + self.extra_loss("q", metrics, batch=batch, q_values=q_values, q=q)
        grad_norm = self.optimize("q", loss)
        metrics.update(
            loss=loss.item(), q_mean=q.mean().item(), grad_norm=grad_norm, epsilon=self.epsilon
        )
        return metrics, td.detach().abs().cpu().numpy()
