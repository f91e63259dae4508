"""Experience storage behind one protocol.

A *buffer* lives with the learner (or the Ray DataServer) and needs no knowledge of env streams
(the adders in ``adders.py`` fold those in before data arrive here). Every buffer has

- ``kind``: ``replay`` (sampled many times, off-policy), ``rollout`` (handed over once, on-policy)
  or ``dataset`` (fixed data, offline); the Ray backend and the loop dispatch on it;
- ``add(data)``, ``sample(batch_size, beta=None)``, ``update_priorities(indices, priorities)``;
- ``status()``: a :class:`~framework.data.types.BufferStatus` of plain numbers, which is all a
  policy's ``updates_due`` looks at;
- ``state_dict()`` / ``load_state_dict()`` (arrays, numbers and the sampling RNG's state).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from framework.data.types import BufferKind, BufferStatus, ReplayBatch, StepBatch, Transitions
from framework.records.archive import array_bytes


def writable(v: Any) -> Any:
    """For ``__setstate__`` (a buffer sent to the Ray DataServer, whose object store hands out
    read-only arrays): writable copies of the arrays in ``v`` (nested in dicts)."""
    if isinstance(v, dict):
        return {k: writable(x) for k, x in v.items()}
    return v.copy() if isinstance(v, np.ndarray) and not v.flags.writeable else v


class ReplayBuffer:
    """Uniform replay over a flat circular store of transitions."""

    kind: ClassVar[BufferKind] = "replay"

    def __init__(self, capacity: int, seed: int | None = None):
        self.capacity = capacity
        self.pos = 0
        self.size = 0
        self.rng = np.random.default_rng(seed)
        self.store: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.size

    @property
    def ready(self) -> bool:
        return self.size > 0

    def status(self) -> BufferStatus:
        return BufferStatus(self.kind, self.size, self.ready)

    def add(self, data: Transitions) -> None:
        n = len(data)
        if n == 0:
            return
        fields = vars(data)
        if self.store is None:
            self.store = {
                k: np.zeros((self.capacity, *v.shape[1:]), v.dtype) for k, v in fields.items()
            }
        if n > self.capacity:  # keep only the newest
            fields = {k: v[-self.capacity :] for k, v in fields.items()}
            n = self.capacity
        idx = (self.pos + np.arange(n)) % self.capacity
        for k, v in fields.items():
            self.store[k][idx] = v
        self._on_add(idx)
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def _on_add(self, idx: np.ndarray) -> None:
        pass

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(writable(state))

    def sample(self, batch_size: int, beta: float | None = None) -> ReplayBatch:
        """A uniform minibatch (``beta`` is PER's and ignored here)."""
        idx = self.rng.integers(0, self.size, size=batch_size)
        return self._gather(idx, None)

    def _gather(self, idx: np.ndarray, weights: np.ndarray | None) -> ReplayBatch:
        s = self.store
        assert s is not None, "sample() before any add()"
        return ReplayBatch(
            s["obs"][idx],
            s["actions"][idx],
            s["rewards"][idx],
            s["next_obs"][idx],
            s["discounts"][idx],
            weights,
            idx,
        )

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Uniform replay ignores priorities."""

    def state_dict(self, copy: bool = True) -> dict[str, Any]:
        """The stored transitions (the filled part), write position and sampling RNG state
        (``copy=False``: views of the live arrays, to size them)."""
        own = np.copy if copy else np.asarray
        store = {k: own(v[: self.size]) for k, v in (self.store or {}).items()}
        return {
            "capacity": self.capacity,
            "pos": self.pos,
            "size": self.size,
            "store": store,
            "rng": self.rng.bit_generator.state,
        }

    def state_nbytes(self) -> int:
        """The bytes of the arrays ``state_dict`` holds, counted without copying them."""
        return array_bytes(self.state_dict(copy=False))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["capacity"]) != self.capacity:
            raise ValueError(
                f"replay capacity {state['capacity']} does not match buffer_size {self.capacity}"
            )
        self.pos, self.size = int(state["pos"]), int(state["size"])
        self.store = None
        if state["store"]:
            self.store = {}
            for k, v in state["store"].items():
                full = np.zeros((self.capacity, *v.shape[1:]), v.dtype)
                full[: len(v)] = v
                self.store[k] = full
        self.rng.bit_generator.state = state["rng"]


class SumTree:
    """Proportional priorities over ``capacity`` slots in an array sum tree: set many at once,
    draw stratified samples, importance weights (Schaul et al. 2016). New slots get the highest
    priority seen so far; a slot's mass is ``priority ** alpha``."""

    def __init__(self, capacity: int, alpha: float):
        self.alpha = alpha
        self.size = 1
        while self.size < capacity:
            self.size *= 2
        self.tree = np.zeros(2 * self.size, np.float64)
        self.max_priority = 1.0

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(writable(state))

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def set_mass(self, idx: np.ndarray, mass: np.ndarray) -> None:
        if not len(idx):
            return
        nodes = idx + self.size
        self.tree[nodes] = mass
        nodes = np.unique(nodes // 2)
        while nodes[0] >= 1:
            self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]
            if nodes[0] == 1:
                break
            nodes = np.unique(nodes // 2)

    def add(self, idx: np.ndarray) -> None:
        self.set_mass(idx, np.full(len(idx), self.max_priority**self.alpha))

    def update(self, idx: np.ndarray, priorities: np.ndarray) -> None:
        priorities = np.abs(priorities) + 1e-6
        self.max_priority = max(self.max_priority, float(priorities.max()))
        self.set_mass(idx, priorities**self.alpha)

    def find(self, mass: np.ndarray) -> np.ndarray:
        """The slot at each cumulative ``mass`` (all samples descend level by level)."""
        nodes = np.ones(len(mass), np.int64)
        while nodes[0] < self.size:
            left = 2 * nodes
            left_mass = self.tree[left]
            go_right = mass > left_mass
            mass = mass - left_mass * go_right  # exact: x - 0.0 is x
            nodes = left + go_right
        return nodes - self.size

    def stratified(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` slots, one from each of ``n`` equal strata of the total mass."""
        return self.find((np.arange(n) + rng.random(n)) * (self.total / n))

    def weights(self, idx: np.ndarray, n_held: int, beta: float) -> np.ndarray:
        """Importance weights (N * P(i)) ** -beta, normalized by their maximum."""
        probs = self.tree[idx + self.size] / self.total
        w = (n_held * np.maximum(probs, 1e-12)) ** (-beta)
        return (w / w.max()).astype(np.float32)

    def leaves(self, n: int) -> np.ndarray:
        """The masses of slots 0..n-1 (a view)."""
        return self.tree[self.size : self.size + n]

    def load(self, masses: np.ndarray, max_priority: float) -> None:
        self.tree[:] = 0.0
        if len(masses):
            self.set_mass(np.arange(len(masses)), np.asarray(masses, np.float64))
        self.max_priority = float(max_priority)


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016) on an array sum tree.

    New transitions get the highest priority seen so far; sampling is stratified over the
    total mass; importance weights (N * P(i))^-beta are normalized by their maximum.
    """

    def __init__(self, capacity: int, alpha: float, seed: int | None = None):
        super().__init__(capacity, seed)
        self.alpha = alpha
        self.sum_tree = SumTree(capacity, alpha)

    def _on_add(self, idx: np.ndarray) -> None:
        self.sum_tree.add(idx)

    def sample(self, batch_size: int, beta: float | None = None) -> ReplayBatch:
        """A stratified prioritized minibatch; importance weights use exponent ``beta``
        (the policy anneals it and passes it with every sample)."""
        beta = 0.4 if beta is None else beta
        idx = np.minimum(self.sum_tree.stratified(batch_size, self.rng), self.size - 1)
        return self._gather(idx, self.sum_tree.weights(idx, self.size, beta))

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        self.sum_tree.update(indices, priorities)

    def state_dict(self, copy: bool = True) -> dict[str, Any]:
        state = super().state_dict(copy)
        own = np.copy if copy else np.asarray
        state["priorities"] = own(self.sum_tree.leaves(self.size))
        state["max_priority"] = self.sum_tree.max_priority
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        masses = np.asarray(state["priorities"], np.float64) if self.size else np.zeros(0)
        self.sum_tree.load(masses, state["max_priority"])


class RolloutBuffer:
    """On-policy storage: holds the current rollout(s) until ``parts_per_update`` of them (one
    per Ray worker) arrived; ``sample()`` hands them over, joined along the env axis, and
    empties the buffer."""

    kind: ClassVar[BufferKind] = "rollout"

    def __init__(self, parts_per_update: int = 1):
        self.parts: list[StepBatch] = []
        self.order: list[int] = []
        self.parts_per_update = parts_per_update

    def __len__(self) -> int:
        return sum(p.n_steps for p in self.parts)

    def add(self, batch: StepBatch, part: int | None = None) -> None:
        """Add one rollout; ``part`` (a Ray worker's index) orders the join, so the batch does
        not depend on which worker finished first."""
        self.parts.append(batch)
        self.order.append(len(self.order) if part is None else part)

    @property
    def ready(self) -> bool:
        return len(self.parts) >= self.parts_per_update

    def status(self) -> BufferStatus:
        return BufferStatus(self.kind, len(self), self.ready)

    def sample(self, batch_size: int | None = None, beta: float | None = None) -> StepBatch:
        parts = [p for _, p in sorted(zip(self.order, self.parts), key=lambda x: x[0])]
        batch = StepBatch.concat_envs(parts)
        self.parts, self.order = [], []
        return batch

    def update_priorities(self, indices, priorities) -> None:
        """Nothing to do for on-policy data."""

    def state_dict(self) -> dict[str, Any]:
        # a rollout lives for one learn phase; the loop saves checkpoints between phases, when
        # it is empty
        return {"parts": list(self.parts), "order": list(self.order)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.parts, self.order = list(state["parts"]), list(state["order"])
