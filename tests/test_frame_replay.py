"""Frame-deduplicated replay (framework/data/frames.py) against the dense path.

Real vector envs feed a real Collector; every collection phase goes both through the dense path
(NStepAdder + ReplayBuffer, which store the stacks the env produced) and through the frame path
(FrameAdder + FrameReplayBuffer), and the transitions the frame buffer can return must be exactly
the dense ones: stacks across episode ends, truncations (final observations kept), stacks that
restart without shifting, zero and repeated frames, both rings wrapping around, n-step returns.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from config.loader import load_config
from framework.data.adders import IdentityAdder, NStepAdder
from framework.data.buffers import PrioritizedReplayBuffer, ReplayBuffer
from framework.data.frames import FrameAdder, FrameChunk, FrameReplayBuffer, is_frame_stack
from framework.data.types import Transitions
from framework.records.archive import array_bytes
from framework.runtime.collector import Collector
from tests.random_policy import RandomPolicy

FRAMES_ID = "rldojo-test/Frames-v0"


class FramesEnv(gym.Env):
    """Stacks of K random H x W frames, with the conventions frame stacks come in: zero padding
    (or the first frame repeated) at reset, now and then a black frame or a repeated frame, and
    now and then a stack that restarts without shifting (as ale-py's after a life loss).
    Random terminations; truncation by TimeLimit."""

    def __init__(
        self, k: int = 4, size: int = 6, padding: str = "zero", restart: float = 0.05, **kwargs
    ):
        self.k, self.size, self.padding, self.restart = k, size, padding, restart
        shape = (k, size, size) if k > 1 else (size, size)  # k = 1: plain frames
        self.observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
        self.action_space = gym.spaces.Discrete(3)
        self.stack = np.zeros((k, size, size), np.uint8)

    def _frame(self) -> np.ndarray:
        u = self.np_random.random()
        if u < 0.05:
            return np.zeros((self.size, self.size), np.uint8)
        if u < 0.12:
            return self.stack[-1].copy()
        return self.np_random.integers(0, 256, (self.size, self.size), dtype=np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        first = self.np_random.integers(1, 256, (self.size, self.size), dtype=np.uint8)
        self.stack[:] = 0 if self.padding == "zero" else first
        self.stack[-1] = first
        return self._obs(), {}

    def _obs(self) -> np.ndarray:
        return self.stack.copy() if self.k > 1 else self.stack[-1].copy()

    def step(self, action):
        if self.np_random.random() < self.restart:
            self.stack[:] = self._frame()  # a fresh stack, not a shift
            self.stack[-1] = self._frame()
        else:
            self.stack = np.concatenate([self.stack[1:], self._frame()[None]])
        reward = float(action) + self.np_random.normal()
        terminated = self.np_random.random() < 0.04
        return self._obs(), reward, terminated, False, {}


if FRAMES_ID not in gym.registry:
    gym.register(FRAMES_ID, entry_point=FramesEnv, max_episode_steps=23)


def collector(args: list[str], n_envs: int, seed: int = 1, env_name: str = "gym") -> Collector:
    cfg = load_config(None, [f"general_cfg.env_name={env_name}", *args])
    policy = RandomPolicy(6 if env_name == "atari" else 3, FrameAdder(n_envs), seed)
    return Collector(cfg, policy, n_envs, list(range(seed, seed + n_envs)))


def key(obs, action, reward, next_obs, discount) -> bytes:
    return b"".join(
        np.ascontiguousarray(x).tobytes()
        for x in (obs, np.int64(action), np.float32(reward), next_obs, np.float32(discount))
    )


def frame_transitions(buf: FrameReplayBuffer) -> list[bytes]:
    """Every transition the frame buffer can return (its complete, valid records), in order."""
    idx = (buf.tail + np.arange(buf.live)) % buf.capacity
    ok, ret, discount, last = buf._n_step(idx)
    s = buf.store
    out = []
    for i, r, d, j in zip(idx[ok], ret[ok], discount[ok], last[ok]):
        obs, next_obs = buf.frames[s["obs_pos"][i]], buf.frames[s["next_pos"][j]]
        out.append(key(obs, s["actions"][i], np.float32(r), next_obs, np.float32(d)))
    return out


def dense_transitions(data) -> list[bytes]:
    return [
        key(data.obs[i], data.actions[i], data.rewards[i], data.next_obs[i], data.discounts[i])
        for i in range(len(data))
    ]


def drive(col: Collector, phases: int, T: int, n_step: int, buf: FrameReplayBuffer):
    """Collect ``phases`` phases into both paths; yields after each phase the dense
    transitions emitted so far (in order) and the dense buffer."""
    dense_adder = NStepAdder(n_step, 0.9)
    dense = ReplayBuffer(buf.capacity)
    emitted: list[bytes] = []
    for _ in range(phases):
        out = col.collect(T)
        buf.add(out.data)
        data = dense_adder(out.batch)
        dense.add(data)
        emitted += dense_transitions(data)
        yield emitted, dense


def check_against_dense(args: list[str], n_envs: int, n_step: int) -> list[bytes]:
    col = collector(args, n_envs)
    buf = FrameReplayBuffer(10_000, n_step, 0.9, seed=0)
    for emitted, dense in drive(col, 40, 7, n_step, buf):
        assert len(buf) == len(dense) == len(emitted)
        held = frame_transitions(buf)
        if n_step == 1:  # records in the order the dense adder emits them
            assert held == emitted
        else:
            assert sorted(held) == sorted(emitted)
    col.close()
    assert len(emitted) > 500
    batch = buf.sample(64)  # a sampled batch is made of those transitions
    keys = set(emitted)
    for i in range(64):
        k = key(
            batch.obs[i], batch.actions[i], batch.rewards[i], batch.next_obs[i], batch.discounts[i]
        )
        assert k in keys
    assert batch.obs.dtype == np.uint8 and batch.obs.shape == (
        64,
        *col.envs.single_observation_space.shape,
    )
    return emitted


@pytest.mark.parametrize("n_step", [1, 3])
@pytest.mark.parametrize("padding", ["zero", "repeat"])
def test_frame_replay_equals_dense_replay(n_step, padding):
    args = [f"env_cfg.id={FRAMES_ID}", f"env_cfg.make_kwargs={{padding: {padding}}}"]
    check_against_dense(args, 3, n_step)


def test_frames_are_stored_once_and_truncations_keep_final_observations():
    col = collector([f"env_cfg.id={FRAMES_ID}", "env_cfg.make_kwargs={restart: 0.0}"], n_envs=2)
    buf = FrameReplayBuffer(10_000, 1, 0.9, seed=0)
    truncated = 0
    for _ in range(30):
        out = col.collect(8)
        buf.add(out.data)
        truncated += int(out.batch.truncated.sum())
    steps = buf.steps_total
    # one frame per step, plus the first frame of every episode
    episodes = int(sum(buf.store["ended"])) + 2
    assert buf.frames_total <= steps + episodes
    assert truncated > 0  # TimeLimit(23) truncated episodes: their final stacks are held
    idx = np.flatnonzero(buf.store["ended"][: buf.live] & ~buf.store["terminated"][: buf.live])
    assert len(idx) and (buf.frames[buf.store["next_pos"][idx]].any(axis=(1, 2, 3))).all()


def test_both_rings_wrap_around_and_stacks_stay_exact():
    """Small rings wrap many times; every transition the buffer can still return is one the
    env produced, none refers to an overwritten frame, and the newest ones are all there."""
    col = collector([f"env_cfg.id={FRAMES_ID}"], n_envs=4)
    buf = FrameReplayBuffer(300, 3, 0.9, seed=0, frame_capacity=330)
    for emitted, _ in drive(col, 60, 6, 3, buf):
        held = frame_transitions(buf)
        assert set(held) <= set(emitted)
        assert len(held) == len(buf)
        newest = emitted[-100:]
        assert set(newest) <= set(held)
    col.close()
    assert buf.frames_total > 4 * buf.frame_capacity and buf.steps_total > 4 * buf.capacity
    assert 200 < len(buf) <= 300
    batch = buf.sample(128)
    assert set(
        key(batch.obs[i], batch.actions[i], batch.rewards[i], batch.next_obs[i], batch.discounts[i])
        for i in range(128)
    ) <= set(emitted)


def test_streams_of_several_collectors_share_a_buffer():
    """Ray workers push chunks of their own streams into one buffer, interleaved."""
    cols = [collector([f"env_cfg.id={FRAMES_ID}"], n_envs=2, seed=s) for s in (1, 7)]
    buf = FrameReplayBuffer(5000, 2, 0.9, seed=0)
    dense = [NStepAdder(2, 0.9) for _ in cols]
    emitted: list[bytes] = []
    for phase in range(30):
        for c, d in zip(cols, dense):
            out = c.collect(3 + phase % 4)
            buf.add(out.data)
            emitted += dense_transitions(d(out.batch))
    assert sorted(frame_transitions(buf)) == sorted(emitted)
    for c in cols:
        c.close()


def test_gymnasium_frame_stack_wrapper():
    """gymnasium's own FrameStackObservation (padding with the reset frame) over a pixel env."""
    args = [
        f"env_cfg.id={FRAMES_ID}",
        "env_cfg.make_kwargs={k: 1, restart: 0.0}",
        "env_cfg.wrappers=[{name: FrameStackObservation, stack_size: 3, padding_type: reset}]",
    ]
    check_against_dense(args, 2, 2)


def test_is_frame_stack():
    assert is_frame_stack((4, 84, 84), np.uint8)
    assert not is_frame_stack((84, 84, 4), np.uint8)  # channels last: one image
    assert not is_frame_stack((1, 84, 84), np.uint8)
    assert not is_frame_stack((4, 84, 84), np.float32)
    assert not is_frame_stack((8, 8, 1), np.uint8)


def test_state_round_trip():
    col = collector([f"env_cfg.id={FRAMES_ID}"], n_envs=2)
    buf = FrameReplayBuffer(200, 2, 0.9, seed=3, frame_capacity=260)
    for _ in range(20):
        buf.add(col.collect(5).data)
    copy = FrameReplayBuffer(200, 2, 0.9, seed=99, frame_capacity=260)
    state = buf.state_dict()
    # sized without copying (a save above buffer_save_limit_mb stops there), to the byte
    assert buf.state_nbytes() == array_bytes(state) > buf.frames.nbytes
    copy.load_state_dict(state)
    a, b = buf.sample(16), copy.sample(16)
    for name in ("obs", "actions", "rewards", "next_obs", "discounts"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    chunk = col.collect(5).data
    assert isinstance(chunk, FrameChunk)
    buf.add(chunk)
    copy.add(chunk)
    assert frame_transitions(buf) == frame_transitions(copy)
    col.close()


def test_prioritized_frame_replay():
    """PER over frames stored once (Rainbow on Atari): the records are the dense ones; every draw
    is a live, complete record; records that left the ring keep no priority mass; a few records
    given most of the mass take most of the draws, with the smallest importance weights; the
    priorities come back from a state round trip."""
    col = collector([f"env_cfg.id={FRAMES_ID}"], n_envs=3)
    buf = FrameReplayBuffer(400, 3, 0.9, seed=0, frame_capacity=450, alpha=1.0)
    for emitted, _ in drive(col, 50, 6, 3, buf):  # wraps around: records leave
        held = frame_transitions(buf)
        assert set(held) <= set(emitted) and len(held) == len(buf)
    col.close()
    assert buf.steps_total > 2 * buf.capacity
    live = (buf.tail + np.arange(buf.live)) % buf.capacity
    dead = np.setdiff1d(np.arange(buf.capacity), live)
    assert len(dead) and (buf.sum_tree.leaves(buf.capacity)[dead] == 0).all()
    keys = set(emitted)
    for _ in range(10):
        batch = buf.sample(64, beta=0.5)
        assert np.isin(batch.indices, live).all()
        for i in range(64):
            k = key(batch.obs[i], batch.actions[i], batch.rewards[i], batch.next_obs[i],
                    batch.discounts[i])  # fmt: skip
            assert k in keys
        assert batch.weights.dtype == np.float32 and batch.weights.max() == 1.0
        buf.update_priorities(batch.indices, np.random.default_rng(0).random(64))
    buf.update_priorities(live, np.full(len(live), 1e-3))
    favoured = np.unique(batch.indices)[:8]  # complete records
    buf.update_priorities(favoured, np.full(len(favoured), 10.0))
    batch = buf.sample(256, beta=1.0)
    fav = np.isin(batch.indices, favoured)
    assert fav.mean() > 0.9
    np.testing.assert_allclose(batch.weights[fav], batch.weights.min())
    copy = FrameReplayBuffer(400, 3, 0.9, seed=0, frame_capacity=450, alpha=1.0)
    copy.load_state_dict(buf.state_dict())
    a, b = buf.sample(32, beta=0.7), copy.sample(32, beta=0.7)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.weights, b.weights)
    with pytest.raises(ValueError, match="prioritized"):
        FrameReplayBuffer(400, 3, 0.9, frame_capacity=450).load_state_dict(buf.state_dict())


@pytest.mark.parametrize("prioritized", [False, True])
def test_dense_replay_state_is_sized_without_copies_and_round_trips(prioritized):
    rng = np.random.default_rng(0)
    n = 300
    data = Transitions(
        rng.standard_normal((n, 4)).astype(np.float32),
        rng.integers(0, 2, n),
        rng.standard_normal(n).astype(np.float32),
        rng.standard_normal((n, 4)).astype(np.float32),
        np.full(n, 0.99, np.float32),
    )
    buf, copy = (
        PrioritizedReplayBuffer(500, 0.6, seed) if prioritized else ReplayBuffer(500, seed)
        for seed in (1, 2)
    )
    buf.add(data)
    state = buf.state_dict()
    assert buf.state_nbytes() == array_bytes(state) >= 300 * (4 + 4) * 4
    copy.load_state_dict(state)
    a, b = buf.sample(32), copy.sample(32)
    for name in ("obs", "actions", "rewards", "next_obs", "discounts"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


# 48x48 frames: with smaller ones the archive's per-array entries (~250 bytes) would weigh
# as much as the images (an Atari frame is 84x84)
@pytest.mark.parametrize("make_kwargs", ["{size: 48}", "{k: 1, size: 48}"])
def test_trajectory_files_pack_images_and_bound_shards_in_bytes(tmp_path, make_kwargs):
    """Trajectories of image observations are stored packed (each frame once, zlib) in shards
    bounded in bytes, and load back exactly (frame stacks, and plain frames)."""
    from framework.data.trajectories import EpisodeAssembler, ShardWriter, iter_trajectories

    cfg = load_config(None, [f"env_cfg.id={FRAMES_ID}", f"env_cfg.make_kwargs={make_kwargs}"])
    assembler = EpisodeAssembler(3, {"env_id": FRAMES_ID})
    col = Collector(cfg, RandomPolicy(3, IdentityAdder()), 3, [1, 2, 3], assembler)
    trajs = col.collect(200).trajectories
    col.close()
    raw = sum(t["observations"].nbytes + t["next_observations"].nbytes for t in trajs)
    budget = 160_000
    with ShardWriter(tmp_path, max_bytes=budget) as writer:
        writer.extend(trajs)
    files = sorted(tmp_path.glob("trajs_*.npz"))
    longest = max(f.stat().st_size for f in files)
    assert len(files) > 1 and longest < budget + 80_000  # at most one trajectory beyond
    stacked = "k: 1" not in make_kwargs
    on_disk = sum(f.stat().st_size for f in files)
    assert on_disk < raw / (6 if stacked else 1.8)  # random frames: the gain is deduplication
    loaded = list(iter_trajectories(tmp_path))
    assert len(loaded) == len(trajs)
    for a, b in zip(trajs, loaded):
        for name in ("observations", "next_observations", "actions", "rewards", "terminated"):
            np.testing.assert_array_equal(a[name], b[name])
            assert a[name].dtype == b[name].dtype
