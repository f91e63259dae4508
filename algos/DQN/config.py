"""DQN config (``algo_cfg`` when ``general_cfg.algo_name: DQN``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from algos.base.config import BaseAlgoConfig, LayerSpec, mlp
from config.base import require


@dataclass
class AlgoConfig(BaseAlgoConfig):
    value_layers: list[LayerSpec] = field(default_factory=lambda: mlp(256, 256))
    """Hidden layers of the Q-network; the output layer (one Q-value per action) is added."""
    lr: float = 2.3e-3
    """Learning rate of Adam."""
    batch_size: int = 128
    """Transitions per gradient step."""
    buffer_type: Literal["REPLAY_QUE", "PER_QUE"] = "REPLAY_QUE"
    """REPLAY_QUE: uniform replay; PER_QUE: prioritized replay (proportional, with IS weights)."""
    buffer_size: int = 100_000
    """Replay capacity in transitions."""
    learning_starts: int = 1_000
    """Env steps of random-free warm-up collected before the first update."""
    train_freq: int = 256
    """Env steps collected between two learning phases (rounded up to whole vector steps)."""
    gradient_steps: int = 16
    """Gradient steps per learning phase (update-to-data ratio = gradient_steps / train_freq)."""
    epsilon_start: float = 1.0
    """Initial exploration rate."""
    epsilon_end: float = 0.04
    """Final exploration rate."""
    epsilon_decay: int = 4_000
    """Exponential decay constant in env steps: eps = end + (start - end) * exp(-steps / decay)."""
    gamma: float = 0.99
    """Discount factor."""
    target_update: int = 16
    """Update steps between hard target-network copies (used when tau is 1)."""
    tau: float = 1.0
    """Polyak factor: 1 copies every target_update steps; < 1 blends the target every step."""
    double_dqn: bool = True
    """Double DQN: the online net picks the next action, the target net values it."""
    dueling: bool = False
    """Dueling head: Q = V + A - mean(A)."""
    n_step: int = 1
    """n-step returns (truncated at episode ends; bootstraps on time-limit truncation)."""
    loss: Literal["huber", "mse"] = "huber"
    """TD loss: huber (smooth L1) or mse."""
    per_alpha: float = 0.6
    """PER_QUE: priority exponent."""
    per_beta: float = 0.4
    """PER_QUE: initial importance-sampling exponent, annealed to 1 over the budget."""

    def check(self) -> None:
        super().check()
        require(self.buffer_size >= self.batch_size, "buffer_size", "must be >= batch_size")
        require(self.learning_starts >= 0, "learning_starts", "must be >= 0")
        require(self.train_freq > 0, "train_freq", "must be > 0")
        require(self.gradient_steps > 0, "gradient_steps", "must be > 0")
        for key in ("epsilon_start", "epsilon_end"):
            require(0.0 <= getattr(self, key) <= 1.0, key, "must be in [0, 1]")
        require(self.epsilon_decay > 0, "epsilon_decay", "must be > 0")
        require(self.target_update > 0, "target_update", "must be > 0")
        require(0.0 < self.tau <= 1.0, "tau", "must be in (0, 1]")
        require(self.n_step >= 1, "n_step", "must be >= 1")
        require(self.per_alpha >= 0, "per_alpha", "must be >= 0")
        require(0 <= self.per_beta <= 1, "per_beta", "must be in [0, 1]")
        require(self.lr_schedule != "adaptive_kl", "lr_schedule", "adaptive_kl is for PPO only")
