"""TD3, DDPG, SAC and discrete SAC (issue 12): the batched critics against plain MLPs, TD3's
three tricks as switches (DDPG is TD3 with them off), exploration noise, separate learning
rates under one schedule, the entropy temperature in checkpoints, sampled acting without
warm-up randomness, and the extra-loss hooks the offline algorithms build on.

Real code throughout: policies from the config loader, transitions from real gymnasium envs,
checkpoints through real files.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from algos.base.config import LayerSpec, mlp
from algos.base.networks import ContinuousCritic
from config.loader import load_config
from envs.vector import spaces_of
from framework.records.checkpoint import read_checkpoint, save_checkpoint
from framework.runtime.collector import Collector
from framework.runtime.seeding import env_seeds
from framework.runtime.setup import build_policy, policy_class

PENDULUM = "Pendulum-v1"


def make_policy(algo: str, *overrides: str, env_id: str = PENDULUM, seed: int = 1):
    cfg = load_config(
        None,
        [
            f"general_cfg.algo_name={algo}",
            f"env_cfg.id={env_id}",
            "algo_cfg.learning_starts=64",
            "algo_cfg.batch_size=64",
            "algo_cfg.buffer_size=5000",
            "algo_cfg.actor_layers=[{layer_dim: [32]}, {layer_dim: [32]}]",
            "algo_cfg.critic_layers=[{layer_dim: [32]}, {layer_dim: [32]}]",
            *overrides,
        ],
    )
    return build_policy(cfg, *spaces_of(cfg), seed=seed), cfg


def replay_batch(policy, cfg, steps: int = 200):
    """A replay batch of real transitions (random warm-up actions)."""
    collector = Collector(cfg, policy, 2, env_seeds(1, 2))
    buffer = policy.make_buffer()
    buffer.add(collector.collect(steps // 2).data)
    collector.close()
    return buffer.sample(cfg.algo.batch_size)


def params(module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before, module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


# ---- networks --------------------------------------------------------------------------------
def test_batched_critics_equal_separate_mlps():
    torch.manual_seed(0)
    layers = [*mlp(16, 8, activation="tanh"), LayerSpec("layernorm"), *mlp(8)]
    critic = ContinuousCritic((3,), 2, layers, n_critics=3)
    obs, act = torch.randn(5, 3), torch.randn(5, 2)
    out = critic(obs, act)
    assert out.shape == (3, 5)
    x = torch.cat([obs, act], -1)
    w, b = critic.weights, critic.biases
    for i in range(3):  # the same member as a plain MLP
        h = torch.tanh(F.linear(x, w[0][i].T, b[0][i, 0]))
        h = F.linear(h, w[1][i].T, b[1][i, 0])
        h = torch.tanh(h)
        h = F.layer_norm(h, (8,)) * w[2][i, 0] + b[2][i, 0]
        h = torch.relu(F.linear(h, w[3][i].T, b[3][i, 0]))
        q = F.linear(h, w[4][i].T, b[4][i, 0]).squeeze(-1)
        torch.testing.assert_close(out[i], q)
    torch.testing.assert_close(critic(obs, act, members=1), out[:1])
    # members are initialized independently, as nn.Linear would (bound 1/sqrt(fan_in))
    assert not torch.equal(w[0][0], w[0][1]) and w[0].abs().max() <= 1 / math.sqrt(5)
    out.sum().backward()
    assert all(p.grad is not None for p in critic.parameters())


# ---- TD3 and DDPG ----------------------------------------------------------------------------
def test_ddpg_is_td3_with_the_three_tricks_off():
    assert policy_class("DDPG") is policy_class("TD3")
    td3, _ = make_policy("TD3")
    ddpg, cfg = make_policy("DDPG")
    assert (td3.critic.n_critics, ddpg.critic.n_critics) == (2, 1)
    assert (cfg.algo.policy_delay, cfg.algo.target_noise) == (1, 0.0)
    assert ddpg.name == "DDPG" and not ddpg.stochastic


def test_td3_delays_the_actor_and_targets_ddpg_does_not():
    td3, cfg = make_policy("TD3", "algo_cfg.tau=0.5")
    batch = replay_batch(td3, cfg)
    actor, target, critic = params(td3.actor), params(td3.actor_target), params(td3.critic)
    td3.learn(batch)  # update 1: critics only
    assert changed(critic, td3.critic)
    assert not changed(actor, td3.actor) and not changed(target, td3.actor_target)
    td3.learn(batch)  # update 2: actor and targets
    assert changed(actor, td3.actor) and changed(target, td3.actor_target)

    ddpg, cfg = make_policy("DDPG", "algo_cfg.tau=0.5")
    actor, target = params(ddpg.actor), params(ddpg.actor_target)
    metrics = ddpg.learn(replay_batch(ddpg, cfg)).metrics
    assert changed(actor, ddpg.actor) and changed(target, ddpg.actor_target)
    assert {"critic_loss", "actor_loss", "q_mean", "lr"} <= set(metrics)


@pytest.mark.parametrize(("algo", "noisy"), [("TD3", True), ("DDPG", False)])
def test_td3_target_smoothing_noise_only_when_on(algo, noisy):
    policy, cfg = make_policy(algo)
    batch = replay_batch(policy, cfg)
    seen = []
    # the critic's target is what the extra-loss hook sees; two updates from the same state
    policy.add_loss_term("critic", lambda target, **_: (seen.append(target) or 0.0, {}))
    state = copy.deepcopy(policy.state_dict())  # state_dict() holds live tensors
    policy.learn(batch)
    policy.load_state_dict(state)
    policy.learn(batch)
    assert (not torch.equal(seen[0], seen[1])) == noisy


@pytest.mark.parametrize("noise", ["gaussian", "ou"])
def test_exploration_noise_in_bounds_and_ou_restarts_at_episode_ends(noise):
    policy, cfg = make_policy(
        "TD3", f"algo_cfg.exploration_noise={noise}", "algo_cfg.noise_std=0.5", "env_cfg.n_envs=2"
    )
    policy.env_steps = 10**6  # past the warm-up
    obs = np.zeros((3, 3), np.float32)
    greedy = policy.act(obs, "greedy").actions
    explore = np.stack([policy.act(obs, "explore").actions for _ in range(50)])
    assert explore.min() >= -2 and explore.max() <= 2 and np.abs(explore - greedy).max() > 0.1
    assert policy.exploration == f"{noise}-noise"
    if noise == "ou":
        collector = Collector(cfg, policy, 2, env_seeds(1, 2))
        collector.collect(199)  # Pendulum truncates at 200: nothing ended yet
        assert np.all(policy.noise.x != 0)
        collector.collect(1)  # both episodes end: the adder restarts their processes
        assert np.all(policy.noise.x == 0)
        collector.close()


def test_td3_refuses_to_sample():
    policy, _ = make_policy("TD3")
    assert not policy.stochastic  # collect_exploration: sampled is refused by the framework


# ---- SAC -------------------------------------------------------------------------------------
def test_sac_checkpoints_alpha_and_every_optimizer(tmp_path):
    policy, cfg = make_policy("SAC", "algo_cfg.alpha_lr=0.05")
    batch = replay_batch(policy, cfg)
    for _ in range(3):
        metrics = policy.learn(batch).metrics
    assert {"critic_loss", "actor_loss", "entropy", "alpha", "q_mean", "lr"} <= set(metrics)
    assert set(policy.optimizers()) == {"actor", "critic", "alpha"}
    alpha = float(policy.temperature().detach())
    assert alpha != pytest.approx(0.2)  # tuned
    path = save_checkpoint(tmp_path / "sac.pt", {"policy": policy.state_dict()})
    state = read_checkpoint(path)["policy"]
    assert set(state["optimizers"]) == {"actor", "critic", "alpha"}
    other, _ = make_policy("SAC", "algo_cfg.alpha_lr=0.05", seed=4)
    other.load_state_dict(state)
    assert float(other.temperature().detach()) == pytest.approx(alpha)
    assert other.optimizers()["alpha"].steps == policy.optimizers()["alpha"].steps
    # both continue identically from the restored state
    torch.manual_seed(0)
    policy.learn(batch)
    torch.manual_seed(0)
    other.learn(batch)
    assert float(other.temperature().detach()) == pytest.approx(
        float(policy.temperature().detach())
    )


def test_sac_fixed_alpha():
    policy, cfg = make_policy("SAC", "algo_cfg.autotune=false", "algo_cfg.alpha=0.05")
    assert "alpha" not in policy.optimizers()
    policy.learn(replay_batch(policy, cfg))
    assert float(policy.temperature().detach()) == pytest.approx(0.05)


def test_separate_learning_rates_follow_one_schedule():
    policy, _ = make_policy(
        "SAC",
        "algo_cfg.lr=1e-3",
        "algo_cfg.critic_lr=2e-3",
        "algo_cfg.alpha_lr=4e-3",
        "algo_cfg.lr_schedule=linear",
        "algo_cfg.lr_end=2.5e-4",
        "general_cfg.max_env_steps=1000",
    )
    policy.env_steps = 500  # halfway: factor 1 + (0.25 - 1) / 2 = 0.625
    assert policy.apply_lr() == pytest.approx(6.25e-4)
    rates = {k: o.param_groups[0]["lr"] for k, o in policy.optimizers().items()}
    assert rates == pytest.approx({"actor": 6.25e-4, "critic": 1.25e-3, "alpha": 2.5e-3})


@pytest.mark.parametrize(("algo", "env_id"), [("SAC", PENDULUM), ("DiscreteSAC", "CartPole-v1")])
def test_sample_mode_draws_from_the_policy_not_the_warm_up(algo, env_id):
    policy, _ = make_policy(algo, env_id=env_id)
    assert policy.stochastic and policy.warming_up
    head = policy.actor.head
    with torch.no_grad():  # a confident policy: mean 0.5 / action 1, smallest std
        head.weight.zero_()
        head.bias.copy_(torch.tensor([0.5, -10.0] if algo == "SAC" else [-20.0, 20.0]))
    obs = np.zeros((500, *policy.obs_space.shape), np.float32)
    sampled = policy.act(obs, "sample").actions
    explore = policy.act(obs, "explore").actions  # warm-up: uniform random
    if algo == "SAC":
        expected = 2 * math.tanh(0.5)
        assert np.abs(sampled - expected).max() < 0.1 and explore.std() > 0.5
        assert np.all(policy.act(obs, "greedy").actions == pytest.approx(expected))
    else:
        assert np.all(sampled == 1) and 0.3 < explore.mean() < 0.7


@pytest.mark.parametrize(
    ("algo", "actor_keys"),
    [("SAC", {"batch", "actions", "q", "log_prob"}), ("TD3", {"batch", "actions", "q"})],
)
def test_extra_loss_hooks_see_what_offline_variants_need(algo, actor_keys):
    policy, cfg = make_policy(algo, "algo_cfg.policy_delay=1")
    seen: dict[str, set] = {}

    def term(on):
        def fn(**context):
            seen[on] = set(context)
            return context["q"].mean() * 0.0 + 1.0, {f"{on}_term": 1.0}

        return fn

    policy.add_loss_term("critic", term("critic"))
    policy.add_loss_term("actor", term("actor"))
    metrics = policy.learn(replay_batch(policy, cfg)).metrics
    assert seen["critic"] == {"batch", "q", "target"}
    assert seen["actor"] == actor_keys
    assert metrics["critic_term"] == metrics["actor_term"] == 1.0


# ---- discrete SAC ----------------------------------------------------------------------------
def test_discrete_sac_learns_on_every_part():
    policy, cfg = make_policy("DiscreteSAC", "algo_cfg.alpha_lr=0.05", env_id="CartPole-v1")
    before = {k: params(m) for k, m in policy.networks().items()}
    metrics = policy.learn(replay_batch(policy, cfg)).metrics
    for name in ("actor", "critic", "critic_target", "temperature"):
        assert changed(before[name], policy.networks()[name]), name
    assert 0 < metrics["entropy"] <= math.log(2) + 1e-6
    assert policy.target_entropy == pytest.approx(0.5 * math.log(2))


# ---- collect mode through the command line ------------------------------------------------------
def test_collect_sampled_sac_and_deterministic_td3(tmp_path, capsys):
    from conftest import run_main

    from framework.cli import main
    from framework.data.trajectories import iter_trajectories

    tasks = tmp_path / "tasks"
    small = "[{layer_dim: [16]}]"
    runs = {}
    for algo in ("SAC", "TD3"):
        runs[algo] = run_main(
            tasks,
            f"general_cfg.algo_name={algo}",
            "env_cfg.id=Pendulum-v1",
            "env_cfg.n_envs=2",
            "general_cfg.max_env_steps=200",
            "general_cfg.online_eval=false",
            "general_cfg.save_fig=false",
            "algo_cfg.learning_starts=100",
            "algo_cfg.batch_size=32",
            f"algo_cfg.actor_layers={small}",
            f"algo_cfg.critic_layers={small}",
        )
    load = [
        "general_cfg.mode=collect",
        "general_cfg.load_checkpoint=true",
        "general_cfg.save_fig=false",
    ]
    episodes = ["general_cfg.max_episode=4", "general_cfg.max_step=20", "env_cfg.n_eval_envs=2"]
    task = run_main(
        tasks,
        *load,
        f"general_cfg.load_path={runs['SAC']}",
        *episodes,
        "general_cfg.collect_exploration=sampled",
    )
    trajs = list(iter_trajectories(task))
    assert len(trajs) == 4 and {t["policy"]["exploration"] for t in trajs} == {"sampled"}
    actions = np.concatenate([t["actions"] for t in trajs])
    assert np.abs(actions).max() <= 2 and len(np.unique(actions)) > 40  # drawn, in bounds
    task = run_main(tasks, *load, f"general_cfg.load_path={runs['TD3']}", *episodes)
    assert {t["policy"]["algo"] for t in iter_trajectories(task)} == {"TD3"}
    rc = main(
        [
            *load,
            f"general_cfg.load_path={runs['TD3']}",
            "general_cfg.collect_exploration=sampled",
            f"general_cfg.tasks_dir={tasks}",
            "general_cfg.progress=false",
        ]
    )
    assert rc == 2 and "collect_exploration: sampled" in capsys.readouterr().err


def test_one_step_adder_fast_path_equals_the_windows():
    from framework.data.adders import NStepAdder
    from framework.data.types import StepBatch

    rng = np.random.default_rng(0)
    T, N = 7, 3
    ends = rng.random((T, N)) < 0.3
    batch = StepBatch(
        obs=rng.normal(size=(T, N, 2)).astype(np.float32),
        actions=rng.normal(size=(T, N, 1)).astype(np.float32),
        rewards=rng.normal(size=(T, N)).astype(np.float32),
        next_obs=rng.normal(size=(T, N, 2)).astype(np.float32),
        terminated=ends & (rng.random((T, N)) < 0.5),
        truncated=ends,
        learn_rewards=rng.normal(size=(T, N)).astype(np.float32),
    )
    batch.truncated &= ~batch.terminated
    fast, slow = NStepAdder(1, 0.97).one_step(batch), NStepAdder(1, 0.97).windows(batch)
    for name in ("obs", "actions", "rewards", "next_obs", "discounts"):
        a, b = getattr(fast, name), getattr(slow, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=name)


@pytest.mark.parametrize(
    ("algo", "action", "extra"),
    [
        ("REINFORCE", "discrete", ["algo_cfg.n_steps=16", "algo_cfg.min_episodes=20"]),
        ("SAC", "box", ["algo_cfg.learning_starts=200"]),
        ("TD3", "box", ["algo_cfg.learning_starts=200", "algo_cfg.exploration_noise=ou"]),
    ],
)
def test_a_resumed_run_continues_the_same_episodes(tmp_path, algo, action, extra):
    """1,200 env steps in one run == 600 + a resume to 1,200: held episodes (REINFORCE), the
    temperature and its optimizer (SAC), the OU noise state (TD3) all travel in last.pt."""
    import csv

    from conftest import run_main

    def episodes(task):
        with open(task / "results" / "episodes.csv") as f:
            return [(r["env_steps"], r["return"], r["length"]) for r in csv.DictReader(f)]

    common = [
        f"general_cfg.algo_name={algo}",
        "env_cfg.id=rldojo/Probe-v0",
        f"env_cfg.make_kwargs={{obs: vector, action: {action}}}",
        "env_cfg.n_envs=4",
        "general_cfg.online_eval=false",
        "general_cfg.save_fig=false",
        "general_cfg.seed=3",
        "general_cfg.schedule_steps=1200",
        *[f"algo_cfg.{k}=[{{layer_dim: [16]}}]" for k in ("actor_layers", "critic_layers")],
        *extra,
    ]
    tasks = tmp_path / "tasks"
    whole = run_main(tasks, *common, "general_cfg.max_env_steps=1200")
    first = run_main(tasks, *common, "general_cfg.max_env_steps=600")
    second = run_main(
        tasks,
        *common,
        "general_cfg.max_env_steps=1200",
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={first}",
    )
    one, two = episodes(whole), episodes(first) + episodes(second)
    assert len(one) > 100 and one == two


@pytest.mark.parametrize("max_grad_norm", ["null", "10.0"])
def test_non_finite_updates_stop_before_the_step_with_or_without_a_norm(max_grad_norm):
    """Without max_grad_norm the norm is not computed (speed); the loss's finiteness is checked
    instead. Either way a non-finite update raises before the step, and finite ones pass."""
    from algos.base.policy import NonFiniteError

    cfg = load_config(
        None,
        [
            "general_cfg.algo_name=SAC",
            f"env_cfg.id={PENDULUM}",
            f"algo_cfg.max_grad_norm={max_grad_norm}",
        ],
    )
    policy = build_policy(cfg, *spaces_of(cfg), seed=1)
    params = list(policy.critic.parameters())
    before = [p.detach().clone() for p in params]
    square = sum((p**2).sum() for p in params)
    with pytest.raises(NonFiniteError, match="critic loss at update step 1"):
        policy.optimize("critic", square * float("nan"))
    assert all(torch.equal(a, p) for a, p in zip(before, params))  # not applied
    norm = policy.optimize("critic", sum((p**2).sum() for p in params))  # finite: no alarm
    assert not all(torch.equal(a, p) for a, p in zip(before, params))
    assert math.isnan(norm) if max_grad_norm == "null" else math.isfinite(norm)
