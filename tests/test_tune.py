"""Issue 15: the search-space file and its checks, trials of several seeds in lockstep, a tiny
search on Ray Tune (ASHA prunes, best_config.yaml reruns the best trial exactly), several seeds
into a group folder, comparing runs (mean ± std, IQM with bootstrap intervals).

Tests that need the `tune` extra (ray[tune], optuna) skip without it; one local Ray session
serves the module."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from conftest import ROOT, run_main, summary

from config.base import UserError
from framework.tune.compare import bootstrap_ci, iqm, run_compare
from framework.tune.space import load_search
from framework.tune.trial import Trial, score

PRESET = str(ROOT / "config" / "presets" / "CartPole-v1_DQN.yaml")
TINY = [  # CartPole DQN, an evaluation every 1024 env steps
    "general_cfg.online_eval_fre=1024",
    "general_cfg.online_eval_episode=3",
    "general_cfg.reward_threshold=null",
    "general_cfg.save_fig=false",
    "env_cfg.n_envs=4",
    "algo_cfg.learning_starts=500",
]

try:
    import optuna  # noqa: F401
    import ray.tune  # noqa: F401

    HAVE_TUNE = True
except ImportError:
    HAVE_TUNE = False
needs_tune = pytest.mark.skipif(not HAVE_TUNE, reason="needs the tune extra (ray[tune], optuna)")


def rows(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def space_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for the module (the search and --parallel join it, and leave it up)."""
    import ray

    from framework.ray.session import init_ray

    started = init_ray(SimpleNamespace(ray_address=None))
    yield
    if started:
        ray.shutdown()


# ---- the search-space file ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("serach: {}\nspace: {algo_cfg.lr: {uniform: [0.1, 0.2]}}", "did you mean 'search'"),
        ("search: {trails: 3}\nspace: {algo_cfg.lr: {uniform: [0.1, 0.2]}}", "search.trails: unknown key; did you mean 'trials'"),
        ("space: {algo_cfg.lrr: {loguniform: [1e-4, 1e-3]}}", "algo_cfg.lrr: unknown key; did you mean 'lr'"),
        ("space: {algo_cfgs.lr: {loguniform: [1e-4, 1e-3]}}", "did you mean 'algo_cfg'"),
        ("space: {algo_cfg.lr: {log_uniform: [1e-4, 1e-3]}}", "did you mean 'loguniform'"),
        ("space: {algo_cfg.lr: {loguniform: [1e-3, 1e-4]}}", "low 0.001 must be below high 0.0001"),
        ("space: {algo_cfg.lr: {loguniform: [0, 1e-3]}}", "loguniform: low 0.0 must be > 0"),
        ("space: {algo_cfg.train_freq: {int: [16, 64.5]}}", "int: expected an integer"),
        ("space: {algo_cfg.batch_size: {uniform: [32, 256]}}", "an integer key: use {int: [32, 256]}"),
        ("space: {algo_cfg.gamma: {uniform: [0.9, 1.5]}}", "algo_cfg.gamma=1.5 (high bound): algo_cfg.gamma: must be in [0, 1]"),
        ("space: {algo_cfg.loss: {choice: [huber, l2]}}", "algo_cfg.loss=l2: algo_cfg.loss: 'l2' is not allowed"),
        ("space: {general_cfg.seed: {int: [1, 5]}}", "not searchable: set search.seeds"),
        ("space: {algo_cfg.lr: {choice: [0.001]}}", "at least two values"),
        (
            "space: {algo_cfg.batch_size: {int: [64, 512]}, algo_cfg.buffer_size: {int: [256, 10000]}}",
            "with algo_cfg.batch_size=512, algo_cfg.buffer_size=256: algo_cfg.buffer_size: must be >= batch_size",
        ),
        ("search: {budget: 500}\nspace: {algo_cfg.lr: {uniform: [0.1, 0.2]}}", "allow no evaluation"),
        ("search: {grace_period: 200000}\nspace: {algo_cfg.lr: {uniform: [0.1, 0.2]}}", "must be below the budget"),
    ],
)  # fmt: skip
def test_bad_search_spaces_are_one_line_errors(tmp_path, text, message):
    path = space_file(tmp_path, text)
    with pytest.raises(UserError) as err:
        load_search(path, PRESET, [f"general_cfg.tasks_dir={tmp_path / 'tasks'}"])
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith(f"{path}: ")
    assert not (tmp_path / "tasks").exists()


