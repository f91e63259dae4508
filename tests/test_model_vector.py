"""``vector_mode: model`` (toy-text envs stepped from their transition tables) gives exactly the
episodes gymnasium's own envs give: same seeds, same actions, same observations, rewards,
terminations, truncations and final observations, step by step; it saves and restores its state
mid-episode; envs it cannot run are one-line config errors."""

from __future__ import annotations

from functools import partial

import gymnasium as gym
import numpy as np
import pytest
from conftest import run_cli

from config.loader import ConfigError, load_config
from envs.gym.model_vector import ModelVectorEnv
from envs.state import env_state, load_env_state
from framework.runtime.evaluator import Evaluator
from tests.vector_checks import check_state_restores, step_both

CASES = [
    ("FrozenLake-v1", {}),
    ("FrozenLake-v1", {"is_slippery": False}),
    ("FrozenLake8x8-v1", {}),
    ("CliffWalking-v1", {}),
    ("CliffWalkingSlippery-v1", {}),
    ("Taxi-v4", {}),
    ("Taxi-v4", {"is_rainy": True}),
]


def pair(env_id: str, kwargs: dict, n: int, max_steps: int | None = None):
    if max_steps is not None:
        kwargs = {**kwargs, "max_episode_steps": max_steps}
    make = partial(gym.make, env_id, **kwargs)
    ref = gym.vector.SyncVectorEnv([make] * n, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    return ref, ModelVectorEnv(make, n, [])


@pytest.mark.parametrize("env_id,kwargs", CASES)
def test_model_env_steps_exactly_as_gymnasium(env_id, kwargs):
    n = 6
    ref, ours = pair(env_id, kwargs, n, max_steps=20)  # short limit: truncations too
    seeds = [7 * i + 3 for i in range(n)]
    obs_ref, _ = ref.reset(seed=seeds)
    obs, _ = ours.reset(seed=seeds)
    np.testing.assert_array_equal(obs, obs_ref)
    assert obs.dtype == obs_ref.dtype
    rng = np.random.default_rng(0)
    ends = {"term": 0, "trunc": 0}
    for _ in range(1500):  # > 256: the blocks of uniforms are redrawn several times
        step_both(ref, ours, rng.integers(ours.single_action_space.n, size=n), ends)
    assert ends["trunc"] > 0  # the limit was reached
    if env_id.startswith("FrozenLake"):  # and holes ended episodes (random walks seldom reach
        assert ends["term"] > 0  # Taxi's drop-off or CliffWalking's goal)


def test_model_env_state_restores_mid_episode(tmp_path):
    """A checkpointed env (through an rldojo archive) continues exactly as the original."""
    ref, _ = pair("Taxi-v4", {"is_rainy": True}, 4)
    ours = check_state_restores(lambda: pair("Taxi-v4", {"is_rainy": True}, 4)[1], 6, tmp_path)
    assert not load_env_state(ref, env_state(ours))  # a sync env does not take its state


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["env_cfg.id=CartPole-v1"], "CartPole-v1 is not one of gymnasium's"),
        (["env_cfg.make_kwargs={fickle_passenger: true}"], "fickle_passenger"),
        (["env_cfg.wrappers=[{name: TimeAwareObservation}]"], "wrappers"),
    ],
)
def test_envs_model_mode_cannot_run_are_config_errors(overrides, message):
    base = ["general_cfg.algo_name=QLearning", "env_cfg.id=Taxi-v4", "env_cfg.vector_mode=model"]
    with pytest.raises(ConfigError, match=message):
        load_config(None, [*base, *overrides])


def test_model_mode_error_from_the_cli_is_one_line(tmp_path):
    proc = run_cli(
        "env_cfg.vector_mode=model",
        f"general_cfg.tasks_dir={tmp_path}",
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "vector_mode" in proc.stderr
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


@pytest.mark.parametrize("env_id", ["FrozenLake-v1", "Taxi-v4"])
def test_model_evaluation_plays_the_sync_episodes(env_id):
    """The Evaluator on table-stepped envs: the same seeded episodes, returns and lengths, and the
    same steps seen by ``on_step``, as on gymnasium's envs (more episodes than envs: slots restart
    while others are still running; a short limit truncates some)."""
    results, steps = {}, {}
    for mode in ("sync", "model"):
        cfg = load_config(
            None,
            [
                "general_cfg.algo_name=QLearning",
                f"env_cfg.id={env_id}",
                f"env_cfg.vector_mode={mode}",
                "general_cfg.max_step=12",
            ],
        )
        evaluator = Evaluator(cfg, 4, seed=5)
        rng, seen = np.random.default_rng(3), []

        def on_step(slot, obs, action, reward, nxt, term, trunc, seed, seen=seen):
            seen.append((slot, int(obs), int(action), float(reward), int(nxt), bool(term),
                         bool(trunc), seed))  # fmt: skip

        n = gym.make(env_id).action_space.n
        results[mode] = evaluator.run(
            lambda obs, rng=rng, n=n: rng.integers(n, size=len(obs)), 13, on_step
        )
        steps[mode] = seen
        evaluator.close()
    for a, b in zip(results["sync"], results["model"]):
        np.testing.assert_array_equal(a, b)
    assert steps["sync"] == steps["model"]
    assert results["model"].lengths.max() == 12  # truncated episodes were compared too
