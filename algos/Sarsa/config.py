"""Sarsa config (``algo_cfg`` when ``general_cfg.algo_name: Sarsa``)."""

from __future__ import annotations

from dataclasses import dataclass

from algos.base.config import TabularConfig


@dataclass
class AlgoConfig(TabularConfig):
    """Every key is the tabular family's (``TabularConfig``): alpha and epsilon schedules,
    initial values, update cadence."""
