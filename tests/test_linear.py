"""Linear layers through oneDNN (algos/base/linear.py): the same values and gradients as
``F.linear`` in float32, the large products really routed there, small ones and
``onednn_linear: false`` left to torch."""

import pytest
import torch
import torch.nn.functional as F

from algos.base import linear as lin
from algos.base.networks import NoisyLinear, build_trunk
from config.loader import load_config
from framework.runtime.setup import apply_torch_settings

needs_onednn = pytest.mark.skipif(not lin._AVAILABLE, reason="no oneDNN matmul on this CPU")


@pytest.fixture(autouse=True)
def _restore():
    yield
    lin.use_onednn(True)


def _grads(fn, x, w, b, g):
    leaves = [t for t in (x, w, b) if t is not None and t.requires_grad]
    out = fn(x, w, b)
    return out, torch.autograd.grad(out, leaves, g) if leaves else ()


@pytest.mark.parametrize(
    "shape, n_out, bias, need",
    [
        ((256, 256), 256, True, "xwb"),  # an MLP's hidden layer at batch 256
        ((32, 3136), 512, True, "wb"),  # the Nature CNN's dense layer (input from a conv)
        ((16, 12, 256), 256, True, "xwb"),  # IQN's [B, K, H] features: leading dims kept
        ((256, 512), 300, False, "x"),  # no bias; input gradient only (a frozen layer)
        ((128, 256), 64, True, ""),  # no gradient at all
    ],
)
def test_values_and_gradients_match_torch(shape, n_out, bias, need):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=gen).requires_grad_("x" in need)
    w = (
        torch.randn(n_out, shape[-1], generator=gen)
        .div_(shape[-1] ** 0.5)
        .requires_grad_("w" in need)
    )
    b = torch.randn(n_out, generator=gen).requires_grad_("b" in need) if bias else None
    g = torch.randn(*shape[:-1], n_out, generator=gen)
    out, grads = _grads(lin.linear, x, w, b, g)
    ref, ref_grads = _grads(F.linear, x, w, b, g)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@needs_onednn
def test_large_products_go_to_onednn_small_ones_to_torch():
    x = torch.randn(256, 256, requires_grad=True)
    big = lin.Linear(256, 256)
    assert type(big(x).grad_fn).__name__ == "_OneDNNLinearBackward"
    small = lin.Linear(256, 2)  # 131k multiply-adds: torch's addmm
    assert type(small(x).grad_fn).__name__ == "AddmmBackward0"
    lin.use_onednn(False)
    assert type(big(x).grad_fn).__name__ == "AddmmBackward0"


@needs_onednn
def test_the_config_key_switches_the_process():
    apply_torch_settings(load_config(None, ["general_cfg.onednn_linear=false"]))
    assert not lin._enabled
    apply_torch_settings(load_config(None, []))
    assert lin._enabled


def test_trunks_and_noisy_layers_use_it():
    trunk, _ = build_trunk((8,), load_config(None, []).algo.value_layers, "value_layers")
    assert any(type(m) is lin.Linear for m in trunk)
    noisy = NoisyLinear(512, 512)
    x = torch.randn(64, 512)
    ref_noisy = F.linear(
        x,
        noisy.weight_mu + noisy.weight_sigma * torch.outer(noisy.eps[512:], noisy.eps[:512]),
        noisy.bias_mu + noisy.bias_sigma * noisy.eps[512:],
    )
    torch.testing.assert_close(noisy(x), ref_noisy, rtol=1e-5, atol=1e-5)
