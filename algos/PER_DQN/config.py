"""DQN with prioritized replay (Schaul et al. 2016): proportional priorities |TD error|, importance
weights annealed to 1.

A thin variant: DQN's learner (``algos/DQN``) with other defaults; every DQN key applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from algos.DQN.config import AlgoConfig as DQNConfig

POLICY = "DQN"


@dataclass
class AlgoConfig(DQNConfig):
    buffer_type: Literal["REPLAY_QUE", "PER_QUE"] = "PER_QUE"
