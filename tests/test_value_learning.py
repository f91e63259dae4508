"""Learning checks of the value-based family, with the presets as shipped and a fixed seed.

Default suite: the tabular presets (FrozenLake-v1 slippery: success rate >= 0.70 over 100 test
episodes of the best model, with another seed; CliffWalking-v1: Q-learning's greedy return -13,
Sarsa's greedy path away from the cliff edge; Taxi-v4: mean return >= 7 over 100 test episodes).
Slow: CartPole-v1 475 within 100,000 env steps for C51, QR-DQN, IQN, NoisyDQN and Rainbow;
Acrobot-v1 -100 for DQN and Rainbow; LunarLander-v3 200 for DQN and Rainbow (box2d extra)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import ROOT, run_main, summary

from framework.records.checkpoint import read_checkpoint

PRESETS = ROOT / "config" / "presets"


def train(tasks, preset: str):
    run = run_main(
        tasks, "--yaml", str(PRESETS / preset), "general_cfg.seed=1", "general_cfg.save_fig=false"
    )
    return run, summary(run)


def retest(tasks, run, episodes: int, *extra: str) -> dict:
    """Test the best model for ``episodes`` episodes with a seed training never used."""
    test = run_main(
        tasks,
        "general_cfg.mode=test",
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={run}",
        f"general_cfg.max_episode={episodes}",
        "general_cfg.seed=777",
        "general_cfg.save_fig=false",
        *extra,
    )
    return summary(test)


# ---- tabular (default suite) ---------------------------------------------------------------------
def success_probability(policy: np.ndarray, horizon: int = 100) -> float:
    """FrozenLake-v1 slippery: the exact probability that ``policy`` (an action per state) reaches
    the goal from the start within ``horizon`` steps, by dynamic programming on the env's model."""
    import gymnasium as gym

    model = gym.make("FrozenLake-v1", is_slippery=True).unwrapped.P
    v = np.zeros(len(model))
    for _ in range(horizon):
        v = np.array(
            [
                sum(p * (r + (0.0 if done else v[s2])) for p, s2, r, done in model[s][policy[s]])
                for s in range(len(model))
            ]
        )
    return float(v[0])


def test_frozenlake_q_learning_succeeds_70_percent(tasks):
    """100 test episodes (the issue's bar) and, free of sampling noise (+-0.044 on 100 episodes),
    the greedy policy's exact success probability: the best stationary policy's is 0.740."""
    run, _ = train(tasks, "FrozenLake-v1_QLearning.yaml")
    assert retest(tasks, run, 100)["mean_return"] >= 0.70
    table = read_checkpoint(run / "models" / "best.pt")["policy"]["table"]
    assert success_probability(table.argmax(1)) >= 0.72


def greedy_path(table: np.ndarray, start: int = 36, limit: int = 100) -> list[int]:
    """CliffWalking's deterministic greedy walk from the start (actions up, right, down, left)."""
    moves = {0: (-1, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1)}
    path, s = [start], start
    for _ in range(limit):
        r, c = divmod(s, 12)
        dr, dc = moves[int(table[s].argmax())]
        r, c = min(max(r + dr, 0), 3), min(max(c + dc, 0), 11)
        s = r * 12 + c
        path.append(s)
        if s == 47 or (r == 3 and 0 < c < 11):  # goal, or the cliff
            break
    return path


def test_cliffwalking_q_learning_walks_the_edge_and_sarsa_keeps_away(tasks):
    run, s = train(tasks, "CliffWalking-v1_QLearning.yaml")
    assert s["threshold_reached"] and retest(tasks, run, 1)["mean_return"] == -13
    run, s = train(tasks, "CliffWalking-v1_Sarsa.yaml")
    path = greedy_path(read_checkpoint(run / "models" / "best.pt")["policy"]["table"])
    assert path[-1] == 47, path  # reaches the goal
    edge = {2 * 12 + c for c in range(1, 11)}  # the row above the cliff
    assert not edge & set(path), path
    assert retest(tasks, run, 1, "general_cfg.max_step=100")["mean_return"] in (-15, -17)


def test_taxi_q_learning_mean_return_at_least_7(tasks):
    run, s = train(tasks, "Taxi-v4_QLearning.yaml")
    assert s["threshold_reached"]
    assert retest(tasks, run, 100)["mean_return"] >= 7


# ---- deep (slow) ---------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("algo", ["C51", "QRDQN", "IQN", "NoisyDQN", "Rainbow"])
def test_cartpole_reaches_475_within_100k_steps(tasks, algo):
    run, s = train(tasks, f"CartPole-v1_{algo}.yaml")
    assert s["threshold_reached"] and s["threshold_env_steps"] <= 100_000, s["best_eval"]
    assert retest(tasks, run, 20)["mean_return"] >= 400


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["DQN", "Rainbow"])
def test_acrobot_reaches_minus_100(tasks, algo):
    _, s = train(tasks, f"Acrobot-v1_{algo}.yaml")
    assert s["threshold_reached"] and s["best_eval"] >= -100, s["best_eval"]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("Box2D") is None, reason="needs the box2d extra")
@pytest.mark.parametrize("algo", ["DQN", "Rainbow"])
def test_lunarlander_reaches_200(tasks, algo):
    _, s = train(tasks, f"LunarLander-v3_{algo}.yaml")
    assert s["threshold_reached"] and s["best_eval"] >= 200, s["best_eval"]
