"""Building a policy from the config, and moving it in and out of checkpoints."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

from framework.recorder import CheckpointError, read_checkpoint


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise CheckpointError(
            "general_cfg.device: cuda requested but no CUDA device is available; use cpu or auto"
        )
    return device


def build_policy(cfg, obs_space, action_space, seed: int | None = None):
    module = importlib.import_module(f"algos.{cfg.general.algo_name}.policy")
    return module.Policy(
        cfg.algo,
        obs_space,
        action_space,
        device=resolve_device(cfg.general.device),
        total_env_steps=cfg.general.max_env_steps if cfg.general.max_env_steps > 0 else None,
        seed=seed,
    )


def checkpoint_payload(cfg, policy, counters: dict[str, Any]) -> dict[str, Any]:
    return {
        "algo_name": cfg.general.algo_name,
        "env_id": getattr(cfg.env, "id", cfg.general.env_name),
        "obs_shape": list(policy.obs_shape),
        "action_space": repr(policy.action_space),
        "policy": policy.state_dict(),
        "counters": counters,
        "config": cfg.to_dict(),
    }


def load_checkpoint(policy, path: str | Path, cfg, weights_only: bool) -> dict[str, Any]:
    """Load ``path`` into ``policy``; returns the checkpoint's counters. CheckpointError when
    the checkpoint belongs to another algorithm or other spaces."""
    data = read_checkpoint(path)
    algo = cfg.general.algo_name
    if data.get("algo_name") != algo:
        raise CheckpointError(
            f"{path}: trained with algo_name {data.get('algo_name')}, this config uses {algo}; "
            f"set general_cfg.algo_name: {data.get('algo_name')} or load another checkpoint"
        )
    if list(data.get("obs_shape", [])) != list(policy.obs_shape) or data.get(
        "action_space"
    ) != repr(policy.action_space):
        raise CheckpointError(
            f"{path}: trained on {data.get('env_id')} (obs {tuple(data.get('obs_shape', []))}, "
            f"actions {data.get('action_space')}), incompatible with this env "
            f"(obs {policy.obs_shape}, actions {policy.action_space!r})"
        )
    try:
        policy.load_state_dict(data["policy"], weights_only=weights_only)
    except (RuntimeError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{path}: does not fit this config's networks ({first}); use the config the "
            "checkpoint was trained with (its task directory's config.yaml)"
        ) from None
    return dict(data.get("counters", {}))
