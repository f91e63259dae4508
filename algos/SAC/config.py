"""SAC config (``algo_cfg`` when ``general_cfg.algo_name: SAC``)."""

from __future__ import annotations

from dataclasses import dataclass

from algos.base.config import SoftActorCriticConfig
from config.base import require


@dataclass
class AlgoConfig(SoftActorCriticConfig):
    # actor_layers: hidden layers of the tanh-squashed Gaussian actor (mean and log-std heads
    # added); critic_layers: of each Q(s, a) critic (input: observation and action)
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
    policy_delay: int = 1
    """Critic updates per actor (and alpha) update."""
    target_entropy: float | None = None
    """Entropy target of autotune (null: -action_dim, the paper's heuristic)."""
    log_std_min: float = -5.0
    """Lower bound of the actor's log std."""
    log_std_max: float = 2.0
    """Upper bound of the actor's log std."""

    def check(self) -> None:
        super().check()
        require(self.policy_delay >= 1, "policy_delay", "must be >= 1")
        require(self.log_std_min < self.log_std_max, "log_std_min", "must be < log_std_max")
