"""Saving and restoring the state of vectorized envs, so a resumed run continues the episodes
it was in (no pickle: the state is plain data that an rldojo archive stores).

A gymnasium env's state is the data attributes of every layer of its wrapper chain (CartPole's
``state`` array and ``steps_beyond_terminated``, ``TimeLimit``'s elapsed steps, the env's RNG,
...). :func:`env_state` collects them when every attribute is plain data (numbers, strings,
arrays, RNGs, containers of those; spaces and specs are static and skipped). An env that keeps
state in other objects (a Box2D world, a MuJoCo ``MjData``, an emulator) gives None: a resumed
run then starts new episodes there. Classic-control and toy-text envs are restorable; Box2D,
MuJoCo and Atari envs, and ``vector_mode: async`` (envs in subprocesses), restart episodes.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

# attributes of SyncVectorEnv that hold its step state (its other attributes are static)
VECTOR_KEYS = (
    "_env_obs",
    "_observations",
    "_rewards",
    "_terminations",
    "_truncations",
    "_autoreset_envs",
)
_STATIC = (gym.Space, gym.envs.registration.EnvSpec)
# static attributes rebuilt by the env's constructor: the toy-text transition table (thousands of
# tuples; saving it made each checkpoint of a Taxi run cost a quarter of a second)
_STATIC_ATTRS = ("P",)


class _NotPlain(Exception):
    pass


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str, np.ndarray, np.generic)):
        return value
    if isinstance(value, np.random.Generator):
        return {"__rng__": value.bit_generator.state}
    if isinstance(value, (list, tuple)):
        out = [_plain(v) for v in value]
        return out if isinstance(value, list) else tuple(out)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    raise _NotPlain(type(value).__name__)


def _layers(env: gym.Env) -> list[gym.Env]:
    chain = [env]
    while isinstance(chain[-1], gym.Wrapper):
        chain.append(chain[-1].env)
    return chain


def _single_state(env: gym.Env) -> list[dict[str, Any]]:
    state = []
    for layer in _layers(env):
        attrs = {}
        for key, value in vars(layer).items():
            if key == "env" or key in _STATIC_ATTRS or isinstance(value, (_STATIC, gym.Env)):
                continue
            attrs[key] = _plain(value)
        state.append({"type": type(layer).__name__, "attrs": attrs})
    return state


def env_state(envs: gym.vector.VectorEnv) -> dict[str, Any] | None:
    """The state of a SyncVectorEnv and its envs (or of a vector env with its own
    ``state_dict``), or None when some part is not plain data."""
    if hasattr(envs, "state_dict"):
        return {"own": envs.state_dict()}
    if not isinstance(envs, gym.vector.SyncVectorEnv):
        return None
    try:
        return {
            "vector": {k: _plain(getattr(envs, k)) for k in VECTOR_KEYS if hasattr(envs, k)},
            "envs": [_single_state(e) for e in envs.envs],
        }
    except _NotPlain:
        return None


def _restore(target: Any, value: Any) -> Any:
    if isinstance(value, dict) and "__rng__" in value:
        rng = target if isinstance(target, np.random.Generator) else np.random.default_rng()
        rng.bit_generator.state = value["__rng__"]
        return rng
    if isinstance(value, dict):
        return {k: _restore(None, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(None, v) for v in value]
    if isinstance(value, tuple):
        return tuple(_restore(None, v) for v in value)
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def load_env_state(envs: gym.vector.VectorEnv, state: dict[str, Any]) -> bool:
    """Restore what :func:`env_state` saved into freshly made envs of the same config; False
    (nothing changed) when their structure differs."""
    own = hasattr(envs, "load_state_dict")
    if own or "own" in state:  # both sides must be a vector env with its own state
        return own and "own" in state and envs.load_state_dict(state["own"])
    if not isinstance(envs, gym.vector.SyncVectorEnv) or len(state["envs"]) != len(envs.envs):
        return False
    chains = [_layers(e) for e in envs.envs]
    for chain, saved in zip(chains, state["envs"]):
        if [type(layer).__name__ for layer in chain] != [s["type"] for s in saved]:
            return False
    for chain, saved in zip(chains, state["envs"]):
        for layer, s in zip(chain, saved):
            for key, value in s["attrs"].items():
                setattr(layer, key, _restore(getattr(layer, key, None), value))
    for key, value in state["vector"].items():
        setattr(envs, key, _restore(getattr(envs, key, None), value))
    return True
