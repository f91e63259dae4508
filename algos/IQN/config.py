"""IQN (Dabney et al. 2018): return quantiles at sampled fractions through a cosine embedding.

A thin variant: DQN's learner (``algos/DQN``) with other defaults; every DQN key applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from algos.DQN.config import AlgoConfig as DQNConfig

POLICY = "DQN"


@dataclass
class AlgoConfig(DQNConfig):
    head: Literal["scalar", "categorical", "quantile", "implicit"] = "implicit"
