"""DQN config (``algo_cfg`` when ``general_cfg.algo_name: DQN``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from algos.base.config import LayerSpec, OffPolicyConfig, mlp
from config.base import require


@dataclass
class AlgoConfig(OffPolicyConfig):
    value_layers: list[LayerSpec] = field(default_factory=lambda: mlp(256, 256))
    """Hidden layers of the Q-network; the output layer (one Q-value per action) is added."""
    lr: float = 2.3e-3
    """Learning rate of Adam."""
    batch_size: int = 128
    """Transitions per gradient step."""
    epsilon_start: float = 1.0
    """Initial exploration rate."""
    epsilon_end: float = 0.04
    """Final exploration rate."""
    epsilon_decay: int = 4_000
    """Exponential decay constant in env steps: eps = end + (start - end) * exp(-steps / decay)."""
    gradient_steps: int = 32
    """Gradient steps per learning phase (update-to-data ratio = gradient_steps / train_freq);
    32 per 256 env steps makes the default run (python main.py) reach 500 on CartPole within
    its 40,000-step budget on seeds 1-4 (16: seeds 2 and 3 stay below 475)."""
    target_update: int = 16
    """Update steps between hard target-network copies (used when tau is 1)."""
    double_dqn: bool = True
    """Double DQN: the online net picks the next action, the target net values it."""
    dueling: bool = False
    """Dueling head: Q = V + A - mean(A)."""
    loss: Literal["huber", "mse"] = "huber"
    """TD loss: huber (smooth L1) or mse."""

    def check(self) -> None:
        super().check()
        for key in ("epsilon_start", "epsilon_end"):
            require(0.0 <= getattr(self, key) <= 1.0, key, "must be in [0, 1]")
        require(self.epsilon_decay > 0, "epsilon_decay", "must be > 0")