def test_a_search_space_reads_typed_values_and_settings(tmp_path):
    path = space_file(
        tmp_path,
        """
        search: {trials: 4, seeds: 3, budget: 8192, metric: auc}
        space:
          algo_cfg.lr: {choice: [1e-4, 3e-4]}     # YAML reads 1e-4 as a string
          algo_cfg.value_layers: {choice: [[{layer_type: linear, layer_dim: [64]}],
                                           [{layer_type: linear, layer_dim: [128]}]]}
          algo_cfg.train_freq: {int: [64, 256]}
        """,
    )
    search = load_search(path, PRESET, ["general_cfg.seed=7"])
    lr, layers, freq = search.params
    assert lr.args == (1e-4, 3e-4) and all(isinstance(v, float) for v in lr.args)
    assert layers.value(1) == [{"layer_type": "linear", "layer_dim": [128]}]
    assert freq.value(64.0) == 64 and isinstance(freq.value(64.0), int)
    assert search.seeds == [7, 8, 9] and search.budget == 8192 and search.cpus_per_trial == 3
    assert search.grace_period == 2048  # a quarter of the budget
    sections = search.trial_config({"algo_cfg.lr": 3e-4, "algo_cfg.train_freq": 100}, seed=8)
    assert sections["algo_cfg"]["lr"] == 3e-4 and sections["algo_cfg"]["train_freq"] == 100
    assert sections["general_cfg"]["seed"] == 8 and sections["general_cfg"]["max_env_steps"] == 8192


def test_score_best_last_and_area():
    curve = [10.0, 30.0, 20.0]
    assert score(curve, "best") == 30 and score(curve, "last") == 20
    assert score(curve, "auc") == 20
    assert score(curve, "auc", n_evals=5) == (10 + 30 + 20 + 20 + 20) / 5  # held to the budget
    assert np.isnan(score([], "best"))


# ---- a trial: its seeds in lockstep ------------------------------------------------------------
def test_a_trial_advances_its_seeds_together_and_prunes_them(tmp_path):
    """Two seeds, each in its own process: every result is the mean of their evaluations;
    pruned, both runs end at once with complete task directories (stop_reason: pruned)."""
    yaml_path = tmp_path / "trial.yaml"
    yaml_path.write_text(
        "general_cfg: {max_env_steps: 20000, online_eval_fre: 1024, online_eval_episode: 3, "
        f"save_fig: false, progress: false, tasks_dir: {tmp_path / 'runs'}}}\n"
        "env_cfg: {n_envs: 4}\n"
    )
    trial = Trial(yaml_path, [1, 2], "best", 20)
    first = trial.advance()
    second = trial.advance()
    assert (first["env_steps"], second["env_steps"]) == (1024, 2048) and not second["done"]
    end = trial.advance("pruned")
    assert end["done"] and end["stop_reason"] == "pruned" and end["env_steps"] == 2048
    runs = [Path(d) for d in end["task_dirs"]]
    evals = [[float(r["mean_return"]) for r in rows(d / "results" / "evals.csv")] for d in runs]
    assert [len(e) for e in evals] == [2, 2]
    assert second["eval_mean"] == pytest.approx((evals[0][1] + evals[1][1]) / 2)
    assert end["score"] == pytest.approx(max((a + b) / 2 for a, b in zip(*evals)))
    for d in runs:
        s = summary(d)
        assert s["stop_reason"] == "pruned" and s["env_steps"] == 2048
        assert (d / "models" / "last.pt").is_file() and (d / "config.yaml").is_file()
    assert sorted(summary(d)["env_steps"] for d in runs) == [2048, 2048]
    assert [json.loads((d / "results" / "summary.json").read_text())["algo"] for d in runs] == [
        "DQN",
        "DQN",
    ]


