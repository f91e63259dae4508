"""REINFORCE and A2C (issue 12): the episode adder and buffer, Monte-Carlo advantages with and
without a baseline, RMSprop in A2C's checkpoint, shared trunks, and REINFORCE as a thin config.

Real code throughout: policies from the config loader, rollouts from real gymnasium envs,
checkpoints through real files.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algos.A2C.policy import EpisodeBuffer
from algos.base.optim import Adam, RMSprop
from algos.base.returns import compute_mc_returns
from config.base import UserError
from config.loader import load_config
from envs.vector import spaces_of
from framework.data.adders import EpisodeAdder
from framework.data.types import StepBatch
from framework.records.checkpoint import read_checkpoint, save_checkpoint
from framework.runtime.collector import Collector
from framework.runtime.seeding import env_seeds
from framework.runtime.setup import build_policy, policy_class


def make_policy(algo: str, *overrides: str, env_id: str = "CartPole-v1", seed: int = 1):
    cfg = load_config(None, [f"general_cfg.algo_name={algo}", f"env_cfg.id={env_id}", *overrides])
    return build_policy(cfg, *spaces_of(cfg), seed=seed), cfg


def step_batch(ends: np.ndarray, start: int, truncated: np.ndarray | None = None) -> StepBatch:
    """[T, N] steps numbered from ``start`` (obs = step number, per env 100 * env + t)."""
    T, N = ends.shape
    t = np.arange(start, start + T)[:, None] + 100 * np.arange(N)[None, :]
    trunc = np.zeros_like(ends) if truncated is None else truncated
    return StepBatch(
        obs=t[..., None].astype(np.float32),
        actions=t % 2,
        rewards=t.astype(np.float32),
        next_obs=(t + 1)[..., None].astype(np.float32),
        terminated=ends & ~trunc,
        truncated=trunc,
        extras={"log_prob": -t.astype(np.float32)},
        learn_rewards=t.astype(np.float32) / 10,
    )


def test_episode_adder_emits_whole_episodes_once_across_phases():
    adder = EpisodeAdder(2)
    ends1 = np.zeros((4, 2), bool)
    ends1[1, 0] = True  # env 0: episode 0..1 ends in phase 1; env 1 runs on
    out1 = adder(step_batch(ends1, 0))
    np.testing.assert_array_equal(out1.obs[:, 0, 0], [0, 1])
    assert out1.rewards.shape == (2, 1) and out1.extras["log_prob"].shape == (2, 1)

    ends2 = np.zeros((4, 2), bool)
    ends2[0, 1] = True  # env 1: episode 100..104 ends (4 carried steps + 1)
    ends2[2, 0] = True  # env 0: episode 2..6 ends (2 carried + 3)
    trunc2 = np.zeros((4, 2), bool)
    trunc2[0, 1] = True  # a time-limit end is an episode end too
    out2 = adder(step_batch(ends2, 4, trunc2))
    # env 0's episode, then env 1's, each whole and in time order
    np.testing.assert_array_equal(out2.obs[:, 0, 0], [2, 3, 4, 5, 6, 100, 101, 102, 103, 104])
    np.testing.assert_array_equal(out2.next_obs[:, 0, 0], out2.obs[:, 0, 0] + 1)
    np.testing.assert_array_equal(out2.extras["log_prob"][:, 0], -out2.obs[:, 0, 0])
    np.testing.assert_allclose(out2.learn_rewards[:, 0], out2.obs[:, 0, 0] / 10)
    ended = out2.terminated[:, 0] | out2.truncated[:, 0]
    np.testing.assert_array_equal(np.flatnonzero(ended), [4, 9])  # each episode's last step
    assert out2.truncated[9, 0] and not out2.terminated[9, 0]

    # nothing finished: an empty stream; the unfinished steps survive a state round trip
    state = adder.state_dict()
    resumed = EpisodeAdder(2)
    resumed.load_state_dict(state)
    assert adder(step_batch(np.zeros((2, 2), bool), 8)).n_steps == 0
    ends3 = np.ones((1, 2), bool)
    out3 = resumed(step_batch(np.zeros((2, 2), bool), 8))
    assert out3.n_steps == 0
    out3 = resumed(step_batch(ends3, 10))
    np.testing.assert_array_equal(out3.obs[:, 0, 0], [7, 8, 9, 10, 105, 106, 107, 108, 109, 110])


def test_episode_buffer_waits_for_episodes_and_joins_along_time():
    adder = EpisodeAdder(2)
    ends = np.zeros((3, 2), bool)
    ends[2, 0] = True
    buffer = EpisodeBuffer(min_episodes=2)
    buffer.add(adder(step_batch(ends, 0)))
    assert not buffer.status().ready and len(buffer) == 3
    buffer.add(adder(step_batch(np.zeros((3, 2), bool), 3)))  # nothing finished: not stored
    assert len(buffer.parts) == 1
    ends2 = np.zeros((3, 2), bool)
    ends2[0, 1] = True
    buffer.add(adder(step_batch(ends2, 6)))  # one more episode of another length
    status = buffer.status()
    assert status.ready and status.kind == "rollout" and status.size == 3 + 7
    batch = buffer.sample()
    assert batch.obs.shape == (10, 1, 1) and batch.extras["log_prob"].shape == (10, 1)
    assert not buffer.status().ready and len(buffer) == 0


def test_reinforce_is_a_thin_config_over_a2c():
    assert policy_class("REINFORCE") is policy_class("A2C")
    policy, cfg = make_policy("REINFORCE")
    assert policy.name == "REINFORCE" and cfg.algo.episodes and cfg.algo.advantage == "mc"
    assert isinstance(policy.make_adder(4), EpisodeAdder)
    assert isinstance(policy.make_buffer(2), EpisodeBuffer)
    with pytest.raises(UserError, match="algo_cfg.baseline"):
        load_config(
            None,
            [
                "general_cfg.algo_name=REINFORCE",
                "algo_cfg.baseline=false",
                "algo_cfg.advantage=gae",
            ],
        )


def collect(policy, cfg, phases: int) -> StepBatch:
    collector = Collector(cfg, policy, 4, env_seeds(1, 4))
    buffer = policy.make_buffer()
    for _ in range(phases):
        buffer.add(collector.collect(policy.collect_steps(4)).data)
    collector.close()
    assert buffer.status().ready
    return buffer.sample()


@pytest.mark.parametrize("baseline", [False, True])
def test_reinforce_advantages_are_monte_carlo_returns(baseline):
    policy, cfg = make_policy(
        "REINFORCE", f"algo_cfg.baseline={str(baseline).lower()}", "algo_cfg.gamma=0.9"
    )
    batch = collect(policy, cfg, 3)
    assert (batch.terminated | batch.truncated)[-1].all()  # whole episodes only
    values = np.random.default_rng(0).normal(size=batch.rewards.shape).astype(np.float32)
    next_values = np.random.default_rng(1).normal(size=batch.rewards.shape).astype(np.float32)
    adv, returns = policy.advantages(batch, values, next_values)
    # by hand: discounted sums of each episode's remaining rewards (CartPole ends terminate)
    expected = np.zeros(len(batch.rewards))
    running = 0.0
    for t in reversed(range(len(batch.rewards))):
        if batch.terminated[t, 0]:
            running = 0.0
        running = batch.rewards[t, 0] + 0.9 * running
        expected[t] = running
    np.testing.assert_allclose(returns[:, 0], expected, rtol=1e-5)
    np.testing.assert_allclose(adv, returns - values if baseline else returns, rtol=1e-5)
    out = policy.learn(batch)
    assert ("v_loss" in out.metrics) == baseline and np.isfinite(out.metrics["pg_loss"])


def test_a2c_rmsprop_state_is_checkpointed(tmp_path):
    policy, cfg = make_policy("A2C", "algo_cfg.shared_trunk=true")
    assert isinstance(policy.optimizers()["ac"], RMSprop)
    assert policy.ac.critic_trunk is policy.ac.actor_trunk  # shared trunk
    before = [p.detach().clone() for p in policy.ac.parameters()]
    metrics = policy.learn(collect(policy, cfg, 1)).metrics
    assert {"pg_loss", "v_loss", "entropy", "lr"} <= set(metrics)
    assert all(not torch.equal(a, b) for a, b in zip(before, policy.ac.parameters()))
    path = save_checkpoint(tmp_path / "a2c.pt", {"policy": policy.state_dict()})
    other, _ = make_policy("A2C", "algo_cfg.shared_trunk=true", seed=5)
    other.load_state_dict(read_checkpoint(path)["policy"])
    for a, b in zip(policy.optimizers()["ac"].square_avg, other.optimizers()["ac"].square_avg):
        torch.testing.assert_close(a, b)
    adam, _ = make_policy("A2C", "algo_cfg.optimizer=adam")
    assert isinstance(adam.optimizers()["ac"], Adam)


def test_a2c_n_step_returns_bootstrap_at_the_rollout_end():
    policy, cfg = make_policy("A2C", "algo_cfg.gamma=0.5", "algo_cfg.n_steps=3")
    batch = collect(policy, cfg, 1)
    assert batch.rewards.shape == (3, 4)
    values = np.zeros((3, 4), np.float32)
    next_values = np.zeros((3, 4), np.float32)  # V(s_t+1) = values[t + 1] inside the rollout
    next_values[2] = 8.0  # the value the rollout's end bootstraps from
    _, returns = policy.advantages(batch, values, next_values)
    # CartPole rewards are 1; no episode ends in 3 steps: G = 1 + .5 + .25 + .125 * 8
    np.testing.assert_allclose(returns[0], 2.75)
    np.testing.assert_allclose(returns[2], 1 + 0.5 * 8)
    mc = compute_mc_returns(batch.rewards, next_values, batch.terminated, batch.truncated, 0.5)
    np.testing.assert_allclose(returns, mc)  # lambda 1 = n-step Monte-Carlo with bootstrap


def test_episode_adder_holds_finished_episodes_until_min_episodes(tmp_path):
    """What waits for an update is in the adder's state (saved with the collector at every loop
    boundary), as plain arrays that go through the checkpoint archive."""
    from framework.records.archive import read_archive, write_archive

    adder = EpisodeAdder(2, min_episodes=3)
    ends = np.zeros((4, 2), bool)
    ends[1, 0] = ends[3, 1] = True  # two episodes: held
    assert adder(step_batch(ends, 0)).n_steps == 0
    state = read_archive(write_archive(tmp_path / "adder.npz", adder.state_dict()))
    resumed = EpisodeAdder(2, min_episodes=3)
    resumed.load_state_dict(state)
    ends2 = np.zeros((2, 2), bool)
    ends2[1, 0] = True  # the third: all three out, in the order they were finished
    for a in (adder, resumed):
        out = a(step_batch(ends2, 4))
        np.testing.assert_array_equal(out.obs[:, 0, 0], [0, 1, 100, 101, 102, 103, 2, 3, 4, 5])
        assert int((out.terminated | out.truncated).sum()) == 3 and a.held is None


def test_episode_buffer_state_is_plain_and_joins_in_collector_order(tmp_path):
    from framework.records.archive import read_archive, write_archive

    ends = np.ones((1, 1), bool)
    buffer = EpisodeBuffer(min_episodes=2)
    buffer.add(EpisodeAdder(1)(step_batch(ends, 7)), part=1)
    buffer.add(EpisodeAdder(1)(step_batch(ends, 3)), part=0)
    restored = EpisodeBuffer(min_episodes=2)
    restored.load_state_dict(read_archive(write_archive(tmp_path / "b.npz", buffer.state_dict())))
    for b in (buffer, restored):
        np.testing.assert_array_equal(b.sample().obs[:, 0, 0], [3, 7])


def test_gsde_holds_its_exploration_matrices_and_acts_from_the_state_dependent_gaussian():
    """gSDE: the noise of ``explore`` is the actor's features times per-env matrices drawn
    every ``sde_sample_freq`` steps, and its log-prob (acting and learning) is the Gaussian
    with std sqrt(h^2 @ exp(log_std)^2); ``greedy`` is the mean, ``sample`` draws afresh."""
    policy, _ = make_policy(
        "A2C", "algo_cfg.use_sde=true", "algo_cfg.sde_sample_freq=3", env_id="Pendulum-v1"
    )
    assert policy.ac.log_std.shape == (64, 1)  # [features, actions]
    obs = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    obs[1] = obs[0]
    raw = [policy.act(obs, "explore").extras["raw_action"] for _ in range(4)]
    for r in raw[1:3]:
        np.testing.assert_array_equal(r, raw[0])  # held for 3 steps
    assert not np.allclose(raw[3], raw[0])  # then drawn anew
    assert not np.allclose(raw[0][0], raw[0][1])  # one matrix per env
    x = policy.preprocess(obs)
    with torch.no_grad():
        h, mean, _ = policy.ac.heads(x, value=False)
        std = torch.sqrt(h.pow(2) @ policy.ac.log_std.exp().pow(2) + 1e-6)
        expected = torch.distributions.Normal(mean, std).log_prob(torch.as_tensor(raw[3])).sum(-1)
        logp, entropy = policy.log_prob_entropy(x, torch.as_tensor(raw[3]))
    out = policy.act(obs, "explore")  # the 5th step of the second matrices' period
    torch.testing.assert_close(torch.as_tensor(out.extras["log_prob"]), expected)
    torch.testing.assert_close(logp, expected)
    torch.testing.assert_close(entropy, torch.distributions.Normal(mean, std).entropy().sum(-1))
    np.testing.assert_allclose(policy.act(obs, "greedy").actions, mean.clamp(-2, 2).numpy())
    a, b = (policy.act(obs, "sample").extras["raw_action"] for _ in range(2))
    assert not np.allclose(a, b)


def test_gsde_matrices_are_checkpointed_and_refused_for_discrete_actions(tmp_path):
    policy, _ = make_policy("PPO", "algo_cfg.use_sde=true", env_id="Pendulum-v1")
    obs = np.zeros((2, 3), np.float32)
    policy.act(obs, "explore")
    path = save_checkpoint(tmp_path / "ppo.pt", {"policy": policy.state_dict()})
    other, _ = make_policy("PPO", "algo_cfg.use_sde=true", env_id="Pendulum-v1", seed=7)
    other.load_state_dict(read_checkpoint(path)["policy"])
    for _ in range(3):  # the same held matrices (PPO draws them once per 128-step rollout)
        np.testing.assert_array_equal(
            policy.act(obs + 1, "explore").extras["raw_action"],
            other.act(obs + 1, "explore").extras["raw_action"],
        )
    with pytest.raises(UserError, match="use_sde needs Box actions"):
        make_policy("A2C", "algo_cfg.use_sde=true")
    with pytest.raises(UserError, match="sde_sample_freq"):
        make_policy("A2C", "algo_cfg.sde_sample_freq=4", env_id="Pendulum-v1")
