"""Double DQN (van Hasselt et al. 2016): the online net picks the next action, the target net values
it.

A thin variant: DQN's learner (``algos/DQN``) with other defaults; every DQN key applies.
"""

from __future__ import annotations

from dataclasses import dataclass

from algos.DQN.config import AlgoConfig as DQNConfig

POLICY = "DQN"


@dataclass
class AlgoConfig(DQNConfig):
    double_dqn: bool = True
