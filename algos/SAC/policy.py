"""SAC (Haarnoja et al. 2018a/b): a tanh-squashed Gaussian actor, twin critics with clipped double
Q-learning, and automatic entropy tuning toward a target entropy (or a fixed alpha).

Actions: the actor's tanh sample in [-1, 1] is scaled onto the Box bounds by the action scaler,
so replay and the critics see env-unit actions. Acting: ``explore`` and ``sample`` draw from the
policy (``explore`` draws uniformly during the warm-up), ``greedy`` takes tanh(mean).

Extra loss terms (offline variants such as CQL) are added to the critic loss
(``extra_loss("critic", batch, q, target)``) and the actor loss (``extra_loss("actor", batch,
actions, q, log_prob)``: the actor's reparameterized actions, their Q-values and log-probs).
"""

from __future__ import annotations

import torch

from algos.base.distributions import tanh_gaussian_rsample
from algos.base.networks import ContinuousCritic, GaussianActorHead, Temperature
from algos.base.off_policy import OffPolicyPolicy, TensorBatch
from algos.base.scaler import ActionScaler
from algos.SAC.config import AlgoConfig
from framework.data.types import ActOutput


class Policy(OffPolicyPolicy):
    obs_kinds = ("vector", "discrete")
    action_kinds = ("box",)
    stochastic = True
    cfg: AlgoConfig

    def __init__(self, cfg: AlgoConfig, obs_space, action_space, **kwargs):
        super().__init__(cfg, obs_space, action_space, **kwargs)
        dim = int(action_space.shape[0])
        self.scaler = ActionScaler(action_space, squash=True, algo=self.name).to(self.device)
        actor = GaussianActorHead(
            self.obs_shape, cfg.actor_layers, dim, cfg.log_std_min, cfg.log_std_max
        )
        critic = ContinuousCritic(self.obs_shape, dim, cfg.critic_layers, cfg.n_critics)
        self.actor = self.add_network("actor", actor, acting=True)
        self.critic = self.add_network("critic", critic)
        self.critic_target = self.add_target("critic_target", self.critic)
        self.temperature = self.add_network("temperature", Temperature(cfg.alpha))
        self.add_optimizer("actor", self.actor.parameters(), cfg.lr)
        self.add_optimizer("critic", self.critic.parameters(), cfg.critic_lr or cfg.lr)
        if cfg.autotune:
            self.add_optimizer("alpha", self.temperature.parameters(), cfg.alpha_lr or cfg.lr)
        self.target_entropy = -float(dim) if cfg.target_entropy is None else cfg.target_entropy
        self.last_actor = torch.zeros(2)  # actor loss and entropy of the last actor update

    # ---- acting ---------------------------------------------------------------------------
    def policy_act(self, obs, mode):
        with torch.no_grad():
            mean, log_std = self.actor(self.preprocess(obs))
            if mode != "greedy":
                mean = mean + torch.randn_like(mean) * log_std.exp()
            actions = self.scaler.scale(torch.tanh(mean)).cpu().numpy()
        return ActOutput(self.scaler.clip_np(actions), {})

    def sample_actions(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterized actions in env units and their log-probabilities."""
        u, log_prob = tanh_gaussian_rsample(*self.actor(obs))
        return self.scaler.scale(u), log_prob

    # ---- learning -------------------------------------------------------------------------
    def update(self, batch: TensorBatch):
        c = self.cfg
        metrics: dict[str, float] = {}
        alpha = self.temperature().detach()
        with torch.no_grad():
            next_actions, next_log_prob = self.sample_actions(batch.next_obs)
            next_q = self.critic_target(batch.next_obs, next_actions).min(dim=0).values
            target = batch.rewards + batch.discounts * (next_q - alpha * next_log_prob)
        q = self.critic(batch.obs, batch.actions)  # [n_critics, B]
        td = q - target
        critic_loss = batch.weighted_mean(td.pow(2).sum(dim=0))
        critic_loss = critic_loss + self.extra_loss(
            "critic", metrics, batch=batch, q=q, target=target
        )
        self.optimize("critic", critic_loss)

        if (self.update_step + 1) % c.policy_delay == 0:
            self.critic.requires_grad_(False)  # the actor's loss needs no critic gradients
            actions, log_prob = self.sample_actions(batch.obs)
            q_pi = self.critic(batch.obs, actions).min(dim=0).values
            actor_loss = (alpha * log_prob - q_pi).mean()
            actor_loss = actor_loss + self.extra_loss(
                "actor", metrics, batch=batch, actions=actions, q=q_pi, log_prob=log_prob
            )
            self.optimize("actor", actor_loss)
            self.critic.requires_grad_(True)
            if c.autotune:
                self.optimize("alpha", self.temperature.loss(log_prob + self.target_entropy))
            self.last_actor = torch.stack([actor_loss.detach(), -log_prob.detach().mean()])
        values = torch.cat(
            [critic_loss.detach()[None], self.last_actor, q.detach().mean()[None], alpha[None]]
        )
        metrics.update(
            zip(("critic_loss", "actor_loss", "entropy", "q_mean", "alpha"), values.tolist())
        )
        priorities = None
        if c.buffer_type == "PER_QUE":
            priorities = td.detach().abs().mean(dim=0).cpu().numpy()
        return metrics, priorities
