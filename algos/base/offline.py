"""Parts the offline algorithms share (BC, IQL): a policy head that gives the log-likelihood of
dataset actions, and the dataset actions in the head's units.

:class:`DatasetActor` is, for Discrete actions, a categorical head (logits), and for Box actions a
Gaussian with a tanh-bounded mean in policy units [-1, 1] and a state-independent log std (as in
IQL's reference implementation and CORL's): the likelihood of a dataset action is that of the
Gaussian at the action, with no change of variables, so actions on the bounds stay finite.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from algos.base.config import LayerSpec
from algos.base.distributions import categorical_log_prob, gaussian_log_prob
from algos.base.linear import Linear
from algos.base.networks import build_trunk
from algos.base.scaler import ActionScaler


class DatasetActor(nn.Module):
    def __init__(
        self,
        obs_shape: tuple[int, ...],
        layers: list[LayerSpec],
        action_space: gym.Space,
        algo: str,
        log_std_min: float = -5.0,
        log_std_max: float = 2.0,
        key: str = "actor_layers",
    ):
        super().__init__()
        self.trunk, hidden = build_trunk(obs_shape, layers, key)
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        if self.discrete:
            self.start = int(action_space.start)
            self.head = Linear(hidden, int(action_space.n))
        else:
            self.scaler = ActionScaler(action_space, squash=True, algo=algo)
            dim = int(action_space.shape[0])
            self.head = Linear(hidden, dim)
            self.log_std = nn.Parameter(torch.zeros(dim))
            self.log_std_min, self.log_std_max = log_std_min, log_std_max

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Logits (Discrete) or the mean in policy units [-1, 1] (Box)."""
        out = self.head(self.trunk(obs))
        return out if self.discrete else torch.tanh(out)

    def targets(self, actions: torch.Tensor) -> torch.Tensor:
        """Dataset actions in the head's units: indices, or Box actions mapped into [-1, 1]."""
        if self.discrete:
            return actions.long() - self.start
        return self.scaler.unscale(actions.float()).clamp(-1.0, 1.0)

    def log_prob(self, out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Log-likelihood of ``targets`` (see :meth:`targets`) under the head's output."""
        if self.discrete:
            return categorical_log_prob(out, targets)
        log_std = self.log_std.clamp(self.log_std_min, self.log_std_max).expand_as(out)
        return gaussian_log_prob(out, log_std, targets)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, sample: bool, rng: np.random.Generator) -> np.ndarray:
        """Env actions: the mode (greedy) or a sample of the head's distribution."""
        out = self(obs)
        if self.discrete:
            if sample:
                probs = F.softmax(out, dim=-1).cpu().numpy().astype(np.float64)
                u = rng.random((len(probs), 1))
                index = (probs.cumsum(axis=1) < u).sum(axis=1)
                return np.minimum(index, probs.shape[1] - 1) + self.start
            return out.argmax(dim=-1).cpu().numpy() + self.start
        if sample:
            std = self.log_std.clamp(self.log_std_min, self.log_std_max).exp()
            out = (out + torch.randn_like(out) * std).clamp(-1.0, 1.0)
        return self.scaler.clip_np(self.scaler.scale(out).cpu().numpy())
