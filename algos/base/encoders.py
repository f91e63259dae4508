"""Observation encoders: a batch of raw observations (numpy) to a float tensor on the device,
chosen by the observation kind (``algos/base/spaces.py``).

- ``vector``: float32, optionally normalized by running statistics first (``obs_norm``);
- ``image``: uint8 stays uint8 until it is on the device (4x fewer bytes to move), then becomes
  float in [0, 1]; (H, W, C) frames are permuted to (C, H, W) and (H, W) ones get a channel;
- ``discrete``: one-hot vectors of the space's size (tables index by the integer instead).

``shape`` is the network's input shape. The encoder has no parameters and no state of its own
(the normalizer's statistics belong to the policy).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from algos.base.spaces import UnsupportedSpace, obs_kind
from framework.data.normalization import ObsNormalizer

CHANNEL_SIZES = (1, 3, 4)


def image_layout(shape: tuple[int, ...]) -> str:
    """``hw``, ``hwc`` or ``chw`` for a uint8 image shape. Channels-last is recognized by a last
    dimension of 1, 3 or 4 next to a larger first one (RGB / RGBA / grayscale frames); frame
    stacks such as (4, 84, 84) are channels-first."""
    if len(shape) == 2:
        return "hw"
    if shape[-1] in CHANNEL_SIZES and shape[0] not in CHANNEL_SIZES:
        return "hwc"
    return "chw"


def _unit_float(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels as float in [0, 1] (the memory layout kept)."""
    return pixels.float().div_(255.0)


class ObsEncoder:
    def __init__(
        self, space: gym.Space, device: torch.device, normalizer: ObsNormalizer | None = None
    ):
        self.kind = obs_kind(space)
        self.device = device
        self.normalizer = normalizer
        if normalizer is not None and self.kind != "vector":
            raise UnsupportedSpace(
                f"algo_cfg.obs_norm: running normalization is for vector observations, not "
                f"{space}; set algo_cfg.obs_norm: false",
                "observation",
                self.kind,
            )
        if self.kind == "image":
            self.layout = image_layout(space.shape)
            h, w, *c = space.shape if self.layout != "chw" else (*space.shape[1:], space.shape[0])
            self.shape: tuple[int, ...] = (c[0] if c else 1, h, w)
            self._encode = self._image
        elif self.kind == "discrete":
            self.n = int(space.n)
            self.start = int(space.start)
            self.shape = (self.n,)
            self._encode = self._one_hot
        else:
            self.shape = tuple(space.shape)
            self._encode = self._vector if normalizer is None else self._normalized

    def __call__(self, obs: np.ndarray) -> torch.Tensor:
        return self._encode(obs)

    def stage(self, obs: np.ndarray) -> torch.Tensor:
        """The batch on the device in the network's layout but still in its stored dtype
        (uint8 images: a quarter of the float bytes); :meth:`finish` makes the network's
        input of it or of any rows of it. ``finish(stage(obs))`` equals ``self(obs)``. A rollout
        staged once and finished per minibatch gathers its minibatches as uint8."""
        return self._image_uint8(obs) if self.kind == "image" else self._encode(obs)

    def finish(self, staged: torch.Tensor) -> torch.Tensor:
        return _unit_float(staged) if self.kind == "image" else staged

    def _vector(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(obs, np.float32), device=self.device)

    def _normalized(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(self.normalizer.normalize(obs), device=self.device)

    def _image_uint8(self, obs: np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(obs), device=self.device)  # uint8 on the wire
        if self.layout == "hwc":
            x = x.permute(0, 3, 1, 2)
        elif self.layout == "hw":
            x = x.unsqueeze(1)
        # channels-last (NHWC) memory, which convolutions run faster on (networks.Trunk); made
        # while the pixels are uint8, a quarter of the bytes of the float copy
        return x.contiguous(memory_format=torch.channels_last)

    def _image(self, obs: np.ndarray) -> torch.Tensor:
        return _unit_float(self._image_uint8(obs))

    def _one_hot(self, obs: np.ndarray) -> torch.Tensor:
        index = torch.as_tensor(np.asarray(obs), device=self.device).long() - self.start
        return F.one_hot(index, self.n).float()
