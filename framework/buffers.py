"""Experience storage and the adders that turn collected rollouts into what a buffer stores.

An *adder* (as in Acme) lives next to a collector and keeps the per-env stream state that must
not be split across workers (pending n-step windows, the reward scaler's running returns). A
*buffer* lives with the learner (or the Ray DataServer) and needs no knowledge of env streams.
"""

from __future__ import annotations

import numpy as np

from framework.data import ReplayBatch, StepBatch, Transitions


class NStepAdder:
    """Folds n-step returns into flat transitions, per env stream, vectorized over [T, n_envs].

    For a window starting at step t it emits reward sum_{k<m} gamma^k r_{t+k} and
    discount gamma^m * (1 - terminated_{t+m-1}), where m <= n stops at an episode end.
    A time-limit truncation ends the window but keeps the bootstrap (discount gamma^m);
    only termination zeroes it. The last n-1 steps carry over to the next batch, so windows
    that straddle two collection phases are completed there (and emitted exactly once).
    """

    def __init__(self, n_envs: int, n_step: int, gamma: float):
        self.n = n_step
        self.gamma = gamma
        self.carry: dict[str, np.ndarray] | None = None

    def __call__(self, batch: StepBatch) -> Transitions:
        rewards = batch.learn_rewards if batch.learn_rewards is not None else batch.rewards
        cur = {
            "obs": batch.obs, "actions": batch.actions, "rewards": rewards.astype(np.float32),
            "next_obs": batch.next_obs, "terminated": batch.terminated,
            "end": batch.terminated | batch.truncated,
            "emitted": np.zeros(rewards.shape, bool),
        }  # fmt: skip
        if self.carry is not None:
            cur = {k: np.concatenate([self.carry[k], v]) for k, v in cur.items()}
        T = len(cur["rewards"])
        starts = np.arange(T)[:, None]
        ret = np.zeros(cur["rewards"].shape, np.float64)
        discount = np.ones_like(ret)
        last = np.broadcast_to(starts, ret.shape).copy()
        alive = np.ones(ret.shape, bool)  # window still open
        ended = np.zeros(ret.shape, bool)  # window closed by an episode end
        steps = np.zeros(ret.shape, np.int64)
        cols = np.arange(ret.shape[1])[None, :]
        for k in range(self.n):
            idx = starts + k
            valid = idx < T
            idx_c = np.minimum(idx, T - 1)
            use = alive & valid
            ret += np.where(use, discount * cur["rewards"][idx_c, cols], 0.0)
            discount = np.where(use, discount * self.gamma, discount)
            last = np.where(use, idx_c, last)
            steps += use
            term = use & cur["terminated"][idx_c, cols]
            discount = np.where(term, 0.0, discount)
            end = use & cur["end"][idx_c, cols]
            ended |= end
            alive &= ~end & valid
        complete = ended | (steps == self.n)
        emit = complete & ~cur["emitted"]
        t_idx, e_idx = np.nonzero(emit)
        last_t = last[t_idx, e_idx]
        out = Transitions(
            cur["obs"][t_idx, e_idx], cur["actions"][t_idx, e_idx],
            ret[t_idx, e_idx].astype(np.float32), cur["next_obs"][last_t, e_idx],
            discount[t_idx, e_idx].astype(np.float32),
        )  # fmt: skip
        if self.n > 1:
            keep = slice(max(0, T - (self.n - 1)), T)
            self.carry = {k: v[keep] for k, v in cur.items()}
            self.carry["emitted"] = (complete | cur["emitted"])[keep]
        return out


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
