"""Conservative Q-learning (Kumar et al. 2020): a learner's TD loss plus cql_alpha times
logsumexp_a Q(s, a) - Q(s, a_data), so actions outside the dataset are not overvalued.

No copy of a learner: the term is an extra loss on an existing one (``add_loss_term``).

- Discrete actions (CQL(H) on DQN, the paper's discrete variant on a Q-network): the logsumexp
  is exact over all actions, on DQN's Q-values of the batch.
- Box actions (on SAC): the logsumexp over sampled actions, ``cql_n_actions`` each of uniform
  actions and the policy's actions at s and s', each weighted by its density (the paper's
  importance-sampled CQL(H), as in its reference code and CORL), for every critic.
"""

from __future__ import annotations

import math

import gymnasium as gym
import torch

from algos.base.policy import BasePolicy
from algos.CQL.config import AlgoConfig
from algos.DQN.policy import Policy as DQNPolicy
from algos.SAC.policy import Policy as SACPolicy


class DiscreteCQL(DQNPolicy):
    obs_kinds = ("vector", "discrete")  # as declared below (SAC takes no images)
    offline = True
    cfg: AlgoConfig

    def __init__(self, cfg: AlgoConfig, obs_space, action_space, **kwargs):
        super().__init__(cfg, obs_space, action_space, **kwargs)
        self.add_loss_term("q", self.cql_term)

    def cql_term(self, q_values, q, **_):
        c = self.cfg
        t = c.cql_temperature
        gap = (t * torch.logsumexp(q_values / t, dim=1) - q).mean()
        return c.cql_alpha * gap, {"cql_gap": gap.item()}


class ContinuousCQL(SACPolicy):
    offline = True
    cfg: AlgoConfig

    def __init__(self, cfg: AlgoConfig, obs_space, action_space, **kwargs):
        super().__init__(cfg, obs_space, action_space, **kwargs)
        self.dim = int(action_space.shape[0])
        self.add_loss_term("critic", self.cql_term)

    def cql_term(self, batch, q, **_):
        c = self.cfg
        n, k, t = batch.n, c.cql_n_actions, c.cql_temperature
        obs = batch.obs.repeat(k, 1)  # [k * B, ...]: sample j of state i at j * B + i
        with torch.no_grad():
            uniform = torch.rand(k * n, self.dim, device=self.device) * 2 - 1
            pi, logp = self.sample_actions(obs)
            next_pi, next_logp = self.sample_actions(batch.next_obs.repeat(k, 1))
        actions = torch.cat([self.scaler.scale(uniform), pi, next_pi])
        q_ood = self.critic(obs.repeat(3, 1), actions).view(-1, 3, k, n)  # [critics, 3, k, B]
        uniform_logp = torch.full_like(logp, self.dim * math.log(0.5))
        logp_all = torch.stack([uniform_logp, logp, next_logp]).view(3, k, n)
        scores = (q_ood - logp_all).flatten(1, 2) / t  # importance weights: minus log-densities
        gap = (t * torch.logsumexp(scores, dim=1) - q).mean(dim=1)  # per critic
        return c.cql_alpha * gap.sum(), {"cql_gap": gap.mean().item()}


class Policy(BasePolicy):
    """Declarations of CQL; building one gives the learner for the action space."""

    obs_kinds = ("vector", "discrete")
    action_kinds = ("discrete", "box")
    stochastic = False
    offline = True
    learns_from_datasets = True

    def __new__(cls, cfg: AlgoConfig, obs_space, action_space, **kwargs):
        impl = DiscreteCQL if isinstance(action_space, gym.spaces.Discrete) else ContinuousCQL
        return impl(cfg, obs_space, action_space, **kwargs)
