"""DQN config (``algo_cfg`` when ``general_cfg.algo_name: DQN``).

The value-based family is this one config: DoubleDQN, DuelingDQN, NoisyDQN, PER_DQN, C51,
QRDQN, IQN and Rainbow are folders with a ``config.py`` that only changes defaults here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from algos.base.config import LayerSpec, OffPolicyConfig, mlp
from config.base import require

HEADS = ("scalar", "categorical", "quantile", "implicit")


@dataclass
class AlgoConfig(OffPolicyConfig):
    value_layers: list[LayerSpec] = field(default_factory=lambda: mlp(256, 256))
    """Hidden layers of the Q-network; the output layer (one Q-value, distribution or set of
    quantiles per action) is added."""
    lr: float = 2.3e-3
    """Learning rate of Adam."""
    batch_size: int = 128
    """Transitions per gradient step."""
    head: Literal["scalar", "categorical", "quantile", "implicit"] = "scalar"
    """Value head: scalar (Q-values, DQN); categorical (C51, Bellemare et al. 2017: n_atoms
    probabilities on [v_min, v_max], projected Bellman target, cross-entropy); quantile (QR-DQN,
    Dabney et al. 2018: n_quantiles fixed quantiles, quantile Huber loss); implicit (IQN, Dabney
    et al. 2018: quantiles at n_tau sampled fractions through a cosine embedding)."""
    n_atoms: int = 51
    """categorical: atoms of the support."""
    v_min: float = -10.0
    """categorical: lowest atom (returns below it are clipped onto it)."""
    v_max: float = 10.0
    """categorical: highest atom."""
    n_quantiles: int = 200
    """quantile: quantiles per action (fractions at the midpoints (2i + 1) / 2N)."""
    kappa: float = 1.0
    """quantile, implicit: threshold of the quantile Huber loss."""
    n_tau: int = 32
    """implicit: sampled quantile fractions per transition, for the online and the target
    network alike (N = N' in the paper)."""
    n_tau_act: int = 32
    """implicit: quantile fractions averaged into Q-values when acting (K in the paper; sampled
    when exploring, evenly spaced midpoints when acting greedily, so evaluation is
    deterministic)."""
    n_cos: int = 64
    """implicit: size of the cosine embedding of a quantile fraction."""
    noisy: bool = False
    """Noisy nets (Fortunato et al. 2018): the output layers are noisy_linear (layer lists may
    hold more); they explore by their noise, redrawn per act and per update, and act on their
    means when greedy. No epsilon then."""
    sigma_init: float = 0.5
    """noisy: initial noise scale of the output layers (sigma = sigma_init / sqrt(fan_in))."""
    epsilon_start: float | None = None
    """Initial exploration rate (null: 1.0, or no epsilon with noisy nets)."""
    epsilon_end: float | None = None
    """Final exploration rate (null: 0.04, or no epsilon with noisy nets)."""
    epsilon_decay: int = 4_000
    """Exponential decay constant in env steps: eps = end + (start - end) * exp(-steps / decay)."""
    gradient_steps: int = 32
    """Gradient steps per learning phase (update-to-data ratio = gradient_steps / train_freq);
    32 per 256 env steps makes the default run (python main.py) reach 500 on CartPole within
    its 50,000-step budget on seeds 1-7 (16: seeds 2 and 3 stay below 475 at 40,000)."""
    target_update: int = 16
    """Update steps between hard target-network copies (used when tau is 1)."""
    optim_eps: float = 1e-8
    """Adam's epsilon (QR-DQN's paper: 0.01 / batch_size; Rainbow's: 1.5e-4)."""
    double_dqn: bool = True
    """Double DQN: the online net picks the next action, the target net values it."""
    dueling: bool = False
    """Dueling head: Q = V + A - mean(A) (per atom or quantile for distributional heads)."""
    loss: Literal["huber", "mse"] | None = None
    """TD loss of the scalar head: huber (smooth L1) or mse (null: huber). Distributional heads
    have their own (categorical: cross-entropy; quantile, implicit: quantile Huber)."""

    @property
    def epsilon_range(self) -> tuple[float, float]:
        """(start, end) of the epsilon schedule, nulls resolved (0, 0 with noisy nets)."""
        if self.noisy:
            return 0.0, 0.0
        start = 1.0 if self.epsilon_start is None else self.epsilon_start
        end = 0.04 if self.epsilon_end is None else self.epsilon_end
        return start, end

    def check(self) -> None:
        super().check()
        for key in ("epsilon_start", "epsilon_end"):
            value = getattr(self, key)
            require(value is None or 0.0 <= value <= 1.0, key, "must be in [0, 1]")
            require(
                not (self.noisy and value is not None),
                key,
                "noisy nets explore by their noise, without epsilon; remove epsilon_start and "
                "epsilon_end (null) or set noisy: false",
            )
        require(self.epsilon_decay > 0, "epsilon_decay", "must be > 0")
        require(
            self.loss is None or self.head == "scalar",
            "loss",
            f"{self.loss} is a loss of the scalar head; the {self.head} head has its own "
            "(cross-entropy or quantile Huber): remove loss (null) or set head: scalar",
        )
        require(self.n_atoms >= 2, "n_atoms", f"must be >= 2, got {self.n_atoms}")
        require(
            self.v_min < self.v_max,
            "v_min",
            f"must be < v_max, got v_min {self.v_min} and v_max {self.v_max}",
        )
        require(self.n_quantiles >= 1, "n_quantiles", f"must be >= 1, got {self.n_quantiles}")
        require(self.kappa > 0, "kappa", f"must be > 0, got {self.kappa}")
        for key in ("n_tau", "n_tau_act", "n_cos"):
            require(getattr(self, key) >= 1, key, f"must be >= 1, got {getattr(self, key)}")
        require(self.optim_eps > 0, "optim_eps", f"must be > 0, got {self.optim_eps}")
        require(self.sigma_init > 0, "sigma_init", f"must be > 0, got {self.sigma_init}")
