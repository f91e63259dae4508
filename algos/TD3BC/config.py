"""TD3+BC config (``algo_cfg`` when ``general_cfg.algo_name: TD3BC``): TD3's config with the
behavior-cloning weight and the paper's offline defaults (Fujimoto & Gu 2021)."""

from __future__ import annotations

from dataclasses import dataclass

from algos.TD3.config import AlgoConfig as TD3Config
from config.base import require


@dataclass
class AlgoConfig(TD3Config):
    bc_alpha: float = 2.5
    """alpha of the actor loss -lambda * Q(s, pi(s)) + (pi(s) - a)^2 with lambda =
    alpha / mean|Q| (the paper's 2.5; smaller stays closer to the data)."""
    obs_norm: bool = True
    """Normalize observations by the dataset's mean and std (fitted once, before learning)."""
    lr: float = 3e-4
    """Learning rate of the actor and critics (Adam)."""
    learning_starts: int = 0
    """Not used offline (no warm-up: the dataset is there from the start)."""
    noise_std: float = 0.0
    """Exploration noise: none (TD3+BC acts only in evaluation)."""

    def check(self) -> None:
        super().check()
        require(self.bc_alpha > 0, "bc_alpha", "must be > 0")
