"""Value heads of the one DQN learner: what the Q-network outputs for each action, how that
becomes greedy Q-values, the Bellman target, and the per-sample loss (also the PER priority).

- :class:`ScalarHead` (DQN, Mnih et al. 2015): one Q-value per action; Huber or squared TD
  error; priority |TD error| (Schaul et al. 2016).
- :class:`CategoricalHead` (C51, Bellemare et al. 2017): logits over ``n_atoms`` fixed returns
  on [v_min, v_max]; the target distribution r + gamma^n z is projected back onto the support;
  cross-entropy loss (its value is Rainbow's priority, Hessel et al. 2018).
- :class:`QuantileHead` (QR-DQN, Dabney et al. 2018a): ``n_quantiles`` returns at the fixed
  fractions (2i + 1) / 2N; quantile Huber loss against the target's quantiles.
- :class:`ImplicitHead` (IQN, Dabney et al. 2018b): the quantile at any fraction tau, through a
  cosine embedding of tau multiplied into the state features; fractions are sampled per
  transition for learning and exploring, and evenly spaced for greedy acting.

Every head outputs per action a vector of K "atoms" (1 for the scalar head), so the learner in
``policy.py`` is the same for all: dueling (per atom) and noisy output layers come with the
network the head builds.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from algos.base.linear import Linear
from algos.base.networks import QHead, QNetwork, build_trunk, orthogonal_init
from algos.DQN.config import AlgoConfig

ForwardMode = Literal["learn", "explore", "greedy"]


class HeadOut(NamedTuple):
    """A head's output for a batch: ``values`` [B, A] (scalar) or [B, A, K] (logits or
    quantiles), and for the implicit head the fractions ``taus`` [B, K] they are at."""

    values: torch.Tensor
    taus: torch.Tensor | None = None

    def split(self, n: int) -> tuple[HeadOut, HeadOut]:
        """The first n rows and the rest (s and s' of one forward pass)."""
        taus = (None, None) if self.taus is None else (self.taus[:n], self.taus[n:])
        return HeadOut(self.values[:n], taus[0]), HeadOut(self.values[n:], taus[1])


class ScalarHead:
    atoms = 1  # outputs per action

    def __init__(self, cfg: AlgoConfig, n_actions: int, device: torch.device):
        self.cfg, self.n_actions = cfg, n_actions

    def network(self, obs_shape: tuple[int, ...]) -> nn.Module:
        c = self.cfg
        return QNetwork(
            obs_shape,
            c.value_layers,
            self.n_actions,
            c.dueling,
            atoms=self.atoms,
            ortho_init=c.ortho_init,
            noisy=c.noisy,
            sigma_init=c.sigma_init,
        )

    def forward(self, net: nn.Module, obs: torch.Tensor, mode: ForwardMode) -> HeadOut:
        return HeadOut(net(obs))

    def q_values(self, out: HeadOut) -> torch.Tensor:
        """Greedy Q-values [B, A]."""
        return out.values

    def taken(self, out: HeadOut, actions: torch.Tensor) -> torch.Tensor:
        """The taken actions' output: [B] (scalar) or [B, K]."""
        if out.values.dim() == 2:
            return out.values.gather(1, actions.view(-1, 1)).squeeze(1)
        index = actions.view(-1, 1, 1).expand(-1, 1, out.values.shape[2])
        return out.values.gather(1, index).squeeze(1)

    def mean(self, taken: torch.Tensor) -> torch.Tensor:
        """Q-values [B] of the taken actions' output."""
        return taken

    def target(
        self, next_taken: torch.Tensor, rewards: torch.Tensor, discounts: torch.Tensor
    ) -> torch.Tensor:
        """The Bellman target from the next action's (target-network) output; ``discounts``
        are gamma^n, 0 where the episode terminated."""
        return rewards + discounts * next_taken

    def loss(
        self, taken: torch.Tensor, taus: torch.Tensor | None, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample loss [B] and PER priority [B]."""
        td = taken - target
        if self.cfg.loss == "mse":
            per_sample = td.pow(2)
        else:
            per_sample = F.smooth_l1_loss(taken, target, reduction="none")
        return per_sample, td.detach().abs()


class CategoricalHead(ScalarHead):
    def __init__(self, cfg: AlgoConfig, n_actions: int, device: torch.device):
        super().__init__(cfg, n_actions, device)
        self.atoms = cfg.n_atoms
        self.support = torch.linspace(cfg.v_min, cfg.v_max, cfg.n_atoms, device=device)
        self.delta = (cfg.v_max - cfg.v_min) / (cfg.n_atoms - 1)

    def q_values(self, out: HeadOut) -> torch.Tensor:
        return (out.values.softmax(-1) * self.support).sum(-1)

    def mean(self, taken: torch.Tensor) -> torch.Tensor:
        return (taken.softmax(-1) * self.support).sum(-1)

    def target(self, next_taken, rewards, discounts):
        """The distribution of r + gamma^n z, projected onto the support: the mass of each
        shifted atom goes to its two neighbours l <= b <= u in proportion to closeness
        (Bellemare et al. 2017, Algorithm 1); all of it to l where b falls on an atom."""
        c = self.cfg
        probs = next_taken.softmax(-1)
        shifted = (rewards[:, None] + discounts[:, None] * self.support).clamp(c.v_min, c.v_max)
        b = (shifted - c.v_min) / self.delta  # position on the support, in [0, n_atoms - 1]
        lower, upper = b.floor(), b.ceil()
        to_lower = upper - b + (lower == upper).to(b.dtype)
        target = torch.zeros_like(probs)
        target.scatter_add_(1, lower.long(), probs * to_lower)
        target.scatter_add_(1, upper.long(), probs * (b - lower))
        return target

    def loss(self, taken, taus, target):
        cross_entropy = -(target * taken.log_softmax(-1)).sum(-1)
        return cross_entropy, cross_entropy.detach()


def quantile_huber(
    current: torch.Tensor, taus: torch.Tensor, target: torch.Tensor, kappa: float
) -> torch.Tensor:
    """Per-sample quantile Huber loss [B] of quantiles ``current`` [B, N] at fractions ``taus``
    ([B, N] or [1, N]) against target samples [B, M]: the sum over i of the mean over j of
    |tau_i - 1{u_ij < 0}| * Huber_kappa(u_ij) / kappa, with u_ij = target_j - current_i (Dabney
    et al. 2018, QR-DQN eq. 10 and IQN eq. 3)."""
    u = target[:, None, :] - current[:, :, None]
    abs_u = u.abs()
    # Huber as c (|u| - c / 2) with c = min(|u|, kappa): the same values and gradients, bit for
    # bit, as the two-branch where(|u| <= kappa, u^2 / 2, kappa (|u| - kappa / 2)), in fewer
    # ops (the loss and its backward took a quarter of an IQN update on CartPole)
    c = abs_u.clamp(max=kappa)
    huber = c * (abs_u - 0.5 * c)
    weight = (taus[:, :, None] - (u.detach() < 0).to(u.dtype)).abs()
    return (weight * huber).mean(2).sum(1) / kappa


class QuantileHead(ScalarHead):
    def __init__(self, cfg: AlgoConfig, n_actions: int, device: torch.device):
        super().__init__(cfg, n_actions, device)
        n = self.atoms = cfg.n_quantiles
        self.taus = ((torch.arange(n, device=device) + 0.5) / n).view(1, n)

    def q_values(self, out: HeadOut) -> torch.Tensor:
        return out.values.mean(-1)

    def mean(self, taken: torch.Tensor) -> torch.Tensor:
        return taken.mean(-1)

    def target(self, next_taken, rewards, discounts):
        return rewards[:, None] + discounts[:, None] * next_taken

    def loss(self, taken, taus, target):
        per_sample = quantile_huber(
            taken, self.taus if taus is None else taus, target, self.cfg.kappa
        )
        return per_sample, per_sample.detach()


class ImplicitQNetwork(nn.Module):
    """IQN's network: state features psi(s) [B, H] times a cosine embedding of each fraction,
    phi(tau) = ReLU(W cos(pi i tau) + b) for i = 0..n_cos-1 [B, K, H], then the Q head per
    fraction: quantiles [B, A, K] (Dabney et al. 2018b, eq. 4)."""

    def __init__(self, obs_shape: tuple[int, ...], cfg: AlgoConfig, n_actions: int):
        super().__init__()
        self.trunk, hidden = build_trunk(obs_shape, cfg.value_layers, "value_layers")
        self.embed = Linear(cfg.n_cos, hidden)
        self.register_buffer("freqs", math.pi * torch.arange(cfg.n_cos, dtype=torch.float32))
        self.out = QHead(hidden, n_actions, 1, cfg.dueling, cfg.noisy, cfg.sigma_init)
        if cfg.ortho_init:
            orthogonal_init(self.trunk, self.out.head, 1.0)
            if self.out.value is not None:
                orthogonal_init(nn.Identity(), self.out.value, 1.0)

    def forward(self, obs: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
        h = self.trunk(obs)
        phi = F.relu(self.embed(torch.cos(taus[..., None] * self.freqs)))
        return self.out(h[:, None, :] * phi).transpose(1, 2)


class ImplicitHead(QuantileHead):
    def __init__(self, cfg: AlgoConfig, n_actions: int, device: torch.device):
        ScalarHead.__init__(self, cfg, n_actions, device)
        self.atoms = cfg.n_tau
        k = cfg.n_tau_act
        self.greedy_taus = ((torch.arange(k, device=device) + 0.5) / k).view(1, k)

    def network(self, obs_shape: tuple[int, ...]) -> nn.Module:
        return ImplicitQNetwork(obs_shape, self.cfg, self.n_actions)

    def forward(self, net, obs, mode):
        n = len(obs)
        if mode == "greedy":  # evenly spaced: deterministic evaluation
            taus = self.greedy_taus.expand(n, -1)
        else:
            k = self.cfg.n_tau if mode == "learn" else self.cfg.n_tau_act
            taus = torch.rand(n, k, device=obs.device)
        return HeadOut(net(obs, taus), taus)


HEADS = {
    "scalar": ScalarHead,
    "categorical": CategoricalHead,
    "quantile": QuantileHead,
    "implicit": ImplicitHead,
}


def make_head(cfg: AlgoConfig, n_actions: int, device: torch.device) -> ScalarHead:
    return HEADS[cfg.head](cfg, n_actions, device)
