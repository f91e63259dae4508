"""The value-based family: heads (C51's projection, the quantile Huber loss, IQN), noisy layers,
dueling per atom, the thin variants, config cross-checks, and the tabular methods (Sarsa's
next action across collection phases, Expected Sarsa's expectation, the value map)."""

from __future__ import annotations

import importlib
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import ROOT, run_main, summary

from algos.base.networks import NoisyLinear, QHead, noisy_layers
from algos.DQN.config import AlgoConfig
from algos.DQN.heads import CategoricalHead, ImplicitHead, quantile_huber
from config.loader import ConfigError, load_config
from envs.vector import spaces_of
from framework.data.types import StepBatch
from framework.runtime.setup import build_policy, policy_class

VARIANTS = ("DoubleDQN", "DuelingDQN", "NoisyDQN", "PER_DQN", "C51", "QRDQN", "IQN", "Rainbow")


def make(algo: str, *overrides: str, env_id: str = "CartPole-v1"):
    cfg = load_config(None, [f"general_cfg.algo_name={algo}", f"env_cfg.id={env_id}", *overrides])
    return build_policy(cfg, *spaces_of(cfg), seed=1), cfg


# ---- heads -----------------------------------------------------------------------------------
def test_categorical_projection_by_hand():
    head = CategoricalHead(AlgoConfig(n_atoms=5, v_min=0.0, v_max=4.0), 2, torch.device("cpu"))
    certain = torch.full((3, 5), -1e9)
    certain[:, 2] = 0.0  # all mass on the atom z = 2
    target = head.target(
        certain,
        torch.tensor([0.5, 10.0, 1.0]),  # 2.5 (between two atoms), clipped to 4, 3 (on an atom)
        torch.tensor([1.0, 1.0, 0.5]),  # third: 1 + 0.5 * 2 = 2 exactly
    )
    expected = torch.tensor(
        [[0, 0, 0.5, 0.5, 0], [0, 0, 0, 0, 1.0], [0, 0, 1.0, 0, 0]], dtype=torch.float32
    )
    torch.testing.assert_close(target, expected)
    # a terminal transition (discount 0) puts everything on the reward
    done = head.target(torch.randn(1, 5), torch.tensor([1.25]), torch.tensor([0.0]))
    torch.testing.assert_close(done, torch.tensor([[0, 0.75, 0.25, 0, 0]]))


def test_categorical_projection_matches_the_matrix_form_and_keeps_mass():
    cfg = AlgoConfig(n_atoms=21, v_min=-3.0, v_max=7.0)
    head = CategoricalHead(cfg, 2, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(256, 21, generator=gen)
    rewards = torch.randn(256, generator=gen) * 4
    discounts = torch.rand(256, generator=gen) * (torch.rand(256, generator=gen) > 0.2)
    target = head.target(logits, rewards, discounts)
    z = head.support
    shifted = (rewards[:, None] + discounts[:, None] * z).clamp(cfg.v_min, cfg.v_max)
    weight = (1 - (shifted[:, None, :] - z[None, :, None]).abs() / head.delta).clamp(0, 1)
    torch.testing.assert_close(target, (weight * logits.softmax(-1)[:, None, :]).sum(-1))
    torch.testing.assert_close(target.sum(-1), torch.ones(256))


def test_quantile_huber_by_hand():
    # one quantile at tau 0.5, value 0, against one target sample 2: |u| = 2 > kappa = 1:
    # Huber = 1 * (2 - 0.5) = 1.5, weight |0.5 - 0| = 0.5
    loss = quantile_huber(torch.zeros(1, 1), torch.tensor([[0.5]]), torch.tensor([[2.0]]), 1.0)
    torch.testing.assert_close(loss, torch.tensor([0.75]))
    # tau 0.9 below its target weighs 0.9, above it 0.1 (u = -0.5: Huber 0.125)
    cur, taus = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.9, 0.9]])
    loss = quantile_huber(cur, taus, torch.tensor([[0.5]]), 1.0)
    torch.testing.assert_close(loss, torch.tensor([0.9 * 0.125 + 0.1 * 0.125]))
    # kappa scales: Huber_kappa(u) / kappa
    loss = quantile_huber(torch.zeros(1, 1), torch.tensor([[0.5]]), torch.tensor([[2.0]]), 4.0)
    torch.testing.assert_close(loss, torch.tensor([0.5 * 0.5 * 4.0 / 4.0]))


