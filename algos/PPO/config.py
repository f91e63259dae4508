"""PPO config (``algo_cfg`` when ``general_cfg.algo_name: PPO``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from algos.base.config import BaseAlgoConfig, LayerSpec, mlp
from config.base import require


@dataclass
class AlgoConfig(BaseAlgoConfig):
    actor_layers: list[LayerSpec] = field(default_factory=lambda: mlp(64, 64, activation="tanh"))
    """Hidden layers of the policy network (output head added)."""
    critic_layers: list[LayerSpec] = field(default_factory=lambda: mlp(64, 64, activation="tanh"))
    """Hidden layers of the value network (output head added)."""
    shared_trunk: bool = False
    """Actor and critic share actor_layers as one trunk (critic_layers is then unused)."""
    lr: float = 3e-4
    """Learning rate of Adam."""
    n_steps: int = 128
    """Env steps per env per rollout (the rollout holds n_steps * n_envs transitions)."""
    n_epochs: int = 10
    """Passes over each rollout."""
    batch_size: int = 256
    """Minibatch size."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda (1: Monte-Carlo returns, 0: one-step TD)."""
    clip_coef: float = 0.2
    """PPO ratio clip range."""
    clip_vloss: bool = False
    """Clip the value update to clip_coef around the old value (value-function clipping)."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient (start value when ent_coef_end is set)."""
    ent_coef_end: float | None = None
    """Decay the entropy coefficient linearly to this over the budget (null: constant)."""
    norm_adv: Literal["minibatch", "batch", "off"] = "minibatch"
    """Advantage standardization per minibatch, per whole batch, or off."""
    target_kl: float | None = None
    """Stop the epochs early when the approximate KL exceeds 1.5 * target_kl; with
    lr_schedule: adaptive_kl, the KL the learning rate is steered to."""
    max_grad_norm: float | None = 0.5
    """Clip gradients to this global L2 norm (null: off)."""
    log_std_init: float = 0.0
    """Continuous actions: initial log std of the Gaussian policy (state-independent)."""

    def check(self) -> None:
        super().check()
        require(self.n_steps > 0, "n_steps", "must be > 0")
        require(self.n_epochs > 0, "n_epochs", "must be > 0")
        require(0.0 <= self.gae_lambda <= 1.0, "gae_lambda", "must be in [0, 1]")
        require(self.clip_coef > 0, "clip_coef", "must be > 0")
        require(self.vf_coef >= 0, "vf_coef", "must be >= 0")
        require(self.ent_coef >= 0, "ent_coef", "must be >= 0")
        require(self.ent_coef_end is None or self.ent_coef_end >= 0, "ent_coef_end", "must be >= 0")
        require(self.target_kl is None or self.target_kl > 0, "target_kl", "must be > 0")
        require(
            self.lr_schedule != "adaptive_kl" or self.target_kl is not None,
            "target_kl",
            "lr_schedule adaptive_kl needs target_kl",
        )
