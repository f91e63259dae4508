"""TD3 config (``algo_cfg`` when ``general_cfg.algo_name: TD3``); DDPG is a thin config over it
(``algos/DDPG/config.py``: the three TD3 tricks switched off)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from algos.base.config import LayerSpec, OffPolicyConfig, mlp
from config.base import require


@dataclass
class AlgoConfig(OffPolicyConfig):
    actor_layers: list[LayerSpec] = field(default_factory=lambda: mlp(256, 256))
    """Hidden layers of the deterministic actor (a tanh head scaled to the Box bounds is added)."""
    critic_layers: list[LayerSpec] = field(default_factory=lambda: mlp(256, 256))
    """Hidden layers of each Q(s, a) critic (input: observation and action; scalar head added)."""
    lr: float = 1e-3
    """Learning rate of the actor (Adam); the schedule scales every rate alike."""
    critic_lr: float | None = None
    """Learning rate of the critics (null: lr)."""
    max_grad_norm: float | None = None
    """Clip gradients to this global L2 norm (null: off, as in the paper)."""
    batch_size: int = 256
    """Transitions per gradient step."""
    buffer_size: int = 1_000_000
    """Replay capacity in transitions."""
    learning_starts: int = 10_000
    """Warm-up: uniformly random actions for this many env steps, and no update before."""
    train_freq: int = 1
    """Env steps collected between two learning phases (rounded up to whole vector steps)."""
    gradient_steps: int = 1
    """Gradient steps per learning phase."""
    tau: float = 0.005
    """Polyak factor of the target actor and critics."""
    n_critics: int = 2
    """Critics; the target takes their minimum (clipped double Q-learning). DDPG: 1."""
    policy_delay: int = 2
    """Critic updates per actor update; the targets move with the actor. DDPG: 1."""
    target_noise: float = 0.2
    """Target policy smoothing: std of the Gaussian noise on the target action, in units of the
    action half-range (the actor's [-1, 1]). DDPG: 0 (off)."""
    target_noise_clip: float = 0.5
    """Clip of the target policy noise (same units)."""
    exploration_noise: Literal["gaussian", "ou"] = "gaussian"
    """Noise on training actions: gaussian (independent per step) or ou (Ornstein-Uhlenbeck,
    temporally correlated; one process per env, restarted when its episode ends)."""
    noise_std: float = 0.1
    """Std (sigma) of the exploration noise, in units of the action half-range."""
    ou_theta: float = 0.15
    """ou: mean-reversion rate theta."""
    ou_dt: float = 1e-2
    """ou: time step dt of the process."""

    def check(self) -> None:
        super().check()
        require(self.critic_lr is None or self.critic_lr > 0, "critic_lr", "must be > 0")
        require(self.n_critics >= 1, "n_critics", "must be >= 1")
        require(self.policy_delay >= 1, "policy_delay", "must be >= 1")
        require(self.target_noise >= 0, "target_noise", "must be >= 0 (0: off)")
        require(self.target_noise_clip > 0, "target_noise_clip", "must be > 0")
        require(self.noise_std >= 0, "noise_std", "must be >= 0")
        require(self.ou_theta > 0, "ou_theta", "must be > 0")
        require(self.ou_dt > 0, "ou_dt", "must be > 0")
