"""Config pieces shared by every algorithm: layer specs and the common training switches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from config.base import BaseConfig, FieldError, require

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "leaky_relu", "gelu", "silu", "softplus", "none")
LAYER_TYPES = ("linear", "conv2d", "flatten", "layernorm")


@dataclass
class LayerSpec(BaseConfig):
    """One layer of a network, e.g. ``{layer_type: linear, layer_dim: [256], activation: relu}``."""

    layer_type: Literal["linear", "conv2d", "flatten", "layernorm"] = "linear"
    """linear, conv2d (input [C, H, W]), flatten or layernorm."""
    layer_dim: list[int] = field(default_factory=list)
    """linear: [units]; conv2d: [out_channels]; unused by flatten and layernorm."""
    activation: str = "relu"
    """One of relu, tanh, sigmoid, elu, leaky_relu, gelu, silu, softplus, none."""
    kernel_size: int = 3
    """conv2d only: kernel size."""
    stride: int = 1
    """conv2d only: stride."""
    padding: int = 0
    """conv2d only: zero padding."""

    def check(self) -> None:
        require(
            self.activation in ACTIVATIONS,
            "activation",
            f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}",
        )
        if self.layer_type in ("linear", "conv2d"):
            require(
                len(self.layer_dim) == 1 and self.layer_dim[0] > 0,
                "layer_dim",
                f"{self.layer_type} needs layer_dim: [size] with size > 0",
            )
        if self.layer_type == "conv2d":
            require(self.kernel_size > 0 and self.stride > 0, "kernel_size", "must be > 0")

    @classmethod
    def from_value(cls, value, path):
        obj = super().from_value(value, path)
        try:
            obj.check()
        except FieldError as err:
            raise FieldError(f"{path}.{err.key}", err.message) from None
        return obj


def mlp(*sizes: int, activation: str = "relu") -> list[LayerSpec]:
    """Layer list of linear layers, for defaults."""
    return [LayerSpec("linear", [s], activation) for s in sizes]


@dataclass
class BaseAlgoConfig(BaseConfig):
    """Fields every algorithm has; an algorithm's config derives from this."""

    gamma: float = 0.99
    """Discount factor in [0, 1]."""
    lr: float = 3e-4
    """Learning rate of the optimizer (Adam)."""
    batch_size: int = 64
    """Samples per gradient step (PPO: minibatch size)."""
    max_grad_norm: float | None = 10.0
    """Clip gradients to this global L2 norm (null: off)."""
    grad_clip_value: float | None = None
    """Clip each gradient element to [-v, v] (null: off)."""
    lr_schedule: Literal["constant", "linear", "adaptive_kl"] = "constant"
    """constant; linear: decay to lr_end over the env-step budget; adaptive_kl: PPO only, raise or
    lower lr to keep the measured KL near target_kl."""
    lr_end: float = 0.0
    """Floor of the linear schedule."""
    obs_norm: bool = False
    """Normalize observations by running mean and std (updated while training only; saved in every
    checkpoint; frozen in evaluation, test, render and collection)."""
    obs_norm_clip: float = 10.0
    """Clip normalized observations to [-c, c]."""
    reward_scale: bool = False
    """Divide rewards by the running std of the discounted return (learning only; logs and
    trajectories keep raw rewards)."""
    reward_clip: float | None = None
    """Clip (scaled) rewards to [-c, c] for learning (null: off)."""
    ortho_init: bool = False
    """Orthogonal weight initialization (hidden gain sqrt(2), policy head 0.01, value head 1)."""

    def check(self) -> None:
        require(0.0 <= self.gamma <= 1.0, "gamma", f"must be in [0, 1], got {self.gamma}")
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        require(0 <= self.lr_end <= self.lr, "lr_end", "must be in [0, lr]")
        require(self.batch_size > 0, "batch_size", f"must be > 0, got {self.batch_size}")
        require(
            self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm", "must be > 0"
        )
        require(
            self.grad_clip_value is None or self.grad_clip_value > 0,
            "grad_clip_value",
            "must be > 0",
        )
        require(self.obs_norm_clip > 0, "obs_norm_clip", "must be > 0")
        require(self.reward_clip is None or self.reward_clip > 0, "reward_clip", "must be > 0")
