"""DDPG config (``algo_cfg`` when ``general_cfg.algo_name: DDPG``): Lillicrap et al. 2016 as TD3
with its three tricks switched off (a thin config over TD3's learner, ``POLICY``): one critic
(no clipped double Q), no target policy smoothing, the actor and targets updated every step."""

from __future__ import annotations

from dataclasses import dataclass

from algos.TD3.config import AlgoConfig as TD3Config

POLICY = "TD3"


@dataclass
class AlgoConfig(TD3Config):
    n_critics: int = 1
    """Critics (DDPG: one; more gives TD3's clipped double Q-learning)."""
    policy_delay: int = 1
    """Critic updates per actor update (DDPG: 1, every step)."""
    target_noise: float = 0.0
    """Target policy smoothing noise (DDPG: 0, off)."""
