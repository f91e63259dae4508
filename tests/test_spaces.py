"""Spaces and the pieces around them: observation encoders, the action scaler, Dict
flattening, final observations, networks on images, the tabular policy, buffers' state and
the purity of ``updates_due``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from algos.base.config import LayerSpec, TabularConfig, mlp
from algos.base.encoders import ObsEncoder
from algos.base.networks import build_trunk
from algos.base.scaler import ActionScaler
from algos.base.spaces import UnsupportedSpace
from algos.base.tabular import TabularPolicy
from config.base import UserError
from config.loader import ConfigError, load_config
from envs.vector import make_vector, spaces_of, true_next_obs
from framework.data.buffers import PrioritizedReplayBuffer, ReplayBuffer
from framework.data.types import BufferStatus, Transitions
from framework.runtime.clock import Clock, Counters
from framework.runtime.setup import build_policy, resolve_device

CPU = torch.device("cpu")


def test_image_encoder_keeps_uint8_until_the_device_and_orders_channels():
    frames = np.random.default_rng(0).integers(0, 256, (5, 84, 80, 3), dtype=np.uint8)
    enc = ObsEncoder(gym.spaces.Box(0, 255, (84, 80, 3), np.uint8), CPU)
    assert enc.kind == "image" and enc.shape == (3, 84, 80)
    out = enc(frames)
    assert out.dtype == torch.float32 and out.shape == (5, 3, 84, 80)
    torch.testing.assert_close(out, torch.as_tensor(frames).permute(0, 3, 1, 2).float() / 255)
    stack = ObsEncoder(gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), CPU)  # frame stack
    assert stack.shape == (4, 84, 84)
    x = np.full((2, 4, 84, 84), 255, np.uint8)
    assert stack(x).shape == (2, 4, 84, 84) and float(stack(x).max()) == 1.0
    gray = ObsEncoder(gym.spaces.Box(0, 255, (84, 84), np.uint8), CPU)
    assert gray.shape == (1, 84, 84) and gray(np.zeros((3, 84, 84), np.uint8)).shape == (
        3,
        1,
        84,
        84,
    )


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.Box(0, 255, (4, 84, 84), np.uint8),  # a frame stack
        gym.spaces.Box(0, 255, (84, 80, 3), np.uint8),  # RGB frames, channels last
        gym.spaces.Box(-1.0, 1.0, (6,), np.float32),
        gym.spaces.Discrete(5, start=2),
    ],
)
def test_staged_encoding_is_the_encoding_of_any_rows(space):
    """On-policy learning stages a rollout once (stored dtype, network layout) and finishes
    minibatches of its rows: the same tensors as encoding those rows directly."""
    space.seed(0)
    obs = np.stack([space.sample() for _ in range(12)])
    enc = ObsEncoder(space, CPU)
    staged = enc.stage(obs)
    if enc.kind == "image":
        assert staged.dtype == torch.uint8
        assert staged.is_contiguous(memory_format=torch.channels_last)
    rows = torch.tensor([7, 0, 3, 3, 11])
    torch.testing.assert_close(enc.finish(staged[rows]), enc(obs[rows.numpy()]), rtol=0, atol=0)


def test_discrete_encoder_is_one_hot_and_obs_norm_is_for_vectors():
    enc = ObsEncoder(gym.spaces.Discrete(5, start=2), CPU)
    out = enc(np.array([2, 6, 4]))
    torch.testing.assert_close(out, torch.eye(5)[[0, 4, 2]])
    from framework.data.normalization import ObsNormalizer

    with pytest.raises(UnsupportedSpace, match="algo_cfg.obs_norm"):
        ObsEncoder(gym.spaces.Discrete(5), CPU, ObsNormalizer(()))


def test_action_scaler_squash_and_clip():
    space = gym.spaces.Box(np.array([-2, 0], np.float32), np.array([2, 10], np.float32))
    sq = ActionScaler(space, squash=True)
    u = torch.tensor([[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0]])
    torch.testing.assert_close(sq.scale(u), torch.tensor([[-2.0, 0.0], [0.0, 5.0], [2.0, 10.0]]))
    torch.testing.assert_close(sq.unscale(sq.scale(u)), u)
    clip = ActionScaler(space)
    np.testing.assert_array_equal(clip.clip_np(np.array([[5.0, -1.0]])), [[2.0, 0.0]])
    torch.testing.assert_close(clip.scale(u), u)  # clip mode: policy units are env units
    with pytest.raises(UnsupportedSpace, match="unbounded"):
        ActionScaler(gym.spaces.Box(-np.inf, np.inf, (2,)), squash=True)


def test_dict_observations_are_flattened_and_image_parts_refused():
    cfg = load_config(None, ["env_cfg.id=rldojo/Probe-v0", "env_cfg.make_kwargs={obs: dict}"])
    obs_space, _ = spaces_of(cfg)
    assert isinstance(obs_space, gym.spaces.Box) and obs_space.shape == (4,)  # one-hot 2 + 2
    from envs.vector import flatten_structured

    class ImageDict(gym.Env):
        observation_space = gym.spaces.Dict(
            {"img": gym.spaces.Box(0, 255, (8, 8, 3), np.uint8), "v": gym.spaces.Box(0, 1, (2,))}
        )
        action_space = gym.spaces.Discrete(2)

    with pytest.raises(UserError, match="image or nested parts"):
        flatten_structured(ImageDict())


def test_true_next_obs_masked_and_dense():
    next_obs = np.arange(6, dtype=np.float32).reshape(3, 2)
    done = np.array([False, True, False])
    masked = {"final_obs": np.array([None, np.array([9.0, 9.0]), None], object), "_final_obs": done}
    np.testing.assert_array_equal(true_next_obs(next_obs, masked, done), [[0, 1], [9, 9], [4, 5]])
    dense = {"final_obs": np.full((3, 2), 7.0, np.float32)}  # ale-py: a row for every env
    np.testing.assert_array_equal(true_next_obs(next_obs, dense, done), [[0, 1], [7, 7], [4, 5]])
    np.testing.assert_array_equal(true_next_obs(next_obs, {}, done), next_obs)
    # and on a real vector env at an episode end
    cfg = load_config(None, ["env_cfg.id=rldojo/Probe-v0"])
    envs = make_vector(cfg, 2)
    envs.reset(seed=0)
    for _ in range(8):  # probe episodes last 8 steps
        nxt, _, term, trunc, info = envs.step(np.zeros(2, np.int64))
    real = true_next_obs(nxt, info, term | trunc)
    assert term.all() and not np.array_equal(real, nxt)
    np.testing.assert_array_equal(real, np.stack(info["final_obs"]))
    envs.close()


def test_layernorm_after_conv_normalizes_every_feature_and_conv_needs_images():
    layers = [LayerSpec("conv2d", [4], "relu", 3, 1, 0), LayerSpec("layernorm")]
    trunk, size = build_trunk((2, 6, 6), layers)
    ln = [m for m in trunk if isinstance(m, torch.nn.LayerNorm)][0]
    assert tuple(ln.normalized_shape) == (4, 4, 4) and size == 64
    out = trunk[:3](torch.randn(8, 2, 6, 6) * 5 + 3)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), torch.zeros(8), atol=1e-5, rtol=0)
    with pytest.raises(UserError, match=r"algo_cfg.value_layers\[0\]: conv2d needs an image"):
        build_trunk((4,), layers, "value_layers")
    nature = [
        LayerSpec("conv2d", [32], "relu", 8, 4),
        LayerSpec("conv2d", [64], "relu", 4, 2),
        LayerSpec("conv2d", [64], "relu", 3, 1),
        *mlp(512),
    ]
    trunk, size = build_trunk((4, 84, 84), nature)
    assert size == 512 and trunk(torch.zeros(2, 4, 84, 84)).shape == (2, 512)


def test_dqn_on_images_and_discrete_observations():
    for obs in ("image", "discrete"):
        cfg = load_config(
            None, ["env_cfg.id=rldojo/Probe-v0", f"env_cfg.make_kwargs={{obs: {obs}}}"]
        )
        policy = build_policy(cfg, *spaces_of(cfg), seed=1)
        assert policy.obs_kind == obs
    cfg = load_config(None, ["env_cfg.id=Pendulum-v1"])
    with pytest.raises(UnsupportedSpace) as info:
        build_policy(cfg, *spaces_of(cfg))
    message = str(info.value)
    assert "DQN supports discrete actions" in message and "general_cfg.algo_name" in message
    fits = message.split("algorithms for these spaces: ")[1].split(", ")  # names what fits
    assert "PPO" in fits and "SAC" in fits and "DQN" not in fits


class TableQ(TabularPolicy):
    """A minimal Q-learning subclass: exercises the tabular base."""

    def update_table(self, batch):
        s, a = self.states(batch.obs.ravel()), batch.actions.ravel() - self.action_start
        s2 = self.states(batch.next_obs.ravel())
        target = (
            batch.rewards.ravel()
            + self.cfg.gamma * self.table[s2].max(1) * ~batch.terminated.ravel()
        )
        self.table[s, a] += self.alpha * (target - self.table[s, a])
        return {"q_mean": float(self.table.mean())}


def test_tabular_policy_acts_learns_and_round_trips():
    obs_space, act_space = gym.spaces.Discrete(4), gym.spaces.Discrete(3)
    cfg = TabularConfig(alpha=0.5, epsilon_start=0.0, epsilon_end=0.0)
    policy = TableQ(cfg, obs_space, act_space, seed=0)
    # a fresh table: while learning (epsilon 0 here) ties are broken at random, not always
    # action 0; greedy acting (evaluation) is deterministic
    first = policy.act(np.zeros(300, np.int64), "explore").actions
    assert set(first) == {0, 1, 2}
    assert set(policy.act(np.zeros(300, np.int64), "greedy").actions) == {0}
    policy.table[2, 1] = 1.0
    assert set(policy.act(np.full(50, 2), "greedy").actions) == {1}
    from framework.data.types import StepBatch

    batch = StepBatch(
        np.array([[0]]),
        np.array([[2]]),
        np.array([[1.0]], np.float32),
        np.array([[1]]),
        np.array([[True]]),
        np.array([[False]]),
    )
    out = policy.learn(batch)
    assert policy.table[0, 2] == 0.5 and out.metrics["alpha"] == 0.5
    other = TableQ(cfg, obs_space, act_space, seed=5)
    other.load_state_dict(policy.state_dict())
    np.testing.assert_array_equal(other.table, policy.table)
    assert other.update_step == 1
    with pytest.raises(UnsupportedSpace):
        TableQ(cfg, gym.spaces.Box(0, 1, (2,)), act_space)


def transitions(n: int, start: int = 0) -> Transitions:
    i = np.arange(start, start + n, dtype=np.float32)
    return Transitions(i[:, None], i.astype(np.int64), i, i[:, None] + 0.5, np.ones(n, np.float32))


@pytest.mark.parametrize("cls", [ReplayBuffer, PrioritizedReplayBuffer])
def test_replay_state_round_trip_gives_the_same_samples(cls):
    make = (lambda: cls(50, seed=3)) if cls is ReplayBuffer else (lambda: cls(50, 0.6, seed=3))
    buf = make()
    buf.add(transitions(70))  # wraps around
    if cls is PrioritizedReplayBuffer:
        b = buf.sample(8, 0.5)
        buf.update_priorities(b.indices, np.arange(8) + 1.0)
    other = make()
    other.load_state_dict(buf.state_dict())
    assert len(other) == len(buf) == 50 and other.pos == buf.pos
    for _ in range(3):
        a, b = buf.sample(16, 0.7), other.sample(16, 0.7)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.obs, b.obs)
        if cls is PrioritizedReplayBuffer:
            np.testing.assert_array_equal(a.weights, b.weights)


def test_updates_due_is_pure_and_per_beta_anneals():
    cfg = load_config(
        None,
        [
            "algo_cfg.buffer_type=PER_QUE",
            "algo_cfg.learning_starts=100",
            "general_cfg.max_env_steps=1000",
        ],
    )
    policy = build_policy(cfg, *spaces_of(cfg), seed=1)
    assert policy.updates_due(BufferStatus("replay", 99, True)) == 0
    assert policy.updates_due(BufferStatus("replay", 128, True)) == cfg.algo.gradient_steps
    assert policy.updates_due(BufferStatus("replay", 128, True)) == cfg.algo.gradient_steps
    assert policy.updates_due(BufferStatus("dataset", 10, True)) == cfg.algo.gradient_steps
    assert policy.sample_spec().beta == pytest.approx(0.4)
    policy.env_steps = 500
    assert policy.sample_spec() == (cfg.algo.batch_size, pytest.approx(0.7))
    policy.env_steps = 5000
    assert policy.sample_spec().beta == pytest.approx(1.0)


def test_clock_in_env_steps_and_update_steps():
    env = Clock("env_steps", 1000, 300)
    c = Counters(env_steps=650, update_steps=7)
    assert env.now(c) == 650 and env.next_eval(c) == 900 and not env.spent(c)
    upd = Clock("update_steps", 5, 2)
    assert upd.now(c) == 7 and upd.next_eval(c) == 8 and upd.spent(c)
    assert not Clock("env_steps", None, 10).spent(Counters(env_steps=10**9))


def test_resolve_device_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="general_cfg.device: cuda requested"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu"


def test_ale_ids_are_validated_with_ale_py():
    try:
        import ale_py  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"rldojo\[atari\]"):
            load_config(None, ["env_cfg.id=ALE/Pong-v5"])
    else:
        assert load_config(None, ["env_cfg.id=ALE/Pong-v5"]).env.id == "ALE/Pong-v5"
