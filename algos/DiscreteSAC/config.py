"""Discrete SAC config (``algo_cfg`` when ``general_cfg.algo_name: DiscreteSAC``)."""

from __future__ import annotations

from dataclasses import dataclass

from algos.base.config import SoftActorCriticConfig
from config.base import require


@dataclass
class AlgoConfig(SoftActorCriticConfig):
    # actor_layers: hidden layers of the categorical actor (one logit per action added);
    # critic_layers: of each critic Q(s, .) (one Q-value per action added)
    learning_starts: int = 1_000
    """Warm-up: uniformly random actions for this many env steps, and no update before."""
    train_freq: int = 4
    """Env steps collected between two learning phases (rounded up to whole vector steps)."""
    gradient_steps: int = 1
    """Gradient steps per learning phase."""
    tau: float = 0.005
    """Polyak factor of the target critics (1: a hard copy every target_update updates)."""
    target_entropy_scale: float = 0.5
    """Entropy target of autotune as a fraction of the maximum entropy log(n_actions)
    (Christodoulou 2019 uses 0.98; lower values let the policy become more decisive)."""

    def check(self) -> None:
        super().check()
        require(0 < self.target_entropy_scale < 1, "target_entropy_scale", "must be in (0, 1)")
