"""REINFORCE config (``algo_cfg`` when ``general_cfg.algo_name: REINFORCE``): vanilla policy
gradient over complete episodes with Monte-Carlo returns (Williams 1992), a thin config over A2C's
learner (``POLICY``): only the defaults differ."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from algos.A2C.config import AlgoConfig as A2CConfig

POLICY = "A2C"


@dataclass
class AlgoConfig(A2CConfig):
    episodes: bool = True
    """Learn from complete episodes only: an episode running at the end of a rollout waits for
    the next one, and the policy learns once min_episodes episodes are complete."""
    advantage: Literal["gae", "mc"] = "mc"
    """mc: discounted Monte-Carlo returns (minus the value baseline when baseline is on); gae:
    lambda-returns over the complete episodes."""
    baseline: bool = False
    """Subtract a learned state value from the returns (REINFORCE with baseline, trained with
    vf_coef); off: vanilla REINFORCE."""
    norm_adv: Literal["minibatch", "batch", "off"] = "batch"
    """Standardize the advantages (returns) over each batch of episodes, per minibatch, or off."""
    optimizer: Literal["rmsprop", "adam"] = "adam"
    """adam or rmsprop."""
    lr: float = 1e-3
    """Learning rate."""
    n_steps: int = 64
    """Env steps per env per collection phase (episodes finish across phases)."""
