"""End to end through the real CLI: train, test from the checkpoint, resume, Ctrl-C,
determinism, incompatible checkpoints, package shadowing."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, run_cli, run_main, summary

from framework.records.checkpoint import read_checkpoint

SMALL_DQN = [
    "general_cfg.max_env_steps=3000",
    "general_cfg.online_eval_fre=1000",
    "general_cfg.online_eval_episode=3",
    "general_cfg.model_save_fre=50",
    "general_cfg.keep_checkpoints=0",
    "algo_cfg.learning_starts=500",
]


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_train_test_resume(tasks):
    run = run_main(tasks, *SMALL_DQN)
    assert run.name.startswith("Train_CartPole-v1_DQN_")
    for rel in (
        "config.yaml",
        "models/best.pt",
        "models/last.pt",
        "results/episodes.csv",
        "results/evals.csv",
        "results/updates.csv",
        "results/summary.json",
        "figs/rewards.png",
        "logs/run.log",
    ):
        assert (run / rel).is_file(), rel
    s = summary(run)
    assert s["env_steps"] >= 3000 and s["stop_reason"] == "max_env_steps"
    # periodic checkpoints at the first loop boundary (learn phases of 16 updates) at or past
    # every multiple of 50 update steps, named by their update step
    periodic = sorted(int(p.stem) for p in (run / "models").glob("[0-9]*.pt"))
    assert periodic and all(step % 16 == 0 for step in periodic)
    assert [step // 50 for step in periodic] == list(range(1, len(periodic) + 1))
    assert periodic[-1] + 16 > s["update_steps"] // 50 * 50
    assert len(rows(run / "results" / "evals.csv")) == 3
    episodes = rows(run / "results" / "episodes.csv")
    assert [int(r["episode"]) for r in episodes] == list(range(1, len(episodes) + 1))
    assert "general_cfg" in (run / "logs" / "run.log").read_text()

    # test mode from the run folder: loads best.pt, runs max_episode deterministic episodes
    test = run_main(
        tasks,
        "general_cfg.mode=test",
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={run}",
        "general_cfg.max_episode=4",
    )
    assert test.name.startswith("Test_CartPole-v1_DQN_")
    t = summary(test)
    assert t["episodes"] == 4 and t["checkpoint"].endswith("best.pt")
    assert len(rows(test / "results" / "episodes.csv")) == 4
    assert (test / "figs" / "rewards.png").is_file()

    # resume: counters, optimizer and schedules continue
    last = read_checkpoint(run / "models" / "last.pt")
    resumed = run_main(
        tasks,
        *SMALL_DQN[1:],
        "general_cfg.max_env_steps=4000",
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={run / 'models' / 'last.pt'}",
    )
    r = summary(resumed)
    assert r["env_steps"] >= 4000 and r["env_steps"] - s["env_steps"] < 1500
    assert r["update_steps"] > s["update_steps"]
    first = rows(resumed / "results" / "episodes.csv")[0]
    assert int(first["episode"]) == s["episodes"] + 1
    assert int(first["env_steps"]) > s["env_steps"]
    new_last = read_checkpoint(resumed / "models" / "last.pt")
    assert (
        new_last["policy"]["optimizers"]["q"]["steps"][0]
        > last["policy"]["optimizers"]["q"]["steps"][0]
    )
    assert new_last["counters"]["episodes"] > last["counters"]["episodes"]


def test_same_seed_same_curve_and_config_reruns(tasks):
    args = [
        "general_cfg.algo_name=PPO",
        "general_cfg.max_env_steps=3000",
        "algo_cfg.n_steps=64",
        "general_cfg.online_eval_fre=1024",
        "general_cfg.online_eval_episode=2",
        "general_cfg.save_fig=false",
    ]
    a = run_main(tasks, *args)
    b = run_main(tasks, "--yaml", str(a / "config.yaml"))  # the saved config reruns the run
    c = run_main(tasks, *args, "general_cfg.seed=2")
    ra, rb, rc = (rows(x / "results" / "episodes.csv") for x in (a, b, c))
    key = lambda rs: [(r["env_steps"], r["return"], r["length"]) for r in rs]  # noqa: E731
    assert key(ra) == key(rb)
    assert key(ra) != key(rc)
    assert (
        rows(a / "results" / "evals.csv")[-1]["mean_return"]
        == rows(b / "results" / "evals.csv")[-1]["mean_return"]
    )


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_stop_signals_save_everything(tasks, signum, code):
    """Ctrl-C, SIGTERM (a scheduler, timeout, docker stop) and SIGHUP (the terminal closed) end a
    run the same way."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "main.py"),
            f"general_cfg.tasks_dir={tasks}",
            "general_cfg.max_env_steps=10000000",
            "general_cfg.online_eval_fre=2000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until training has produced a few episodes
        runs = list(tasks.glob("Train_*")) if tasks.exists() else []
        if runs and (runs[0] / "config.yaml").exists():  # config written at the start
            ep = runs[0] / "results" / "episodes.csv"
            if ep.exists() and len(ep.read_text().splitlines()) > 20:
                break
        time.sleep(0.2)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    (run,) = tasks.glob("Train_*")
    s = summary(run)
    assert s["interrupted"] and s["stop_reason"] == "interrupted"
    assert s["signal"] == signal.Signals(signum).name
    assert (run / "models" / "last.pt").is_file() and (run / "figs" / "rewards.png").is_file()
    assert s["episodes"] == len(rows(run / "results" / "episodes.csv"))
    assert out.strip().splitlines()[-1] == f"Task directory: {run}"


