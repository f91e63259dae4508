"""Adam (Kingma & Ba 2015) and RMSprop (Tieleman & Hinton 2012) with torch's multi-tensor
``_foreach`` ops.

Why not ``torch.optim.Adam``: constructing any torch optimizer imports ``torch._dynamo``
(about 1.7 s on a 2-core machine), which is more than PPO needs to solve CartPole. This
implementation is the textbook update with torch's semantics (tested against
``torch.optim.Adam`` in ``tests/test_distributions.py``): each parameter keeps its own step count,
so a parameter without a gradient in some steps (an unused head, a frozen part) gets the bias
correction of the updates it really had. It exposes ``param_groups`` (learning-rate schedules)
and round-trips its state through ``state_dict``/``load_state_dict``. :class:`RMSprop` (A2C's
optimizer, as in Mnih et al. 2016) follows ``torch.optim.RMSprop`` the same way (tested against it
too). ``OPTIMIZERS`` maps the config's ``optimizer`` names to the classes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


class _Optimizer:
    """What the two optimizers share: the parameters that train, one param group, zero_grad and
    the shape check of a loaded state."""

    params: list[torch.nn.Parameter]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def _check_state(self, tensors: list[torch.Tensor]) -> torch.device | str:
        if len(tensors) != len(self.params) or any(
            a.shape != p.shape for a, p in zip(tensors, self.params)
        ):
            raise ValueError("optimizer state does not match the network's parameters")
        return self.params[0].device if self.params else "cpu"


class Adam(_Optimizer):
    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        self.params = [p for p in params if p.requires_grad]
        self.param_groups = [{"params": self.params, "lr": lr, "betas": betas, "eps": eps}]
        self.steps = [0] * len(self.params)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        idx = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not idx:
            return
        params = [self.params[i] for i in idx]
        grads = [self.params[i].grad for i in idx]
        m = [self.exp_avg[i] for i in idx]
        v = [self.exp_avg_sq[i] for i in idx]
        for i in idx:
            self.steps[i] += 1
        torch._foreach_lerp_(m, grads, 1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - b2)
        # the square root of zeros and denormals takes a slow path on x86 CPUs (7x and 35x
        # slower here; a CNN's second moments hold many, from dead units): floor them at 1e-30
        # first, whose root (1e-15) is far below eps
        denom = torch._foreach_clamp_min(v, 1e-30)
        torch._foreach_sqrt_(denom)
        steps = [self.steps[i] for i in idx]
        if len(set(steps)) == 1:  # the usual case: one bias correction for all
            bias1, bias2 = 1 - b1 ** steps[0], 1 - b2 ** steps[0]
            torch._foreach_div_(denom, math.sqrt(bias2))
            torch._foreach_add_(denom, eps)
            torch._foreach_addcdiv_(params, m, denom, value=-lr / bias1)
            return
        torch._foreach_div_(denom, [math.sqrt(1 - b2**s) for s in steps])
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, m, denom, [-lr / (1 - b1**s) for s in steps])

    def state_dict(self) -> dict:
        return {
            "steps": list(self.steps),
            "exp_avg": [t.clone() for t in self.exp_avg],
            "exp_avg_sq": [t.clone() for t in self.exp_avg_sq],
            "lr": self.param_groups[0]["lr"],
        }

    def load_state_dict(self, state: dict) -> None:
        device = self._check_state(state["exp_avg"])
        self.steps = [int(s) for s in state["steps"]]
        self.exp_avg = [t.to(device).clone() for t in state["exp_avg"]]
        self.exp_avg_sq = [t.to(device).clone() for t in state["exp_avg_sq"]]
        self.param_groups[0]["lr"] = float(state["lr"])


class RMSprop(_Optimizer):
    """``torch.optim.RMSprop`` without momentum or weight decay: a running mean of squared
    gradients (decay ``alpha``), optionally centered by the running mean gradient, and the step
    lr * g / (sqrt(mean square) + eps)."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        centered: bool = False,
    ):
        self.params = [p for p in params if p.requires_grad]
        self.param_groups = [
            {"params": self.params, "lr": lr, "alpha": alpha, "eps": eps, "centered": centered}
        ]
        self.square_avg = [torch.zeros_like(p) for p in self.params]
        self.grad_avg = [torch.zeros_like(p) for p in self.params] if centered else []

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        idx = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not idx:
            return
        params = [self.params[i] for i in idx]
        grads = [self.params[i].grad for i in idx]
        sq = [self.square_avg[i] for i in idx]
        torch._foreach_mul_(sq, alpha)
        torch._foreach_addcmul_(sq, grads, grads, value=1 - alpha)
        if group["centered"]:
            g_avg = [self.grad_avg[i] for i in idx]
            torch._foreach_lerp_(g_avg, grads, 1 - alpha)
            avg = torch._foreach_addcmul(sq, g_avg, g_avg, value=-1)
            torch._foreach_sqrt_(avg)
        else:
            avg = torch._foreach_sqrt(sq)
        torch._foreach_add_(avg, eps)
        torch._foreach_addcdiv_(params, grads, avg, value=-lr)

    def state_dict(self) -> dict:
        return {
            "square_avg": [t.clone() for t in self.square_avg],
            "grad_avg": [t.clone() for t in self.grad_avg],
            "lr": self.param_groups[0]["lr"],
        }

    def load_state_dict(self, state: dict) -> None:
        device = self._check_state(state["square_avg"])
        if bool(state["grad_avg"]) != self.param_groups[0]["centered"]:
            raise ValueError("optimizer state does not match the network's parameters (centered)")
        self.square_avg = [t.to(device).clone() for t in state["square_avg"]]
        self.grad_avg = [t.to(device).clone() for t in state["grad_avg"]]
        self.param_groups[0]["lr"] = float(state["lr"])


OPTIMIZERS: dict[str, type[Adam] | type[RMSprop]] = {"adam": Adam, "rmsprop": RMSprop}
