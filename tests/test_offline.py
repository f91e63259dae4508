"""Offline RL: datasets (rldojo shards), the update-step clock, bad datasets refused before the
task directory exists, and the closed loop (an expert collects, offline algorithms learn).

The expert data come from session fixtures: the CartPole DQN preset (and, for the slow
Pendulum tests, the SAC preset) is trained once per session, then ``mode: collect`` records
its episodes, as a user would.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from conftest import run_cli
from test_conformance import synthetic_dataset

from config.base import UserError
from config.loader import load_config
from framework.api import run
from framework.data.adders import NStepAdder
from framework.data.datasets import DatasetBuffer, DatasetError, open_dataset
from framework.data.trajectories import ARRAY_KEYS
from framework.records.archive import write_archive
from framework.records.checkpoint import read_checkpoint
from framework.runtime.setup import load_run_config

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ROOT / "config" / "presets"
QUIET = ["general_cfg.progress=false", "general_cfg.save_fig=false"]


def random_data(root: Path, env_id: str, episodes: int = 6) -> Path:
    cfg = load_config(None, [f"env_cfg.id={env_id}"])
    return synthetic_dataset(cfg, root, episodes)


@pytest.fixture(scope="module")
def cartpole_random(tmp_path_factory) -> Path:
    return random_data(tmp_path_factory.mktemp("random") / "cartpole", "CartPole-v1")


def offline_args(tasks: Path, data, algo: str, *extra: str) -> list[str]:
    return [
        f"general_cfg.algo_name={algo}",
        f"general_cfg.dataset={data}",
        f"general_cfg.tasks_dir={tasks}",
        *QUIET,
        *extra,
    ]


# ---- datasets --------------------------------------------------------------------------------
def test_dataset_reads_shards_and_folds_n_step_returns(cartpole_random):
    data = open_dataset(str(cartpole_random))
    assert data.env_id == "CartPole-v1" and data.n_episodes == 6
    assert len(data) == int(sum(np.round(data.episode_returns)))  # CartPole: reward 1 per step
    assert data.terminated.sum() + data.truncated.sum() == 6
    buffer = DatasetBuffer(NStepAdder(3, 0.9)(data.steps()), seed=1)
    assert buffer.status().kind == "dataset" and len(buffer) == len(data)
    store = buffer.store
    ends = np.flatnonzero(data.terminated)
    assert (store["discounts"][ends] == 0).all()  # no bootstrap past a termination
    middle = ends[0] - 5  # a full 3-step window inside the first episode
    assert store["rewards"][middle] == pytest.approx(1 + 0.9 + 0.81)
    assert store["discounts"][middle] == pytest.approx(0.9**3)
    with pytest.raises(TypeError):
        buffer.add(None)


def bad_dataset_cases(tmp: Path, cartpole: Path) -> dict[str, tuple[list[str], str]]:
    empty = tmp / "empty" / "trajs.npz"
    empty.parent.mkdir()
    write_archive(empty, {"format": "rldojo-trajs-2", "shard": 0, "trajectories": []})
    return {
        "missing": (["general_cfg.algo_name=BC", f"general_cfg.dataset={tmp / 'nope'}"], "exist"),
        "empty": (["general_cfg.algo_name=BC", f"general_cfg.dataset={empty}"], "no transitions"),
        "other env": (
            [
                "general_cfg.algo_name=BC",
                f"general_cfg.dataset={cartpole}",
                "env_cfg.id=Acrobot-v1",
            ],
            "observations of shape (4,)",
        ),
        "spaces of the algorithm": (
            ["general_cfg.algo_name=TD3BC", f"general_cfg.dataset={cartpole}"],
            "general_cfg.algo_name",
        ),
        "offline without dataset": (["general_cfg.algo_name=IQL"], "general_cfg.dataset"),
        "online with dataset": (
            ["general_cfg.algo_name=PPO", f"general_cfg.dataset={cartpole}"],
            "general_cfg.dataset",
        ),
        "ray": (
            [f"general_cfg.dataset={cartpole}", "general_cfg.mp_backend=ray"],
            "general_cfg.dataset",
        ),
    }


def test_bad_datasets_are_one_line_errors_before_the_task_directory(tmp_path, cartpole_random):
    tasks = tmp_path / "tasks"
    for name, (args, expected) in bad_dataset_cases(tmp_path, cartpole_random).items():
        full = [*args, "general_cfg.max_update_steps=10", f"general_cfg.tasks_dir={tasks}", *QUIET]
        with pytest.raises(UserError) as info:
            run(load_config(None, full))
        message = str(info.value)
        assert expected in message and "\n" not in message, (name, message)
        assert not tasks.exists(), name


def test_init_from_errors_are_one_line_before_the_task_directory(tmp_path, cartpole_random):
    """A checkpoint without this algorithm's networks, a path that does not exist, a checkpoint
    of other spaces: one line each, nothing written."""
    bc = run(
        load_config(
            None,
            offline_args(tmp_path / "bc", cartpole_random, "BC", "general_cfg.max_update_steps=5"),
        )
    )
    tasks = tmp_path / "tasks"
    dqn = [
        "general_cfg.algo_name=DQN",
        "general_cfg.max_env_steps=200",
        f"general_cfg.tasks_dir={tasks}",
    ]
    cases = {
        "other networks": (
            [f"general_cfg.init_from={bc['task_dir']}"],
            "holds BC's networks; init_from needs one whose networks DQN has",
        ),
        "missing": ([f"general_cfg.init_from={tmp_path / 'nope'}"], "does not exist"),
    }
    for name, (args, expected) in cases.items():
        with pytest.raises(UserError) as info:
            run(load_config(None, [*dqn, *args, *QUIET]))
        message = str(info.value)
        assert expected in message and "\n" not in message, (name, message)
        assert not tasks.exists(), name
    other = load_config(
        None, [*dqn, "env_cfg.id=Acrobot-v1", f"general_cfg.init_from={bc['task_dir']}"]
    )
    with pytest.raises(UserError, match="incompatible with this env"):
        run(other)
    assert not tasks.exists()


def test_open_dataset_refuses_mixed_envs(tmp_path, cartpole_random):
    pendulum = random_data(tmp_path / "pendulum", "Pendulum-v1", 1)
    with pytest.raises(DatasetError, match="mixes trajectories"):
        open_dataset([str(cartpole_random), str(pendulum)])


def test_offline_run_counts_update_steps_and_evaluates_the_dataset_env(tmp_path):
    """No env_cfg.id: evaluation runs on the dataset's env; the clock counts update steps."""
    data = random_data(tmp_path / "pendulum", "Pendulum-v1", 3)
    args = offline_args(
        tmp_path / "tasks",
        data,
        "BC",
        "general_cfg.max_update_steps=40",
        "general_cfg.online_eval_fre=20",
        "general_cfg.online_eval_episode=1",
    )
    summary = run(load_config(None, args))
    assert summary["env_id"] == "Pendulum-v1" and summary["stop_reason"] == "max_update_steps"
    assert summary["update_steps"] == 40 and summary["env_steps"] == 0
    with open(Path(summary["task_dir"]) / "results" / "evals.csv") as f:
        steps = [int(r["update_step"]) for r in csv.DictReader(f)]
    assert steps == [20, 40]
    saved = load_config(Path(summary["task_dir"]) / "config.yaml")
    assert saved.env.id == "Pendulum-v1" and saved.general.dataset == str(data)


