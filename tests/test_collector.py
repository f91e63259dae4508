"""The collector's episode records: summed rewards, or the episodes the vector env reports.

A vector env may report its own episodes in ``info["episode"]`` / ``info["_episode"]``
(gymnasium's RecordEpisodeStatistics convention; the Atari family reports whole games with raw
scores there). The collector then records those returns and lengths, whatever rewards it
learns from, and ends trajectories where those episodes end.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.wrappers.vector import RecordEpisodeStatistics, TransformReward

from config.loader import load_config
from framework.data.adders import IdentityAdder
from framework.data.trajectories import EpisodeAssembler
from framework.runtime.collector import Collector
from tests.random_policy import RandomPolicy


def cartpole_collector(n_envs: int = 3) -> Collector:
    cfg = load_config(None, ["env_cfg.id=CartPole-v1"])
    assembler = EpisodeAssembler(n_envs, {"env_id": "CartPole-v1"})
    return Collector(cfg, RandomPolicy(2, IdentityAdder()), n_envs, [1, 2, 3], assembler)


def test_episodes_are_summed_rewards_by_default():
    col = cartpole_collector()
    out = col.collect(200)
    col.close()
    assert out.episodes and len(out.trajectories) == len(out.episodes)
    for ep, traj in zip(out.episodes, out.trajectories):
        assert ep.ret == traj["return"] == ep.length == traj["length"]  # CartPole: 1 per step


def test_episodes_the_env_reports_are_preferred():
    """The env learns from halved rewards but reports the episodes' true returns: the records
    hold the true returns and lengths, the trajectories the rewards the env returned."""
    col = cartpole_collector()
    col.envs.close()
    base = gym.vector.SyncVectorEnv(
        [lambda: gym.make("CartPole-v1")] * 3, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    col.envs = TransformReward(RecordEpisodeStatistics(base), lambda r: 0.5 * r)
    col.obs, _ = col.envs.reset(seed=[1, 2, 3])
    out = col.collect(200)
    col.close()
    assert np.all(out.batch.rewards == 0.5)
    assert out.episodes and len(out.trajectories) == len(out.episodes)
    for ep, traj in zip(out.episodes, out.trajectories):
        assert ep.ret == ep.length == traj["length"] == 2 * traj["return"]
