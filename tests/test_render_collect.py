"""Render, GIFs and trajectory collection (issue 3): real envs, real files, tiny models.

Two tiny checkpoints (DQN, PPO) are trained once per module; every other test runs the CLI on
them (in-process, or `python main.py` in a subprocess where signals or the environment matter).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from framework.cli import ROOT, main
from framework.data.trajectories import SHARD_SIZE, iter_trajectories, load_transitions
from framework.records.archive import read_archive

ENV_ID = "CartPole-v1"


def run_cli(tasks: Path, *overrides: str) -> tuple[int, Path | None]:
    """Run the CLI in-process; returns the exit code and the task directory it made."""
    before = set(tasks.iterdir()) if tasks.exists() else set()
    rc = main([f"general_cfg.tasks_dir={tasks}", "general_cfg.progress=false", *overrides])
    made = sorted(set(tasks.iterdir()) - before) if tasks.exists() else []
    assert len(made) <= 1
    return rc, (made[0] if made else None)


def episodes_csv(task: Path) -> list[dict]:
    with open(task / "results" / "episodes.csv") as f:
        return list(csv.DictReader(f))


def summary(task: Path) -> dict:
    return json.loads((task / "results" / "summary.json").read_text())


def shard_sizes(task: Path) -> dict[str, int]:
    out = {}
    for p in sorted((task / "results").glob("trajs*.npz")):
        out[p.name] = len(read_archive(p)["trajectories"])
    return out


@pytest.fixture(scope="module")
def tasks(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tasks")


@pytest.fixture(scope="module")
def dqn_run(tasks) -> Path:
    """A tiny DQN run that also renders its new-best evaluation episodes to videos/best.gif."""
    rc, task = run_cli(
        tasks,
        "general_cfg.max_env_steps=600",
        "general_cfg.online_eval_fre=300",
        "general_cfg.online_eval_episode=2",
        "general_cfg.max_step=30",
        "general_cfg.save_fig=false",
        "algo_cfg.learning_starts=100",
        "env_cfg.n_envs=2",
        "env_cfg.render_mode=rgb_array",
    )
    assert rc == 0
    return task


@pytest.fixture(scope="module")
def ppo_run(tasks) -> Path:
    rc, task = run_cli(
        tasks,
        "general_cfg.algo_name=PPO",
        "general_cfg.max_env_steps=128",
        "general_cfg.online_eval=false",
        "general_cfg.save_fig=false",
        "algo_cfg.n_steps=64",
        "algo_cfg.batch_size=64",
        "algo_cfg.n_epochs=1",
        "env_cfg.n_envs=2",
    )
    assert rc == 0
    return task


def load(run: Path) -> list[str]:
    return [
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={run}",
        "general_cfg.save_fig=false",
    ]


def collect(tasks, run, *overrides) -> Path:
    rc, task = run_cli(tasks, "general_cfg.mode=collect", *load(run), *overrides)
    assert rc == 0
    return task


def gif_frames(path: Path, fps: int = 30) -> int:
    """Frames of ``path`` counted in 1/fps units from its playback time: Pillow stores identical
    consecutive frames (the cart barely moved) as one longer frame; GIF delays are whole
    centiseconds, so the total is the real length n / fps rounded to 10 ms."""
    with Image.open(path) as im:
        assert im.is_animated or im.n_frames == 1
        total_ms = 0
        for i in range(im.n_frames):
            im.seek(i)
            total_ms += im.info["duration"]
        images = im.n_frames
    n = round(total_ms * fps / 1000)
    assert total_ms == round(n * 100 / fps) * 10, "the GIF's length is not n / fps"
    assert images <= n
    return n


# ---- render --------------------------------------------------------------------------------
def test_test_mode_gif_has_one_frame_per_reset_and_step(tasks, dqn_run):
    rc, task = run_cli(
        tasks,
        "general_cfg.mode=test",
        *load(dqn_run),
        "general_cfg.max_episode=4",
        "general_cfg.max_step=25",
        "env_cfg.render_mode=rgb_array",
        "env_cfg.gif_episodes=2",
        "env_cfg.gif_fps=20",
        "env_cfg.n_eval_envs=2",
    )
    assert rc == 0
    rows = {int(r["episode"]): int(r["length"]) for r in episodes_csv(task)}
    assert sorted(rows) == [1, 2, 3, 4]
    gif = task / "videos" / "video.gif"
    # the first gif_episodes episodes: a frame after each reset and after each step
    expected = rows[1] + rows[2] + 2
    assert summary(task)["gif_frames"] == expected
    assert gif_frames(gif, fps=20) == expected
    frames = iio.imread(gif, index=None)
    assert 2 < frames.shape[0] <= expected and frames.shape[1:] == (400, 600, 3)
    assert summary(task)["gif"] == "videos/video.gif"


def test_render_mode_defaults_to_a_gif_of_the_first_episode(tasks, dqn_run):
    rc, task = run_cli(
        tasks,
        "general_cfg.mode=render",
        *load(dqn_run),
        "general_cfg.max_episode=2",
        "general_cfg.max_step=20",
    )
    assert rc == 0
    first = next(int(r["length"]) for r in episodes_csv(task) if r["episode"] == "1")
    assert gif_frames(task / "videos" / "video.gif") == first + 1


def test_training_writes_best_gif(dqn_run):
    assert gif_frames(dqn_run / "videos" / "best.gif") >= 2


def test_no_gif_without_render_mode(tasks, dqn_run):
    rc, task = run_cli(tasks, "general_cfg.mode=test", *load(dqn_run), "general_cfg.max_episode=2")
    assert rc == 0 and not (task / "videos").exists()


def test_human_render_runs_on_a_dummy_display(tasks, dqn_run, monkeypatch):
    for var in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    rc, task = run_cli(
        tasks,
        "general_cfg.mode=render",
        *load(dqn_run),
        "env_cfg.render_mode=human",
        "general_cfg.max_episode=2",
        "general_cfg.max_step=5",
    )
    assert rc == 0 and len(episodes_csv(task)) == 2
    assert not (task / "videos").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="display detection is Linux's")
def test_human_render_without_display_is_a_one_line_error(tmp_path, dqn_run):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")
    }
    tasks_dir = tmp_path / "tasks"
    proc = subprocess.run(
        [
            sys.executable,
            "main.py",
            f"general_cfg.tasks_dir={tasks_dir}",
            "general_cfg.mode=test",
            *load(dqn_run),
            "env_cfg.render_mode=human",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rldojo: error: env_cfg.render_mode: human")
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not tasks_dir.exists()


# ---- collection ----------------------------------------------------------------------------
def test_collect_1500_episodes_in_two_shards_with_epsilon(tasks, dqn_run):
    task = collect(
        tasks,
        dqn_run,
        "general_cfg.max_episode=1500",
        "general_cfg.max_step=5",
        "general_cfg.collect_exploration=epsilon",
        "general_cfg.collect_epsilon=0.5",
    )
    assert shard_sizes(task) == {"trajs_0.npz": SHARD_SIZE, "trajs_1.npz": 500}
    trajs = list(iter_trajectories(task))
    rows = {int(r["episode"]) - 1: r for r in episodes_csv(task)}
    assert sorted(t["episode"] for t in trajs) == list(range(1500))  # none lost or duplicated
    for t in trajs:
        row = rows[t["episode"]]
        assert t["seed"] == int(row["seed"]) and t["length"] == int(row["length"])
        assert t["return"] == pytest.approx(float(row["return"]))
        assert t["policy"] == {
            "algo": "DQN",
            "checkpoint": str(dqn_run / "models" / "best.pt"),
            "exploration": "epsilon",
            "epsilon": 0.5,
        }
        assert t["env_id"] == ENV_ID
    s = summary(task)
    assert s["episodes"] == s["trajectories"] == 1500 and s["exploration"] == "epsilon"
    # exploration noise really acted: deterministic DQN on CartPole pushes one way at the start
    assert len({tuple(t["actions"]) for t in trajs}) > 4

    # the loader's flat view is the trajectories concatenated
    flat = load_transitions(task)
    assert len(flat["rewards"]) == sum(t["length"] for t in trajs) == s["env_steps"]
    for key, src in (
        ("observations", "observations"),
        ("actions", "actions"),
        ("next_observations", "next_observations"),
        ("terminals", "terminated"),
        ("timeouts", "truncated"),
    ):
        np.testing.assert_array_equal(flat[key], np.concatenate([t[src] for t in trajs]))
    assert flat["rewards"].dtype == np.float32 and flat["terminals"].dtype == bool

    # each trajectory replays exactly from its reset seed and actions
    env = gym.make(ENV_ID, max_episode_steps=5)
    for t in trajs[:20]:
        obs, _ = env.reset(seed=t["seed"])
        np.testing.assert_array_equal(obs, t["observations"][0])
        for a, nxt, term, trunc in zip(
            t["actions"], t["next_observations"], t["terminated"], t["truncated"]
        ):
            o, _, te, tr, _ = env.step(a)
            np.testing.assert_array_equal(o, nxt)
            assert (te, tr) == (term, trunc)
        assert t["terminated"][-1] or t["truncated"][-1]
    env.close()


def test_collect_exactly_one_shard_is_trajs_pkl(tasks, dqn_run):
    task = collect(tasks, dqn_run, "general_cfg.max_episode=1000", "general_cfg.max_step=5")
    assert shard_sizes(task) == {"trajs.npz": SHARD_SIZE}
    trajs = list(iter_trajectories(task))
    assert {t["policy"]["exploration"] for t in trajs} == {"deterministic"}
    assert sorted(t["episode"] for t in trajs) == list(range(1000))


def test_collect_sampled_ppo_and_test_mode_recording(tasks, ppo_run):
    task = collect(
        tasks,
        ppo_run,
        "general_cfg.algo_name=PPO",
        "general_cfg.max_episode=12",
        "general_cfg.max_step=30",
        "general_cfg.collect_exploration=sampled",
        "env_cfg.n_eval_envs=4",
    )
    trajs = list(iter_trajectories(task))
    assert len(trajs) == 12 and {t["policy"]["exploration"] for t in trajs} == {"sampled"}
    assert all(t["policy"]["algo"] == "PPO" for t in trajs)
    # test mode records too when collect_traj is on, deterministically
    rc, test_task = run_cli(
        tasks,
        "general_cfg.mode=test",
        "general_cfg.algo_name=PPO",
        *load(ppo_run),
        "general_cfg.max_episode=3",
        "general_cfg.collect_traj=true",
    )
    assert rc == 0
    trajs = list(iter_trajectories(test_task))
    assert len(trajs) == 3 and {t["policy"]["exploration"] for t in trajs} == {"deterministic"}


def test_sampled_exploration_on_dqn_is_an_error(tasks, dqn_run, capsys):
    rc, task = run_cli(
        tasks, "general_cfg.mode=collect", *load(dqn_run), "general_cfg.collect_exploration=sampled"
    )
    assert rc == 2 and task is None
    assert "collect_exploration: sampled" in capsys.readouterr().err


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_collect_keeps_every_finished_trajectory(tmp_path, dqn_run, signum, code):
    tasks_dir = tmp_path / "tasks"
    proc = subprocess.Popen(
        [
            sys.executable,
            "main.py",
            f"general_cfg.tasks_dir={tasks_dir}",
            "general_cfg.mode=collect",
            *load(dqn_run),
            "general_cfg.max_episode=1000000",
            "general_cfg.max_step=5",
            "general_cfg.collect_exploration=epsilon",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    try:
        # wait for a full shard on disk, so both a full and a partial shard are involved
        while not list(tasks_dir.glob("*/results/trajs_0.npz")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.1)
        time.sleep(0.3)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    (task,) = tasks_dir.iterdir()
    s = summary(task)
    sizes = shard_sizes(task)
    assert s["interrupted"] and len(sizes) >= 2 and s["episodes"] > SHARD_SIZE
    assert sum(sizes.values()) == s["episodes"] == s["trajectories"] == len(episodes_csv(task))
    episodes = sorted(t["episode"] for t in iter_trajectories(task))
    assert episodes == sorted(int(r["episode"]) - 1 for r in episodes_csv(task))
    assert len(set(episodes)) == len(episodes)
