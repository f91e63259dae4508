"""Learning checks of issue 12 (fixed seeds, 10-episode deterministic evaluations).

Default suite: A2C (Discrete, and Box actions with gSDE), SAC and discrete SAC learn the probe
task (``rldojo/Probe-v0``: act on the cue, 8 steps per episode; 8 for a perfect policy, about 4
for a random one) in a few thousand steps. REINFORCE (A2C's learner) and TD3/DDPG are checked
on real tasks in the slow suite (``pytest -m slow``): the presets as shipped reach the issue's
thresholds within its budgets on CartPole-v1, Pendulum-v1 and (box2d extra)
LunarLanderContinuous-v3.
"""

from __future__ import annotations

import importlib.util

import pytest
from conftest import ROOT, run_main, summary

PRESETS = ROOT / "config" / "presets"
QUIET = ("general_cfg.seed=1", "general_cfg.save_fig=false")


@pytest.mark.parametrize(
    ("algo", "action", "extra"),
    [
        ("A2C", "discrete", []),
        ("A2C", "box", ["algo_cfg.use_sde=true"]),  # gSDE exploration
        ("SAC", "box", ["algo_cfg.learning_starts=256", "algo_cfg.train_freq=8"]),
        ("DiscreteSAC", "discrete", ["algo_cfg.learning_starts=256", "algo_cfg.train_freq=8"]),
    ],
)
def test_learns_the_probe_task(tasks, algo, action, extra):
    small = "[{layer_dim: [32]}]"
    layers = [f"algo_cfg.{k}={small}" for k in ("actor_layers", "critic_layers")]
    run = run_main(
        tasks,
        f"general_cfg.algo_name={algo}",
        "env_cfg.id=rldojo/Probe-v0",
        f"env_cfg.make_kwargs={{obs: vector, action: {action}}}",
        "env_cfg.n_envs=8",
        "general_cfg.max_env_steps=6000",
        "general_cfg.online_eval_fre=1000",
        "general_cfg.reward_threshold=7.5",
        *layers,
        *extra,
        *QUIET,
    )
    s = summary(run)
    assert s["threshold_reached"], f"{algo}: best eval {s['best_eval']} in {s['env_steps']} steps"


CHECKS = [  # preset, threshold, env-step budget
    ("CartPole-v1_REINFORCE.yaml", 475, 200_000),
    ("CartPole-v1_A2C.yaml", 475, 200_000),
    ("CartPole-v1_DiscreteSAC.yaml", 475, 100_000),
    ("Pendulum-v1_SAC.yaml", -200, 20_000),
    ("Pendulum-v1_TD3.yaml", -200, 30_000),
    ("Pendulum-v1_DDPG.yaml", -200, 50_000),
    ("Pendulum-v1_A2C.yaml", -250, 1_000_000),
]
BOX2D = importlib.util.find_spec("Box2D") is not None


@pytest.mark.slow
@pytest.mark.parametrize(("preset", "threshold", "budget"), CHECKS)
def test_preset_reaches_its_threshold(tasks, preset, threshold, budget):
    run = run_main(tasks, "--yaml", str(PRESETS / preset), *QUIET)
    s = summary(run)
    assert s["threshold_reached"], f"best eval {s['best_eval']} after {s['env_steps']} steps"
    assert s["best_eval"] >= threshold and s["threshold_env_steps"] <= budget


@pytest.mark.slow
@pytest.mark.skipif(not BOX2D, reason="needs the box2d extra (pip install -e '.[box2d]')")
@pytest.mark.parametrize("algo", ["SAC", "TD3"])
def test_lunar_lander_continuous_reaches_200(tasks, algo):
    run = run_main(tasks, "--yaml", str(PRESETS / f"LunarLanderContinuous-v3_{algo}.yaml"), *QUIET)
    s = summary(run)
    assert s["threshold_reached"] and s["best_eval"] >= 200, s["best_eval"]
