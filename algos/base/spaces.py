"""Space kinds: what a policy declares it supports, and the check that refuses the rest.

Observation kinds: ``vector`` (a float Box of any rank), ``image`` (a uint8 Box of rank 2 or 3:
pixels), ``discrete`` (a Discrete index). Dict and Tuple observations reach policies flattened
into a ``vector`` (see ``envs/vector.py``). Action kinds: ``discrete`` and ``box`` (a 1-D Box).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from config.base import UserError

OBS_KINDS = ("vector", "image", "discrete")
ACTION_KINDS = ("discrete", "box")


class UnsupportedSpace(UserError):
    """The algorithm cannot handle this observation or action space (one-line message that
    names the key to change)."""

    def __init__(self, message: str, side: str = "", kind: str | None = None):
        super().__init__(message)
        self.side = side  # "observation" or "action"
        self.kind = kind  # the space's kind, None when it has none


def obs_kind(space: gym.Space) -> str | None:
    if isinstance(space, gym.spaces.Discrete):
        return "discrete"
    if isinstance(space, gym.spaces.Box):
        if space.dtype == np.uint8 and len(space.shape) in (2, 3):
            return "image"
        if np.issubdtype(space.dtype, np.floating) or np.issubdtype(space.dtype, np.integer):
            return "vector"
    return None


def action_kind(space: gym.Space) -> str | None:
    if isinstance(space, gym.spaces.Discrete):
        return "discrete"
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return "box"
    return None


def check_spaces(
    algo: str,
    obs_space: gym.Space,
    action_space: gym.Space,
    obs_kinds: tuple[str, ...],
    action_kinds: tuple[str, ...],
) -> tuple[str, str]:
    """The (observation, action) kinds, or UnsupportedSpace naming what fits instead."""
    o, a = obs_kind(obs_space), action_kind(action_space)
    if o not in obs_kinds:
        raise UnsupportedSpace(
            f"{algo} supports {'/'.join(obs_kinds)} observations, but the env's observation space "
            f"is {obs_space}; change general_cfg.algo_name or env_cfg.id",
            "observation",
            o,
        )
    if a not in action_kinds:
        raise UnsupportedSpace(
            f"{algo} supports {'/'.join(action_kinds)} actions, but the env's action space is "
            f"{action_space}; change general_cfg.algo_name or env_cfg.id",
            "action",
            a,
        )
    return o, a
