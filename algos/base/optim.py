"""Adam (Kingma & Ba 2015) and RMSprop (Tieleman & Hinton 2012) on one flat tensor.

Why not ``torch.optim.Adam``: constructing any torch optimizer imports ``torch._dynamo``
(about 1.7 s on a 2-core machine), which is more than PPO needs to solve CartPole. This
implementation is the textbook update with torch's semantics (tested against
``torch.optim.Adam`` in ``tests/test_distributions.py``): each parameter keeps its own step count,
so a parameter without a gradient in some steps (an unused head, a frozen part) gets the bias
correction of the updates it really had. It exposes ``param_groups`` (learning-rate schedules)
and round-trips its state through ``state_dict``/``load_state_dict``. :class:`RMSprop` (A2C's
optimizer, as in Mnih et al. 2016) follows ``torch.optim.RMSprop`` the same way (tested against it
too). ``OPTIMIZERS`` maps the config's ``optimizer`` names to the classes.

Flat storage: the optimizer moves its parameters into one flat tensor (each parameter becomes a
view of it, so the networks and their state dicts are unchanged) and keeps its moments and the
gradients the same way. An update is then a few ops on one tensor instead of a few per parameter,
and gradient clipping (``clip``) is one norm and one multiply: on a 4-256-256-2 MLP, clip and step
take 0.75 ms against 0.98 with ``clip_grad_norm_`` and the multi-tensor update (one CPU thread,
interleaved medians). The results are the same. Adam's update itself is torch's fused kernel
(``torch._fused_adam_``, what ``torch.optim.Adam(fused=True)`` runs) where torch has it: one pass
over parameters, gradients and moments. The parameters must be on their device before
the optimizer is made: moving them later would leave the optimizer updating a copy, which
``step`` refuses with an error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

_FUSED_ADAM = getattr(torch, "_fused_adam_", None)


class _Optimizer:
    """What the two optimizers share: flat storage of the parameters, their gradients and the
    optimizer's own state; one param group; ``zero_grad``, ``clip`` and the shape check of a
    loaded state."""

    def __init__(self, params: Iterable[torch.nn.Parameter], n_states: int):
        unique: dict[int, torch.nn.Parameter] = {}
        for p in params:
            if p.requires_grad:
                unique.setdefault(id(p), p)
        self.params = list(unique.values())
        self.flat = _flatten(self.params)
        # the optimizer's state (moments) and the gradients: flat tensors and their views per
        # parameter when the parameters are flat, else a tensor per parameter
        if self.flat is not None:
            self.flat_states = [torch.zeros_like(self.flat) for _ in range(n_states)]
            self.states = [self._views(f) for f in self.flat_states]
            self.flat_grad = torch.zeros_like(self.flat)
            self.grad_views = self._views(self.flat_grad)
        else:
            self.states = [[torch.zeros_like(p) for p in self.params] for _ in range(n_states)]

    def _views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        out, offset = [], 0
        for p in self.params:
            out.append(flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()
        return out

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def _flat_grads(self) -> torch.Tensor | None:
        """All gradients as one flat tensor, each parameter's ``.grad`` then a view of it
        (so clipping it clips theirs); None where some parameter has no gradient or the
        parameters are not flat."""
        if self.flat is None:
            return None
        if self.flat.data_ptr() != self.params[0].data_ptr():
            raise RuntimeError(
                "the optimizer's parameters were moved or replaced after it was made: "
                "move networks to their device before making their optimizer"
            )
        grads = [p.grad for p in self.params]
        if all(g is view for g, view in zip(grads, self.grad_views)):
            return self.flat_grad  # gathered already (backward accumulates into the views)
        if any(g is None for g in grads):
            return None
        flat = [g.reshape(-1) for g in grads]
        if any(g is view for g, view in zip(grads, self.grad_views)):  # some set anew by hand
            self.flat_grad.copy_(torch.cat(flat))  # (cat cannot write over its own inputs)
        else:
            torch.cat(flat, out=self.flat_grad)
        for p, view in zip(self.params, self.grad_views):
            p.grad = view
        return self.flat_grad

    @torch.no_grad()
    def clip(self, max_norm: float | None, clip_value: float | None = None) -> float:
        """Clip the gradients by value (``clip_value``), then by global norm (``max_norm``,
        torch's ``clip_grad_norm_`` rule); returns the norm before the norm clip, nan when
        ``max_norm`` is None (not computed)."""
        flat = self._flat_grads()
        grads = [flat] if flat is not None else [p.grad for p in self.params if p.grad is not None]
        if not grads:
            return 0.0 if max_norm is not None else float("nan")
        if clip_value is not None:
            for g in grads:
                g.clamp_(-clip_value, clip_value)
        if max_norm is None:
            return float("nan")
        norms = [torch.linalg.vector_norm(g) for g in grads]
        total = norms[0] if len(norms) == 1 else torch.linalg.vector_norm(torch.stack(norms))
        coef = (max_norm / (total + 1e-6)).clamp_(max=1.0)
        torch._foreach_mul_(grads, coef)
        return float(total)

    def _indexed(self) -> tuple[list[int], list[torch.Tensor]]:
        """The parameters with a gradient, by index, and their gradients."""
        idx = [i for i, p in enumerate(self.params) if p.grad is not None]
        return idx, [self.params[i].grad for i in idx]

    def _check_state(self, tensors: list[torch.Tensor]) -> None:
        if len(tensors) != len(self.params) or any(
            a.shape != p.shape for a, p in zip(tensors, self.params)
        ):
            raise ValueError("optimizer state does not match the network's parameters")

    def _load_states(self, stored: list[list[torch.Tensor]]) -> None:
        """Copy stored moments into this optimizer's, in place (they may be views of the flat
        state), after checking all of them: a mismatch loads nothing."""
        for new in stored:
            self._check_state(new)
        with torch.no_grad():
            for own, new in zip(self.states, stored):
                for a, b in zip(own, new):
                    a.copy_(b)


def _flatten(params: list[torch.nn.Parameter]) -> torch.Tensor | None:
    """Move the parameters into one flat tensor (each becomes a view of it); None where they
    cannot share one (fewer than two, mixed devices or dtypes, or already flat in another
    optimizer)."""
    if len(params) < 2 or len({(p.device, p.dtype) for p in params}) != 1:
        return None
    if any(getattr(p, "_rldojo_flat", False) or p.is_sparse for p in params):
        return None
    flat = torch.empty(
        sum(p.numel() for p in params), dtype=params[0].dtype, device=params[0].device
    )
    offset = 0
    with torch.no_grad():
        for p in params:
            view = flat[offset : offset + p.numel()].view_as(p)
            view.copy_(p)
            p.data = view
            p._rldojo_flat = True
            offset += p.numel()
    return flat


class Adam(_Optimizer):
    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        super().__init__(params, n_states=2)
        self.param_groups = [{"params": self.params, "lr": lr, "betas": betas, "eps": eps}]
        self.steps = [0] * len(self.params)

    @property
    def exp_avg(self) -> list[torch.Tensor]:
        return self.states[0]

    @property
    def exp_avg_sq(self) -> list[torch.Tensor]:
        return self.states[1]

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        flat = self._flat_grads()
        if flat is not None and len(set(self.steps)) == 1:  # every parameter, one step count
            self.steps = [self.steps[0] + 1] * len(self.steps)
            m, v = self.flat_states
            self._update([self.flat], [flat], [m], [v], [self.steps[0]], lr, b1, b2, eps)
            return
        idx, grads = self._indexed()
        if not idx:
            return
        for i in idx:
            self.steps[i] += 1
        self._update(
            [self.params[i] for i in idx],
            grads,
            [self.exp_avg[i] for i in idx],
            [self.exp_avg_sq[i] for i in idx],
            [self.steps[i] for i in idx],
            lr,
            b1,
            b2,
            eps,
        )

    @staticmethod
    def _update(params, grads, m, v, steps, lr, b1, b2, eps) -> None:
        if _FUSED_ADAM is not None and params[0].device.type in ("cpu", "cuda"):
            # torch's fused kernel (torch.optim.Adam(fused=True)): the whole update in one pass
            # over the four tensors. The Nature CNN's 1.7M parameters: 0.7 ms against 2.4 ms
            # for the ops below, whose square root alone takes 0.6 ms (one thread)
            dev = params[0].device
            _FUSED_ADAM(
                params, grads, m, v, [],
                [torch.tensor(float(s), device=dev) for s in steps],
                lr=lr, beta1=b1, beta2=b2, weight_decay=0.0, eps=eps, amsgrad=False,
                maximize=False,
            )  # fmt: skip
            return
        torch._foreach_lerp_(m, grads, 1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - b2)
        # the square root of zeros and denormals takes a slow path on x86 CPUs (7x and 35x
        # slower here; a CNN's second moments hold many, from dead units): floor them at 1e-30
        # first, whose root (1e-15) is far below eps
        denom = torch._foreach_clamp_min(v, 1e-30)
        torch._foreach_sqrt_(denom)
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
        self._load_states([state["exp_avg"], state["exp_avg_sq"]])
        self.steps = [int(s) for s in state["steps"]]
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
        super().__init__(params, n_states=2 if centered else 1)
        self.param_groups = [
            {"params": self.params, "lr": lr, "alpha": alpha, "eps": eps, "centered": centered}
        ]

    @property
    def square_avg(self) -> list[torch.Tensor]:
        return self.states[0]

    @property
    def grad_avg(self) -> list[torch.Tensor]:
        return self.states[1] if len(self.states) > 1 else []

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        flat = self._flat_grads()
        if flat is not None:
            states = [[s] for s in self.flat_states]
            self._update([self.flat], [flat], *states, group=group)
            return
        idx, grads = self._indexed()
        if idx:
            states = [[s[i] for i in idx] for s in self.states]
            self._update([self.params[i] for i in idx], grads, *states, group=group)

    @staticmethod
    def _update(params, grads, sq, g_avg=None, *, group) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        torch._foreach_mul_(sq, alpha)
        torch._foreach_addcmul_(sq, grads, grads, value=1 - alpha)
        if g_avg is not None:
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
        if bool(state["grad_avg"]) != self.param_groups[0]["centered"]:
            raise ValueError("optimizer state does not match the network's parameters (centered)")
        self._load_states([state["square_avg"], state["grad_avg"]][: len(self.states)])
        self.param_groups[0]["lr"] = float(state["lr"])


OPTIMIZERS: dict[str, type[Adam] | type[RMSprop]] = {"adam": Adam, "rmsprop": RMSprop}