def test_offline_resume_continues_the_same_run(tmp_path):
    """40 update steps in one run == 20, then a resume to 40 (same minibatches, same evals)."""
    data = random_data(tmp_path / "pendulum", "Pendulum-v1", 3)
    base = [
        "general_cfg.online_eval_fre=20",
        "general_cfg.online_eval_episode=1",
        "algo_cfg.actor_layers=[{layer_dim: [16]}]",
    ]

    def evals(summary) -> list[dict]:
        with open(Path(summary["task_dir"]) / "results" / "evals.csv") as f:
            return [(r["update_step"], r["mean_return"]) for r in csv.DictReader(f)]

    whole = run(
        load_config(
            None, offline_args(tmp_path / "a", data, "BC", *base, "general_cfg.max_update_steps=40")
        )
    )
    first = run(
        load_config(
            None, offline_args(tmp_path / "b", data, "BC", *base, "general_cfg.max_update_steps=20")
        )
    )
    resumed = run(
        load_run_config(
            None,
            offline_args(
                tmp_path / "b",
                data,
                "BC",
                *base,
                "general_cfg.max_update_steps=40",
                "general_cfg.load_checkpoint=true",
                f"general_cfg.load_path={first['task_dir']}",
            ),
        )
    )
    assert resumed["update_steps"] == 40
    assert evals(first) + evals(resumed) == evals(whole)
    # resuming the finished run again says so and writes nothing
    before = sorted((tmp_path / "b").iterdir())
    again = run_cli(
        *offline_args(
            tmp_path / "b",
            data,
            "BC",
            *base,
            "general_cfg.max_update_steps=40",
            "general_cfg.load_checkpoint=true",
            f"general_cfg.load_path={resumed['task_dir']}",
        )
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert "finished already" in again.stdout and "max_update_steps 40" in again.stdout
    assert sorted((tmp_path / "b").iterdir()) == before


# ---- Minari ------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:`:UserWarning")  # Minari asks for an author, a permalink
def test_minari_export_import_round_trip_and_normalized_scores(
    tmp_path, cartpole_random, monkeypatch
):
    pytest.importorskip("minari")
    from framework.data.minari_io import export_minari, main

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))
    assert main([str(cartpole_random), "rldojo/cartpole/random-v0", "--ref-min-score", "20"]) == 2
    export_minari(str(cartpole_random), "rldojo/cartpole/random-v0", 20.0, 500.0)
    ours, theirs = (
        open_dataset(str(cartpole_random)),
        open_dataset("minari:rldojo/cartpole/random-v0"),
    )
    assert theirs.env_id == "CartPole-v1" and theirs.reference == (20.0, 500.0)
    for key in ARRAY_KEYS:
        np.testing.assert_array_equal(getattr(theirs, key), getattr(ours, key), err_msg=key)
    with pytest.raises(DatasetError, match="local Minari store"):
        open_dataset("minari:rldojo/cartpole/absent-v0")
    args = offline_args(
        tmp_path / "tasks",
        "minari:rldojo/cartpole/random-v0",
        "BC",
        "general_cfg.max_update_steps=10",
        "general_cfg.online_eval_fre=10",
        "general_cfg.online_eval_episode=2",
    )
    summary = run(load_config(None, args))
    with open(Path(summary["task_dir"]) / "results" / "evals.csv") as f:
        (row,) = list(csv.DictReader(f))
    expected = 100 * (float(row["mean_return"]) - 20) / 480
    assert float(row["normalized_score"]) == pytest.approx(expected, abs=1e-3)
    assert summary["best_normalized_score"] == pytest.approx(expected, abs=1e-3)