def test_quantile_regression_finds_the_quantiles():
    """Minimizing the loss over samples of U(0, 10) puts quantile i near 10 * tau_i (with a
    small kappa; the Huber part pulls quantiles towards the mean within kappa)."""
    taus = ((torch.arange(5) + 0.5) / 5).view(1, 5)
    q = torch.zeros(1, 5, requires_grad=True)
    opt = torch.optim.Adam([q], lr=0.02)
    gen = torch.Generator().manual_seed(0)
    for _ in range(2000):
        samples = torch.rand(1, 256, generator=gen) * 10
        opt.zero_grad()
        quantile_huber(q, taus, samples, 0.05).sum().backward()
        opt.step()
    torch.testing.assert_close(q.detach(), 10 * taus, atol=0.25, rtol=0)


def test_iqn_greedy_fractions_are_fixed_and_exploring_ones_sampled():
    policy, cfg = make("IQN", "algo_cfg.n_tau_act=8", "algo_cfg.n_tau=4")
    head = policy.head
    assert isinstance(head, ImplicitHead)
    obs = policy.preprocess(np.zeros((3, 4), np.float32))
    greedy = head.forward(policy.q, obs, "greedy")
    assert greedy.values.shape == (3, 2, 8)
    torch.testing.assert_close(greedy.taus[0], (torch.arange(8) + 0.5) / 8)
    learn = head.forward(policy.q, obs, "learn")
    assert learn.values.shape == (3, 2, 4) and not torch.equal(learn.taus[0], learn.taus[1])


def test_dueling_is_per_atom():
    torch.manual_seed(0)
    head = QHead(8, n_actions=3, atoms=5, dueling=True)
    h = torch.randn(4, 8)
    q = head(h)
    assert q.shape == (4, 3, 5)
    adv = head.head(h).view(4, 3, 5)
    # Q - V is the advantage centred over actions, separately for every atom
    torch.testing.assert_close(q - head.value(h)[:, None, :], adv - adv.mean(1, keepdim=True))


# ---- noisy nets --------------------------------------------------------------------------------
def test_noisy_linear_factorized_noise_and_eval_means():
    torch.manual_seed(0)
    layer = NoisyLinear(6, 3, sigma_init=0.5)
    x = torch.randn(2, 6)
    assert torch.allclose(layer.bias_sigma, torch.full((3,), 0.5 / 6**0.5))
    out1 = layer(x)
    layer.reset_noise()
    out2 = layer(x)
    assert not torch.allclose(out1, out2)  # a new noise sample
    layer.eval()
    torch.testing.assert_close(layer(x), x @ layer.weight_mu.T + layer.bias_mu)
    # factorized: the weight noise is an outer product (rank 1)
    eps_in, eps_out = layer.eps[:6], layer.eps[6:]
    noise = (layer.weight_sigma * torch.outer(eps_out, eps_in)) / layer.weight_sigma
    assert torch.linalg.matrix_rank(noise) == 1
    assert set(layer.state_dict()) == {"weight_mu", "weight_sigma", "bias_mu", "bias_sigma"}


