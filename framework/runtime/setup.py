"""Everything a run needs before its task directory exists: its config (checkpoint-aware), the
device, the policy, the checkpoint it loads and the counters it continues.

Checkpoints carry the config they were trained with (all three sections): test, render and
collect build the policy from the checkpoint's algorithm, network and env config
(:func:`load_run_config`), so a YAML that names only ``load_path`` tests the model as trained.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import gymnasium as gym

from algos.base.policy import BasePolicy, Budget
from algos.base.spaces import UnsupportedSpace, action_kind, obs_kind
from config.base import UserError
from config.loader import Config, ConfigError, available, load_config, resolve_init_from
from envs.vector import spaces_of
from framework.data.datasets import Dataset, check_dataset, open_dataset
from framework.records.checkpoint import CheckpointError, read_checkpoint
from framework.runtime.clock import Counters
from framework.runtime.seeding import policy_seed, seed_everything


def policy_class(algo_name: str) -> type[BasePolicy]:
    """``algos/<name>/policy.py:Policy``, or the folder named by the config module's ``POLICY``
    (a thin variant: a config with other defaults over another folder's policy)."""
    module = importlib.import_module(f"algos.{algo_name}.config")
    folder = getattr(module, "POLICY", algo_name)
    return importlib.import_module(f"algos.{folder}.policy").Policy


def algorithms_for(obs_space: gym.Space, action_space: gym.Space) -> list[str]:
    """The registered algorithms that declare support for both spaces."""
    o, a = obs_kind(obs_space), action_kind(action_space)
    out = []
    for name in available("algos"):
        cls = policy_class(name)
        if o in cls.obs_kinds and a in cls.action_kinds:
            out.append(name)
    return out


def apply_torch_settings(cfg: Config) -> None:
    """The process-wide torch settings of ``general_cfg`` (``torch_threads``, ``onednn_linear``),
    once the policy's modules are imported; nothing for an algorithm that does not use torch."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    from algos.base.linear import use_onednn  # imports torch, which this run already has

    torch.set_num_threads(cfg.general.torch_threads)
    use_onednn(cfg.general.onednn_linear)


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "general_cfg.device: cuda requested but no CUDA device is available; use cpu or auto"
        )
    return device


def offline(cfg: Config) -> bool:
    """Whether this run learns from a dataset (general_cfg.dataset) instead of envs."""
    return cfg.general.mode == "train" and cfg.general.dataset is not None


def budget_of(cfg: Config) -> Budget:
    """Linear schedules run over ``schedule_steps`` (or the budget), on the run's clock: env
    steps, or update steps for a run that learns from a dataset."""
    g = cfg.general
    if offline(cfg):
        total = g.schedule_steps or (g.max_update_steps if g.max_update_steps > 0 else None)
        return Budget("update_steps", total)
    total = g.schedule_steps or (g.max_env_steps if g.max_env_steps > 0 else None)
    return Budget("env_steps", total)


def build_policy(
    cfg: Config, obs_space, action_space, seed: int | None = None, device: str | None = None
) -> BasePolicy:
    """The configured algorithm's policy for these spaces; UnsupportedSpace names the algorithms
    that fit them."""
    cls = policy_class(cfg.general.algo_name)
    try:
        return cls(
            cfg.algo,
            obs_space,
            action_space,
            # a policy without torch (tabular) runs on the CPU and never imports torch
            device=device or (resolve_device(cfg.general.device) if cls.uses_torch else "cpu"),
            seed=seed,
            budget=budget_of(cfg),
            name=cfg.general.algo_name,
        )
    except UnsupportedSpace as err:
        if err.kind is None or err.side not in ("observation", "action"):
            raise
        fits = algorithms_for(obs_space, action_space)
        hint = f"; algorithms for these spaces: {', '.join(fits)}" if fits else ""
        raise UnsupportedSpace(f"{err}{hint}", err.side, err.kind) from None


# ---- checkpoints ---------------------------------------------------------------------------------
def checkpoint_payload(
    cfg: Config, policy: BasePolicy, counters: Counters, resume: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What a checkpoint holds; ``resume`` (last.pt only) is the rest of the run's state at a
    loop boundary: learner, collector and envs, every RNG."""
    payload = {
        "algo_name": cfg.general.algo_name,
        "env_id": getattr(cfg.env, "id", cfg.general.env_name),
        "obs_space": repr(policy.obs_space),
        "action_space": repr(policy.action_space),
        "config": cfg.to_dict(),
        "policy": policy.state_dict(),
        "counters": asdict(counters),
        "schedule": {"unit": policy.budget.unit, "total": policy.budget.total},
    }
    if resume is not None:
        payload["resume"] = resume
    return payload


def buffer_path(checkpoint: Path) -> Path:
    """The replay buffer saved beside a checkpoint (last.pt: last.buffer.npz)."""
    return checkpoint.with_name(f"{checkpoint.stem}.buffer.npz")


def read_checkpoint_config(path: str | Path) -> dict[str, Any]:
    """The config sections a checkpoint was trained with (for :func:`load_run_config`)."""
    data = read_checkpoint(path)
    config = data.get("config")
    if not isinstance(config, dict) or not {"general_cfg", "algo_cfg", "env_cfg"} <= set(config):
        raise CheckpointError(f"{path}: the checkpoint holds no training config")
    return config


def load_run_config(
    yaml_path: str | Path | None = None, overrides: list[str] | None = None
) -> Config:
    """The config of a run, as the command line builds it (checkpoint-aware)."""
    return load_config(yaml_path, overrides, checkpoint_config=read_checkpoint_config)


def load_checkpoint(
    policy: BasePolicy, path: str | Path, cfg: Config, weights_only: bool
) -> dict[str, Any]:
    """Load ``path`` into ``policy``; returns the checkpoint (its counters, resume state, ...).
    CheckpointError when it belongs to another algorithm or other spaces, or does not fit the
    networks."""
    data = read_checkpoint(path)
    algo = cfg.general.algo_name
    if data.get("algo_name") != algo:
        raise CheckpointError(
            f"{path}: trained with algo_name {data.get('algo_name')}, this config uses {algo}; "
            f"set general_cfg.algo_name: {data.get('algo_name')} or load another checkpoint"
        )
    _check_spaces(policy, path, data)
    _load_policy(
        policy,
        path,
        data,
        weights_only,
        "use the config the checkpoint was trained with (its task directory's config.yaml)",
    )
    return data


def init_from_checkpoint(policy: BasePolicy, path: str | Path, algo: str) -> dict[str, Any]:
    """``init_from``: the networks (and observation statistics) of ``path`` into ``policy``,
    which may be another algorithm's with the same networks (offline to online); nothing else.
    CheckpointError when the spaces or the networks do not match."""
    data = read_checkpoint(path)
    _check_spaces(policy, path, data)
    if data["policy"].get("obs_norm") is not None and not policy.observes:
        raise CheckpointError(
            f"{path}: its networks take normalized observations; set algo_cfg.obs_norm: true "
            "so that this run normalizes them with the checkpoint's statistics"
        )
    _load_policy(
        policy,
        path,
        data,
        True,
        f"it holds {data.get('algo_name')}'s networks; init_from needs one whose networks "
        f"{algo} has, with the same layers",
    )
    return data


def _check_spaces(policy: BasePolicy, path: str | Path, data: dict[str, Any]) -> None:
    if (data.get("obs_space"), data.get("action_space")) != (
        repr(policy.obs_space),
        repr(policy.action_space),
    ):
        raise CheckpointError(
            f"{path}: trained on {data.get('env_id')} (observations {data.get('obs_space')}, "
            f"actions {data.get('action_space')}), incompatible with this env "
            f"(observations {policy.obs_space!r}, actions {policy.action_space!r})"
        )


def _load_policy(
    policy: BasePolicy, path: str | Path, data: dict[str, Any], weights_only: bool, fix: str
) -> None:
    try:
        policy.load_state_dict(data["policy"], weights_only=weights_only)
    except (RuntimeError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{path}: does not fit this config's networks ({first}); {fix}"
        ) from None


def counters_of(data: dict[str, Any]) -> Counters:
    known = {f.name for f in fields(Counters)}
    return Counters(**{k: v for k, v in data.get("counters", {}).items() if k in known})


# ---- offline runs -----------------------------------------------------------------------------
def open_run_dataset(cfg: Config) -> Dataset:
    """The run's dataset; evaluation runs on the dataset's env unless env_cfg.id names another
    (an id left at its default is taken from the dataset)."""
    dataset = open_dataset(cfg.general.dataset)
    env = cfg.env
    if dataset.env_id and hasattr(env, "id") and env.id != dataset.env_id:
        if env.id == type(env)().id:
            env.id = dataset.env_id
    if dataset.env_id is None and not hasattr(env, "id"):
        raise UserError(
            f"general_cfg.dataset: {dataset.source} names no env; set env_cfg to the env it was "
            "recorded on (evaluation runs there)"
        )
    return dataset


def check_offline(cfg: Config, policy: BasePolicy) -> None:
    """An offline algorithm needs a dataset; an online one takes none unless it can learn from
    one (off-policy algorithms can)."""
    g = cfg.general
    if g.mode != "train":
        return
    if type(policy).offline and g.dataset is None:
        raise UserError(
            f"general_cfg.dataset: {g.algo_name} learns offline; set general_cfg.dataset to a "
            "task directory of trajs*.npz (mode collect), a shard file or minari:<id>"
        )
    if g.dataset is not None and not type(policy).learns_from_datasets:
        raise UserError(
            f"general_cfg.dataset: {g.algo_name} learns from its own rollouts, not from a "
            "dataset; use an offline algorithm (BC, CQL, TD3BC, IQL) or an off-policy one"
        )


class Setup:
    """What a run checks and builds before its task directory exists: seeds, spaces, policy,
    the checkpoint it loads, and for a resumed run its counters, schedule and saved state
    (``resume``: restored by the loop once it has built its parts)."""

    def __init__(self, cfg: Config, checkpoint: str | Path | None = None):
        g = cfg.general
        policy_class(g.algo_name)  # imports torch for torch algorithms (not for tabular ones)
        apply_torch_settings(cfg)
        self.cfg = cfg
        self.seed = seed_everything(g.seed)
        self.dataset = open_run_dataset(cfg) if offline(cfg) else None
        self.obs_space, self.action_space = spaces_of(cfg)
        if self.dataset is not None:
            check_dataset(self.dataset, cfg.env.id, self.obs_space, self.action_space)
        self.policy = build_policy(cfg, self.obs_space, self.action_space, policy_seed(self.seed))
        check_offline(cfg, self.policy)
        self.counters = Counters()
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.resume: dict[str, Any] | None = None
        self.notes: list[str] = []  # what a resumed run keeps or changes (logged)
        if self.checkpoint is not None:
            data = load_checkpoint(
                self.policy, self.checkpoint, cfg, weights_only=g.mode != "train"
            )
            if g.mode == "train":
                self.counters = counters_of(data)
                self._raised_threshold()
                self.resume = data.get("resume")
                self._keep_schedule(data.get("schedule"))
        self.initialized: str | None = None  # what init_from loaded (logged by the run)
        if g.init_from is not None and g.mode == "train" and self.checkpoint is None:
            initial = resolve_init_from(g)
            data = init_from_checkpoint(self.policy, initial, g.algo_name)
            self.initialized = (
                f"initialized from {initial} ({data.get('algo_name')} networks after "
                f"{data.get('counters', {}).get('update_steps', 0)} update steps)"
            )
        self.policy.env_steps = self.counters.env_steps

    def _raised_threshold(self) -> None:
        """A run resumed with a reward_threshold (or threshold_evals) that its evaluations have
        not met trains on toward it: the threshold it reached before no longer counts."""
        c, g = self.counters, self.cfg.general
        if c.threshold_env_steps is None or g.reward_threshold is None:
            return
        if c.eval_means:
            met = c.threshold_met(g.reward_threshold, g.threshold_evals)
        else:  # a checkpoint from before eval_means were kept
            best = c.best_eval if g.threshold_evals == 1 else None  # its streak is unknown
            met = best is not None and best >= g.reward_threshold
        if not met:
            in_a_row = f" in {g.threshold_evals} evaluations in a row" * (g.threshold_evals > 1)
            best = f"{c.best_eval:.2f}" if c.best_eval is not None else "none"
            self.notes.append(
                f"general_cfg.reward_threshold {g.reward_threshold}{in_a_row} is not met by the "
                f"run so far (best evaluation {best}): training on toward it"
            )
            c.threshold_env_steps = None

    def _keep_schedule(self, saved: dict[str, Any] | None) -> None:
        """A resumed run keeps the schedule of the run it continues, unless schedule_steps says
        otherwise."""
        if saved is None:
            return
        budget, g = self.policy.budget, self.cfg.general
        if g.schedule_steps is None:
            self.policy.budget = Budget(saved["unit"], saved["total"])
            if budget.total != saved["total"]:
                self.notes.append(
                    f"schedules keep running over {saved['total']} env steps, the budget of the "
                    "run this one continues (set general_cfg.schedule_steps to change it)"
                )
        elif budget.total != saved["total"]:
            self.notes.append(
                f"schedules now run over {budget.total} env steps (general_cfg.schedule_steps); "
                f"the run this one continues used {saved['total']}"
            )
