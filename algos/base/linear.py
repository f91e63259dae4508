"""Linear layers whose large float32 matrix products on an x86 CPU run through oneDNN.

PyTorch's CPU wheels compute ``F.linear`` with MKL's sgemm, and MKL runs its AVX2 kernels on
CPUs that are not Intel's: on an AMD EPYC (Zen 5) core a 256x256x256 product reaches 96
GFLOP/s through MKL and about 200 through oneDNN's matmul (``torch.ops.mkldnn``, the kernels
PyTorch already uses for its CPU convolutions). :func:`linear` sends a product of at least
``ONEDNN_MIN_MACS`` multiply-adds there, forward and backward (input and weight gradients are
products of the same size), and everything else to ``F.linear``: below that size oneDNN's
fixed cost per call (about 12 us) outweighs its speed. Both compute in float32 (oneDNN's strict
float mode, PyTorch's default); only the order of the sums differs, as between any two BLAS.

``general_cfg.onednn_linear: false`` turns this off for the process (:func:`use_onednn`).
"""

from __future__ import annotations

import platform

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

# rows x in_features x out_features from which oneDNN wins on the machine above, training
# (forward and backward) and acting alike: 2M multiply-adds (e.g. batch 32 through 256x256)
ONEDNN_MIN_MACS = 1 << 21

_OP = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)
_AVAILABLE = (
    _OP is not None
    and torch.backends.mkldnn.is_available()
    and platform.machine().lower() in ("x86_64", "amd64")
)
_enabled = _AVAILABLE


def use_onednn(enabled: bool) -> bool:
    """Route large CPU products through oneDNN (where PyTorch has it, on x86) or never;
    returns whether they now are."""
    global _enabled
    _enabled = bool(enabled) and _AVAILABLE
    return _enabled


def _matmul(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """x [M, K] @ w[N, K]^T (+ b): oneDNN's fp32 matmul (views of any strides)."""
    return _OP(x, w, b, "none", [], "")


class _OneDNNLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):  # x: [M, K], contiguous
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _matmul(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = _matmul(grad, weight.t(), None)  # [M, N] @ [N, K]
        if ctx.needs_input_grad[1]:
            dw = _matmul(grad.t(), x.t(), None)  # [N, M] @ [M, K]
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = grad.sum(0)
        return dx, dw, db


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None):
    """``F.linear(x, weight, bias)``, through oneDNN for a large float32 product on the CPU."""
    if (
        not _enabled
        or x.device.type != "cpu"
        or x.dtype != torch.float32
        or weight.dtype != torch.float32
        or x.numel() * weight.shape[0] < ONEDNN_MIN_MACS
    ):
        return F.linear(x, weight, bias)
    x2 = (x if x.dim() == 2 else x.reshape(-1, x.shape[-1])).contiguous()
    if torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
    ):
        out = _OneDNNLinear.apply(x2, weight, bias)
    else:
        out = _matmul(x2, weight, bias)
    return out if x.dim() == 2 else out.view(*x.shape[:-1], weight.shape[0])


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters, same state dict) computed by :func:`linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)