def test_noisy_dqn_explores_by_noise_and_acts_on_means_when_greedy():
    policy, cfg = make("NoisyDQN", "algo_cfg.learning_starts=0")
    assert policy.stochastic and policy.exploration == "noisy" and policy.epsilon == 0.0
    assert len(noisy_layers(policy.q)) == 1  # the output layer (no dueling)
    obs = np.random.default_rng(0).normal(size=(512, 4)).astype(np.float32)
    greedy = policy.act(obs, "greedy").actions
    np.testing.assert_array_equal(greedy, policy.act(obs, "greedy").actions)
    sampled = [policy.act(obs, "sample").actions for _ in range(4)]
    assert any((s != greedy).any() for s in sampled)  # noise changes some decisions
    assert any((a != b).any() for a, b in zip(sampled, sampled[1:]))  # redrawn per act
    # noisy_linear in a layer list
    policy, _ = make(
        "DQN",
        "algo_cfg.value_layers=[{layer_type: noisy_linear, layer_dim: [16], sigma_init: 0.2}]",
    )
    assert len(noisy_layers(policy.q)) == 1 and policy.stochastic


def test_rainbow_composes_the_switches():
    policy, cfg = make("Rainbow")
    a = cfg.algo
    assert (a.head, a.dueling, a.noisy, a.n_step, a.buffer_type, a.double_dqn) == (
        "categorical",
        True,
        True,
        3,
        "PER_QUE",
        True,
    )
    assert len(noisy_layers(policy.q)) == 2  # advantage and value outputs


@pytest.mark.parametrize("name", VARIANTS)
def test_variants_are_thin_configs(name):
    folder = ROOT / "algos" / name
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".py") == [
        "__init__.py",
        "config.py",
    ]
    module = importlib.import_module(f"algos.{name}.config")
    assert module.POLICY == "DQN" and issubclass(module.AlgoConfig, AlgoConfig)
    assert policy_class(name) is policy_class("DQN")


@pytest.mark.parametrize(
    ("overrides", "key", "words"),
    [
        (
            ["general_cfg.algo_name=NoisyDQN", "algo_cfg.epsilon_start=0.5"],
            "epsilon_start",
            "noisy",
        ),
        (["algo_cfg.noisy=true", "algo_cfg.epsilon_end=0.01"], "epsilon_end", "noisy"),
        (["general_cfg.algo_name=C51", "algo_cfg.loss=huber"], "loss", "categorical"),
        (["general_cfg.algo_name=QRDQN", "algo_cfg.loss=mse"], "loss", "quantile"),
        (["general_cfg.algo_name=C51", "algo_cfg.v_min=10", "algo_cfg.v_max=10"], "v_min", "v_max"),
        (["general_cfg.algo_name=C51", "algo_cfg.n_atoms=1"], "n_atoms", ">= 2"),
        (["algo_cfg.n_quantiles=0"], "n_quantiles", ">= 1"),
        (["algo_cfg.n_tau=0"], "n_tau", ">= 1"),
        (["algo_cfg.kappa=0"], "kappa", "> 0"),
        (["algo_cfg.sigma_init=0"], "sigma_init", "> 0"),
        (
            ["algo_cfg.value_layers=[{layer_type: noisy_linear, layer_dim: [8], sigma_init: -1}]"],
            "value_layers[0].sigma_init",
            "> 0",
        ),
    ],
)
def test_cross_checks_are_one_line_errors(overrides, key, words):
    with pytest.raises(ConfigError) as info:
        load_config(None, overrides)
    message = str(info.value)
    assert "\n" not in message and f"algo_cfg.{key}" in message and words in message, message


def test_noisy_without_epsilon_keys_and_scalar_loss_are_fine():
    assert load_config(None, ["algo_cfg.noisy=true"]).algo.epsilon_range == (0.0, 0.0)
    assert load_config(None, ["algo_cfg.loss=mse"]).algo.loss == "mse"
    assert load_config(None, []).algo.epsilon_range == (1.0, 0.04)


@pytest.mark.parametrize("name", ["C51", "QRDQN", "IQN", "Rainbow"])
def test_distributional_update_returns_loss_as_priority(name):
    policy, _ = make(name, "algo_cfg.batch_size=16", "algo_cfg.buffer_type=PER_QUE")
    from framework.data.types import ReplayBatch

    rng = np.random.default_rng(0)
    obs = rng.normal(size=(16, 4)).astype(np.float32)
    batch = ReplayBatch(
        obs,
        rng.integers(0, 2, 16),
        np.ones(16, np.float32),
        obs,
        np.full(16, 0.99, np.float32),
        np.ones(16, np.float32),
    )
    out = policy.learn(batch)
    assert out.priorities.shape == (16,) and (out.priorities > 0).all()
    assert np.isclose(out.priorities.mean(), out.metrics["loss"], rtol=1e-5)


