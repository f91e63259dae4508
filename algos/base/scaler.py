"""The action scaler: between a policy's action units and a Box action space's bounds.

Two conventions, both ending in actions the env can execute (so replay, trajectory files and the
env all see the same action):
- ``clip``: policy units are env units (an unbounded Gaussian, as PPO's); actions are clipped to
  the bounds. The raw sample travels in ``act``'s extras for the likelihood ratio.
- ``squash``: policy units are [-1, 1] (a tanh-squashed or clipped actor, as SAC's and TD3's);
  ``scale`` maps them affinely onto [low, high] (CleanRL's ``action_scale``/``action_bias``), so
  critics see env-valid actions. Needs finite bounds.

A module (its bounds are buffers that follow the policy's device), with numpy twins for the
acting hot path.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from algos.base.spaces import UnsupportedSpace


class ActionScaler(nn.Module):
    def __init__(self, space: gym.spaces.Box, squash: bool = False, algo: str = "this algorithm"):
        super().__init__()
        low = np.broadcast_to(space.low, space.shape).astype(np.float32)
        high = np.broadcast_to(space.high, space.shape).astype(np.float32)
        if squash and not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise UnsupportedSpace(
                f"{algo} squashes actions into the Box bounds, but {space} is unbounded; wrap the "
                "env to bound its actions (env_cfg.wrappers: ClipAction / RescaleAction) or "
                "change general_cfg.algo_name",
                "action",
                "box",
            )
        self.low_np, self.high_np = low, high
        self.register_buffer("low", torch.as_tensor(low))
        self.register_buffer("high", torch.as_tensor(high))
        scale = (high - low) / 2 if squash else np.ones_like(low)
        bias = (high + low) / 2 if squash else np.zeros_like(low)
        self.register_buffer("scale_", torch.as_tensor(scale))
        self.register_buffer("bias", torch.as_tensor(bias))
        self.squash = squash

    def scale(self, u: torch.Tensor) -> torch.Tensor:
        """Policy units in [-1, 1] to env units (squash); identity for clip."""
        return u * self.scale_ + self.bias

    def unscale(self, a: torch.Tensor) -> torch.Tensor:
        """Env units to policy units (the inverse of :meth:`scale`)."""
        return (a - self.bias) / self.scale_

    def clip(self, a: torch.Tensor) -> torch.Tensor:
        return torch.maximum(torch.minimum(a, self.high), self.low)

    def clip_np(self, a: np.ndarray) -> np.ndarray:
        return np.minimum(np.maximum(a, self.low_np), self.high_np)