def test_a_run_outlives_the_reader_of_its_console(tasks):
    """The reader of stdout and stderr goes away after the first line (a parent that exits,
    ``| head``): the run trains to its end and writes its final checkpoint and summary (it used
    to die of BrokenPipeError at its next print, with neither)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "main.py"),
            f"general_cfg.tasks_dir={tasks}",
            "general_cfg.max_env_steps=6000",
            "general_cfg.online_eval_fre=1000",
            "general_cfg.progress=false",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().startswith("[eval]")
    proc.stdout.close()
    proc.stderr.close()
    assert proc.wait(timeout=300) == 0
    (run,) = tasks.glob("Train_*")
    s = summary(run)
    assert s["stop_reason"] == "max_env_steps" and s["env_steps"] >= 6000 and not s["error"]
    assert (run / "models" / "last.pt").is_file()
    evals = rows(run / "results" / "evals.csv")
    assert len(evals) >= 5  # evaluations after the reader left were recorded


def test_incompatible_checkpoints_are_clear_errors(tasks, tmp_path):
    run = run_main(
        tasks,
        "general_cfg.max_env_steps=600",
        "general_cfg.online_eval=false",
        "algo_cfg.learning_starts=200",
        "general_cfg.save_fig=false",
    )
    count = len(list(tasks.iterdir()))
    test_mode = ["general_cfg.mode=test"]
    cases = [
        # test mode takes the algorithm from the checkpoint: a contradiction names the key
        (
            test_mode + ["general_cfg.algo_name=PPO"],
            "general_cfg.algo_name: PPO contradicts checkpoint",
        ),
        (
            test_mode + ["algo_cfg.value_layers=[{layer_type: linear, layer_dim: [32]}]"],
            "algo_cfg.value_layers: [{'layer_type': 'linear', 'layer_dim': [32]",
        ),
        (test_mode + ["env_cfg.id=Acrobot-v1"], "incompatible with this env"),
        # resuming takes the YAML as given: the checkpoint must fit it
        (["general_cfg.algo_name=PPO"], "trained with algo_name DQN, this config uses PPO"),
        (
            ["algo_cfg.value_layers=[{layer_type: linear, layer_dim: [32]}]"],
            "does not fit this config's networks",
        ),
    ]
    for extra, expected in cases:
        proc = run_cli(
            "general_cfg.load_checkpoint=true",
            f"general_cfg.load_path={run}",
            f"general_cfg.tasks_dir={tasks}",
            *extra,
        )
        assert proc.returncode == 2 and expected in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    garbage = tmp_path / "bad.pt"
    garbage.write_bytes(b"not a checkpoint")
    proc = run_cli(
        "general_cfg.mode=test",
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={garbage}",
        f"general_cfg.tasks_dir={tasks}",
    )
    assert proc.returncode == 2 and "not a readable rldojo checkpoint" in proc.stderr
    assert len(list(tasks.iterdir())) == count  # nothing half-written


def test_foreign_config_package_cannot_shadow_ours(tmp_path):
    fake = tmp_path / "site" / "config"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ImportError('the foreign config package was imported')\n"
    )
    env = {"PYTHONPATH": str(tmp_path / "site")}
    proc = run_cli("--keys", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    console = shutil.which("rldojo", path=os.path.dirname(sys.executable))
    if console is None:
        pytest.skip("the rldojo console command is not installed (pip install -e .)")
    proc = subprocess.run(
        [console, "--keys"], cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "reward_threshold" in proc.stdout
