"""``vector_mode: numpy`` (CartPole's and Pendulum's physics on arrays) gives exactly the episodes
gymnasium's own envs give, for training (same seeds and actions: same observations, rewards, terminations,
truncations and final observations, step by step) and for evaluation (same returns and lengths of
the same seeded episodes); it saves and restores its state mid-episode; what it cannot run is a
one-line config error."""

from __future__ import annotations

from functools import partial

import gymnasium as gym
import numpy as np
import pytest

from config.loader import ConfigError, load_config
from envs.gym.numpy_vector import NumpyVectorEnv
from envs.state import env_state
from framework.runtime.evaluator import Evaluator
from tests.vector_checks import check_state_restores, step_both


def pair(n: int, kwargs: dict | None = None, env_id: str = "CartPole-v1"):
    make = partial(gym.make, env_id, **(kwargs or {}))
    ref = gym.vector.SyncVectorEnv([make] * n, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    return ref, NumpyVectorEnv(make, n, kwargs or {}, [])


def check_resets(ref, ours, n: int) -> None:
    """The same first observations for an int seed (seed + i per env) and one seed per env."""
    for seed in (3, [11, 2, 7, 40, 5, 9][:n]):
        obs_ref, _ = ref.reset(seed=seed)
        obs, _ = ours.reset(seed=seed)
        np.testing.assert_array_equal(obs, obs_ref)
        assert obs.dtype == obs_ref.dtype == np.float32


@pytest.mark.parametrize("kwargs", [{}, {"sutton_barto_reward": True}, {"max_episode_steps": 60}])
def test_numpy_cartpole_steps_exactly_as_gymnasium(kwargs):
    n = 5
    ref, ours = pair(n, kwargs)
    check_resets(ref, ours, n)
    rng = np.random.default_rng(0)
    ends = {"term": 0, "trunc": 0}
    balance = np.zeros(n, bool)  # some envs balance (long episodes), others act at random
    for step in range(3000):
        if step % 200 == 0:
            balance = rng.random(n) < 0.5
        obs = ours.physics.obs(slice(None))
        pd = (obs[:, 2] * 10 + obs[:, 3] > 0).astype(np.int64)
        actions = np.where(balance, pd, rng.integers(2, size=n))
        step_both(ref, ours, actions, ends)
    assert ends["term"] > 50 and ends["trunc"] > 0  # both kinds of episode end were compared


@pytest.mark.parametrize("kwargs", [{}, {"g": 9.81, "max_episode_steps": 150}])
def test_numpy_pendulum_steps_exactly_as_gymnasium(kwargs):
    n = 6
    ref, ours = pair(n, kwargs, "Pendulum-v1")
    check_resets(ref, ours, n)
    rng = np.random.default_rng(0)
    ends = {"term": 0, "trunc": 0}
    for step in range(1000):
        obs = ours.physics.obs(slice(None))
        swing = -2.0 * obs[:, 1:2] * obs[:, 2:3]  # a crude controller, torques past the bounds
        noise = rng.normal(0, 1.5, size=(n, 1))
        actions = (swing + noise).astype(np.float64 if step % 2 else np.float32)
        step_both(ref, ours, actions, ends)
    assert ends["term"] == 0 and ends["trunc"] >= n * (1000 // 200)


def test_numpy_pendulum_state_restores_mid_episode(tmp_path):
    draw = lambda rng: rng.uniform(-2, 2, size=(4, 1)).astype(np.float32)  # noqa: E731
    check_state_restores(lambda: pair(4, None, "Pendulum-v1")[1], draw, tmp_path)


def test_numpy_cartpole_state_restores_mid_episode(tmp_path):
    """A checkpointed env (through an rldojo archive) continues exactly as the original."""
    ours = check_state_restores(lambda: pair(4)[1], 2, tmp_path)
    _, other = pair(3)
    assert not other.load_state_dict(env_state(ours)["own"])  # another number of envs


def play(evaluator: Evaluator, rng: np.random.Generator):
    """11 episodes, balancing with mistakes (episodes of very different lengths); the result and
    every step ``on_step`` saw."""
    seen = []

    def act(obs):
        pd = (obs[:, 2] * 10 + obs[:, 3] > 0).astype(np.int64)
        return np.where(rng.random(len(obs)) < 0.7, pd, 1 - pd)

    def on_step(slot, obs, action, reward, nxt, term, trunc, seed):
        seen.append((slot, obs.tolist(), int(action), float(reward), nxt.tolist(), bool(term),
                     bool(trunc), seed))  # fmt: skip

    return evaluator.run(act, 11, on_step=on_step), seen


def test_numpy_evaluation_plays_the_sync_episodes():
    """The Evaluator on NumPy CartPoles: the same seeded episodes, returns and lengths, and the
    same steps seen by ``on_step``, as on gymnasium's envs (more episodes than envs: slots restart
    while others are still running)."""  # Pendulum's: below
    results, steps = {}, {}
    for mode in ("sync", "numpy"):
        cfg = load_config(None, [f"env_cfg.vector_mode={mode}", "general_cfg.max_step=200"])
        evaluator = Evaluator(cfg, 4, seed=5)
        results[mode], steps[mode] = play(evaluator, np.random.default_rng(3))
        evaluator.close()
    for a, b in zip(results["sync"], results["numpy"]):
        np.testing.assert_array_equal(a, b)
    assert steps["sync"] == steps["numpy"]
    lengths = results["numpy"].lengths
    assert lengths.max() == 200 and lengths.min() < 100


def test_numpy_pendulum_evaluation_plays_the_sync_episodes():
    """The same for Pendulum: every step of 7 seeded episodes on 3 envs (the episodes of later
    rounds start while others still run), with a policy whose torques exceed the bounds."""
    results, steps = {}, {}
    for mode in ("sync", "numpy"):
        cfg = load_config(None, [f"env_cfg.vector_mode={mode}", "env_cfg.id=Pendulum-v1"])
        evaluator = Evaluator(cfg, 3, seed=8)
        seen = []

        def act(obs):
            return (-3.0 * obs[:, 1:2] * np.sign(obs[:, 2:3] + 0.1)).astype(np.float32)

        def on_step(slot, obs, action, reward, nxt, term, trunc, seed, seen=seen):
            seen.append((slot, obs.tolist(), action.tolist(), float(reward), nxt.tolist(),
                         bool(term), bool(trunc), seed))  # fmt: skip

        results[mode], steps[mode] = evaluator.run(act, 7, on_step=on_step), seen
        evaluator.close()
    for a, b in zip(results["sync"], results["numpy"]):
        np.testing.assert_array_equal(a, b)
    assert steps["sync"] == steps["numpy"] and len(steps["numpy"]) == 7 * 200


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["env_cfg.id=Acrobot-v1"], "is not gymnasium's CartPole or Pendulum"),
        (["env_cfg.id=Pendulum-v1", "env_cfg.make_kwargs={render_fps: 3}"], "make_kwargs"),
        (["env_cfg.wrappers=[{name: TimeAwareObservation}]"], "wrappers"),
    ],
)
def test_envs_numpy_mode_cannot_run_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, ["env_cfg.vector_mode=numpy", *overrides])
