"""C51 (Bellemare et al. 2017): a categorical return distribution on n_atoms fixed atoms in [v_min,
v_max].

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
