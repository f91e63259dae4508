"""Discrete SAC config (``algo_cfg`` when ``general_cfg.algo_name: DiscreteSAC``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from algos.base.config import LayerSpec, OffPolicyConfig, mlp
from config.base import require


@dataclass
class AlgoConfig(OffPolicyConfig):
    actor_layers: list[LayerSpec] = field(default_factory=lambda: mlp(256, 256))
    """Hidden layers of the actor (one logit per action added)."""
    critic_layers: list[LayerSpec] = field(default_factory=lambda: mlp(256, 256))
    """Hidden layers of each critic Q(s, .) (one Q-value per action added)."""
    lr: float = 3e-4
    """Learning rate of the actor (Adam); the schedule scales every rate alike."""
    critic_lr: float | None = None
    """Learning rate of the critics (null: lr)."""
    alpha_lr: float | None = None
    """Learning rate of log(alpha) with autotune (null: lr)."""
    max_grad_norm: float | None = None
    """Clip gradients to this global L2 norm (null: off)."""
    batch_size: int = 256
    """Transitions per gradient step."""
    learning_starts: int = 1_000
    """Warm-up: uniformly random actions for this many env steps, and no update before."""
    train_freq: int = 4
    """Env steps collected between two learning phases (rounded up to whole vector steps)."""
    gradient_steps: int = 1
    """Gradient steps per learning phase."""
    tau: float = 0.005
    """Polyak factor of the target critics (1: a hard copy every target_update updates)."""
    n_critics: int = 2
    """Critics; the target and the actor's loss take their minimum (clipped double Q)."""
    alpha: float = 0.2
    """Entropy temperature: fixed (autotune off) or its initial value."""
    autotune: bool = True
    """Tune alpha to keep the policy's entropy near target_entropy_scale * log(n_actions)."""
    target_entropy_scale: float = 0.5
    """Entropy target of autotune as a fraction of the maximum entropy log(n_actions)
    (Christodoulou 2019 uses 0.98; lower values let the policy become more decisive)."""

    def check(self) -> None:
        super().check()
        for key in ("critic_lr", "alpha_lr"):
            require(getattr(self, key) is None or getattr(self, key) > 0, key, "must be > 0")
        require(self.n_critics >= 1, "n_critics", "must be >= 1")
        require(self.alpha > 0, "alpha", "must be > 0")
        require(0 < self.target_entropy_scale < 1, "target_entropy_scale", "must be in (0, 1)")
