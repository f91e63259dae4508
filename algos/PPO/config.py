"""PPO config (``algo_cfg`` when ``general_cfg.algo_name: PPO``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from algos.base.config import LayerSpec, OnPolicyConfig, mlp
from config.base import require


@dataclass
class AlgoConfig(OnPolicyConfig):
    actor_layers: list[LayerSpec] = field(default_factory=lambda: mlp(64, 64, activation="tanh"))
    """Hidden layers of the policy network (output head added)."""
    critic_layers: list[LayerSpec] = field(default_factory=lambda: mlp(64, 64, activation="tanh"))
    """Hidden layers of the value network (output head added)."""
    shared_trunk: bool = False
    """Actor and critic share actor_layers as one trunk (critic_layers is then unused)."""
    lr_schedule: Literal["constant", "linear", "adaptive_kl"] = "constant"
    """constant; linear: decay to lr_end over the budget; adaptive_kl: raise or lower the learning
    rate to keep the measured KL near target_kl."""
    clip_coef: float = 0.2
    """PPO ratio clip range."""
    clip_vloss: bool = False
    """Clip the value update to clip_coef around the old value (value-function clipping)."""
    target_kl: float | None = None
    """Stop the epochs early when the approximate KL exceeds 1.5 * target_kl; with
    lr_schedule: adaptive_kl, the KL the learning rate is steered to."""

    def check(self) -> None:
        super().check()
        require(self.clip_coef > 0, "clip_coef", "must be > 0")
        require(self.target_kl is None or self.target_kl > 0, "target_kl", "must be > 0")
        require(
            self.lr_schedule != "adaptive_kl" or self.target_kl is not None,
            "target_kl",
            "lr_schedule adaptive_kl needs target_kl",
        )
