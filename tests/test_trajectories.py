"""Tests for framework.data.trajectories: episode assembly, sharded storage and loading."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from framework.data.trajectories import (
    FORMAT,
    SHARD_SIZE,
    EpisodeAssembler,
    ShardWriter,
    TrajectoryDataError,
    iter_trajectories,
    load_transitions,
    trajectory_files,
)
from framework.records.archive import read_archive, write_archive

CARTPOLE_X_LIMIT = 2.4
CARTPOLE_THETA_LIMIT = 12 * 2 * np.pi / 360


def _meta(env_id: str, seed: int | None = 0) -> dict[str, Any]:
    return {
        "env_id": env_id,
        "algo": "random",
        "checkpoint": None,
        "exploration": "sampled",
        "seed": seed,
    }


def _collect(
    env_id: str,
    n_envs: int,
    n_steps: int,
    seed: int = 0,
    max_episode_steps: int | None = None,
) -> tuple[list[dict[str, Any]], list[list[np.ndarray]]]:
    """Run random actions in a real SAME_STEP vector env through an EpisodeAssembler.

    Returns the finished trajectories and, per env, the observations each episode started from.
    """
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.make(env_id, max_episode_steps=max_episode_steps) for _ in range(n_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    envs.action_space.seed(seed)
    assembler = EpisodeAssembler(n_envs, _meta(env_id, seed=seed))
    obs, _ = envs.reset(seed=seed)
    for i in range(n_envs):  # vector reset seeds env i with seed + i
        assembler.set_episode_seed(i, seed + i)
    starts: list[list[np.ndarray]] = [[obs[i].copy()] for i in range(n_envs)]
    finished: list[dict[str, Any]] = []
    try:
        for _ in range(n_steps):
            actions = envs.action_space.sample()
            next_obs, rewards, terminated, truncated, info = envs.step(actions)
            true_next = next_obs.copy()
            if "_final_obs" in info:
                for i in np.flatnonzero(info["_final_obs"]):
                    true_next[i] = info["final_obs"][i]
            finished += assembler.add_step(obs, actions, rewards, true_next, terminated, truncated)
            for i in np.flatnonzero(terminated | truncated):
                starts[i].append(next_obs[i].copy())
            obs = next_obs
    finally:
        envs.close()
    return finished, starts


def _synthetic(n: int, obs_dim: int = 3) -> list[dict[str, Any]]:
    """``n`` tiny one-step trajectories built by the assembler (fast, for shard counting)."""
    assembler = EpisodeAssembler(n, _meta("Synthetic-v0"))
    obs = np.arange(n * obs_dim, dtype=np.float32).reshape(n, obs_dim)
    done = np.arange(n) % 2 == 0
    return assembler.add_step(obs, np.zeros(n, dtype=np.int64), np.ones(n), obs + 1, done, ~done)


def _episodes(source: Any) -> list[int]:
    return [t["episode"] for t in iter_trajectories(source)]


def _assert_valid(traj: dict[str, Any]) -> None:
    n = traj["length"]
    assert n >= 1
    for key in ("observations", "actions", "rewards", "next_observations"):
        assert len(traj[key]) == n, key
    assert traj["rewards"].dtype == np.float32
    assert traj["terminated"].dtype == bool and traj["truncated"].dtype == bool
    np.testing.assert_array_equal(traj["next_observations"][:-1], traj["observations"][1:])
    assert traj["return"] == pytest.approx(float(traj["rewards"].sum(dtype=np.float64)), rel=1e-6)
    assert not traj["terminated"][:-1].any() and not traj["truncated"][:-1].any()
    assert traj["terminated"][-1] or traj["truncated"][-1]


# --------------------------------------------------------------------------- assembler


def test_assembler_on_cartpole_vector_env() -> None:
    trajs, starts = _collect("CartPole-v1", n_envs=4, n_steps=300, seed=3)
    assert len(trajs) >= 20
    by_env: dict[int, int] = {}
    for traj in trajs:
        _assert_valid(traj)
        assert traj["observations"].dtype == np.float32
        assert traj["observations"].shape == (traj["length"], 4)
        assert traj["actions"].shape == (traj["length"],)
        assert traj["return"] == traj["length"]  # CartPole pays 1 per step
        assert traj["env_id"] == "CartPole-v1"
        assert traj["policy"] == {"algo": "random", "checkpoint": None, "exploration": "sampled"}
        if traj["terminated"][-1]:  # the substituted final obs is outside the allowed region
            x, _, theta, _ = traj["next_observations"][-1]
            assert abs(x) > CARTPOLE_X_LIMIT or abs(theta) > CARTPOLE_THETA_LIMIT
    # Each env's episodes begin at the reset / autoreset observation, in order.
    for traj in trajs:
        env = next(
            i
            for i in range(4)
            if by_env.get(i, 0) < len(starts[i])
            and np.array_equal(starts[i][by_env.get(i, 0)], traj["observations"][0])
        )
        # First episode of each env was reset with seed + i; later ones fall back to meta seed.
        assert traj["seed"] == (3 + env if by_env.get(env, 0) == 0 else 3)
        by_env[env] = by_env.get(env, 0) + 1
    assert sum(by_env.values()) == len(trajs)


def test_assembler_returns_finished_in_env_order_and_tracks_seeds() -> None:
    asm = EpisodeAssembler(3, _meta("Toy-v0", seed=7))
    asm.set_episode_seed(1, 100)
    obs = np.zeros((3, 2), dtype=np.float64)
    f, t = np.array([False, False, False]), np.array([False, False, False])
    assert asm.add_step(obs, [0, 1, 2], [1.0, 2.0, 3.0], obs + 1, f, t) == []
    assert asm.in_progress_lengths() == [1, 1, 1]
    out = asm.add_step(
        obs + 1,
        [0, 1, 2],
        [0.5, 0.5, 0.5],
        obs + 2,
        np.array([False, True, False]),
        np.array([True, False, False]),
        reset_seeds=[11, None, 13],
    )
    assert [tr["seed"] for tr in out] == [7, 100]  # env 0 then env 1
    assert [tr["return"] for tr in out] == [1.5, 2.5]
    assert out[0]["observations"].dtype == np.float64
    assert asm.in_progress_lengths() == [0, 0, 2]
    # New episodes: env 0 got reset seed 11, env 1 falls back to meta seed, env 2's
    # unfinished episode was re-labelled 13.
    out = asm.add_step(obs, [0, 0, 0], [0, 0, 0], obs, ~f, t)
    assert [tr["seed"] for tr in out] == [11, 7, 13]
    assert [tr["length"] for tr in out] == [1, 1, 3]
    with pytest.raises(ValueError, match="n_envs=3"):
        asm.add_step(obs[:2], [0, 0], [0, 0], obs[:2], f[:2], t[:2])


# --------------------------------------------------------------------------- writer


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (2500, {"trajs_0.npz": 1000, "trajs_1.npz": 1000, "trajs_2.npz": 500}),
        (1234, {"trajs_0.npz": 1000, "trajs_1.npz": 234}),
        (1000, {"trajs.npz": 1000}),
        (999, {"trajs.npz": 999}),
        (1, {"trajs.npz": 1}),
    ],
)
def test_shard_counts(tmp_path: Path, n: int, expected: dict[str, int]) -> None:
    results = tmp_path / "results"
    writer = ShardWriter(results)
    writer.extend(_synthetic(n))
    files = writer.close()
    assert [p.name for p in files] == list(expected)
    assert sorted(os.listdir(results)) == sorted(expected)  # no temp files left over
    for k, path in enumerate(files):
        shard = read_archive(path)
        assert shard["format"] == FORMAT and shard["shard"] == k
        assert len(shard["trajectories"]) == expected[path.name]
    assert writer.n_written == writer.n_total == n
    assert _episodes(tmp_path) == list(range(n))  # nothing lost, nothing duplicated


def test_full_shard_is_on_disk_before_close(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path / "results")
    trajs = _synthetic(1005)
    writer.extend(trajs[:999])
    assert not (tmp_path / "results").exists()
    writer.add(trajs[999])
    assert os.listdir(tmp_path / "results") == ["trajs_0.npz"]
    writer.extend(trajs[1000:])
    assert (writer.n_written, writer.n_total) == (1000, 1005)
    # Simulated crash: no close(). The full shard is readable as it is.
    assert trajectory_files(tmp_path) == [tmp_path / "results" / "trajs_0.npz"]
    assert _episodes(tmp_path) == list(range(1000))


def test_close_is_idempotent_and_empty_run_writes_nothing(tmp_path: Path) -> None:
    empty = ShardWriter(tmp_path / "empty")
    assert empty.close() == []
    assert not (tmp_path / "empty").exists()

    writer = ShardWriter(tmp_path / "results", shard_size=4)
    writer.extend(_synthetic(4))
    files = writer.close()
    assert [p.name for p in files] == ["trajs.npz"]
    mtime = files[0].stat().st_mtime_ns
    assert writer.close() == files
    assert files[0].stat().st_mtime_ns == mtime
    assert os.listdir(tmp_path / "results") == ["trajs.npz"]
    with pytest.raises(RuntimeError):
        writer.add(_synthetic(1)[0])


def test_writer_keeps_given_episode_index_and_context_manager(tmp_path: Path) -> None:
    trajs = _synthetic(3)
    trajs[1]["episode"] = 42
    with ShardWriter(tmp_path) as writer:
        writer.extend(trajs)
    assert _episodes(tmp_path) == [0, 42, 2]
    assert "episode" not in trajs[0]  # the caller's dicts are not modified


def test_writer_refuses_to_mix_with_existing_files(tmp_path: Path) -> None:
    with ShardWriter(tmp_path) as writer:
        writer.extend(_synthetic(5))
    with pytest.raises(FileExistsError, match=r"trajs\.npz"):
        ShardWriter(tmp_path)
    with ShardWriter(tmp_path, shard_size=2, overwrite=True) as writer:
        writer.extend(_synthetic(3))
    assert sorted(os.listdir(tmp_path)) == ["trajs_0.npz", "trajs_1.npz"]
    assert _episodes(tmp_path) == [0, 1, 2]


# --------------------------------------------------------------------------- round trips


def _assert_same(loaded: dict[str, Any], original: dict[str, Any]) -> None:
    assert loaded.keys() == original.keys() | {"episode"}
    for key, value in original.items():
        if isinstance(value, np.ndarray):
            assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape
            np.testing.assert_array_equal(loaded[key], value)
        else:
            assert loaded[key] == value, key


def _assert_transitions_match(flat: dict[str, np.ndarray], trajs: list[dict[str, Any]]) -> None:
    pairs = {
        "observations": "observations",
        "actions": "actions",
        "rewards": "rewards",
        "next_observations": "next_observations",
        "terminals": "terminated",
        "timeouts": "truncated",
    }
    assert set(flat) == set(pairs)
    total = sum(t["length"] for t in trajs)
    for out, key in pairs.items():
        assert len(flat[out]) == total
        np.testing.assert_array_equal(flat[out], np.concatenate([t[key] for t in trajs]))
    assert flat["rewards"].dtype == np.float32
    assert flat["terminals"].dtype == bool and flat["timeouts"].dtype == bool
    assert flat["terminals"].sum() + flat["timeouts"].sum() == len(trajs)


def test_cartpole_round_trip_with_small_shards(tmp_path: Path) -> None:
    trajs, _ = _collect("CartPole-v1", n_envs=4, n_steps=150, seed=1)
    n = len(trajs)
    assert n > 14
    writer = ShardWriter(tmp_path / "results", shard_size=7)
    writer.extend(trajs)
    files = writer.close()
    n_shards = -(-n // 7)
    assert [p.name for p in files] == [f"trajs_{k}.npz" for k in range(n_shards)]
    assert trajectory_files(tmp_path) == files
    loaded = list(iter_trajectories(tmp_path))
    assert [t["episode"] for t in loaded] == list(range(n))
    for got, want in zip(loaded, trajs, strict=True):
        _assert_same(got, want)
    _assert_transitions_match(load_transitions(tmp_path / "results"), trajs)


def test_pendulum_round_trip_continuous_actions(tmp_path: Path) -> None:
    trajs, _ = _collect("Pendulum-v1", n_envs=2, n_steps=100, seed=5, max_episode_steps=25)
    assert len(trajs) == 8
    with ShardWriter(tmp_path / "results") as writer:
        writer.extend(trajs)
    assert trajectory_files(tmp_path) == [tmp_path / "results" / "trajs.npz"]
    for got, want in zip(iter_trajectories(tmp_path / "results" / "trajs.npz"), trajs, strict=True):
        _assert_same(got, want)
        assert got["actions"].dtype == np.float32 and got["actions"].shape == (25, 1)
        assert got["observations"].shape == (25, 3)
        assert got["truncated"][-1] and not got["terminated"].any()
        assert got["return"] < 0
    flat = load_transitions(tmp_path)
    _assert_transitions_match(flat, trajs)
    assert flat["observations"].shape == (200, 3) and flat["actions"].shape == (200, 1)


def test_sources_ordering_and_lists(tmp_path: Path) -> None:
    run_a, run_b = tmp_path / "a", tmp_path / "b"
    with ShardWriter(run_a / "results", shard_size=1) as writer:
        writer.extend(_synthetic(12))
    names = [p.name for p in trajectory_files(run_a)]
    assert names == [f"trajs_{k}.npz" for k in range(12)]  # trajs_2 before trajs_10
    assert _episodes(run_a) == list(range(12))
    with ShardWriter(run_b / "results") as writer:
        writer.extend(_synthetic(2))
    single = run_a / "results" / "trajs_10.npz"
    files = trajectory_files([run_b, single, (run_a / "results")])
    assert files[:2] == [run_b / "results" / "trajs.npz", single]
    assert len(files) == 14
    assert _episodes((run_b, single)) == [0, 1, 10]
    assert len(load_transitions([run_a, run_b])["rewards"]) == 14


# --------------------------------------------------------------------------- errors


def _assert_error(source: Any, *fragments: str) -> None:
    with pytest.raises(TrajectoryDataError) as info:
        load_transitions(source)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def _write_raw(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_archive(path, obj)


def test_missing_and_empty_sources(tmp_path: Path) -> None:
    _assert_error(tmp_path / "nope", "nope", "does not exist")
    (tmp_path / "task" / "results").mkdir(parents=True)
    _assert_error(tmp_path / "task", "task", "collect_traj")
    _assert_error([], "empty")
    with pytest.raises(TrajectoryDataError, match="collect_traj"):
        trajectory_files(tmp_path / "task" / "results")


def test_corrupt_files(tmp_path: Path) -> None:
    with ShardWriter(tmp_path / "good") as writer:
        writer.extend(_synthetic(3))
    data = (tmp_path / "good" / "trajs.npz").read_bytes()

    truncated = tmp_path / "truncated" / "trajs.npz"
    truncated.parent.mkdir()
    truncated.write_bytes(data[: len(data) // 2])
    _assert_error(truncated.parent, str(truncated), "corrupt")

    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not an archive\n")
    _assert_error(garbage, str(garbage))

    not_dict = _write_raw(tmp_path / "notdict" / "trajs.npz", [1, 2, 3])
    _assert_error(not_dict, str(not_dict), "list")

    wrong = _write_raw(tmp_path / "wrong" / "trajs.npz", {"format": "other", "trajectories": []})
    _assert_error(tmp_path / "wrong", str(wrong), "format")

    traj = _synthetic(1)[0]
    traj["rewards"] = np.zeros(5, dtype=np.float32)
    uneven = _write_raw(
        tmp_path / "uneven" / "trajs.npz", {"format": FORMAT, "shard": 0, "trajectories": [traj]}
    )
    _assert_error(uneven, str(uneven), "unequal length")

    # The error comes before any trajectory of a later bad shard is used.
    with pytest.raises(TrajectoryDataError, match="notdict"):
        list(iter_trajectories([tmp_path / "good", not_dict]))


def test_mixed_runs_in_one_directory_are_rejected(tmp_path: Path) -> None:
    with ShardWriter(tmp_path, shard_size=2) as writer:
        writer.extend(_synthetic(3))
    _write_raw(tmp_path / "trajs.npz", {"format": FORMAT, "shard": 0, "trajectories": []})
    _assert_error(tmp_path, str(tmp_path), "trajs.npz")


def test_default_shard_size() -> None:
    assert SHARD_SIZE == 1000
