"""A2C config (``algo_cfg`` when ``general_cfg.algo_name: A2C``); REINFORCE is a thin config over
it (``algos/REINFORCE/config.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from algos.base.config import LayerSpec, OnPolicyConfig, mlp
from config.base import require


@dataclass
class AlgoConfig(OnPolicyConfig):
    actor_layers: list[LayerSpec] = field(default_factory=lambda: mlp(64, 64, activation="tanh"))
    """Hidden layers of the policy network (output head added)."""
    critic_layers: list[LayerSpec] = field(default_factory=lambda: mlp(64, 64, activation="tanh"))
    """Hidden layers of the value network (output head added)."""
    shared_trunk: bool = False
    """Actor and critic share actor_layers as one trunk (critic_layers is then unused)."""
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    """rmsprop (alpha rmsprop_alpha, as in Mnih et al. 2016) or adam."""
    rmsprop_alpha: float = 0.99
    """rmsprop: decay of the running mean of squared gradients."""
    optim_eps: float = 1e-5
    """Epsilon of the optimizer's denominator."""
    lr: float = 7e-4
    """Learning rate."""
    n_steps: int = 5
    """Env steps per env per rollout: n-step returns (with gae_lambda 1) bootstrap after n_steps."""
    n_epochs: int = 1
    """Passes over each rollout (A2C: one)."""
    batch_size: int = 1_000_000
    """Minibatch size; A2C takes one gradient step on the whole rollout, so the default exceeds
    any rollout (a smaller value splits it into several steps)."""
    gae_lambda: float = 1.0
    """GAE lambda: 1 gives n-step returns bootstrapped at the rollout's end (A2C); lower values
    trade variance for bias."""
    norm_adv: Literal["minibatch", "batch", "off"] = "off"
    """Advantage standardization per minibatch, per whole batch, or off."""
    episodes: bool = False
    """Learn from complete episodes only (REINFORCE): an episode running at the end of a rollout
    waits for the next one, and the policy learns once min_episodes episodes are complete."""
    min_episodes: int = 8
    """With episodes: complete episodes the buffer holds before an update."""
    baseline: bool = True
    """Subtract the critic's value from the returns (a learned baseline, trained with vf_coef);
    off: the advantages are the returns themselves (vanilla REINFORCE; needs advantage: mc)."""

    def check(self) -> None:
        super().check()
        require(0.0 < self.rmsprop_alpha < 1.0, "rmsprop_alpha", "must be in (0, 1)")
        require(self.optim_eps > 0, "optim_eps", "must be > 0")
        require(self.min_episodes >= 1, "min_episodes", "must be >= 1")
        require(
            self.baseline or self.advantage == "mc",
            "baseline",
            "advantage: gae needs the critic's values; set baseline: true or advantage: mc",
        )
