"""The run API and what foundation v2 changed under it: hooks that see evaluations and stop a
run, test/render/collect built from the checkpoint's own config, one loop body (trajectories cut
at max_episode), per-episode reset seeds in training trajectories, DQN switches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli

from config.base import UserError
from config.loader import ConfigError, load_config
from envs.vector import spaces_of
from framework.api import Hooks, run
from framework.data.trajectories import iter_trajectories
from framework.runtime.seeding import env_seeds
from framework.runtime.setup import build_policy, load_run_config

TINY_PPO = [
    "general_cfg.algo_name=PPO",
    "algo_cfg.n_steps=32",
    "algo_cfg.n_epochs=2",
    "general_cfg.save_fig=false",
    "general_cfg.progress=false",
]


def args(tasks: Path, *extra: str) -> list[str]:
    return [f"general_cfg.tasks_dir={tasks}", "general_cfg.progress=false", *extra]


def test_on_eval_hook_sees_every_evaluation_and_can_stop_the_run(tmp_path):
    seen = []

    def on_eval(event):
        seen.append(event)
        return "pruned" if len(seen) == 2 else None

    started = []
    cfg = load_config(
        None,
        args(
            tmp_path,
            *TINY_PPO,
            "general_cfg.max_env_steps=20000",
            "general_cfg.online_eval_fre=512",
            "general_cfg.online_eval_episode=2",
        ),
    )
    summary = run(cfg, Hooks(on_start=started.append, on_eval=on_eval))
    root = Path(summary["task_dir"])
    assert started == [root] and (root / "config.yaml").is_file()
    assert len(seen) == 2 and [e.env_steps for e in seen] == [512, 1024]
    assert seen[0].update_steps >= 1 and seen[0].best and np.isfinite(seen[1].mean)
    assert summary["stop_reason"] == "pruned" and summary["env_steps"] == 1024
    on_disk = json.loads((root / "results" / "summary.json").read_text())
    assert on_disk["stop_reason"] == "pruned" and (root / "models" / "last.pt").is_file()
    assert len((root / "results" / "evals.csv").read_text().splitlines()) == 3


def test_bad_input_raises_user_error_before_anything_is_written(tmp_path):
    cfg = load_config(None, args(tmp_path, "env_cfg.id=Pendulum-v1"))  # DQN: Box actions
    with pytest.raises(UserError, match="algorithms for these spaces: .*PPO"):
        run(cfg)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_test_mode_builds_the_policy_from_the_checkpoint(tmp_path):
    """Pendulum PPO trained with obs_norm: a YAML that names only the mode and load_path tests
    it with its normalizer (the default algo_name, DQN, is not used)."""
    trained = run(
        load_config(
            None,
            args(
                tmp_path,
                *TINY_PPO,
                "env_cfg.id=Pendulum-v1",
                "algo_cfg.obs_norm=true",
                "general_cfg.max_env_steps=512",
                "general_cfg.online_eval=false",
            ),
        )
    )
    yaml = tmp_path / "test.yaml"
    yaml.write_text(
        f"general_cfg:\n  mode: test\n  load_checkpoint: true\n  load_path: "
        f"{trained['task_dir']}\n  max_episode: 2\n"
    )
    cfg = load_run_config(yaml, args(tmp_path))
    assert cfg.general.algo_name == "PPO" and cfg.algo.obs_norm and cfg.algo.n_steps == 32
    assert cfg.env.id == "Pendulum-v1"
    summary = run(cfg)
    assert summary["episodes"] == 2 and summary["algo"] == "PPO"
    saved = load_config(Path(summary["task_dir"]) / "config.yaml")
    assert saved.general.algo_name == "PPO" and saved.algo.obs_norm
    # values given explicitly: env settings win, algorithm contradictions are errors
    cfg = load_run_config(yaml, args(tmp_path, "env_cfg.n_eval_envs=3", "algo_cfg.n_steps=32"))
    assert cfg.env.n_eval_envs == 3
    with pytest.raises(ConfigError, match=r"algo_cfg.obs_norm: False contradicts checkpoint"):
        load_run_config(yaml, ["algo_cfg.obs_norm=false"])
    with pytest.raises(ConfigError, match="general_cfg.algo_name: DQN contradicts checkpoint"):
        load_run_config(yaml, ["general_cfg.algo_name=DQN"])


def test_help_examples_work_as_shown(tmp_path):
    proc = run_cli("--help")
    assert proc.returncode == 0
    examples = [
        line.strip()
        for line in proc.stdout.splitlines()
        if line.strip().startswith("python main.py")
        # the --tune, --seeds and --compare examples are run by tests/test_tune.py
        and not any(flag in line for flag in ("--tune", "--seeds", "--compare"))
    ]
    assert len(examples) == 3, examples
    tasks = tmp_path / "tasks"
    quick = [
        f"general_cfg.tasks_dir={tasks}",
        "general_cfg.max_env_steps=1024",
        "general_cfg.progress=false",
        "general_cfg.save_fig=false",
    ]
    train = run_cli(*examples[0].split()[2:], *quick)
    assert train.returncode == 0, train.stderr
    run_dir = train.stdout.strip().splitlines()[-1].split(": ", 1)[1]
    test = run_cli(*examples[1].replace("RUN", run_dir).split()[2:], *quick)
    assert test.returncode == 0, test.stderr  # the PPO run, tested without naming PPO
    assert (
        json.loads(
            (
                Path(test.stdout.strip().splitlines()[-1].split(": ", 1)[1])
                / "results"
                / "summary.json"
            ).read_text()
        )["algo"]
        == "PPO"
    )
    keys = run_cli(*examples[2].split()[2:])
    assert keys.returncode == 0 and "reward_threshold" in keys.stdout


def test_single_mode_cuts_trajectories_at_max_episode(tmp_path):
    """8 envs whose episodes all end in the same vector step: 3 episodes counted, 3 written."""
    summary = run(
        load_config(
            None,
            args(
                tmp_path,
                "env_cfg.id=rldojo/Probe-v0",
                "general_cfg.collect_traj=true",
                "general_cfg.max_episode=3",
                "general_cfg.online_eval=false",
                "general_cfg.save_fig=false",
            ),
        )
    )
    assert summary["episodes"] == 3
    assert len(list(iter_trajectories(summary["task_dir"]))) == 3


def test_training_trajectories_carry_their_reset_seed(tmp_path):
    summary = run(
        load_config(
            None,
            args(
                tmp_path,
                "env_cfg.id=rldojo/Probe-v0",
                "general_cfg.collect_traj=true",
                "env_cfg.n_envs=4",
                "general_cfg.max_env_steps=64",
                "general_cfg.seed=5",
                "algo_cfg.train_freq=16",
                "general_cfg.online_eval=false",
                "general_cfg.save_fig=false",
            ),
        )
    )
    trajs = list(iter_trajectories(summary["task_dir"]))
    assert len(trajs) == 8  # 64 steps / 8-step episodes
    assert sorted(t["seed"] for t in trajs[:4]) == sorted(env_seeds(5, 4))
    assert all(t["seed"] is None for t in trajs[4:])  # auto-reset: no explicit seed
    assert all(t["policy"]["exploration"] == "epsilon-greedy" for t in trajs)


def test_dqn_computes_online_next_q_only_for_double_dqn():
    for double in (True, False):
        cfg = load_config(
            None, [f"algo_cfg.double_dqn={str(double).lower()}", "algo_cfg.batch_size=16"]
        )
        policy = build_policy(cfg, *spaces_of(cfg), seed=1)
        rows: list[tuple[int, bool]] = []  # (batch rows, gradients on) per online forward
        policy.q.register_forward_hook(
            lambda m, i, o, rows=rows: rows.append((len(i[0]), torch.is_grad_enabled()))
        )
        from framework.data.types import ReplayBatch

        rng = np.random.default_rng(0)
        obs = rng.normal(size=(16, 4)).astype(np.float32)
        batch = ReplayBatch(
            obs, rng.integers(0, 2, 16), np.ones(16, np.float32), obs, np.full(16, 0.99, np.float32)
        )
        policy.learn(batch)
        # Double DQN: Q(s) with gradients, then the online Q(s') outside the graph
        assert rows == ([(16, True), (16, False)] if double else [(16, True)]), (double, rows)
