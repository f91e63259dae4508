"""Implicit Q-learning (Kostrikov et al. 2022): in-sample Q-learning that never queries
actions outside the dataset.

- value: V(s) is the ``expectile`` of the target critics' min Q(s, a) over the dataset's
  actions (asymmetric squared loss |tau - 1(u < 0)| u^2, u = Q - V);
- critics: Q(s, a) regresses on r + gamma V(s') (no max over actions);
- actor: advantage-weighted regression, maximize exp(beta (Q - V)) log pi(a | s) with the
  weights capped at ``max_weight``.

Box actions use twin Q(s, a) critics and a Gaussian around a tanh-bounded mean; Discrete actions
use Q(s, .) networks and a categorical policy (``algos/base/offline.py``). Acting takes the
mean or argmax (``greedy``) or samples the policy (``explore``, ``sample``).
"""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

from algos.base.networks import ContinuousCritic, QNetwork
from algos.base.off_policy import OffPolicyPolicy, TensorBatch
from algos.base.offline import DatasetActor
from algos.IQL.config import AlgoConfig
from framework.data.types import ActOutput


class DiscreteCritics(nn.Module):
    """``n`` independent Q(s, .) networks; Q-values of the given actions, [n, B]."""

    def __init__(self, obs_shape, layers, n_actions: int, n: int):
        super().__init__()
        self.members = nn.ModuleList(
            QNetwork(obs_shape, layers, n_actions, key="critic_layers") for _ in range(n)
        )

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        index = actions.long().view(-1, 1)
        return torch.stack([m(obs).gather(1, index).squeeze(1) for m in self.members])


class Policy(OffPolicyPolicy):
    obs_kinds = ("vector", "discrete")
    action_kinds = ("discrete", "box")
    stochastic = True
    offline = True
    cfg: AlgoConfig

    def __init__(self, cfg: AlgoConfig, obs_space, action_space, **kwargs):
        super().__init__(cfg, obs_space, action_space, **kwargs)
        actor = DatasetActor(self.obs_shape, cfg.actor_layers, action_space, self.name)
        if isinstance(action_space, gym.spaces.Discrete):
            n = int(action_space.n)
            critic = DiscreteCritics(self.obs_shape, cfg.critic_layers, n, cfg.n_critics)
        else:
            dim = int(action_space.shape[0])
            critic = ContinuousCritic(self.obs_shape, dim, cfg.critic_layers, cfg.n_critics)
        value = QNetwork(self.obs_shape, cfg.value_layers, 1, key="value_layers")
        self.actor = self.add_network("actor", actor, acting=True)
        self.critic = self.add_network("critic", critic)
        self.value = self.add_network("value", value)
        self.critic_target = self.add_target("critic_target", self.critic)
        for name in ("actor", "critic", "value"):
            self.add_optimizer(name, getattr(self, name).parameters(), cfg.lr)

    def act(self, obs, mode="explore"):
        self.set_training(mode != "greedy")
        return ActOutput(self.actor.act(self.preprocess(obs), mode != "greedy", self.rng), {})

    def critic_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Dataset actions as the critics take them (indices from 0, or env units)."""
        return self.actor.targets(actions) if self.actor.discrete else actions

    def update(self, batch: TensorBatch):
        c = self.cfg
        actions = self.critic_actions(batch.actions)
        with torch.no_grad():
            q_target = self.critic_target(batch.obs, actions).min(dim=0).values
            next_v = self.value(batch.next_obs).squeeze(1)
            target = batch.rewards + batch.discounts * next_v
        v = self.value(batch.obs).squeeze(1)
        u = q_target - v
        weight = torch.abs(c.expectile - (u < 0).float())
        value_loss = (weight * u.pow(2)).mean()
        self.optimize("value", value_loss)

        q = self.critic(batch.obs, actions)
        critic_loss = (q - target).pow(2).sum(dim=0).mean()
        self.optimize("critic", critic_loss)

        weights = torch.exp(c.beta * u.detach()).clamp(max=c.max_weight)
        log_prob = self.actor.log_prob(self.actor(batch.obs), self.actor.targets(batch.actions))
        actor_loss = -(weights * log_prob).mean()
        self.optimize("actor", actor_loss)
        values = torch.stack([value_loss, critic_loss, actor_loss, v.mean(), weights.mean()])
        names = ("value_loss", "critic_loss", "actor_loss", "v_mean", "awr_weight")
        return dict(zip(names, values.detach().tolist())), None
