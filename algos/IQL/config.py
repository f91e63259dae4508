"""IQL config (``algo_cfg`` when ``general_cfg.algo_name: IQL``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from algos.base.config import LayerSpec, OffPolicyConfig, mlp
from config.base import require


@dataclass
class AlgoConfig(OffPolicyConfig):
    actor_layers: list[LayerSpec] = field(default_factory=lambda: mlp(256, 256))
    """Hidden layers of the policy (logits for Discrete actions; a tanh-bounded Gaussian mean
    with a learned log std for Box actions)."""
    critic_layers: list[LayerSpec] = field(default_factory=lambda: mlp(256, 256))
    """Hidden layers of each Q critic (Q(s, a) for Box actions, Q(s, .) for Discrete ones)."""
    value_layers: list[LayerSpec] = field(default_factory=lambda: mlp(256, 256))
    """Hidden layers of the state value V(s)."""
    n_critics: int = 2
    """Critics; the value regresses on the minimum of their targets."""
    expectile: float = 0.7
    """Expectile tau of the value loss |tau - 1(u < 0)| u^2, u = Q(s, a) - V(s): 0.5 is the
    mean (SARSA-like), toward 1 the maximum over the dataset's actions."""
    beta: float = 3.0
    """Inverse temperature of advantage-weighted regression: weights exp(beta * A), capped at
    max_weight. A is in the env's reward units: the paper's 3 is for rewards normalized to
    returns spanning 1,000 (0: behavior cloning; Pendulum's preset uses 0.1)."""
    max_weight: float = 100.0
    """Cap of the actor's weights exp(beta * A)."""
    lr: float = 3e-4
    """Learning rate of the actor, critics and value (Adam)."""
    batch_size: int = 256
    """Dataset transitions per gradient step."""
    max_grad_norm: float | None = None
    """Clip gradients to this global L2 norm (null: off, as in the paper)."""
    tau: float = 0.005
    """Polyak factor of the target critics."""
    gradient_steps: int = 1
    """Gradient steps per loop step (evaluations and checkpoints happen between loop steps)."""
    learning_starts: int = 0
    """Not used offline (no warm-up: the dataset is there from the start)."""
    buffer_size: int = 1_000_000
    """Not used offline (the dataset buffer holds the whole dataset)."""

    def check(self) -> None:
        super().check()
        require(self.n_critics >= 1, "n_critics", "must be >= 1")
        require(0 < self.expectile < 1, "expectile", "must be in (0, 1)")
        require(self.beta >= 0, "beta", "must be >= 0")
        require(self.max_weight > 0, "max_weight", "must be > 0")