# ---- the search --------------------------------------------------------------------------------
@needs_tune
def test_tiny_search_prunes_and_its_best_config_reruns(tmp_path, ray_session):
    """Six trials of CartPole DQN over a narrow lr range, two at a time: ASHA prunes some of them
    at 2048 env steps, pruned trials leave complete task directories, and best_config.yaml
    reruns the best trial exactly."""
    from framework.tune.search import run_search

    tasks = tmp_path / "tasks"
    space = space_file(
        tmp_path,
        """
        search: {trials: 6, concurrent: 2, budget: 3072, grace_period: 2048, reduction_factor: 2, seed: 3}
        space:
          algo_cfg.lr: {loguniform: [5.0e-4, 3.0e-3]}
        """,
    )
    out = run_search(space, PRESET, [*TINY, f"general_cfg.tasks_dir={tasks}"])
    root = Path(out["search_dir"])
    table = rows(root / "trials.csv")
    assert [r["trial"] for r in table] == [f"trial_{i:03d}" for i in range(1, 7)]
    statuses = [r["status"] for r in table]
    assert set(statuses) <= {"completed", "pruned"} and "pruned" in statuses, statuses
    assert out["pruned"] == statuses.count("pruned") and not out["interrupted"]
    for r in table:
        assert 5e-4 <= float(r["algo_cfg.lr"]) <= 3e-3
        (task,) = [root / d for d in r["task_dirs"].split()]
        s = summary(task)
        expected = "pruned" if r["status"] == "pruned" else "max_env_steps"
        assert s["stop_reason"] == expected and int(r["env_steps"]) == s["env_steps"]
        assert (task / "models" / "last.pt").is_file()
        best = max(float(e["mean_return"]) for e in rows(task / "results" / "evals.csv"))
        assert float(r["score"]) == pytest.approx(best, rel=1e-5)
    pruned_steps = {int(r["env_steps"]) for r in table if r["status"] == "pruned"}
    assert pruned_steps == {2048}
    for name in ("curves.png", "params.png", "progress.png"):
        assert (root / "figs" / name).stat().st_size > 10_000
    best = out["best"]
    assert best["status"] == "completed"
    assert best["score"] == max(float(r["score"]) for r in table if r["status"] == "completed")
    (best_row,) = [r for r in table if r["trial"] == best["trial"]]
    rerun = run_main(tmp_path / "rerun", "--yaml", str(root / "best_config.yaml"))
    original = root / best_row["task_dirs"]
    key = lambda d: [(r["env_steps"], r["mean_return"]) for r in rows(d / "results" / "evals.csv")]  # noqa: E731
    assert key(rerun) == key(original)


@pytest.mark.slow
@needs_tune
def test_stopped_search_keeps_its_trials_and_resumes(tmp_path, ray_session):
    """SIGTERM during the first trials: exit 143, the runs in progress stop with complete task
    directories (interrupted), trials.csv says so; --tune <folder> finishes the search."""
    tasks = tmp_path / "tasks"
    space = space_file(
        tmp_path,
        "search: {trials: 2, concurrent: 2, budget: 5000, scheduler: none}\n"
        "space: {algo_cfg.lr: {loguniform: [5.0e-4, 3.0e-3]}}\n",
    )
    args = ["--yaml", PRESET, "--tune", str(space), *TINY, f"general_cfg.tasks_dir={tasks}"]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "1024 env steps" in line:
            proc.send_signal(signal.SIGTERM)
            break
    seen.append(proc.stdout.read())
    assert proc.wait(timeout=120) == 143, "".join(seen)
    (root,) = tasks.glob("Tune_*")
    table = rows(root / "trials.csv")
    assert {r["status"] for r in table} <= {"interrupted", "pending"}
    stopped = [summary(d) for d in root.glob("trial_*/Train_*")]
    assert stopped and all(s["stop_reason"] == "interrupted" for s in stopped)
    assert "resume the search: python main.py --tune" in "".join(seen)
    from framework.tune.search import run_search

    out = run_search(root)
    assert out["completed"] == 2 and out["unfinished"] == 0
    assert [r["status"] for r in rows(root / "trials.csv")] == ["completed", "completed"]


