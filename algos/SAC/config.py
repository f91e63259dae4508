"""SAC config (``algo_cfg`` when ``general_cfg.algo_name: SAC``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from algos.base.config import LayerSpec, OffPolicyConfig, mlp
from config.base import require


@dataclass
class AlgoConfig(OffPolicyConfig):
    actor_layers: list[LayerSpec] = field(default_factory=lambda: mlp(256, 256))
    """Hidden layers of the actor (mean and log-std heads added; tanh-squashed Gaussian)."""
    critic_layers: list[LayerSpec] = field(default_factory=lambda: mlp(256, 256))
    """Hidden layers of each Q(s, a) critic (input: observation and action; scalar head added)."""
    lr: float = 3e-4
    """Learning rate of the actor (Adam); the schedule scales every rate alike."""
    critic_lr: float | None = None
    """Learning rate of the critics (null: lr)."""
    alpha_lr: float | None = None
    """Learning rate of log(alpha) with autotune (null: lr)."""
    max_grad_norm: float | None = None
    """Clip gradients to this global L2 norm (null: off, as in the paper)."""
    batch_size: int = 256
    """Transitions per gradient step."""
    buffer_size: int = 1_000_000
    """Replay capacity in transitions."""
    learning_starts: int = 5_000
    """Warm-up: uniformly random actions for this many env steps, and no update before."""
    train_freq: int = 1
    """Env steps collected between two learning phases (rounded up to whole vector steps)."""
    gradient_steps: int = 1
    """Gradient steps per learning phase."""
    tau: float = 0.005
    """Polyak factor of the target critics."""
    n_critics: int = 2
    """Critics; targets and the actor's loss take their minimum (clipped double Q-learning)."""
    policy_delay: int = 1
    """Critic updates per actor (and alpha) update."""
    alpha: float = 0.2
    """Entropy temperature: fixed (autotune off) or its initial value."""
    autotune: bool = True
    """Tune alpha to keep the policy's entropy near target_entropy (Haarnoja et al. 2018b)."""
    target_entropy: float | None = None
    """Entropy target of autotune (null: -action_dim, the paper's heuristic)."""
    log_std_min: float = -5.0
    """Lower bound of the actor's log std."""
    log_std_max: float = 2.0
    """Upper bound of the actor's log std."""

    def check(self) -> None:
        super().check()
        for key in ("critic_lr", "alpha_lr"):
            require(getattr(self, key) is None or getattr(self, key) > 0, key, "must be > 0")
        require(self.n_critics >= 1, "n_critics", "must be >= 1")
        require(self.policy_delay >= 1, "policy_delay", "must be >= 1")
        require(self.alpha > 0, "alpha", "must be > 0")
        require(self.log_std_min < self.log_std_max, "log_std_min", "must be < log_std_max")
