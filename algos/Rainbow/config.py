"""Rainbow (Hessel et al. 2018): categorical head + dueling + noisy nets + n-step returns +
prioritized replay + Double DQN.

A thin variant: DQN's learner (``algos/DQN``) with other defaults; every DQN key applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from algos.DQN.config import AlgoConfig as DQNConfig

POLICY = "DQN"


@dataclass
class AlgoConfig(DQNConfig):
    head: Literal["scalar", "categorical", "quantile", "implicit"] = "categorical"
    dueling: bool = True
    noisy: bool = True
    n_step: int = 3
    buffer_type: Literal["REPLAY_QUE", "PER_QUE"] = "PER_QUE"
    double_dqn: bool = True
