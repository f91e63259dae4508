"""TD3 (Fujimoto et al. 2018) and, with its tricks switched off, DDPG (Lillicrap et al. 2016).

A deterministic actor a = scale(tanh(f(s))) inside the Box bounds, and ``n_critics`` Q(s, a)
critics on env-unit actions (as replay stores them). TD3's three tricks are switches:
clipped double Q-learning (``n_critics: 2``, the target takes the minimum), target policy
smoothing (``target_noise``: clipped Gaussian noise on the target action) and delayed actor
and target updates (``policy_delay``). DDPG is ``n_critics: 1, policy_delay: 1,
target_noise: 0`` (``algos/DDPG/config.py``).

Exploration: Gaussian or Ornstein-Uhlenbeck noise in units of the action half-range, clipped to
the bounds. The OU processes (one per env stream) restart where an episode ended; the policy
learns of episode ends from the collected data, so a process restarts at the end of the
collection phase in which its episode ended (with ``train_freq`` of one vector step, exactly at
the episode's end).

Extra loss terms (offline variants such as TD3+BC) are added to the critic loss
(``extra_loss("critic", batch, q, target)``) and the actor loss (``extra_loss("actor", batch,
actions, q)``: the actor's actions and their Q-values).
"""

from __future__ import annotations

import torch

from algos.base.distributions import GaussianNoise, OrnsteinUhlenbeckNoise
from algos.base.networks import ContinuousCritic, DeterministicActor
from algos.base.off_policy import OffPolicyPolicy, TensorBatch
from algos.base.scaler import ActionScaler
from algos.TD3.config import AlgoConfig
from framework.data.adders import NStepAdder
from framework.data.types import ActOutput, StepBatch


class NoiseResetAdder(NStepAdder):
    """The n-step adder, restarting the exploration noise of the envs whose episode ended."""

    def __init__(self, n_step: int, gamma: float, noise):
        super().__init__(n_step, gamma)
        self.noise = noise

    def __call__(self, batch: StepBatch):
        self.noise.reset((batch.terminated | batch.truncated).any(axis=0))
        return super().__call__(batch)


class Policy(OffPolicyPolicy):
    obs_kinds = ("vector", "discrete")
    action_kinds = ("box",)
    stochastic = False
    cfg: AlgoConfig

    def __init__(self, cfg: AlgoConfig, obs_space, action_space, **kwargs):
        super().__init__(cfg, obs_space, action_space, **kwargs)
        dim = int(action_space.shape[0])
        self.scaler = ActionScaler(action_space, squash=True, algo=self.name)
        self.half_range = (self.scaler.high_np - self.scaler.low_np) / 2
        actor = DeterministicActor(self.obs_shape, cfg.actor_layers, dim, self.scaler)
        critic = ContinuousCritic(self.obs_shape, dim, cfg.critic_layers, cfg.n_critics)
        self.actor = self.add_network("actor", actor, acting=True)
        self.critic = self.add_network("critic", critic)
        self.actor_target = self.add_target("actor_target", self.actor)
        self.critic_target = self.add_target("critic_target", self.critic)
        self.add_optimizer("actor", self.actor.parameters(), cfg.lr)
        self.add_optimizer("critic", self.critic.parameters(), cfg.critic_lr or cfg.lr)
        if cfg.exploration_noise == "ou":
            self.noise = OrnsteinUhlenbeckNoise(
                (dim,), cfg.noise_std, self.rng, cfg.ou_theta, cfg.ou_dt
            )
        else:
            self.noise = GaussianNoise((dim,), cfg.noise_std, self.rng)
        self.actor_due = False
        self.last_actor_loss = torch.zeros(())

    # ---- acting ---------------------------------------------------------------------------
    @property
    def exploration(self) -> str:
        return f"{self.cfg.exploration_noise}-noise"

    def policy_act(self, obs, mode):
        with torch.no_grad():
            actions = self.actor(self.preprocess(obs)).cpu().numpy()
        if mode == "explore" and self.cfg.noise_std > 0:
            actions = actions + self.noise(len(actions)) * self.half_range
        return ActOutput(self.scaler.clip_np(actions).astype(self.action_space.dtype), {})

    def make_adder(self, n_envs: int) -> NStepAdder:
        return NoiseResetAdder(self.cfg.n_step, self.cfg.gamma, self.noise)

    # ---- learning -------------------------------------------------------------------------
    def update(self, batch: TensorBatch):
        c = self.cfg
        metrics: dict[str, float] = {}
        with torch.no_grad():
            next_actions = self.actor_target(batch.next_obs)
            if c.target_noise > 0:  # target policy smoothing
                noise = torch.randn_like(next_actions) * c.target_noise
                noise = noise.clamp(-c.target_noise_clip, c.target_noise_clip)
                next_actions = self.scaler.clip(next_actions + noise * self.scaler.scale_)
            next_q = self.critic_target(batch.next_obs, next_actions).min(dim=0).values
            target = batch.rewards + batch.discounts * next_q
        q = self.critic(batch.obs, batch.actions)  # [n_critics, B]
        td = q - target
        critic_loss = batch.weighted_mean(td.pow(2).sum(dim=0))
        critic_loss = critic_loss + self.extra_loss(
            "critic", metrics, batch=batch, q=q, target=target
        )
        self.optimize("critic", critic_loss)

        self.actor_due = (self.update_step + 1) % c.policy_delay == 0
        if self.actor_due:
            self.critic.requires_grad_(False)  # the actor's loss needs no critic gradients
            actions = self.actor(batch.obs)
            q_pi = self.critic(batch.obs, actions, members=1)[0]  # Q1, as in the paper
            actor_loss = -q_pi.mean()
            actor_loss = actor_loss + self.extra_loss(
                "actor", metrics, batch=batch, actions=actions, q=q_pi
            )
            self.optimize("actor", actor_loss)
            self.critic.requires_grad_(True)
            self.last_actor_loss = actor_loss.detach()
        values = torch.stack([critic_loss.detach(), self.last_actor_loss, q.detach().mean()])
        metrics.update(zip(("critic_loss", "actor_loss", "q_mean"), values.tolist()))
        priorities = None
        if c.buffer_type == "PER_QUE":
            priorities = td.detach().abs().mean(dim=0).cpu().numpy()
        return metrics, priorities

    def update_targets(self) -> None:
        if self.actor_due:  # the targets move with the (delayed) actor
            super().update_targets()

    # ---- state ----------------------------------------------------------------------------
    def extra_state(self) -> dict:
        return {"noise": self.noise.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        if "noise" in state:
            self.noise.load_state_dict(state["noise"])