# ---- the closed loop: CartPole ---------------------------------------------------------------
@pytest.fixture(scope="session")
def cartpole_expert(tmp_path_factory) -> Path:
    """The DQN preset, trained once per session (seed 1 reaches 475)."""
    tasks = tmp_path_factory.mktemp("expert")
    cfg = load_run_config(
        PRESETS / "CartPole-v1_DQN.yaml", [f"general_cfg.tasks_dir={tasks}", *QUIET]
    )
    summary = run(cfg)
    assert summary["best_eval"] >= 475, summary
    return Path(summary["task_dir"])


def collect(expert: Path, tasks: Path, episodes: int, *extra: str) -> Path:
    args = [
        "general_cfg.mode=collect",
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={expert}",
        f"general_cfg.max_episode={episodes}",
        f"general_cfg.tasks_dir={tasks}",
        *QUIET,
        *extra,
    ]
    return Path(run(load_run_config(None, args))["task_dir"])


@pytest.fixture(scope="session")
def cartpole_expert_data(cartpole_expert, tmp_path_factory) -> Path:
    """50 episodes of the expert, epsilon-greedy with epsilon 0.2 (as in the issue)."""
    tasks = tmp_path_factory.mktemp("collect")
    eps = ["general_cfg.collect_exploration=epsilon", "general_cfg.collect_epsilon=0.2"]
    return collect(cartpole_expert, tasks, 50, *eps)


@pytest.mark.parametrize("algo", ["BC", "CQL"])
def test_cartpole_expert_data_closed_loop(algo, cartpole_expert_data, tmp_path):
    cfg = load_run_config(
        PRESETS / f"CartPole-v1_{algo}.yaml",
        [
            f"general_cfg.dataset={cartpole_expert_data}",
            f"general_cfg.tasks_dir={tmp_path}",
            *QUIET,
        ],
    )
    summary = run(cfg)
    assert summary["best_eval"] >= 475, summary
    if algo == "CQL":
        online_from_offline(Path(summary["task_dir"]), tmp_path)


