"""CQL config (``algo_cfg`` when ``general_cfg.algo_name: CQL``): the conservative term on the
learner it extends, DQN's for Discrete actions and SAC's for Box actions (both configs' keys;
each learner reads its own)."""

from __future__ import annotations

from dataclasses import dataclass

from algos.DQN.config import AlgoConfig as DQNConfig
from algos.SAC.config import AlgoConfig as SACConfig
from config.base import require


@dataclass
class AlgoConfig(SACConfig, DQNConfig):
    cql_alpha: float = 1.0
    """Weight of the conservative term: logsumexp_a Q(s, a) - Q(s, a_data), pushing down the
    values of actions the dataset does not take (Kumar et al. 2020)."""
    cql_n_actions: int = 10
    """Box actions: actions sampled per state for the logsumexp (uniform, and the policy's at s
    and s'), importance-weighted by their densities (CQL(H))."""
    cql_temperature: float = 1.0
    """Temperature of the logsumexp."""
    max_grad_norm: float | None = 10.0
    """Clip gradients to this global L2 norm (null: off)."""
    learning_starts: int = 0
    """Not used offline (no warm-up: the dataset is there from the start)."""
    gradient_steps: int = 1
    """Gradient steps per loop step (evaluations and checkpoints happen between loop steps)."""

    def check(self) -> None:
        super().check()
        require(self.cql_alpha >= 0, "cql_alpha", "must be >= 0 (0: the plain learner)")
        require(self.cql_n_actions >= 1, "cql_n_actions", "must be >= 1")
        require(self.cql_temperature > 0, "cql_temperature", "must be > 0")