# ---- tabular -------------------------------------------------------------------------------------
def step_batch(obs, actions, rewards, next_obs, terminated, truncated) -> StepBatch:
    def arr(x, dtype):
        return np.asarray(x, dtype).reshape(-1, 1)

    return StepBatch(
        arr(obs, np.int64),
        arr(actions, np.int64),
        arr(rewards, np.float32),
        arr(next_obs, np.int64),
        arr(terminated, bool),
        arr(truncated, bool),
    )


def tabular(name: str, **cfg):
    module = importlib.import_module(f"algos.{name}.config")
    policy_cls = policy_class(name)
    config = module.AlgoConfig(**{"epsilon_start": 0.0, "epsilon_end": 0.0, **cfg})
    return policy_cls(config, gym.spaces.Discrete(4), gym.spaces.Discrete(2), seed=0)


def test_sarsa_uses_the_next_action_taken_across_phases():
    policy = tabular("Sarsa", alpha=1.0, gamma=0.5)
    policy.table[:] = [[0, 10], [4, 8], [0, 0], [6, 2]]
    adder = policy.make_adder(1)
    # phase 1: s0 -a1-> s1 ; phase 2: s1 -a0-> s3 (truncated) ; phase 3: s2 -a0-> s0 (terminal)
    first = adder(step_batch([0], [1], [1.0], [1], [False], [False]))
    assert not first.extras["valid"].any()  # a placeholder: s0's step waits for s1's action
    policy.learn(first)
    assert policy.table[0, 1] == 10
    second = adder(step_batch([1], [0], [2.0], [3], [False], [True]))
    np.testing.assert_array_equal(second.extras["next_actions"], [[0]])
    policy.learn(second)
    # target uses the action taken next at s1 (0, Q = 4), not the greedy one (1, Q = 8)
    assert policy.table[0, 1] == 1.0 + 0.5 * 4
    third = adder(step_batch([2], [0], [5.0], [0], [True], [False]))
    policy.learn(third)
    # truncated at s3: no action was taken there; the policy's own choice (greedy: 0, Q = 6)
    assert policy.table[1, 0] == 2.0 + 0.5 * 6
    assert adder.carry.obs[0, 0] == 2  # the terminal step waits like any other


def test_expected_sarsa_takes_the_epsilon_greedy_expectation():
    policy = tabular("ExpectedSarsa", alpha=1.0, gamma=1.0, epsilon_start=0.2, epsilon_end=0.2)
    policy.table[:] = [[0, 0], [4, 8], [0, 0], [0, 0]]
    np.testing.assert_allclose(policy.policy_probs(np.array([1, 0])), [[0.1, 0.9], [0.5, 0.5]])
    policy.learn(step_batch([0], [0], [1.0], [1], [False], [False]))
    assert np.isclose(policy.table[0, 0], 1.0 + 0.1 * 4 + 0.9 * 8)


def test_q_learning_shares_one_update_between_envs_in_the_same_state_action():
    policy = tabular("QLearning", alpha=0.5, gamma=1.0)
    batch = StepBatch(
        np.array([[0, 0, 0]]),
        np.array([[1, 1, 0]]),
        np.array([[2.0, 4.0, 1.0]], np.float32),
        np.array([[3, 3, 3]]),
        np.array([[True, True, True]]),
        np.array([[False, False, False]]),
    )
    policy.learn(batch)
    assert policy.table[0, 1] == 0.5 * 3.0 and policy.table[0, 0] == 0.5  # mean TD error


