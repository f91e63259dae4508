"""The interface every algorithm implements, and the plumbing they share.

A policy owns its networks, optimizers, normalizer statistics and update counter. The
framework never reaches inside: it calls ``act`` to collect, ``make_adder``/``make_buffer`` for
storage, ``updates_due`` + ``learn`` to train, and ``state_dict``/``load_state_dict`` for
checkpoints (``actor_state`` for the subset that acting needs, e.g. for Ray workers).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from algos.base.config import BaseAlgoConfig
from framework.data import LearnOutput, StepBatch
from framework.normalization import ObsNormalizer, RewardScaler


class UnsupportedSpace(ValueError):
    """The algorithm cannot handle this observation or action space."""


class BasePolicy:
    on_policy: ClassVar[bool] = False

    def __init__(
        self,
        cfg: BaseAlgoConfig,
        obs_space: gym.Space,
        action_space: gym.Space,
        device: str = "cpu",
        total_env_steps: int | None = None,
        seed: int | None = None,
    ):
        if not isinstance(obs_space, gym.spaces.Box):
            raise UnsupportedSpace(f"observation space {obs_space} is not a Box")
        self.cfg = cfg
        self.obs_space = obs_space
        self.action_space = action_space
        self.obs_shape = tuple(obs_space.shape)
        self.device = torch.device(device)
        self.total_env_steps = total_env_steps
        self.rng = np.random.default_rng(seed)
        self.obs_norm = ObsNormalizer(self.obs_shape, cfg.obs_norm_clip) if cfg.obs_norm else None
        self.lr = cfg.lr  # current learning rate (schedules change it)
        if cfg.lr_schedule == "linear" and not total_env_steps:
            logging.getLogger("rldojo").warning(
                "lr_schedule linear needs an env-step budget (general_cfg.max_env_steps > 0); "
                "the learning rate stays at lr"
            )
        self.update_step = 0
        self.env_steps = 0  # global env steps; drives exploration and schedules

    # ---- acting ---------------------------------------------------------------------------
    def preprocess(self, obs: np.ndarray) -> torch.Tensor:
        """Normalize (frozen statistics) and move a batch of raw observations to the device."""
        if self.obs_norm is not None:
            obs = self.obs_norm.normalize(obs)
        return torch.as_tensor(np.asarray(obs, np.float32), device=self.device)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, dict]:
        """Actions for a batch of raw observations, plus per-step extras to store."""
        raise NotImplementedError

    def observe(self, obs: np.ndarray | StepBatch) -> None:
        """Update the observation statistics from collected raw observations (a [T, n_envs, ...]
        array or a StepBatch); training only. Acting, evaluation and learning only read them."""
        if self.obs_norm is not None:
            self.obs_norm.update(obs.obs if isinstance(obs, StepBatch) else obs)

    # ---- data -----------------------------------------------------------------------------
    def make_reward_scaler(self, n_envs: int) -> RewardScaler | None:
        if not self.cfg.reward_scale and self.cfg.reward_clip is None:
            return None
        return RewardScaler(n_envs, self.cfg.gamma, self.cfg.reward_scale, self.cfg.reward_clip)

    def make_adder(self, n_envs: int):
        """Per-stream transform from StepBatch to what the buffer stores (identity here)."""
        return lambda batch: batch

    def make_buffer(self, parts_per_update: int = 1):
        raise NotImplementedError

    def collect_steps(self, n_envs: int) -> int:
        """Vector steps to collect with ``n_envs`` envs between two learning phases."""
        raise NotImplementedError

    def updates_due(self, buffer) -> int:
        """How many update steps to run now, given the buffer."""
        raise NotImplementedError

    def learn(self, batch) -> LearnOutput:
        raise NotImplementedError

    # ---- schedules ----------------------------------------------------------------------------
    @property
    def progress(self) -> float:
        """Fraction of the env-step budget used, for linear schedules (0 without a budget)."""
        if not self.total_env_steps or self.total_env_steps <= 0:
            return 0.0
        return min(1.0, self.env_steps / self.total_env_steps)

    def current_lr(self) -> float:
        if self.cfg.lr_schedule == "linear":
            return self.cfg.lr + (self.cfg.lr_end - self.cfg.lr) * self.progress
        return self.lr  # constant, or the adaptive-KL value kept in self.lr

    def _set_lr(self, optimizer) -> float:
        lr = self.current_lr()
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _step(self, optimizer, loss: torch.Tensor, params) -> float:
        """Backward, clip (by value, then by global norm), step; returns the gradient norm."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = list(params)
        if self.cfg.grad_clip_value is not None:
            nn.utils.clip_grad_value_(params, self.cfg.grad_clip_value)
        norm = self.cfg.max_grad_norm if self.cfg.max_grad_norm is not None else float("inf")
        grad_norm = nn.utils.clip_grad_norm_(params, norm)
        optimizer.step()
        return float(grad_norm)

    # ---- state ------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        """Every network (saved in checkpoints)."""
        raise NotImplementedError

    def actor_modules(self) -> list[str]:
        """Names of the networks needed to act."""
        return list(self.modules())

    def optimizers(self) -> dict:
        raise NotImplementedError

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {
            "modules": {k: m.state_dict() for k, m in self.modules().items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
            "obs_norm": self.obs_norm.state_dict() if self.obs_norm is not None else None,
            "update_step": self.update_step,
            "env_steps": self.env_steps,
            "lr": self.lr,
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any], weights_only: bool = False) -> None:
        """Restore networks and normalizer; unless weights_only, optimizers and counters too."""
        modules = self.modules()
        missing = set(modules) - set(state["modules"])
        if missing:
            raise ValueError(f"checkpoint lacks networks {sorted(missing)}")
        for k, m in modules.items():
            m.load_state_dict(state["modules"][k])
        if self.obs_norm is not None:
            if state.get("obs_norm") is None:
                raise ValueError("checkpoint has no observation statistics but obs_norm is on")
            self.obs_norm.load_state_dict(state["obs_norm"])
        if weights_only:
            return
        for k, o in self.optimizers().items():
            o.load_state_dict(state["optimizers"][k])
        self.update_step = int(state["update_step"])
        self.env_steps = int(state["env_steps"])
        self.lr = float(state.get("lr", self.lr))
        self.load_extra_state(state.get("extra", {}))

    def actor_state(self) -> dict[str, Any]:
        """What a remote actor needs: acting networks, normalizer statistics, env-step count."""
        modules = self.modules()
        return {
            "modules": {k: modules[k].state_dict() for k in self.actor_modules()},
            "obs_norm": self.obs_norm.state_dict() if self.obs_norm is not None else None,
            "env_steps": self.env_steps,
        }

    def load_actor_state(self, state: dict[str, Any]) -> None:
        modules = self.modules()
        for k, sd in state["modules"].items():
            modules[k].load_state_dict(sd)
        if self.obs_norm is not None and state["obs_norm"] is not None:
            self.obs_norm.load_state_dict(state["obs_norm"])
        self.env_steps = state["env_steps"]
