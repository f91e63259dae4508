"""Training tricks as config switches: normalizer statistics, checkpoints, schedules, returns,
gradient clipping, PPO details, and a Pendulum learning test (issue 5).

Real code throughout: policies are built from the config loader, training runs go through the
single-process trainer, checkpoints are real files.
"""

from __future__ import annotations

import csv
import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from algos.base.on_policy import standardize
from algos.base.returns import compute_gae
from algos.PPO.policy import value_loss
from config.loader import load_config
from envs.vector import spaces_of
from framework.data.adders import NStepAdder
from framework.data.normalization import ObsNormalizer
from framework.data.types import StepBatch
from framework.records.archive import read_archive, write_archive
from framework.records.checkpoint import read_checkpoint
from framework.records.taskdir import TaskDir
from framework.runtime.collector import Collector
from framework.runtime.loop import train_single
from framework.runtime.seeding import env_seeds
from framework.runtime.setup import Setup, build_policy, load_checkpoint

PRESET = "config/presets/Pendulum-v1_PPO.yaml"


def make_cfg(algo: str, *overrides: str, yaml: str | None = None):
    return load_config(yaml, [f"general_cfg.algo_name={algo}", *overrides])


def make_policy(algo: str, *overrides: str, env_id: str = "CartPole-v1"):
    cfg = make_cfg(algo, f"env_cfg.id={env_id}", *overrides)
    obs_space, action_space = spaces_of(cfg)
    return build_policy(cfg, obs_space, action_space, seed=1), cfg


# ---- observation normalizer ---------------------------------------------------------------
def test_obs_normalizer_matches_numpy_and_survives_a_checkpoint_file(tmp_path):
    rng = np.random.default_rng(0)
    sizes = [1, 7, 1, 64, 3, 1, 250, 2]
    scale = np.array([1.0, 100.0, 0.01])
    batches = [rng.normal(5.0, 1.0, (n, 3)) * scale + rng.normal(0, 3, 3) for n in sizes]
    norm = ObsNormalizer((3,))
    for b in batches[:5]:
        norm.update(b)
    seen = np.concatenate(batches[:5])
    np.testing.assert_allclose(norm.mean, seen.mean(0), rtol=1e-10)
    np.testing.assert_allclose(norm.var, seen.var(0), rtol=1e-9)
    assert norm.count == len(seen)

    # round trip through an actual checkpoint file, inside a policy's state
    policy, _ = make_policy("PPO", "algo_cfg.obs_norm=true")
    policy.obs_norm.update(seen[:, :1].repeat(4, 1))  # CartPole has 4-dim obs
    path = tmp_path / "ckpt.pt"
    write_archive(path, {"policy": policy.state_dict(), "norm": norm.state_dict()})
    data = read_archive(path)
    restored = ObsNormalizer((3,))
    restored.load_state_dict(data["norm"])
    other, _ = make_policy("PPO", "algo_cfg.obs_norm=true")
    other.load_state_dict(data["policy"])
    np.testing.assert_array_equal(other.obs_norm.mean, policy.obs_norm.mean)
    np.testing.assert_array_equal(other.obs_norm.var, policy.obs_norm.var)
    assert other.obs_norm.count == policy.obs_norm.count == len(seen)

    # the restored normalizer keeps following the stream exactly
    for b in batches[5:]:
        restored.update(b)
    everything = np.concatenate(batches)
    np.testing.assert_allclose(restored.mean, everything.mean(0), rtol=1e-10)
    np.testing.assert_allclose(restored.var, everything.var(0), rtol=1e-9)
    obs = rng.normal(0, 50, (6, 3))
    expected = np.clip((obs - everything.mean(0)) / np.sqrt(everything.var(0) + 1e-8), -10, 10)
    np.testing.assert_allclose(restored.normalize(obs), expected, rtol=1e-5, atol=1e-6)