def test_value_map_is_drawn_for_grid_worlds_in_train_and_test(tasks):
    run = run_main(
        tasks,
        "--yaml",
        str(ROOT / "config" / "presets" / "CliffWalking-v1_QLearning.yaml"),
        "general_cfg.max_env_steps=800",
        "general_cfg.online_eval_fre=800",
    )
    assert (run / "figs" / "values.png").stat().st_size > 1000
    test = run_main(
        tasks,
        "general_cfg.mode=test",
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={run}",
        "general_cfg.max_step=30",
    )
    assert (test / "figs" / "values.png").is_file()
    # not a grid world: no value map
    taxi = run_main(
        tasks,
        "general_cfg.algo_name=QLearning",
        "env_cfg.id=Taxi-v4",
        "general_cfg.max_env_steps=200",
        "general_cfg.online_eval_fre=200",
        "general_cfg.online_eval_episode=1",
        "general_cfg.max_step=20",
    )
    assert (taxi / "figs" / "rewards.png").is_file() and not (taxi / "figs" / "values.png").exists()
    assert Path(summary(taxi)["env_id"] or "") == Path("Taxi-v4")


# ---- resume ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "preset, steps, eval_fre",
    [("CliffWalking-v1_Sarsa", 4000, 512), ("CartPole-v1_Rainbow", 3000, 500)],
)
def test_a_resumed_run_continues_the_same_curve(tmp_path, preset, steps, eval_fre):
    """One run == half of it plus a resume: Sarsa's carried step (the next action's pair) and
    Rainbow's prioritized buffer, n-step carry and noise RNG travel through last.pt as plain
    arrays."""
    from test_resume import EPISODE_KEYS, EVAL_KEYS, rows, train

    common = [
        "--yaml",
        str(ROOT / "config" / "presets" / f"{preset}.yaml"),
        "general_cfg.reward_threshold=null",
        f"general_cfg.online_eval_fre={eval_fre}",
        "general_cfg.online_eval_episode=2",
        f"general_cfg.schedule_steps={steps}",
    ]
    whole = train(tmp_path, *common, f"general_cfg.max_env_steps={steps}")
    first = train(tmp_path, *common, f"general_cfg.max_env_steps={steps // 2}")
    second = train(
        tmp_path,
        *common,
        f"general_cfg.max_env_steps={steps}",
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={first}",
    )
    for name, keys in (("episodes.csv", EPISODE_KEYS), ("evals.csv", EVAL_KEYS)):
        one = rows(whole / "results" / name, keys)
        two = rows(first / "results" / name, keys) + rows(second / "results" / name, keys)
        assert len(one) >= 3 and one == two, name


def test_noisy_noise_of_an_exact_zero_draw_is_zero_not_nan(monkeypatch):
    """f(0) = 0: the old x / sqrt(|x|) gave NaN for a draw of exactly 0 (CartPole NoisyDQN seed 1
    hit one at update 2453 and stopped with non-finite gradients)."""
    layer = NoisyLinear(3, 2)
    monkeypatch.setattr(
        torch.Tensor,
        "normal_",
        lambda self: self.zero_().add_(torch.tensor([0.0, 4.0, -4.0, 0.0, 1.0])),
    )
    layer.reset_noise()
    assert layer.eps.tolist() == [0.0, 2.0, -2.0, 0.0, 1.0]
    assert torch.isfinite(layer(torch.ones(1, 3))).all()


def test_a_tabular_run_never_imports_torch(tmp_path):
    """Tabular methods are numpy only: a whole run (build, train, checkpoint, evaluate) leaves
    torch unimported, which saves seconds per launch (launch to exit is what users wait for)."""
    import subprocess
    import sys

    code = (
        "import sys; from framework.cli import main; "
        "rc = main(['--yaml', 'config/presets/FrozenLake-v1_QLearning.yaml', "
        f"'general_cfg.max_env_steps=2000', 'general_cfg.tasks_dir={tmp_path}', "
        "'general_cfg.save_fig=false', 'general_cfg.progress=false']); "
        "print('torch' in sys.modules, rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.stdout.strip().splitlines()[-1] == "False 0", proc.stdout + proc.stderr
