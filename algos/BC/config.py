"""BC config (``algo_cfg`` when ``general_cfg.algo_name: BC``): behavior cloning from a dataset."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from algos.base.config import LayerSpec, OffPolicyConfig, mlp
from config.base import require


@dataclass
class AlgoConfig(OffPolicyConfig):
    actor_layers: list[LayerSpec] = field(default_factory=lambda: mlp(256, 256))
    """Hidden layers of the policy (a logits head for Discrete actions, a tanh-bounded mean for
    Box actions is added)."""
    loss: Literal["mse", "gaussian"] = "mse"
    """Box actions: mse (squared error of the mean, in units of the action half-range) or
    gaussian (negative log-likelihood of a Gaussian with a learned log std). Discrete actions:
    always cross-entropy."""
    lr: float = 1e-3
    """Learning rate of Adam."""
    batch_size: int = 256
    """Dataset transitions per gradient step."""
    max_grad_norm: float | None = None
    """Clip gradients to this global L2 norm (null: off)."""
    gradient_steps: int = 1
    """Gradient steps per loop step (evaluations and checkpoints happen between loop steps)."""
    learning_starts: int = 0
    """Not used offline (no warm-up: the dataset is there from the start)."""
    buffer_size: int = 1_000_000
    """Not used offline (the dataset buffer holds the whole dataset)."""

    def check(self) -> None:
        super().check()
        require(bool(self.actor_layers), "actor_layers", "needs at least one layer")
