"""Action distributions as plain tensor functions (batched; last axis = action dimensions).

Building a ``torch.distributions`` object per env step or per minibatch costs more than the
small networks of classic control themselves; these functions compute the same quantities
with a few tensor ops. ``tests/test_distributions.py`` checks each against ``torch.distributions``.

- categorical (logits): :func:`categorical_sample`, :func:`categorical_log_prob`,
  :func:`categorical_entropy`, mode = argmax;
- diagonal Gaussian (mean, log_std): :func:`gaussian_sample`, :func:`gaussian_log_prob`,
  :func:`gaussian_entropy`, mode = mean;
- tanh-Gaussian (SAC): :func:`tanh_gaussian_rsample` (reparameterized, with the tanh
  log-det correction), mode = tanh(mean);
- deterministic with noise (TD3/DDPG): :class:`GaussianNoise`, :class:`OrnsteinUhlenbeckNoise`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
LOG_2 = math.log(2.0)


# ---- categorical ---------------------------------------------------------------------------------
def categorical_sample(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A sample per row and its log-probability."""
    logp_all = torch.log_softmax(logits, dim=-1)
    action = torch.multinomial(logp_all.exp(), 1)
    return action.squeeze(-1), logp_all.gather(-1, action).squeeze(-1)


def categorical_log_prob(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    logp_all = torch.log_softmax(logits, dim=-1)
    return logp_all.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)


def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    logp_all = torch.log_softmax(logits, dim=-1)
    return -(logp_all.exp() * logp_all).sum(-1)


def categorical_log_prob_entropy(
    logits: torch.Tensor, actions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both from one log-softmax (the on-policy minibatch loop needs both)."""
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    return logp, -(logp_all.exp() * logp_all).sum(-1)


# ---- diagonal Gaussian ---------------------------------------------------------------------------
def gaussian_sample(mean: torch.Tensor, log_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A sample (not reparameterized gradients-wise: for acting) and its summed log-prob."""
    noise = torch.randn_like(mean)
    log_std = log_std.expand_as(mean)
    sample = mean + noise * log_std.exp()
    return sample, (-0.5 * noise.pow(2) - log_std - HALF_LOG_2PI).sum(-1)


def gaussian_log_prob(mean: torch.Tensor, log_std: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    log_std = log_std.expand_as(mean)
    z = (x - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std - HALF_LOG_2PI).sum(-1)


def gaussian_entropy(log_std: torch.Tensor, batch_shape: torch.Size | None = None) -> torch.Tensor:
    ent = (log_std + 0.5 + HALF_LOG_2PI).sum(-1)
    return ent.expand(batch_shape) if batch_shape is not None else ent


# ---- tanh-squashed Gaussian (SAC) ---------------------------------------------------------------
def tanh_gaussian_rsample(
    mean: torch.Tensor, log_std: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """A reparameterized sample squashed into (-1, 1) and its log-probability, with the
    change-of-variables term in the numerically stable form
    log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u)) (as in SAC's reference code)."""
    log_std = log_std.expand_as(mean)
    u = mean + torch.randn_like(mean) * log_std.exp()
    logp = gaussian_log_prob(mean, log_std, u)
    logp = logp - (2 * (LOG_2 - u - F.softplus(-2 * u))).sum(-1)
    return torch.tanh(u), logp


# ---- deterministic actors with noise (TD3, DDPG) -------------------------------------------------
class GaussianNoise:
    """Independent N(0, sigma^2) noise per action dimension (in policy units)."""

    def __init__(self, shape: tuple[int, ...], sigma: float, rng: np.random.Generator):
        self.shape, self.sigma, self.rng = shape, sigma, rng

    def __call__(self, n: int) -> np.ndarray:
        return (self.rng.standard_normal((n, *self.shape)) * self.sigma).astype(np.float32)

    def reset(self, mask: np.ndarray) -> None:
        """Nothing to reset: the noise has no memory."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class OrnsteinUhlenbeckNoise:
    """Temporally correlated noise dx = theta * (0 - x) dt + sigma * sqrt(dt) * N(0, 1), one
    process per env stream (Lillicrap et al. 2016); ``reset(mask)`` restarts ended episodes."""

    def __init__(
        self,
        shape: tuple[int, ...],
        sigma: float,
        rng: np.random.Generator,
        theta: float = 0.15,
        dt: float = 1e-2,
    ):
        self.shape, self.sigma, self.rng, self.theta, self.dt = shape, sigma, rng, theta, dt
        self.x: np.ndarray | None = None

    def __call__(self, n: int) -> np.ndarray:
        if self.x is None or len(self.x) != n:
            self.x = np.zeros((n, *self.shape))
        self.x = (
            self.x
            - self.theta * self.x * self.dt
            + self.sigma * math.sqrt(self.dt) * self.rng.standard_normal(self.x.shape)
        )
        return self.x.astype(np.float32)

    def reset(self, mask: np.ndarray) -> None:
        if self.x is not None:
            self.x[np.asarray(mask, bool)] = 0.0

    def state_dict(self) -> dict:
        return {"x": None if self.x is None else self.x.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.x = state["x"]
