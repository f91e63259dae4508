"""Experience storage and the adders that turn collected rollouts into what a buffer stores.

An *adder* (as in Acme) lives next to a collector and keeps the per-env stream state that must
not be split across workers (pending n-step windows, the reward scaler's running returns). A
*buffer* lives with the learner (or the Ray DataServer) and needs no knowledge of env streams.
"""

from __future__ import annotations

import numpy as np

from framework.data import ReplayBatch, StepBatch, Transitions


class NStepAdder:
    """Folds n-step returns into flat transitions, per env stream.

    For a window starting at step t it emits reward sum_{k<m} gamma^k r_{t+k} and
    discount gamma^m * (1 - terminated_{t+m-1}), where m <= n stops at an episode end.
    A time-limit truncation ends the window but keeps the bootstrap (discount gamma^m);
    only termination zeroes it. Windows still open at the end of a batch carry over.
    """

    def __init__(self, n_envs: int, n_step: int, gamma: float):
        self.n = n_step
        self.gamma = gamma
        self.pending: list[list[tuple]] = [[] for _ in range(n_envs)]

    def __call__(self, batch: StepBatch) -> Transitions:
        rewards = batch.learn_rewards if batch.learn_rewards is not None else batch.rewards
        if self.n == 1:  # fast path: no state, fully vectorized
            flat = lambda a: a.reshape(-1, *a.shape[2:])  # noqa: E731
            disc = self.gamma * (1.0 - batch.terminated.astype(np.float32))
            return Transitions(
                flat(batch.obs), flat(batch.actions), flat(rewards).astype(np.float32),
                flat(batch.next_obs), flat(disc).astype(np.float32),
            )  # fmt: skip
        out: list[tuple] = []
        T, n_envs = rewards.shape[:2]
        for t in range(T):
            for e in range(n_envs):
                step = (
                    batch.obs[t, e], batch.actions[t, e], float(rewards[t, e]),
                    batch.next_obs[t, e], bool(batch.terminated[t, e]),
                    bool(batch.terminated[t, e] or batch.truncated[t, e]),
                )  # fmt: skip
                window = self.pending[e]
                window.append(step)
                if step[5]:  # episode ended: flush every open window
                    while window:
                        out.append(self._fold(window))
                        window.pop(0)
                elif len(window) == self.n:
                    out.append(self._fold(window))
                    window.pop(0)
        if not out:
            shape = batch.obs.shape[2:]
            return Transitions(
                np.empty((0, *shape), batch.obs.dtype),
                np.empty((0, *batch.actions.shape[2:]), batch.actions.dtype),
                np.empty(0, np.float32), np.empty((0, *shape), batch.obs.dtype),
                np.empty(0, np.float32),
            )  # fmt: skip
        cols = list(zip(*out))
        return Transitions(
            np.stack(cols[0]), np.stack(cols[1]), np.asarray(cols[2], np.float32),
            np.stack(cols[3]), np.asarray(cols[4], np.float32),
        )  # fmt: skip

    def _fold(self, window: list[tuple]) -> tuple:
        ret, discount = 0.0, 1.0
        for _obs, _act, r, _next, terminated, _done in window:
            ret += discount * r
            discount *= self.gamma
            if terminated:
                discount = 0.0
        return window[0][0], window[0][1], ret, window[-1][3], discount


class ReplayBuffer:
    """Uniform replay over a flat circular store of transitions."""

    def __init__(self, capacity: int, seed: int | None = None):
        self.capacity = capacity
        self.pos = 0
        self.size = 0
        self.rng = np.random.default_rng(seed)
        self.store: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.size

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

    def sample(self, batch_size: int) -> ReplayBatch:
        idx = self.rng.integers(0, self.size, size=batch_size)
        return self._gather(idx, None)

    def _gather(self, idx: np.ndarray, weights: np.ndarray | None) -> ReplayBatch:
        s = self.store
        assert s is not None, "sample() before any add()"
        return ReplayBatch(
            s["obs"][idx], s["actions"][idx], s["rewards"][idx], s["next_obs"][idx],
            s["discounts"][idx], weights, idx,
        )  # fmt: skip

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Uniform replay ignores priorities."""


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016) on an array sum tree.

    New transitions get the highest priority seen so far; sampling is stratified over the
    total mass; importance weights (N * P(i))^-beta are normalized by their maximum.
    """

    def __init__(self, capacity: int, alpha: float, seed: int | None = None):
        super().__init__(capacity, seed)
        self.alpha = alpha
        self.beta = 0.4
        self.tree_size = 1
        while self.tree_size < capacity:
            self.tree_size *= 2
        self.tree = np.zeros(2 * self.tree_size, np.float64)
        self.max_priority = 1.0

    def _set(self, idx: np.ndarray, values: np.ndarray) -> None:
        nodes = idx + self.tree_size
        self.tree[nodes] = values
        nodes = np.unique(nodes // 2)
        while nodes[0] >= 1:
            self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]
            if nodes[0] == 1:
                break
            nodes = np.unique(nodes // 2)

    def _on_add(self, idx: np.ndarray) -> None:
        self._set(idx, np.full(len(idx), self.max_priority**self.alpha))

    def sample(self, batch_size: int) -> ReplayBatch:
        total = self.tree[1]
        bounds = (np.arange(batch_size) + self.rng.random(batch_size)) * (total / batch_size)
        nodes = np.ones(batch_size, np.int64)
        while nodes[0] < self.tree_size:  # descend all samples level by level
            left = 2 * nodes
            go_right = bounds > self.tree[left]
            bounds = np.where(go_right, bounds - self.tree[left], bounds)
            nodes = np.where(go_right, left + 1, left)
        idx = np.minimum(nodes - self.tree_size, self.size - 1)
        probs = self.tree[idx + self.tree_size] / total
        weights = (self.size * np.maximum(probs, 1e-12)) ** (-self.beta)
        return self._gather(idx, (weights / weights.max()).astype(np.float32))

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        priorities = np.abs(priorities) + 1e-6
        self.max_priority = max(self.max_priority, float(priorities.max()))
        self._set(indices, priorities**self.alpha)


class RolloutBuffer:
    """On-policy storage: holds the current rollout(s); sample() hands them over and empties."""

    def __init__(self, parts_per_update: int = 1):
        self.parts: list[StepBatch] = []
        self.parts_per_update = parts_per_update

    def __len__(self) -> int:
        return sum(p.n_steps for p in self.parts)

    def add(self, batch: StepBatch) -> None:
        self.parts.append(batch)

    @property
    def ready(self) -> bool:
        return len(self.parts) >= self.parts_per_update

    def sample(self, batch_size: int | None = None) -> StepBatch:
        batch = StepBatch.concat_envs(self.parts)
        self.parts = []
        return batch

    def update_priorities(self, indices, priorities) -> None:
        """Nothing to do for on-policy data."""