def test_obs_stats_frozen_while_acting_and_collecting():
    policy, cfg = make_policy("PPO", "algo_cfg.obs_norm=true", "env_cfg.n_envs=4")
    policy.obs_norm.update(np.random.default_rng(0).normal(0, 1, (10, 4)))
    before = policy.obs_norm.state_dict()
    collector = Collector(cfg, policy, 4, env_seeds(1, 4))
    out = collector.collect(16)
    policy.act(out.batch.obs[0], "greedy")
    collector.close()
    after = policy.obs_norm.state_dict()
    assert after["count"] == before["count"]
    np.testing.assert_array_equal(after["mean"], before["mean"])
    policy.observe(out.batch.obs)  # the training loop's update, with the raw [T, N, obs] array
    assert policy.obs_norm.count == before["count"] + 16 * 4
    policy.observe(out.batch.next_obs)  # statistics accumulate over calls
    assert policy.obs_norm.count == before["count"] + 2 * 16 * 4


def test_reward_scaling_keeps_raw_rewards():
    policy, cfg = make_policy(
        "PPO", "algo_cfg.reward_scale=true", "env_cfg.n_envs=4", env_id="Pendulum-v1"
    )
    collector = Collector(cfg, policy, 4, env_seeds(1, 4))
    out = collector.collect(50)
    collector.close()
    raw, learn = out.batch.rewards, out.batch.learn_rewards
    assert learn is not None and learn.shape == raw.shape
    assert raw.min() >= -16.3 and raw.max() <= 0.0  # Pendulum's raw reward range
    assert not np.allclose(raw, learn)
    ratio = learn / np.where(raw == 0, 1, raw)
    assert np.all(ratio[raw != 0] > 0)  # divided by a std: same sign, not centred
    stats = collector.reward_scaler.stats
    np.testing.assert_allclose(learn[-1], raw[-1] / np.sqrt(stats.var + 1e-8), rtol=1e-5)


# ---- checkpoints hold the statistics of their moment --------------------------------------
CKPT_RUNS = {
    # PPO rollout = 8 envs * 128 steps = 1024 env steps: one eval at 3072, training goes on
    # to 4096, so best.pt (3072) and last.pt (4096) hold different statistics.
    "PPO": ["algo_cfg.n_steps=128", "algo_cfg.n_epochs=2"],
    "DQN": [
        "algo_cfg.value_layers=[{layer_type: linear, layer_dim: [32], activation: relu}]",
        "algo_cfg.learning_starts=500",
        "algo_cfg.train_freq=64",  # 8 vector steps of 8 envs per phase: eval at 2560
        "algo_cfg.gradient_steps=2",
        "algo_cfg.batch_size=32",
    ],
}


