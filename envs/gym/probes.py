"""Probe environments: tiny tasks for checking that an algorithm runs and learns at all, on
every kind of observation and action space (after Andy Jones' "debugging RL" probes).

``rldojo/Probe-v0`` with ``make_kwargs: {obs: ..., action: ...}``: each step shows a random cue
c in {0, 1}; the reward is 1 when the action matches the cue (a Discrete(2) action equal to c, or
a Box action whose first component has the sign of c - 0.5) and 0 otherwise. Episodes last
``length`` steps (terminated), so a policy that reads the cue scores ``length`` and a random one
about ``length / 2``. The cue is shown as

- ``vector``: a float32 one-hot of length 2, plus ``noise_dims`` Gaussian noise features;
- ``image``: a uint8 (8, 8, 1) frame whose left (c = 0) or right (c = 1) half is lit;
- ``discrete``: the index c of a Discrete(2) observation;
- ``dict``: ``{"cue": Discrete(2), "noise": Box(2)}`` (flattened by the framework).

``box`` actions live in [-2, 2]^2 (bounds other than [-1, 1] exercise the action scaler).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

PROBE_ID = "rldojo/Probe-v0"


class ProbeEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        obs: str = "vector",
        action: str = "discrete",
        length: int = 8,
        noise_dims: int = 2,
        render_mode: str | None = None,
    ):
        if obs not in ("vector", "image", "discrete", "dict"):
            raise ValueError(f"obs must be vector, image, discrete or dict, got {obs!r}")
        if action not in ("discrete", "box"):
            raise ValueError(f"action must be discrete or box, got {action!r}")
        self.kind, self.length, self.noise_dims = obs, length, noise_dims
        self.render_mode = render_mode
        if obs == "vector":
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2 + noise_dims,), np.float32)
        elif obs == "image":
            self.observation_space = gym.spaces.Box(0, 255, (8, 8, 1), np.uint8)
        elif obs == "discrete":
            self.observation_space = gym.spaces.Discrete(2)
        else:
            self.observation_space = gym.spaces.Dict(
                {
                    "cue": gym.spaces.Discrete(2),
                    "noise": gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
                }
            )
        if action == "discrete":
            self.action_space = gym.spaces.Discrete(2)
        else:
            self.action_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
        self.cue, self.t = 0, 0

    def _obs(self):
        c = self.cue
        if self.kind == "vector":
            noise = self.np_random.normal(0, 1, self.noise_dims)
            return np.concatenate([np.eye(2)[c], noise]).astype(np.float32)
        if self.kind == "image":
            frame = np.zeros((8, 8, 1), np.uint8)
            frame[:, 4 * c : 4 * c + 4] = 255
            return frame
        if self.kind == "discrete":
            return c
        return {"cue": c, "noise": self.np_random.uniform(-1, 1, 2).astype(np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.cue = int(self.np_random.integers(2))
        return self._obs(), {}

    def step(self, action):
        if isinstance(self.action_space, gym.spaces.Discrete):
            hit = int(action) == self.cue
        else:
            hit = (float(np.asarray(action)[0]) > 0) == (self.cue == 1)
        self.t += 1
        self.cue = int(self.np_random.integers(2))
        return self._obs(), float(hit), self.t >= self.length, False, {}

    def render(self):
        frame = np.zeros((32, 32, 3), np.uint8)
        frame[:, 16 * self.cue : 16 * self.cue + 16] = (255, 200, 0)
        return frame


def register() -> None:
    if PROBE_ID not in gym.registry:
        gym.register(PROBE_ID, entry_point=ProbeEnv)