def online_from_offline(cql_run: Path, tmp_path: Path) -> None:
    """Offline to online: a DQN run with init_from starts from the CQL run's networks (discrete
    CQL is DQN's learner with an extra loss). Its evaluation at 500 env steps, before the
    learning starts (1,000), plays as the CQL policy (a new DQN scores about 20), and its
    networks are the checkpoint's."""
    cfg = load_run_config(
        None,
        [
            "general_cfg.algo_name=DQN",
            "env_cfg.id=CartPole-v1",
            f"general_cfg.init_from={cql_run}",
            "general_cfg.max_env_steps=500",
            "general_cfg.online_eval_fre=500",
            "algo_cfg.learning_starts=1000",
            f"general_cfg.tasks_dir={tmp_path / 'online'}",
            *QUIET,
        ],
    )
    summary = run(cfg)
    assert summary["update_steps"] == 0 and summary["best_eval"] >= 400, summary
    loaded = read_checkpoint(Path(summary["task_dir"]) / "models" / "last.pt")
    offline = read_checkpoint(cql_run / "models" / "best.pt")
    for net in ("q", "q_target"):
        for key, value in offline["policy"]["networks"][net].items():
            np.testing.assert_array_equal(loaded["policy"]["networks"][net][key], value)
    log = (Path(summary["task_dir"]) / "logs").glob("*.log")
    assert any(f"initialized from {cql_run / 'models' / 'best.pt'}" in p.read_text() for p in log)
    # the run's own config.yaml (init_from included) serves a test of it, which loads its model
    task = Path(summary["task_dir"])
    test = load_run_config(
        task / "config.yaml",
        [
            "general_cfg.mode=test",
            "general_cfg.load_checkpoint=true",
            f"general_cfg.load_path={task}",
            "general_cfg.max_episode=2",
            f"general_cfg.tasks_dir={tmp_path / 'online'}",
            *QUIET,
        ],
    )
    assert run(test)["episodes"] == 2


@pytest.mark.filterwarnings("ignore:`:UserWarning")  # Minari asks for an author, a permalink
def test_cartpole_closed_loop_from_minari(cartpole_expert_data, tmp_path, monkeypatch):
    """The same data through Minari: exported from the shards, then learned from."""
    pytest.importorskip("minari")
    from framework.data.minari_io import export_minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))
    export_minari(str(cartpole_expert_data), "rldojo/cartpole/expert-v0")
    cfg = load_run_config(
        PRESETS / "CartPole-v1_BC.yaml",
        [
            "general_cfg.dataset=minari:rldojo/cartpole/expert-v0",
            f"general_cfg.tasks_dir={tmp_path}",
            *QUIET,
        ],
    )
    summary = run(cfg)
    assert summary["best_eval"] >= 475, summary


@pytest.mark.slow
def test_cartpole_mixed_data_cql_beats_bc(cartpole_expert, tmp_path):
    """Half random-policy episodes, half medium-quality ones (epsilon 0.5): CQL weighs actions
    by their value, BC copies them all."""
    medium = collect(cartpole_expert, tmp_path / "medium", 100, *_eps(0.5))
    random = collect(cartpole_expert, tmp_path / "random", 100, *_eps(1.0))
    results = {}
    for algo in ("BC", "CQL"):
        cfg = load_run_config(
            PRESETS / f"CartPole-v1_{algo}.yaml",
            [
                f"general_cfg.dataset=[{medium}, {random}]",
                "general_cfg.reward_threshold=null",
                f"general_cfg.tasks_dir={tmp_path}",
                *QUIET,
            ],
        )
        results[algo] = run(cfg)["best_eval"]
    assert results["CQL"] > results["BC"], results


def _eps(epsilon: float) -> list[str]:
    return ["general_cfg.collect_exploration=epsilon", f"general_cfg.collect_epsilon={epsilon}"]


# ---- the closed loop: Pendulum (slow) --------------------------------------------------------
@pytest.fixture(scope="session")
def pendulum_expert_data(tmp_path_factory) -> Path:
    """The SAC preset's expert, then 20,000 transitions (100 episodes) of sampled actions."""
    tasks = tmp_path_factory.mktemp("pendulum")
    cfg = load_run_config(
        PRESETS / "Pendulum-v1_SAC.yaml", [f"general_cfg.tasks_dir={tasks}", *QUIET]
    )
    expert = Path(run(cfg)["task_dir"])
    return collect(expert, tasks, 100, "general_cfg.collect_exploration=sampled")


@pytest.mark.slow
@pytest.mark.parametrize(
    "algo",
    [
        "TD3BC",
        "CQL",
        "IQL",
    ],
)
def test_pendulum_expert_data_closed_loop(algo, pendulum_expert_data, tmp_path):
    args = [f"general_cfg.dataset={pendulum_expert_data}", f"general_cfg.tasks_dir={tmp_path}"]
    summary = run(load_run_config(PRESETS / f"Pendulum-v1_{algo}.yaml", [*args, *QUIET]))
    assert summary["best_eval"] >= -250, summary
    assert summary["update_steps"] <= 20_000


def test_transitions_of_a_collected_run_match_the_dataset(cartpole_expert_data):
    data = open_dataset(str(cartpole_expert_data))
    summary = json.loads((cartpole_expert_data / "results" / "summary.json").read_text())
    assert data.n_episodes == 50 == summary["episodes"]
    assert gym.spaces.Discrete(2).contains(int(data.actions[0]))
