"""Learning tests: with a fixed seed, DQN and PPO reach a 10-episode deterministic evaluation
mean of at least 475 on CartPole-v1 within 60,000 env steps (the presets as shipped: their own
budgets, over which the learning-rate schedules run)."""

from __future__ import annotations

import pytest
from conftest import ROOT, run_main, summary

PRESETS = ROOT / "config" / "presets"


@pytest.mark.parametrize(
    ("preset", "budget"),
    [("CartPole-v1_PPO.yaml", 60_000), ("CartPole-v1_DQN.yaml", 60_000)],
)
def test_cartpole_reaches_475(tasks, preset, budget):
    run = run_main(
        tasks, "--yaml", str(PRESETS / preset), "general_cfg.seed=1", "general_cfg.save_fig=false"
    )
    s = summary(run)
    assert s["threshold_reached"], f"best eval {s['best_eval']} after {s['env_steps']} steps"
    assert s["best_eval"] >= 475 and s["threshold_env_steps"] <= budget
    assert (run / "models" / "best.pt").is_file()


@pytest.mark.parametrize(
    "seed", [1, pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)]
)
def test_the_default_run_learns_cartpole(tasks, seed):
    """`python main.py` as a new user first runs it (DQN on CartPole-v1, the 50,000-step default
    budget) reaches an evaluation of at least 475, on seeds 1-3 (2 and 3: `pytest -m slow`). The
    threshold only stops the run at the first such evaluation."""
    run = run_main(
        tasks,
        f"general_cfg.seed={seed}",
        "general_cfg.reward_threshold=475",
        "general_cfg.save_fig=false",
    )
    s = summary(run)
    assert s["threshold_reached"], f"best eval {s['best_eval']} in {s['env_steps']} steps"
    assert s["threshold_env_steps"] <= 50_000
