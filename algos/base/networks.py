"""Networks built from layer lists (``value_layers``, ``actor_layers``, ...)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
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


_DIRECT = {
    nn.ReLU: F.relu,
    nn.Tanh: torch.tanh,
    nn.Sigmoid: torch.sigmoid,
    nn.SiLU: F.silu,
    nn.Identity: None,
}


class Trunk(nn.Sequential):
    """A Sequential whose forward calls linear layers and plain activations as functions.

    Acting runs one small forward pass per vector step, where ``Module.__call__`` on every
    layer (hooks, dispatch) costs about as much as the matrix products themselves. The
    result is identical; other layer types go through their module as usual.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for m in self._modules.values():
            kind = type(m)
            if kind is nn.Linear:
                x = F.linear(x, m.weight, m.bias)
            elif kind in _DIRECT:
                fn = _DIRECT[kind]
                if fn is not None:
                    x = fn(x)
            else:
                x = m(x)
        return x


def build_trunk(input_shape: tuple[int, ...], layers: list[LayerSpec]) -> tuple[nn.Module, int]:
    """A Trunk (Sequential) from the layer list; returns it and its flat output size.

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
    return Trunk(*modules), int(np.prod(shape))


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
