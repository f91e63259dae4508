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
