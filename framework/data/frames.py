"""Replay that stores each frame once: stacked-frame observations (Atari's 4 x 84 x 84 uint8).

A dense replay of stacked frames keeps obs and next_obs of every transition, 2 x 4 x 84 x 84 =
56,448 bytes: 56 GB for a million transitions. Yet consecutive stacks of one env stream share
all frames but one, and next_obs is the next step's obs. Here every frame of a stream is stored
once (about 7 KB per transition) and stacks and n-step targets are rebuilt at sample time, as in
Dopamine's and the DQN Zoo's circular buffers, but with references instead of index arithmetic,
so any stacking convention comes back exactly: zero padding at an episode's start, frames that
do not shift (ale-py restarts the stack after a life loss), final observations of truncated
episodes (kept for bootstrapping).

- :class:`FrameAdder` (next to a collector): turns each collection phase's
  :class:`~framework.data.types.StepBatch` into a :class:`FrameChunk`: the frames new in it, and
  for every step the frame references of its obs and next-obs stacks. A next-obs stack that is
  the obs stack shifted by one frame costs one new frame; any other stack is matched frame by
  frame (zeros, repeats, frames of the stack before it) and only unmatched frames are new.
- :class:`FrameReplayBuffer` (``kind: replay``, the protocol of ``buffers.py``): frames in one
  ring, one-step data (actions, rewards, terminated, episode ends, frame positions) in another,
  and per env stream a link from each step to the stream's next one. ``sample`` gathers stacks by
  reference and folds n-step returns by following the links, with the arithmetic of
  :class:`~framework.data.adders.NStepAdder`, so it returns exactly the transitions a
  ``ReplayBuffer`` fed by an ``NStepAdder`` holds (tested), with uniform sampling over them, or
  with ``alpha`` proportional prioritized sampling (a sum tree over the records, as
  ``PrioritizedReplayBuffer``'s: Rainbow and PER_DQN on Atari).

Frame references in a chunk (int32): ``r >= 0`` is ``frames[r]`` of the chunk; ``ZERO`` (-1) is a
frame of zeros; ``-2 - k`` is frame ``k`` of the stream's last next-obs stack in the previous
chunk (the buffer remembers where it put those). Streams are keyed by random 62-bit ids, so Ray
workers (and restarted ones) never share a stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from framework.data.buffers import SumTree
from framework.data.types import BufferKind, BufferStatus, ReplayBatch, StepBatch
from framework.records.archive import array_bytes

ZERO = -1


def is_frame_stack(shape: tuple[int, ...], dtype) -> bool:
    """Stacked frames: uint8 observations (K, H, W) with K > 1 channels first (Atari's 4 x 84 x
    84). Other images (one frame, channels last) go to the dense replay."""
    return (
        np.dtype(dtype) == np.uint8
        and len(shape) == 3
        and 1 < shape[0] < min(shape[1:])  # channels first: fewer planes than pixels a side
    )


@dataclass
class FrameChunk:
    """One collection phase of one collector, frames stored once (see the module docstring).

    ``frames`` [M, H, W] uint8 are the frames new in this phase; ``obs_ref`` / ``next_ref``
    [T, N, K] int32 the references of every step's stacks; the rest are one-step data [T, N]
    (``rewards`` are the learning rewards) of the N streams ``streams`` [N] int64."""

    streams: np.ndarray
    frames: np.ndarray
    obs_ref: np.ndarray
    next_ref: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray

    def __len__(self) -> int:
        return int(self.rewards.size)


class FrameAdder:
    """Per-collector: StepBatch -> FrameChunk, keeping each stream's last stack across phases."""

    def __init__(self, n_envs: int):
        base = int(np.random.default_rng().integers(2**62 - 2**20))  # OS entropy: unique streams
        self.streams = base + np.arange(n_envs, dtype=np.int64)
        self.last: np.ndarray | None = None  # [N, K, H, W]: each stream's last next-obs stack
        self.last_done = np.ones(n_envs, bool)

    def __call__(self, batch: StepBatch) -> FrameChunk:
        obs, nxt = batch.obs, batch.next_obs
        T, N, K = obs.shape[:3]
        done = batch.terminated | batch.truncated
        new: list[np.ndarray] = []  # blocks of new frames, in order
        count = 0
        obs_ref = np.empty((T, N, K), np.int32)
        next_ref = np.empty((T, N, K), np.int32)
        prev_ref = np.broadcast_to(-2 - np.arange(K, dtype=np.int32), (N, K))
        prev, prev_done = self.last, self.last_done
        for t in range(T):
            # a stream that goes on sees as obs its last next-obs stack: same references
            obs_ref[t] = prev_ref
            for i in np.flatnonzero(prev_done):  # episode starts (and the very first step)
                ref = None if prev is None else (prev[i], prev_ref[i])
                obs_ref[t, i], count = match(obs[t, i], ref, new, count)
            # usually next_obs is obs shifted by one frame: one new frame
            shift = (nxt[t, :, :-1] == obs[t, :, 1:]).all(axis=(1, 2, 3))
            rows = np.flatnonzero(shift)
            next_ref[t, rows, :-1] = obs_ref[t, rows, 1:]
            next_ref[t, rows, -1] = count + np.arange(len(rows), dtype=np.int32)
            if len(rows):
                new.append(nxt[t, rows, -1])
                count += len(rows)
            for i in np.flatnonzero(~shift):
                next_ref[t, i], count = match(nxt[t, i], (obs[t, i], obs_ref[t, i]), new, count)
            prev, prev_ref, prev_done = nxt[t], next_ref[t], done[t]
        self.last, self.last_done = nxt[T - 1].copy(), done[T - 1].copy()
        frames = np.concatenate(new) if new else np.empty((0, *obs.shape[3:]), obs.dtype)
        rewards = batch.learn_rewards if batch.learn_rewards is not None else batch.rewards
        return FrameChunk(
            self.streams,
            frames,
            obs_ref,
            next_ref,
            batch.actions,
            rewards.astype(np.float32),
            batch.terminated,
            batch.truncated,
        )

    def state_dict(self) -> dict[str, Any]:
        last = None if self.last is None else self.last.copy()
        return {"streams": self.streams.copy(), "last": last, "last_done": self.last_done.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.streams = np.asarray(state["streams"], np.int64)
        self.last = state["last"]
        self.last_done = np.asarray(state["last_done"], bool)


def match(
    stack: np.ndarray,
    ref: tuple[np.ndarray, np.ndarray] | None,
    new: list[np.ndarray],
    count: int,
) -> tuple[np.ndarray, int]:
    """References for ``stack`` [K, H, W]: zeros are ZERO, a frame equal to the one before it or
    to a frame of ``ref`` (a stack and its references) reuses that reference, any other frame is
    appended to ``new``. Returns the references and the new frame count."""
    out = np.empty(len(stack), np.int32)
    for k, frame in enumerate(stack):
        if not frame.any():
            out[k] = ZERO
            continue
        if k > 0 and np.array_equal(frame, stack[k - 1]):
            out[k] = out[k - 1]
            continue
        if ref is not None:
            hit = next((j for j, f in enumerate(ref[0]) if np.array_equal(frame, f)), None)
            if hit is not None:
                out[k] = ref[1][hit]
                continue
        new.append(frame[None])
        out[k] = count
        count += 1
    return out, count


class FrameReplayBuffer:
    """Replay of n-step transitions over frames stored once (module docstring): uniform, or
    prioritized with ``alpha`` (proportional, Schaul et al. 2016: new records get the highest
    priority seen, records that leave get none, importance weights with PER's ``beta``).

    ``capacity`` counts transitions (one-step records); ``frame_capacity`` frames (default:
    capacity + 1/16, which covers the extra frames that episode starts bring). When frames run
    out first (very short episodes), the oldest transitions leave early, so memory stays bounded
    by ``frame_capacity`` frames either way.
    """

    kind: ClassVar[BufferKind] = "replay"

    def __init__(
        self,
        capacity: int,
        n_step: int = 1,
        gamma: float = 0.99,
        seed: int | None = None,
        frame_capacity: int | None = None,
        alpha: float | None = None,
    ):
        self.capacity = capacity
        self.sum_tree = None if alpha is None else SumTree(capacity, alpha)
        self.frame_capacity = frame_capacity or capacity + max(capacity // 16, 1024)
        self.n, self.gamma = n_step, gamma
        self.rng = np.random.default_rng(seed)
        self.frames: np.ndarray | None = None  # [F + 1, H, W]; row F is the zero frame
        self.frame_serial = np.zeros(0, np.int64)  # [F + 1]: serial of the frame at each row
        self.frames_total = 0
        self.store: dict[str, np.ndarray] | None = None  # one-step records, a ring of capacity
        self.tail = 0  # oldest live record
        self.live = 0
        self.steps_total = 0
        self.slots: dict[int, int] = {}  # stream id -> slot
        self.carry = np.zeros((0, 0), np.int32)  # [slots, K]: positions of the last next stack
        self.last_step = np.zeros(0, np.int64)  # [slots]: serial of the stream's last record
        self.run = np.zeros(0, np.int64)  # [slots]: records since the stream's last episode end

    # ---- protocol --------------------------------------------------------------------------
    def __len__(self) -> int:
        """Complete transitions held: every record whose n-step window has closed."""
        return self.live - int(np.minimum(self.run, self.n - 1).sum())

    @property
    def ready(self) -> bool:
        return len(self) > 0

    def status(self) -> BufferStatus:
        return BufferStatus(self.kind, len(self), self.ready)

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Prioritized: the records' new priorities (uniform replay ignores them)."""
        if self.sum_tree is not None:
            self.sum_tree.update(indices, priorities)

    # ---- adding ----------------------------------------------------------------------------
    def add(self, chunk: FrameChunk) -> None:
        T, N, K = chunk.obs_ref.shape
        S = T * N
        if S > self.capacity:
            raise ValueError(
                f"replay capacity {self.capacity} is smaller than one collection phase ({S} "
                "transitions); raise algo_cfg.buffer_size or lower algo_cfg.train_freq"
            )
        if self.store is None:
            self._allocate(chunk, K)
        slots = self._slots(chunk.streams, K)
        positions = self._write_frames(chunk.frames)
        self._evict(max(0, self.live + S - self.capacity))
        carry = self.carry[slots]  # [N, K]
        obs_pos = resolve(chunk.obs_ref, positions, carry, self.frame_capacity)
        next_pos = resolve(chunk.next_ref, positions, carry, self.frame_capacity)
        idx = (self.tail + self.live + np.arange(S)) % self.capacity
        s = self.store
        s["obs_pos"][idx] = obs_pos.reshape(S, K)
        s["next_pos"][idx] = next_pos.reshape(S, K)
        s["actions"][idx] = chunk.actions.reshape(S, *chunk.actions.shape[2:])
        s["rewards"][idx] = chunk.rewards.reshape(S)
        s["terminated"][idx] = chunk.terminated.reshape(S)
        ended = chunk.terminated | chunk.truncated
        s["ended"][idx] = ended.reshape(S)
        both = np.concatenate([obs_pos, next_pos], axis=2).reshape(S, 2 * K)
        s["oldest"][idx] = self.frame_serial[both].min(axis=1)  # valid while this frame is held
        serial = self.steps_total + np.arange(S, dtype=np.int64)
        s["serial"][idx] = serial
        if self.sum_tree is not None:
            self.sum_tree.add(idx)
        # links to each stream's next record: within the chunk, and from the previous chunk
        grid = idx.reshape(T, N)
        s["succ"][grid[:-1].ravel()] = grid[1:].ravel()
        s["succ"][grid[-1]] = -1
        prev = self.last_step[slots]
        prev_idx = prev % self.capacity
        linked = (
            (prev >= 0) & (s["serial"][prev_idx] == prev) & (prev >= self.steps_total - self.live)
        )
        s["succ"][prev_idx[linked]] = grid[0][linked]
        self.last_step[slots] = serial.reshape(T, N)[-1]
        self.carry[slots] = next_pos[-1]
        # records since each stream's last episode end (the open n-step windows)
        after_end = np.argmax(ended[::-1], axis=0)  # records after each stream's last end
        self.run[slots] = np.where(ended.any(axis=0), after_end, self.run[slots] + T)
        self.live += S
        self.steps_total += S

    def _allocate(self, chunk: FrameChunk, K: int) -> None:
        shape = chunk.frames.shape[1:] if len(chunk.frames) else None
        if shape is None:
            raise ValueError("the first chunk of a FrameReplayBuffer holds no frames")
        # arrays are made here, not in __init__: under Ray the buffer travels to the DataServer
        # before its first add, and arrays that travel arrive read-only
        self.frames = np.zeros((self.frame_capacity + 1, *shape), np.uint8)
        self.frame_serial = np.full(self.frame_capacity + 1, 2**62, np.int64)  # row F: zeros
        C = self.capacity
        self.store = {
            "obs_pos": np.zeros((C, K), np.int32),
            "next_pos": np.zeros((C, K), np.int32),
            "actions": np.zeros((C, *chunk.actions.shape[2:]), chunk.actions.dtype),
            "rewards": np.zeros(C, np.float32),
            "terminated": np.zeros(C, bool),
            "ended": np.zeros(C, bool),
            "succ": np.full(C, -1, np.int64),
            "oldest": np.zeros(C, np.int64),
            "serial": np.full(C, -1, np.int64),
        }

    def _slots(self, streams: np.ndarray, K: int) -> np.ndarray:
        for key in streams.tolist():
            if key not in self.slots:
                self.slots[key] = len(self.slots)
        n = len(self.slots)
        if n > len(self.run):  # grow the per-stream arrays
            grow = n - len(self.run)
            self.carry = np.concatenate([self.carry.reshape(-1, K), np.zeros((grow, K), np.int32)])
            self.last_step = np.concatenate([self.last_step, np.full(grow, -1, np.int64)])
            self.run = np.concatenate([self.run, np.zeros(grow, np.int64)])
        return np.array([self.slots[k] for k in streams.tolist()], np.int64)

    def _write_frames(self, frames: np.ndarray) -> np.ndarray:
        """Write ``frames`` into the ring (evicting records whose frames they overwrite);
        returns their positions."""
        M, F = len(frames), self.frame_capacity
        if M > F:
            raise ValueError(f"one chunk holds {M} new frames, more than frame_capacity {F}")
        # records that refer to a frame overwritten now leave, with the records before them
        # (records are nearly in frame order: an episode start refers only to new frames)
        floor = self.frames_total + M - F
        while self.live:
            window = (self.tail + np.arange(min(self.live, 4096))) % self.capacity
            stale = np.flatnonzero(self.store["oldest"][window] < floor)
            if not len(stale):
                break
            self._evict(int(stale[-1]) + 1)
        positions = (self.frames_total + np.arange(M)) % F
        self.frames[positions] = frames
        self.frame_serial[positions] = self.frames_total + np.arange(M)
        self.frames_total += M
        return positions

    def _evict(self, n: int) -> None:
        if n <= 0:
            return
        if self.sum_tree is not None:  # never drawn again
            gone = (self.tail + np.arange(n)) % self.capacity
            self.sum_tree.set_mass(gone, np.zeros(n))
        self.tail = (self.tail + n) % self.capacity
        self.live -= n

    # ---- sampling --------------------------------------------------------------------------
    def sample(self, batch_size: int, beta: float | None = None) -> ReplayBatch:
        """A minibatch of complete n-step transitions: uniform, or prioritized (stratified over
        the priority mass, importance weights with exponent ``beta``)."""
        assert self.store is not None and len(self) > 0, "sample() from an empty buffer"
        parts: list[tuple[np.ndarray, ...]] = []
        need = batch_size
        tree = self.sum_tree
        for _ in range(1000):  # draw, keep complete and valid records, draw again for the rest
            if tree is None:
                cand = (self.tail + self.rng.integers(0, self.live, size=need)) % self.capacity
            elif need == batch_size:
                cand = tree.stratified(need, self.rng)
            else:  # records of open n-step windows were drawn: the rest anywhere in the mass
                cand = tree.find(self.rng.random(need) * tree.total)
            ok, ret, discount, last = self._n_step(cand)
            if tree is not None:  # rounding in the tree's sums can reach a massless record
                ok &= (cand - self.tail) % self.capacity < self.live
            parts.append((cand[ok], ret[ok], discount[ok], last[ok]))
            need -= int(ok.sum())
            if need == 0:
                break
        else:
            raise RuntimeError("FrameReplayBuffer: no complete transition found to sample")
        idx, ret, discount, last = (np.concatenate(p) for p in zip(*parts))
        s = self.store
        weights = None
        if tree is not None:
            weights = tree.weights(idx, len(self), 0.4 if beta is None else beta)
        return ReplayBatch(
            self.frames[s["obs_pos"][idx]],
            s["actions"][idx],
            ret.astype(np.float32),
            self.frames[s["next_pos"][last]],
            discount.astype(np.float32),
            weights,
            idx,
        )

    def _n_step(self, idx: np.ndarray):
        """For records ``idx``: whether each is usable (its window closed, its frames still
        held), its n-step return, bootstrap discount and the record whose next stack is the
        target, folded as NStepAdder folds them."""
        s = self.store
        ret = np.zeros(len(idx), np.float64)
        discount = np.ones(len(idx), np.float64)
        cur, last = idx.copy(), idx.copy()
        alive = np.ones(len(idx), bool)
        ok = s["oldest"][idx] >= self.frames_total - self.frame_capacity
        for k in range(self.n):
            ret += np.where(alive, discount * s["rewards"][cur], 0.0)
            discount = np.where(alive, discount * self.gamma, discount)
            last = np.where(alive, cur, last)
            discount = np.where(alive & s["terminated"][cur], 0.0, discount)
            alive &= ~s["ended"][cur]
            if k < self.n - 1:
                nxt = s["succ"][cur]
                ok &= ~(alive & (nxt < 0))  # the window is still open: not a transition yet
                alive &= nxt >= 0
                cur = np.where(alive, nxt, cur)
        return (
            ok & (s["oldest"][last] >= self.frames_total - self.frame_capacity),
            ret,
            discount,
            last,
        )

    # ---- state -----------------------------------------------------------------------------
    def state_dict(self, copy: bool = True) -> dict[str, Any]:
        """Everything, frames included (gigabytes for a full Atari buffer); ``copy=False``:
        views of the live arrays, to size them."""
        own = np.copy if copy else np.asarray
        return {
            "capacity": self.capacity,
            "frame_capacity": self.frame_capacity,
            "frames": None if self.frames is None else own(self.frames),
            "frame_serial": own(self.frame_serial),
            "frames_total": self.frames_total,
            "store": None if self.store is None else {k: own(v) for k, v in self.store.items()},
            "tail": self.tail,
            "live": self.live,
            "steps_total": self.steps_total,
            "slots": [[k, v] for k, v in self.slots.items()],
            "carry": own(self.carry),
            "last_step": own(self.last_step),
            "run": own(self.run),
            "rng": self.rng.bit_generator.state,
            "priorities": None
            if self.sum_tree is None
            else own(self.sum_tree.leaves(self.capacity)),
            "max_priority": None if self.sum_tree is None else self.sum_tree.max_priority,
        }

    def state_nbytes(self) -> int:
        """The bytes of the arrays ``state_dict`` holds, counted without copying them (a save
        above buffer_save_limit_mb is refused before gigabytes of frames are copied)."""
        return array_bytes(self.state_dict(copy=False))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (int(state["capacity"]), int(state["frame_capacity"])) != (
            self.capacity,
            self.frame_capacity,
        ):
            raise ValueError(
                f"replay capacity {state['capacity']} does not match buffer_size {self.capacity}"
            )
        self.frames, self.store = state["frames"], state["store"]
        self.frame_serial = state["frame_serial"]
        self.frames_total, self.steps_total = int(state["frames_total"]), int(state["steps_total"])
        self.tail, self.live = int(state["tail"]), int(state["live"])
        self.slots = {int(k): int(v) for k, v in state["slots"]}
        self.carry, self.last_step, self.run = state["carry"], state["last_step"], state["run"]
        self.rng.bit_generator.state = state["rng"]
        if (self.sum_tree is None) != (state.get("priorities") is None):
            raise ValueError("a prioritized replay state loads only into a prioritized buffer")
        if self.sum_tree is not None:
            self.sum_tree.load(state["priorities"], state["max_priority"])


def resolve(ref: np.ndarray, positions: np.ndarray, carry: np.ndarray, zero: int) -> np.ndarray:
    """Frame positions of chunk references ``ref`` [T, N, K]: new frames at ``positions``,
    carried ones at ``carry`` [N, K] (per stream), zeros at row ``zero``."""
    out = np.full(ref.shape, zero, np.int32)
    fresh = ref >= 0
    out[fresh] = positions[ref[fresh]]
    carried = ref <= -2
    if carried.any():
        streams = np.broadcast_to(np.arange(ref.shape[1])[None, :, None], ref.shape)
        out[carried] = carry[streams[carried], -2 - ref[carried]]
    return out


# ---- trajectory files --------------------------------------------------------------------------
def pack_images(obs: np.ndarray, next_obs: np.ndarray) -> dict[str, Any]:
    """A trajectory's image observations, compressed for a trajectory file: each frame once
    (next_obs[t] is obs[t + 1] within an episode, and of a frame stack only the newest frame is
    new), then zlib (level 1). For Atari about 100 to 300 times smaller than the two arrays.
    Plain data (uint8 and int32 arrays, so it fits an rldojo archive); :func:`unpack_images`
    restores both arrays."""
    import zlib

    T = len(obs)
    stacks = is_frame_stack(obs.shape[1:], obs.dtype)
    O = obs if stacks else obs[:, None]  # noqa: E741 - [T, K, *plane]; a plain image is one plane
    N = next_obs if stacks else next_obs[:, None]
    K = O.shape[1]
    planes: list[np.ndarray] = []
    count = 0
    obs_idx = np.empty((T, K), np.int32)
    next_idx = np.empty((T, K), np.int32)
    for t in range(T):
        if t > 0 and np.array_equal(O[t], N[t - 1]):
            obs_idx[t] = next_idx[t - 1]
        else:
            obs_idx[t] = count + np.arange(K)
            planes.append(O[t])
            count += K
        if K > 1 and np.array_equal(N[t, :-1], O[t, 1:]):
            next_idx[t, :-1], next_idx[t, -1] = obs_idx[t, 1:], count
            planes.append(N[t, -1:])
            count += 1
        else:
            next_idx[t] = count + np.arange(K)
            planes.append(N[t])
            count += K
    frames = np.concatenate(planes) if planes else np.empty((0, *O.shape[2:]), O.dtype)
    return {
        "codec": "frames-zlib-1",
        "shape": list(obs.shape),
        "dtype": str(obs.dtype),
        "plane": list(O.shape[2:]),
        "frames": np.frombuffer(zlib.compress(np.ascontiguousarray(frames).tobytes(), 1), np.uint8),
        "obs": obs_idx,
        "next_obs": next_idx,
    }


def unpack_images(packed: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The observations and next observations that :func:`pack_images` packed."""
    import zlib

    frames = np.frombuffer(zlib.decompress(packed["frames"]), np.dtype(packed["dtype"]))
    frames = frames.reshape(-1, *packed["plane"])
    shape = tuple(packed["shape"])
    return frames[packed["obs"]].reshape(shape), frames[packed["next_obs"]].reshape(shape)


def packed_size(packed: dict[str, Any]) -> int:
    """Bytes a packed entry takes in memory and on disk (about)."""
    return len(packed["frames"]) + packed["obs"].nbytes + packed["next_obs"].nbytes