@pytest.mark.parametrize("algo", sorted(CKPT_RUNS))
def test_checkpoint_acts_like_live_policy_and_keeps_its_stats(algo, tmp_path):
    overrides = [
        "algo_cfg.obs_norm=true",
        "env_cfg.n_envs=8",
        "general_cfg.max_env_steps=4000",
        "general_cfg.online_eval_fre=2500",
        "general_cfg.online_eval_episode=2",
        "general_cfg.save_fig=false",
        "general_cfg.progress=false",
        f"general_cfg.tasks_dir={tmp_path}",
        *CKPT_RUNS[algo],
    ]
    cfg = make_cfg(algo, *overrides)
    setup = Setup(cfg)
    task = TaskDir.create(tmp_path, "train", "CartPole-v1", algo)
    summary = train_single(cfg, task, setup)
    live = setup.policy
    assert summary["env_steps"] == live.obs_norm.count >= 4000  # every collected obs, once

    obs = np.random.default_rng(3).normal(0, 1.5, (256, 4)).astype(np.float32)
    test_cfg = make_cfg(
        algo,
        *overrides,
        "general_cfg.mode=test",
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={task.models / 'last.pt'}",
    )
    rebuilt = build_policy(test_cfg, *spaces_of(test_cfg), seed=7)
    load_checkpoint(rebuilt, task.models / "last.pt", test_cfg, weights_only=True)
    for key in ("mean", "var", "count"):
        np.testing.assert_array_equal(
            rebuilt.obs_norm.state_dict()[key], live.obs_norm.state_dict()[key]
        )
    np.testing.assert_array_equal(
        rebuilt.act(obs, "greedy").actions, live.act(obs, "greedy").actions
    )
    np.testing.assert_array_equal(rebuilt.preprocess(obs), live.preprocess(obs))

    # best.pt was written at the evaluation (3000+ steps) with the statistics of that moment
    best, last = read_checkpoint(task.models / "best.pt"), read_checkpoint(task.models / "last.pt")
    assert best["counters"]["env_steps"] < last["counters"]["env_steps"]
    assert best["policy"]["obs_norm"]["count"] == best["counters"]["env_steps"]
    assert last["policy"]["obs_norm"]["count"] == last["counters"]["env_steps"]
    assert not np.array_equal(
        best["policy"]["obs_norm"]["mean"], last["policy"]["obs_norm"]["mean"]
    )

    # resuming (train mode) restores statistics, counters and learning-rate state
    resume_cfg = make_cfg(
        algo,
        *overrides,
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={task.models / 'last.pt'}",
    )
    resumed = Setup(resume_cfg, task.models / "last.pt")
    np.testing.assert_array_equal(resumed.policy.obs_norm.mean, live.obs_norm.mean)
    assert resumed.policy.obs_norm.count == live.obs_norm.count
    assert resumed.policy.update_step == live.update_step
    assert resumed.counters.env_steps == summary["env_steps"]

    # the current learning rate is logged with the update metrics
    with open(task.results / "updates.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(math.isclose(float(r["lr"]), cfg.algo.lr, rel_tol=1e-5) for r in rows)


# ---- schedules -------------------------------------------------------------------------------
def test_linear_lr_and_entropy_schedules():
    policy, _ = make_policy(
        "PPO",
        "algo_cfg.lr_schedule=linear",
        "algo_cfg.lr=1e-3",
        "algo_cfg.lr_end=1e-4",
        "algo_cfg.ent_coef=0.01",
        "algo_cfg.ent_coef_end=0.002",
        "general_cfg.max_env_steps=10000",
    )
    assert policy.budget.total == 10000 and policy.budget.unit == "env_steps"
    for steps, lr, ent in [
        (0, 1e-3, 0.01),
        (2500, 7.75e-4, 0.008),
        (5000, 5.5e-4, 0.006),
        (10000, 1e-4, 0.002),
        (25000, 1e-4, 0.002),
    ]:
        policy.env_steps = steps
        assert math.isclose(policy.current_lr(), lr, rel_tol=1e-9), steps
        assert math.isclose(policy.ent_coef, ent, rel_tol=1e-9), steps
    # learn() puts the scheduled value into the optimizer and reports it
    policy.env_steps = 5000
    out = policy.learn(tiny_rollout(policy))
    assert math.isclose(out.metrics["lr"], 5.5e-4, rel_tol=1e-6)
    assert math.isclose(policy.optimizers()["ac"].param_groups[0]["lr"], 5.5e-4, rel_tol=1e-6)


def test_dqn_epsilon_exponential_schedule():
    policy, _ = make_policy(
        "DQN",
        "algo_cfg.epsilon_start=1.0",
        "algo_cfg.epsilon_end=0.05",
        "algo_cfg.epsilon_decay=1000",
        "algo_cfg.learning_starts=0",
    )
    for steps, eps in [
        (0, 1.0),
        (1000, 0.05 + 0.95 * 0.36787944117),
        (3000, 0.0973),
        (100_000, 0.05),
    ]:
        policy.env_steps = steps
        assert math.isclose(policy.epsilon, eps, abs_tol=1e-4), steps
    # greedy when deterministic, ~epsilon random otherwise
    obs = np.zeros((2000, 4), np.float32)
    greedy = policy.act(obs, "greedy").actions
    assert len(set(greedy)) == 1
    policy.env_steps = 0  # epsilon 1: about half the actions differ from the greedy one
    frac = float(np.mean(policy.act(obs).actions != greedy))
    assert 0.4 < frac < 0.6
    policy.env_steps = 100_000  # epsilon 0.05: about 2.5% differ
    frac = float(np.mean(policy.act(obs).actions != greedy))
    assert 0.01 < frac < 0.05


def test_adaptive_kl_moves_lr_in_the_right_direction_within_bounds():
    policy, cfg = make_policy(
        "PPO", "algo_cfg.lr_schedule=adaptive_kl", "algo_cfg.target_kl=0.01", "algo_cfg.lr=1e-3"
    )
    policy.adapt_lr(0.03)  # > 2 * target: lower
    assert math.isclose(policy.current_lr(), 1e-3 / 1.5)
    policy.adapt_lr(0.01)  # within [0.5, 2] * target: keep
    assert math.isclose(policy.current_lr(), 1e-3 / 1.5)
    policy.adapt_lr(0.001)  # < 0.5 * target: raise
    assert math.isclose(policy.current_lr(), 1e-3)
    for _ in range(50):
        policy.adapt_lr(1.0)
    assert math.isclose(policy.current_lr(), 1e-5)  # floor lr / 100
    for _ in range(50):
        policy.adapt_lr(0.0)
    assert math.isclose(policy.current_lr(), 1e-2)  # ceiling lr * 10
    # the adapted lr is part of the checkpoint state
    other, _ = make_policy(
        "PPO", "algo_cfg.lr_schedule=adaptive_kl", "algo_cfg.target_kl=0.01", "algo_cfg.lr=1e-3"
    )
    other.load_state_dict(policy.state_dict())
    assert math.isclose(other.current_lr(), 1e-2)
    # and learn() applies it: with a tiny target every update lowers it
    tiny, _ = make_policy(
        "PPO", "algo_cfg.lr_schedule=adaptive_kl", "algo_cfg.target_kl=1e-9", "algo_cfg.lr=1e-3"
    )
    out = tiny.learn(tiny_rollout(tiny))
    assert math.isclose(out.metrics["lr"], 1e-3) and tiny.current_lr() < 1e-3


# ---- returns ---------------------------------------------------------------------------------
def test_gae_by_hand_with_truncation_and_termination():
    # one env, 5 steps: truncated at t=1 (bootstrap from V(final obs) = 7), terminated at t=3
    rewards = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]])
    values = np.array([[0.5], [1.0], [1.5], [2.0], [2.5]])
    next_values = np.array([[1.0], [7.0], [2.0], [9.0], [3.0]])
    terminated = np.array([[0], [0], [0], [1], [0]], bool)
    truncated = np.array([[0], [1], [0], [0], [0]], bool)
    # gamma 0.9, lambda 0.8: deltas = r + 0.9 * V' * (1 - term) - V
    #   d0 = 1 + 0.9*1 - 0.5 = 1.4     d1 = 2 + 0.9*7 - 1 = 7.3   d2 = 3 + 0.9*2 - 1.5 = 3.3
    #   d3 = 4 + 0 - 2 = 2.0           d4 = 5 + 0.9*3 - 2.5 = 5.2
    # A4 = 5.2; A3 = 2.0 (end); A2 = 3.3 + 0.72*2.0 = 4.74; A1 = 7.3 (end);
    # A0 = 1.4 + 0.72*7.3 = 6.656
    expected = np.array([[6.656], [7.3], [4.74], [2.0], [5.2]])
    adv = compute_gae(rewards, values, next_values, terminated, terminated | truncated, 0.9, 0.8)
    np.testing.assert_allclose(adv, expected, rtol=1e-6)
    # envs are independent columns
    two = lambda a: np.concatenate([a, a[::-1]], axis=1)  # noqa: E731
    adv2 = compute_gae(
        two(rewards),
        two(values),
        two(next_values),
        two(terminated),
        two(terminated | truncated),
        0.9,
        0.8,
    )
    np.testing.assert_allclose(adv2[:, 0], expected[:, 0], rtol=1e-6)


