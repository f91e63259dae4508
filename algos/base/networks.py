"""Networks built from layer lists (``value_layers``, ``actor_layers``, ...)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from algos.base.config import LayerSpec

ACTIVATION_MODULES: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "none": nn.Identity,
}


def build_trunk(input_shape: tuple[int, ...], layers: list[LayerSpec]) -> tuple[nn.Module, int]:
    """A Sequential from the layer list; returns it and its flat output size.

    A linear layer after a multi-dimensional input flattens it first, so a plain list of
    linear layers works for any Box observation.
    """
    modules: list[nn.Module] = []
    shape = tuple(input_shape)
    for spec in layers:
        if spec.layer_type == "conv2d":
            if len(shape) != 3:
                raise ValueError(f"conv2d needs a [C, H, W] input, got shape {shape}")
            conv = nn.Conv2d(
                shape[0], spec.layer_dim[0], spec.kernel_size, spec.stride, spec.padding
            )
            modules += [conv, ACTIVATION_MODULES[spec.activation]()]
            with torch.no_grad():
                shape = tuple(conv(torch.zeros(1, *shape)).shape[1:])
            continue
        if spec.layer_type == "flatten" or (spec.layer_type == "linear" and len(shape) > 1):
            modules.append(nn.Flatten())
            shape = (int(np.prod(shape)),)
        if spec.layer_type == "linear":
            modules += [
                nn.Linear(shape[0], spec.layer_dim[0]),
                ACTIVATION_MODULES[spec.activation](),
            ]
            shape = (spec.layer_dim[0],)
        elif spec.layer_type == "layernorm":
            modules.append(nn.LayerNorm(shape[-1]))
    if len(shape) > 1:
        modules.append(nn.Flatten())
    return nn.Sequential(*modules), int(np.prod(shape))


class MLPHead(nn.Module):
    """Trunk from a layer list plus a linear output layer."""

    def __init__(self, input_shape, layers: list[LayerSpec], out_dim: int):
        super().__init__()
        self.trunk, hidden = build_trunk(input_shape, layers)
        self.head = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


def orthogonal_init(module: nn.Module, head: nn.Module | None = None, head_gain: float = 1.0):
    """Orthogonal weights, zero biases: gain sqrt(2) for hidden layers, head_gain for the head
    (CleanRL / SB3 convention: 0.01 for a policy head, 1 for a value head)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.orthogonal_(m.weight, math.sqrt(2))
            nn.init.zeros_(m.bias)
    if head is not None:
        nn.init.orthogonal_(head.weight, head_gain)
        nn.init.zeros_(head.bias)