BLOCKER = textwrap.dedent(
    f"""
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "optuna" or name.startswith(("optuna.", "ray.tune")):
                raise ImportError(f"No module named {{name!r}} (blocked)")
    sys.meta_path.insert(0, Block())
    sys.path.insert(0, {str(ROOT)!r})
    from framework.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def cli_without_tune(tasks: Path, *args: str) -> subprocess.CompletedProcess:
    """``python main.py ARGS`` with ray.tune and optuna made unimportable."""
    return subprocess.run(
        [sys.executable, "-c", BLOCKER, *args, f"general_cfg.tasks_dir={tasks}"],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def seed_group(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """``--seeds 1,2`` (3072 env steps each) run without the tune extra, shared by the tests of
    the group and of comparing it (one group run instead of two keeps the suite short)."""
    tasks = tmp_path_factory.mktemp("seeds") / "tasks"
    args = ["--seeds", "1,2", *TINY, "general_cfg.max_env_steps=3072"]
    proc = cli_without_tune(tasks, *args, "general_cfg.progress=false")
    groups = list(tasks.glob("Seeds_CartPole-v1_DQN_*"))
    return proc, groups[0] if len(groups) == 1 else None


def test_tune_without_the_extra_is_a_one_line_error_and_seeds_compare_still_work(
    tmp_path, seed_group
):
    """Without ray.tune and optuna importable, --tune names the extra (exit 2); --seeds and
    --compare do not need them."""
    tasks = tmp_path / "tasks"
    space = space_file(tmp_path, "space: {algo_cfg.lr: {loguniform: [1.0e-4, 1.0e-3]}}\n")
    tune = cli_without_tune(tasks, "--yaml", PRESET, "--tune", str(space))
    assert tune.returncode == 2 and "pip install 'rldojo[tune]'" in tune.stderr
    assert len(tune.stderr.strip().splitlines()) == 1 and not tasks.exists()
    seeds, group = seed_group
    assert seeds.returncode == 0 and group is not None, seeds.stderr
    table = rows(group / "seeds.csv")
    assert [r["seed"] for r in table] == ["1", "2"]
    assert [r["stop_reason"] for r in table] == ["max_env_steps"] * 2
    compare = cli_without_tune(tasks, "--compare", str(group))
    assert compare.returncode == 0, compare.stderr
    assert "ray.tune" not in compare.stdout + compare.stderr
    (folder,) = tasks.glob("Compare_*")
    assert (folder / "compare.png").is_file() and (folder / "compare.csv").is_file()


# ---- several seeds and comparing them ----------------------------------------------------------
def test_seeds_group_and_compare_on_real_runs(tasks, seed_group):
    """--seeds runs one config per seed into a group; --compare draws the group against a run of
    another config, with a table of final and best scores and time to threshold."""
    proc, group = seed_group
    assert proc.returncode == 0 and group is not None, proc.stderr
    runs = sorted(p for p in group.iterdir() if p.is_dir() and p.name.startswith("Train_"))
    assert [summary(r)["stop_reason"] for r in runs] == ["max_env_steps"] * 2
    seeds_run = sorted(
        yaml.safe_load((r / "config.yaml").read_text())["general_cfg"]["seed"] for r in runs
    )
    assert seeds_run == [1, 2]
    assert {
        json.loads((r / "results" / "summary.json").read_text())["env_steps"] for r in runs
    } == {3072}
    seeds = {int(r["seed"]): r for r in rows(group / "seeds.csv")}
    assert set(seeds) == {1, 2} and (group / "compare.png").is_file()
    other = run_main(tasks, *TINY, "general_cfg.max_env_steps=2048", "algo_cfg.lr=0.001")
    out = run_compare([str(group), str(other)], [f"general_cfg.tasks_dir={tasks}"], "iqm", 30.0)
    folder = Path(out["folder"])
    assert (folder / "compare.png").stat().st_size > 10_000
    table = {r["label"]: r for r in rows(folder / "compare.csv")}
    assert set(table) == {"DQN lr=0.0023 max_env_steps=3072", "DQN lr=0.001 max_env_steps=2048"}
    mine = table["DQN lr=0.0023 max_env_steps=3072"]
    finals = [float(rows(r / "results" / "evals.csv")[-1]["mean_return"]) for r in runs]
    assert mine["runs"] == "2" and float(mine["final"]) == pytest.approx(np.mean(finals), rel=1e-5)
    reached = [
        r
        for r in runs
        if any(float(e["mean_return"]) >= 30 for e in rows(r / "results" / "evals.csv"))
    ]
    assert mine["reached"] == f"{len(reached)}/2"
    curves = rows(folder / "curves.csv")
    assert [int(c["env_steps"]) for c in curves if c["label"] == mine["label"]] == [
        1024,
        2048,
        3072,
    ]


def test_iqm_and_its_bootstrap_interval():
    x = np.array([100.0, 1, 2, 3, 4, 5, 6, 7])  # a quarter (2) cut from each end
    assert iqm(x) == pytest.approx(4.5)
    assert iqm(np.array([3.0, 1.0, 2.0])) == pytest.approx(2.0)  # n=3 cuts nothing, as scipy
    rng = np.random.default_rng(0)
    low, high = bootstrap_ci(x, rng)
    assert low <= iqm(x) <= high and low < high
    assert bootstrap_ci(np.full(5, 7.0), rng) == (7.0, 7.0)


def test_compare_refuses_what_is_not_a_run(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no task directory"):
        run_compare([str(tmp_path / "empty")], [])
    with pytest.raises(UserError, match="only general_cfg.tasks_dir"):
        run_compare([str(tmp_path)], ["algo_cfg.lr=1"])


@pytest.mark.slow
def test_parallel_seeds_on_ray(tasks, ray_session):
    from framework.cli import main

    args = ["--seeds", "3,4", "--parallel", *TINY, "general_cfg.max_env_steps=2048"]
    assert main([*args, f"general_cfg.tasks_dir={tasks}", "general_cfg.progress=false"]) == 0
    (group,) = tasks.glob("Seeds_*")
    table = rows(group / "seeds.csv")
    assert [r["stop_reason"] for r in table] == ["max_env_steps"] * 2
    sequential = run_main(tasks, *TINY, "general_cfg.max_env_steps=2048", "general_cfg.seed=3")
    first = group / table[0]["task_dir"]
    assert (
        rows(first / "results" / "evals.csv")[-1]["mean_return"]
        == rows(sequential / "results" / "evals.csv")[-1]["mean_return"]
    )


@pytest.mark.slow
def test_stopped_seeds_keep_the_finished_part(tmp_path):
    """SIGTERM during the first seed of --seeds 1,2: exit 143, the first run stops with a
    complete task directory (interrupted), the second never starts, seeds.csv says both."""
    tasks = tmp_path / "tasks"
    args = [
        "--seeds",
        "1,2",
        *TINY,
        "general_cfg.max_env_steps=50000",
        "general_cfg.progress=false",
    ]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), *args, f"general_cfg.tasks_dir={tasks}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert "Group directory" in proc.stdout.readline()
        deadline = time.monotonic() + 180
        while not any(len(rows(f)) for f in tasks.glob("Seeds_*/Train_*/results/evals.csv")):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out = proc.stdout.read()
        assert proc.wait(timeout=120) == 143, out
    finally:
        proc.kill()
    (group,) = tasks.glob("Seeds_*")
    table = rows(group / "seeds.csv")
    assert [(r["seed"], r["stop_reason"]) for r in table] == [("1", "interrupted"), ("2", "")]
    (run,) = group.glob("Train_*")
    s = summary(run)
    assert s["stop_reason"] == "interrupted" and s["signal"] == "SIGTERM"
    assert (run / "models" / "last.pt").is_file() and s["env_steps"] < 50000


@pytest.mark.slow
@needs_tune
def test_search_with_two_seeds_median_stopping_and_auc(tmp_path, ray_session):
    """Random search, median stopping, area under the curve, two seeds per trial: each trial has
    a task directory per seed and its score is the mean evaluation of the seeds' mean curve."""
    from framework.tune.search import run_search

    tasks = tmp_path / "tasks"
    space = space_file(
        tmp_path,
        """
        search: {trials: 3, seeds: 2, budget: 3072, grace_period: 1024, scheduler: median,
                 searcher: random, metric: auc, seed: 1}
        space:
          algo_cfg.lr: {loguniform: [5.0e-4, 3.0e-3]}
          algo_cfg.train_freq: {choice: [128, 256]}
        """,
    )
    out = run_search(space, PRESET, [*TINY, f"general_cfg.tasks_dir={tasks}"])
    root = Path(out["search_dir"])
    table = rows(root / "trials.csv")
    assert len(table) == 3 and {r["status"] for r in table} <= {"completed", "pruned"}
    for r in table:
        assert r["algo_cfg.train_freq"] in ("128", "256")
        runs = [root / d for d in r["task_dirs"].split()]
        assert [
            yaml.safe_load((d / "config.yaml").read_text())["general_cfg"]["seed"] for d in runs
        ] == [1, 2]
        curves = [
            [float(e["mean_return"]) for e in rows(d / "results" / "evals.csv")] for d in runs
        ]
        mean_curve = [sum(c) / 2 for c in zip(*curves)]
        held = mean_curve + [mean_curve[-1]] * (3 - len(mean_curve))
        assert float(r["score"]) == pytest.approx(sum(held) / 3, rel=1e-5)
        steps = {summary(d)["env_steps"] for d in runs}
        assert steps == {int(r["env_steps"])} and (r["status"] == "pruned") == (steps != {3072})
