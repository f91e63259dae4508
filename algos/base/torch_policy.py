"""The torch half of the policy contract: networks, optimizers and the plumbing around them.

A torch algorithm registers its networks (``add_network``; ``acting=True`` for those a Ray
worker needs to act) and optimizers (``add_optimizer`` with their base learning rates), and
writes ``act`` and ``learn``. This class provides

- the observation encoder (``preprocess``) and normalizer statistics (``observe``);
- learning-rate schedules as one factor applied to every optimizer's base rate (``apply_lr``):
  linear decay over the budget, times ``lr_scale`` (PPO's adaptive-KL factor);
- ``optimize``: backward, gradient clipping by value then by global norm, step;
- the train/eval mode switch (``set_training``; eval only for greedy acting, so layers such as
  noisy linear layers act on their means), switched only when it changes;
- ``state_dict``/``load_state_dict`` over everything registered, ``actor_state`` for workers.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import torch
from torch import nn

from algos.base.config import TorchAlgoConfig
from algos.base.encoders import ObsEncoder
from algos.base.optim import OPTIMIZERS, Adam, RMSprop
from algos.base.policy import BasePolicy, Budget, NonFiniteError
from framework.data.normalization import ObsNormalizer


class TorchPolicy(BasePolicy):
    cfg: TorchAlgoConfig
    uses_torch = True

    def __init__(
        self,
        cfg: TorchAlgoConfig,
        obs_space: gym.Space,
        action_space: gym.Space,
        *,
        device: str = "cpu",
        seed: int | None = None,
        budget: Budget | None = None,
        name: str | None = None,
    ):
        super().__init__(cfg, obs_space, action_space, seed=seed, budget=budget, name=name)
        self.device = torch.device(device)
        self.obs_norm = ObsNormalizer(obs_space.shape, cfg.obs_norm_clip) if cfg.obs_norm else None
        self.encoder = ObsEncoder(obs_space, self.device, self.obs_norm)
        self.obs_shape = self.encoder.shape  # the networks' input shape
        self.lr_scale = 1.0  # adaptive factor on top of the schedule (PPO's adaptive-KL)
        self._networks: dict[str, nn.Module] = {}
        self._acting: list[str] = []
        self._optimizers: dict[str, tuple[Adam | RMSprop, float]] = {}
        self._training = True

    # ---- registration ---------------------------------------------------------------------------
    def add_network(self, name: str, module: nn.Module, acting: bool = False) -> nn.Module:
        """Register (and move to the device) a network saved in checkpoints."""
        module = module.to(self.device)
        self._networks[name] = module
        if acting:
            self._acting.append(name)
        return module

    def add_optimizer(
        self, name: str, params, lr: float, kind: str = "adam", **kwargs
    ) -> Adam | RMSprop:
        """Register an optimizer (``kind``: adam or rmsprop, see ``optim.py``) whose base learning
        rate the schedule scales."""
        optim = OPTIMIZERS[kind](params, lr=lr, **kwargs)
        self._optimizers[name] = (optim, lr)
        return optim

    def networks(self) -> dict[str, nn.Module]:
        return dict(self._networks)

    def optimizers(self) -> dict[str, Adam | RMSprop]:
        return {k: o for k, (o, _) in self._optimizers.items()}

    # ---- acting ----------------------------------------------------------------------------------
    def preprocess(self, obs) -> torch.Tensor:
        """Encode a batch of raw observations (normalized with frozen statistics) on the device."""
        return self.encoder(obs)

    @property
    def observes(self) -> bool:
        return self.obs_norm is not None

    def observe(self, obs) -> None:
        if self.obs_norm is not None and obs is not None:
            self.obs_norm.update(obs)

    def set_training(self, training: bool) -> None:
        """Train mode for learning and exploring, eval mode for greedy acting."""
        if training != self._training:
            for m in self._networks.values():
                m.train(training)
            self._training = training

    # ---- learning --------------------------------------------------------------------------------
    def lr_factor(self) -> float:
        factor = self.lr_scale
        if self.cfg.lr_schedule == "linear":
            factor *= 1.0 + (self.cfg.lr_end / self.cfg.lr - 1.0) * self.progress
        return factor

    def current_lr(self) -> float:
        """The main learning rate now (``lr`` times the schedule's factor)."""
        return self.cfg.lr * self.lr_factor()

    def apply_lr(self) -> float:
        """Set every optimizer to its base rate times the schedule's factor; returns the main
        rate (logged as ``lr``)."""
        factor = self.lr_factor()
        for optim, base in self._optimizers.values():
            optim.param_groups[0]["lr"] = base * factor
        return self.cfg.lr * factor

    def optimize(self, name: str, loss: torch.Tensor) -> float:
        """Backward, clip (by value, then by global norm), step; returns the gradient norm
        before clipping (nan when ``max_grad_norm`` is null: the norm is not computed, which
        saves a few ops per step where updates are small and many, as SAC's and TD3's)."""
        optim = self._optimizers[name][0]
        optim.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = optim.clip(self.cfg.max_grad_norm, self.cfg.grad_clip_value)
        if self.cfg.max_grad_norm is not None:
            finite = math.isfinite(grad_norm)
        else:
            # No norm to compute (saves ops per small update): check the loss instead (one
            # scalar, no false alarms). Gradients that overflow from a finite loss slip through
            # once; the next loss is then non-finite and stops the run, and no checkpoint is
            # written from non-finite parameters (Learner.save checks them).
            finite = bool(torch.isfinite(loss))
        if not finite:  # stop before the step: the parameters stay finite
            optim.zero_grad(set_to_none=True)
            raise NonFiniteError(
                f"non-finite gradients of the {name} loss at update step {self.update_step + 1}"
            )
        optim.step()
        return grad_norm

    # ---- state -------------------------------------------------------------------------------------
    def params_finite(self) -> bool:
        with torch.no_grad():
            return all(
                bool(torch.isfinite(p).all())
                for m in self._networks.values()
                for p in m.parameters()
            )

    def extra_state(self) -> dict[str, Any]:
        """Algorithm state beyond networks and optimizers (e.g. a learned entropy temperature)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "networks": {k: m.state_dict() for k, m in self._networks.items()},
            "optimizers": {k: o.state_dict() for k, (o, _) in self._optimizers.items()},
            "obs_norm": self.obs_norm.state_dict() if self.obs_norm is not None else None,
            "lr_scale": self.lr_scale,
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any], weights_only: bool = False) -> None:
        missing = set(self._networks) - set(state["networks"])
        if missing:
            raise ValueError(f"checkpoint lacks networks {sorted(missing)}")
        for k, m in self._networks.items():
            m.load_state_dict(state["networks"][k])
        if self.obs_norm is not None:
            if state.get("obs_norm") is None:
                raise ValueError("checkpoint has no observation statistics but obs_norm is on")
            self.obs_norm.load_state_dict(state["obs_norm"])
        if weights_only:
            return
        super().load_state_dict(state)
        for k, (o, _) in self._optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        self.lr_scale = float(state.get("lr_scale", 1.0))
        self.load_extra_state(state.get("extra", {}))

    def actor_state(self) -> dict[str, Any]:
        return {
            **super().actor_state(),
            "networks": {k: self._networks[k].state_dict() for k in self._acting},
            "obs_norm": self.obs_norm.state_dict() if self.obs_norm is not None else None,
        }

    def load_actor_state(self, state: dict[str, Any]) -> None:
        super().load_actor_state(state)
        for k, sd in state["networks"].items():
            self._networks[k].load_state_dict(sd)
        if self.obs_norm is not None and state["obs_norm"] is not None:
            self.obs_norm.load_state_dict(state["obs_norm"])
