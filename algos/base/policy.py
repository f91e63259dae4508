"""The contract every algorithm implements (torch-free), and what the framework may rely on.

A policy owns its parameters (networks or tables), optimizers, normalizer statistics and
counters. The framework never reaches inside; it calls:

- ``act(obs, mode)``: actions for a batch of raw observations, always actions the env can
  execute (Box actions inside the bounds), plus per-step extras to store (e.g. PPO's raw
  Gaussian sample and log-probability). ``mode`` is ``explore`` (training: warm-up randomness,
  epsilon, noise or sampling, as the algorithm explores), ``sample`` (a sample of the stochastic
  policy, no schedule; only when ``stochastic``) or ``greedy`` (deterministic).
- ``make_adder(n_envs)`` / ``make_buffer(parts_per_update)``: per-stream transform and storage.
- ``collect_steps(n_envs)``: vector steps to collect between two learning phases.
- ``updates_due(status)``: how many update steps to run now, from a ``BufferStatus`` (numbers
  only, no side effects); ``sample_spec()``: batch size and PER beta for each sample.
- ``learn(batch) -> LearnOutput``: one update step; metrics are returned, never stashed.
- ``observe(obs)``: raw observations collected while training (normalizer statistics).
- ``state_dict()`` / ``load_state_dict()``: everything (a checkpoint); ``actor_state()`` /
  ``load_actor_state()``: what acting needs (Ray workers).

Declarations (class attributes) that the framework and the conformance suite read:
``obs_kinds`` / ``action_kinds`` (see ``algos/base/spaces.py``), ``stochastic`` (collect mode's
``sampled`` is allowed), ``offline`` / ``learns_from_datasets`` (trains only from / also from a
dataset, ``general_cfg.dataset``) and ``exploration`` (the label of training-time actions in trajectory
files). The budget (``Budget``) gives schedules their progress on the run's clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np

from algos.base.config import BaseAlgoConfig
from algos.base.spaces import check_spaces
from framework.data.adders import IdentityAdder
from framework.data.normalization import RewardScaler
from framework.data.types import ActOutput, BufferStatus, LearnOutput, SampleSpec


class NonFiniteError(ArithmeticError):
    """Learning produced non-finite numbers (NaN or infinity): the update was not applied."""


ActMode = Literal["explore", "sample", "greedy"]
ACT_MODES = ("explore", "sample", "greedy")


@dataclass(frozen=True)
class Budget:
    """The run's length on its clock: env steps online, update steps offline (None: no limit).
    Linear schedules run over it."""

    unit: Literal["env_steps", "update_steps"] = "env_steps"
    total: int | None = None


class BasePolicy:
    obs_kinds: ClassVar[tuple[str, ...]] = ("vector",)
    action_kinds: ClassVar[tuple[str, ...]] = ("discrete",)
    stochastic: ClassVar[bool] = False
    """Whether ``act(obs, "sample")`` exists (a stochastic policy to sample from)."""
    offline: ClassVar[bool] = False
    """Learns from datasets only (``general_cfg.dataset`` is required to train it)."""
    learns_from_datasets: ClassVar[bool] = False
    """Can learn from a dataset (a buffer of kind ``dataset``) as well as from its own data."""
    uses_torch: ClassVar[bool] = False
    """Networks on a torch device (a tabular policy never imports torch)."""

    def __init__(
        self,
        cfg: BaseAlgoConfig,
        obs_space: gym.Space,
        action_space: gym.Space,
        *,
        seed: int | None = None,
        budget: Budget | None = None,
        name: str | None = None,
    ):
        parts = type(self).__module__.split(".")
        if not name:  # algos/<NAME>/policy.py, else the class name
            name = parts[1] if len(parts) == 3 and parts[0] == "algos" else type(self).__name__
        self.obs_kind, self.action_kind = check_spaces(
            name, obs_space, action_space, self.obs_kinds, self.action_kinds
        )
        self.name = name
        self.cfg = cfg
        self.obs_space = obs_space
        self.action_space = action_space
        self.budget = budget or Budget()
        self.rng = np.random.default_rng(seed)
        self.update_step = 0
        self.env_steps = 0  # global env steps; drives exploration and online schedules
        if self.budget.total is None and getattr(cfg, "lr_schedule", "constant") == "linear":
            logging.getLogger("rldojo").warning(
                "lr_schedule linear needs a budget (general_cfg.max_env_steps > 0); the learning "
                "rate stays at lr"
            )

    # ---- declarations ---------------------------------------------------------------------
    @property
    def exploration(self) -> str:
        """How training-time actions explore (a label for trajectory files)."""
        return "sampled" if self.stochastic else "greedy"

    # ---- acting ---------------------------------------------------------------------------
    def act(self, obs: np.ndarray, mode: ActMode = "explore") -> ActOutput:
        raise NotImplementedError

    def random_actions(self, n: int) -> np.ndarray:
        """``n`` uniformly random env actions from the policy's RNG (warm-up, epsilon)."""
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            return self.rng.integers(space.start, space.start + space.n, n)
        low, high = (
            np.broadcast_to(space.low, space.shape),
            np.broadcast_to(space.high, space.shape),
        )
        return self.rng.uniform(low, high, (n, *space.shape)).astype(space.dtype)

    @property
    def observes(self) -> bool:
        """Whether :meth:`observe` wants the raw observations collected while training."""
        return False

    def observe(self, obs: np.ndarray) -> None:
        """Raw observations collected while training ([T, n_envs, ...]); the torch policies
        update their normalizer statistics here. Acting and learning only read them."""

    # ---- data -----------------------------------------------------------------------------
    def make_reward_scaler(self, n_envs: int) -> RewardScaler | None:
        if not self.cfg.reward_scale and self.cfg.reward_clip is None:
            return None
        return RewardScaler(n_envs, self.cfg.gamma, self.cfg.reward_scale, self.cfg.reward_clip)

    def make_adder(self, n_envs: int):
        """Per-stream transform from StepBatch to what the buffer stores (identity here)."""
        return IdentityAdder()

    def make_buffer(self, parts_per_update: int = 1):
        raise NotImplementedError

    def collect_steps(self, n_envs: int) -> int:
        """Vector steps to collect with ``n_envs`` envs between two learning phases."""
        raise NotImplementedError

    def updates_due(self, status: BufferStatus) -> int:
        """How many update steps to run now (pure: looks at the numbers only)."""
        raise NotImplementedError

    def sample_spec(self) -> SampleSpec:
        return SampleSpec(None)

    def learn(self, batch) -> LearnOutput:
        raise NotImplementedError

    def state_values(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-state values V(s) and greedy actions, each [n_states], for Discrete observations
        (the value map drawn for grid worlds, ``figs/values.png``); None when the policy keeps
        no table of them."""
        return None

    # ---- schedules ----------------------------------------------------------------------------
    @property
    def progress(self) -> float:
        """Fraction of the budget used on the run's clock (0 without a budget)."""
        total = self.budget.total
        if not total or total <= 0:
            return 0.0
        now = self.env_steps if self.budget.unit == "env_steps" else self.update_step
        return min(1.0, now / total)

    # ---- state ------------------------------------------------------------------------------
    def params_finite(self) -> bool:
        """Whether every learned parameter is finite (checked before a checkpoint is saved)."""
        return True

    def state_dict(self) -> dict[str, Any]:
        return {
            "update_step": self.update_step,
            "env_steps": self.env_steps,
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any], weights_only: bool = False) -> None:
        """Restore parameters and statistics; unless weights_only, optimizers and counters too."""
        if weights_only:
            return
        self.update_step = int(state["update_step"])
        self.env_steps = int(state["env_steps"])
        if "rng" in state:
            self.rng.bit_generator.state = state["rng"]

    def actor_state(self) -> dict[str, Any]:
        """What a remote actor needs to act like this policy."""
        return {"env_steps": self.env_steps}

    def load_actor_state(self, state: dict[str, Any]) -> None:
        self.env_steps = int(state["env_steps"])
