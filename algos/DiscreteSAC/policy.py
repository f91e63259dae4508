"""Discrete SAC (Christodoulou 2019): SAC for Discrete actions, with a categorical actor whose
expectations over actions are computed exactly instead of sampled.

- critics: ``n_critics`` Q(s, .) networks (one value per action); the soft target is
  V(s') = sum_a pi(a|s') (min_i Q_i'(s', a) - alpha log pi(a|s'));
- actor: minimizes sum_a pi(a|s) (alpha log pi(a|s) - min_i Q_i(s, a)), with the critics' values
  of the same update (computed once, before their step);
- temperature: automatic tuning toward ``target_entropy_scale * log(n_actions)``, or fixed.

Acting: ``explore`` and ``sample`` draw from pi (``explore`` uniformly during the warm-up),
``greedy`` takes its most likely action.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from algos.base.distributions import categorical_sample
from algos.base.networks import QNetwork, Temperature
from algos.base.off_policy import OffPolicyPolicy, TensorBatch
from algos.DiscreteSAC.config import AlgoConfig
from framework.data.types import ActOutput


class Critics(nn.ModuleList):
    """``n`` Q(s, .) networks; returns [n, B, n_actions]."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.stack([q(obs) for q in self])


class Policy(OffPolicyPolicy):
    obs_kinds = ("vector", "image", "discrete")
    action_kinds = ("discrete",)
    stochastic = True
    cfg: AlgoConfig

    def __init__(self, cfg: AlgoConfig, obs_space, action_space, **kwargs):
        super().__init__(cfg, obs_space, action_space, **kwargs)
        n = int(action_space.n)
        self.action_start = int(action_space.start)
        # a trunk with one output per action: the same shape as a Q-network, read as logits
        actor = QNetwork(self.obs_shape, cfg.actor_layers, n, key="actor_layers")
        critics = Critics(
            QNetwork(self.obs_shape, cfg.critic_layers, n, key="critic_layers")
            for _ in range(cfg.n_critics)
        )
        self.actor = self.add_network("actor", actor, acting=True)
        self.critic = self.add_network("critic", critics)
        self.critic_target = self.add_target("critic_target", self.critic)
        self.temperature = self.add_network("temperature", Temperature(cfg.alpha))
        self.add_optimizer("actor", self.actor.parameters(), cfg.lr)
        self.add_optimizer("critic", self.critic.parameters(), cfg.critic_lr or cfg.lr)
        if cfg.autotune:
            self.add_optimizer("alpha", self.temperature.parameters(), cfg.alpha_lr or cfg.lr)
        self.target_entropy = cfg.target_entropy_scale * math.log(n)

    # ---- acting ---------------------------------------------------------------------------
    def policy_act(self, obs, mode):
        with torch.no_grad():
            logits = self.actor(self.preprocess(obs))
            if mode == "greedy":
                actions = logits.argmax(dim=-1)
            else:
                actions = categorical_sample(logits)[0]
        return ActOutput(actions.cpu().numpy() + self.action_start, {})

    # ---- learning -------------------------------------------------------------------------
    def update(self, batch: TensorBatch):
        metrics: dict[str, float] = {}
        alpha = self.temperature().detach()
        actions = (batch.actions.long() - self.action_start)[None, :, None]
        with torch.no_grad():
            next_log_pi = torch.log_softmax(self.actor(batch.next_obs), dim=-1)
            next_q = self.critic_target(batch.next_obs).min(dim=0).values
            next_v = (next_log_pi.exp() * (next_q - alpha * next_log_pi)).sum(dim=-1)
            target = batch.rewards + batch.discounts * next_v
        q_all = self.critic(batch.obs)  # [n_critics, B, n_actions]
        q = q_all.gather(2, actions.expand(self.cfg.n_critics, -1, 1))
        td = q.squeeze(2) - target  # [n_critics, B]
        critic_loss = batch.weighted_mean(td.pow(2).sum(dim=0))
        critic_loss = critic_loss + self.extra_loss(
            "critic", metrics, batch=batch, q=q.squeeze(2), target=target
        )
        self.optimize("critic", critic_loss)

        log_pi = torch.log_softmax(self.actor(batch.obs), dim=-1)
        pi = log_pi.exp()
        # the critics' values from before their step (one critic pass less per update; the
        # reference SAC implementation also updates critics and actor from the same values)
        q_now = q_all.detach().min(dim=0).values
        actor_loss = (pi * (alpha * log_pi - q_now)).sum(dim=-1).mean()
        actor_loss = actor_loss + self.extra_loss(
            "actor", metrics, batch=batch, log_pi=log_pi, q=q_now
        )
        self.optimize("actor", actor_loss)
        neg_entropy = (pi * log_pi).detach().sum(dim=-1)  # E_pi[log pi] per state
        if self.cfg.autotune:
            self.optimize("alpha", self.temperature.loss(neg_entropy + self.target_entropy))
        values = torch.stack(
            [
                critic_loss.detach(),
                actor_loss.detach(),
                -neg_entropy.mean(),
                q.detach().mean(),
                alpha,
            ]
        )
        names = ("critic_loss", "actor_loss", "entropy", "q_mean", "alpha")
        metrics.update(zip(names, values.tolist()))
        priorities = None
        if self.cfg.buffer_type == "PER_QUE":
            priorities = td.detach().abs().mean(dim=0).cpu().numpy()
        return metrics, priorities