def step_batch(obs_t, rewards, terminated, truncated) -> StepBatch:
    T = len(rewards)
    obs = np.asarray(obs_t, np.float32).reshape(T, 1, 1)
    return StepBatch(
        obs,
        np.zeros((T, 1), np.int64),
        np.asarray(rewards, np.float32).reshape(T, 1),
        obs + 0.5,
        np.asarray(terminated, bool).reshape(T, 1),
        np.asarray(truncated, bool).reshape(T, 1),
    )


def test_n_step_returns_by_hand():
    adder = NStepAdder(3, 0.9)
    # obs t, next_obs t + 0.5; truncated at t=1, terminated at t=4, t=5 still open
    out = adder(step_batch(range(6), [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 1, 0], [0, 1, 0, 0, 0, 0]))
    # [t0,t1] truncated: 1 + 0.9*2 = 2.8, bootstrap 0.81 from next_obs 1.5; [t1]: 2, 0.9
    # [t2,t3,t4] terminated: 3 + 0.9*4 + 0.81*5 = 10.65, 0; [t3,t4]: 4 + 0.9*5 = 8.5, 0; [t4]: 5, 0
    np.testing.assert_allclose(out.obs[:, 0], [0, 1, 2, 3, 4])
    np.testing.assert_allclose(out.rewards, [2.8, 2.0, 10.65, 8.5, 5.0], rtol=1e-6)
    np.testing.assert_allclose(out.discounts, [0.81, 0.9, 0.0, 0.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(out.next_obs[:, 0], [1.5, 1.5, 4.5, 4.5, 4.5])
    # the open window [t5] carries over into the next batch: [t5,t6,t7] = 6 + 6.3 + 6.48
    out = adder(step_batch([6, 7], [7, 8], [0, 0], [0, 0]))
    np.testing.assert_allclose(out.rewards, [18.78], rtol=1e-6)
    np.testing.assert_allclose(out.discounts, [0.729], rtol=1e-6)
    assert out.obs[0, 0] == 5 and out.next_obs[0, 0] == 7.5
    # n = 1: one-step transitions, zero discount only on termination
    one = NStepAdder(1, 0.9)(step_batch(range(3), [1, 2, 3], [0, 1, 0], [1, 0, 0]))
    np.testing.assert_allclose(one.rewards, [1, 2, 3])
    np.testing.assert_allclose(one.discounts, [0.9, 0.0, 0.9])


# ---- gradient clipping -----------------------------------------------------------------------
def big_loss(policy) -> torch.Tensor:
    obs = policy.preprocess(np.ones((8, 4), np.float32) * 3)
    _, actor_out, value = policy.ac.heads(obs, value=True)
    return 1e4 * (value**2).mean() + 1e4 * actor_out.sum()


def test_grad_clip_by_norm_and_by_value():
    policy, _ = make_policy("PPO", "algo_cfg.max_grad_norm=0.1")
    params = list(policy.ac.parameters())
    pre = policy.optimize("ac", big_loss(policy))
    post = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
    assert pre > 1.0 and float(post) <= 0.1 + 1e-5

    policy, _ = make_policy("PPO", "algo_cfg.max_grad_norm=null", "algo_cfg.grad_clip_value=0.01")
    params = list(policy.ac.parameters())
    policy.optimize("ac", big_loss(policy))
    grads = torch.cat([p.grad.flatten() for p in params if p.grad is not None]).abs()
    assert float(grads.max()) <= 0.01 + 1e-9
    assert int((grads == 0.01).sum()) > 10  # many elements were cut to the bound

    policy, _ = make_policy("PPO", "algo_cfg.max_grad_norm=null")  # both off: untouched
    pre = policy.optimize("ac", big_loss(policy))
    biggest = max(float(p.grad.abs().max()) for p in policy.ac.parameters() if p.grad is not None)
    assert biggest > 1.0


# ---- PPO details -----------------------------------------------------------------------------
def test_value_clipping():
    old_v = torch.tensor([0.0, 0.0, 0.0])
    returns = torch.tensor([1.0, 1.0, -1.0])
    v = torch.tensor([0.5, 2.0, 0.05])
    # unclipped: 0.5 * mean(0.25, 1.0, 1.1025)
    expected = 0.5 * (0.25 + 1 + 1.1025) / 3
    assert math.isclose(float(value_loss(v, old_v, returns, None)), expected, rel_tol=1e-6)
    # clip 0.2: v_clipped = (0.2, 0.2, 0.05); max of the errors: (0.64, 1.0, 1.1025)
    assert math.isclose(
        float(value_loss(v, old_v, returns, 0.2)), 0.5 * (0.64 + 1.0 + 1.1025) / 3, rel_tol=1e-6
    )
    # the clipped branch stops the gradient when the value ran past the clip range
    v = torch.tensor([0.5], requires_grad=True)
    value_loss(v, torch.tensor([0.0]), torch.tensor([1.0]), 0.2).backward()
    assert float(v.grad) == 0.0  # the clipped error (0.64) wins, and it is flat in v
    v.grad = None
    value_loss(v, torch.tensor([0.0]), torch.tensor([-1.0]), 0.2).backward()
    assert float(v.grad) == pytest.approx(1.5)  # unclipped (v - R) = 1.5 wins


def tiny_rollout(policy, T: int = 16, N: int = 4, seed: int = 0) -> StepBatch:
    """A made-up CartPole-shaped rollout with the policy's own log-probs."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(0, 1, (T, N, 4)).astype(np.float32)
    actions, extras = policy.act(obs.reshape(T * N, 4))
    terminated = rng.random((T, N)) < 0.1
    return StepBatch(
        obs,
        actions.reshape(T, N),
        rng.normal(1, 1, (T, N)).astype(np.float32),
        rng.normal(0, 1, (T, N, 4)).astype(np.float32),
        terminated,
        np.zeros((T, N), bool),
        {"log_prob": extras["log_prob"].reshape(T, N)},
    )


def train_once(norm_adv: str, batch_size: int) -> np.ndarray:
    torch.manual_seed(0)
    policy, _ = make_policy(
        "PPO",
        f"algo_cfg.norm_adv={norm_adv}",
        "algo_cfg.n_epochs=1",
        f"algo_cfg.batch_size={batch_size}",
    )
    batch = tiny_rollout(policy)
    torch.manual_seed(1)
    policy.learn(batch)
    return torch.cat([p.detach().flatten() for p in policy.ac.parameters()]).numpy()


def test_advantage_standardization_per_minibatch_vs_batch():
    a = torch.tensor([1.0, 2.0, 3.0, 10.0])
    s = standardize(a)
    assert abs(float(s.mean())) < 1e-6 and math.isclose(float(s.std()), 1.0, rel_tol=1e-5)
    # one minibatch = the whole batch: per-minibatch and per-batch are the same update
    np.testing.assert_allclose(train_once("minibatch", 64), train_once("batch", 64), atol=1e-6)
    # several minibatches: statistics differ, so the updates do; off differs from both
    mb, whole, off = train_once("minibatch", 16), train_once("batch", 16), train_once("off", 16)
    assert not np.allclose(mb, whole, atol=1e-6)
    assert not np.allclose(off, whole, atol=1e-6) and not np.allclose(off, mb, atol=1e-6)


def gram(w: torch.Tensor) -> torch.Tensor:
    w = w.detach()
    return w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w


def test_orthogonal_init_gains():
    policy, _ = make_policy("PPO", "algo_cfg.ortho_init=true")
    ac = policy.ac
    hidden = [m for m in ac.actor_trunk.modules() if isinstance(m, torch.nn.Linear)]
    hidden += [m for m in ac.critic_trunk.modules() if isinstance(m, torch.nn.Linear)]
    for m in hidden:
        k = min(m.weight.shape)
        torch.testing.assert_close(gram(m.weight), 2.0 * torch.eye(k), atol=1e-5, rtol=0)
        assert torch.count_nonzero(m.bias) == 0
    torch.testing.assert_close(gram(ac.actor_head.weight), 1e-4 * torch.eye(2), atol=1e-7, rtol=0)
    torch.testing.assert_close(gram(ac.critic_head.weight), torch.eye(1), atol=1e-5, rtol=0)
    default, _ = make_policy("PPO")
    assert float(default.ac.actor_head.weight.detach().abs().max()) > 0.05  # PyTorch's default init
    # DQN: hidden sqrt(2), Q head and dueling value head gain 1
    dqn, _ = make_policy("DQN", "algo_cfg.ortho_init=true", "algo_cfg.dueling=true")
    torch.testing.assert_close(gram(dqn.q.head.weight), torch.eye(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(gram(dqn.q.value.weight), torch.eye(1), atol=1e-5, rtol=0)


def test_shared_trunk():
    shared, _ = make_policy("PPO", "algo_cfg.shared_trunk=true")
    separate, _ = make_policy("PPO")
    assert shared.ac.actor_trunk is shared.ac.critic_trunk
    n = lambda p: sum(x.numel() for x in p.ac.parameters())  # noqa: E731
    trunk = sum(x.numel() for x in separate.ac.critic_trunk.parameters())
    assert n(shared) == n(separate) - trunk
    # the value loss moves the shared trunk (and not the actor head)
    before = [p.detach().clone() for p in shared.ac.actor_trunk.parameters()]
    obs = shared.preprocess(np.ones((4, 4), np.float32))
    shared.optimize("ac", (shared.ac.value(obs) - 5).pow(2).mean())
    assert any(not torch.equal(b, p) for b, p in zip(before, shared.ac.actor_trunk.parameters()))
    # and it round-trips through state_dict
    other, _ = make_policy("PPO", "algo_cfg.shared_trunk=true")
    other.load_state_dict(shared.state_dict())
    assert other.ac.actor_trunk is other.ac.critic_trunk
    torch.testing.assert_close(other.ac.value(obs), shared.ac.value(obs))


def test_shared_trunk_values_come_with_the_actions():
    """With a shared trunk V(s) is kept from acting and V(s') reuses it where the episode goes on;
    both equal a full value pass over the rollout (truncations and terminations included)."""
    policy, cfg = make_policy("PPO", "algo_cfg.shared_trunk=true", "general_cfg.max_step=20")
    col = Collector(cfg, policy, 3, env_seeds(1, 3))
    batch = col.collect(64).batch
    col.close()
    assert batch.truncated.any() and batch.terminated.any() and "value" in batch.extras
    flat = lambda a: a.reshape(-1, *a.shape[2:])  # noqa: E731
    with torch.no_grad():
        full = lambda o: policy.ac.value(policy.preprocess(flat(o))).numpy().reshape(64, 3)  # noqa: E731
        np.testing.assert_allclose(batch.extras["value"], full(batch.obs), atol=1e-5)
        np.testing.assert_allclose(policy.next_values(batch), full(batch.next_obs), atol=1e-5)
    separate, _ = make_policy("PPO")
    assert "value" not in separate.act(flat(batch.obs[:1]), "explore").extras
    assert "value" not in policy.act(flat(batch.obs[:1]), "sample").extras


# ---- the Pendulum preset ---------------------------------------------------------------------
def test_pendulum_preset_loads():
    cfg = load_config(PRESET)
    assert cfg.general.algo_name == "PPO" and cfg.env.id == "Pendulum-v1"
    assert cfg.algo.obs_norm and cfg.general.reward_threshold == -250
    assert isinstance(gym.make("Pendulum-v1").action_space, gym.spaces.Box)


@pytest.mark.slow
def test_pendulum_preset_solves(tmp_path):
    from framework.cli import main

    rc = main(
        [
            "--yaml",
            PRESET,
            f"general_cfg.tasks_dir={tmp_path}",
            "general_cfg.progress=false",
            "general_cfg.save_fig=false",
        ]
    )
    assert rc == 0
    (summary_path,) = tmp_path.glob("*/results/summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["threshold_reached"], summary
    assert summary["best_eval"] >= -250
    assert summary["threshold_env_steps"] <= 200_000
