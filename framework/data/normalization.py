"""Running statistics: observation normalization and reward scaling.

Both keep float64 statistics updated with the parallel (Chan et al.) form of Welford's algorithm,
so a batch of any size updates them exactly as the same values one by one would.
"""

from __future__ import annotations

import numpy as np


class RunningMeanStd:
    """Mean and (population) variance of a stream of arrays of shape ``shape``."""

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        # A tiny prior count (SB3's 1e-4) keeps the scale finite after a first batch of one;
        # 0 gives the exact statistics of the stream.
        self.count = epsilon

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64).reshape(-1, *self.mean.shape)
        if len(x) == 0:
            return
        self.update_from_moments(x.mean(axis=0), x.var(axis=0), len(x))

    def update_from_moments(self, mean: np.ndarray, var: np.ndarray, count: float) -> None:
        delta = mean - self.mean
        total = self.count + count
        self.mean = self.mean + delta * count / total
        m2 = self.var * self.count + var * count + delta**2 * self.count * count / total
        self.var = m2 / total
        self.count = total

    def state_dict(self) -> dict:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": float(self.count)}

    def load_state_dict(self, state: dict) -> None:
        if np.shape(state["mean"]) != self.mean.shape:
            raise ValueError(
                f"normalizer shape {np.shape(state['mean'])} does not match {self.mean.shape}"
            )
        self.mean = np.array(state["mean"], np.float64)
        self.var = np.array(state["var"], np.float64)
        self.count = float(state["count"])


class ObsNormalizer(RunningMeanStd):
    """(obs - mean) / std, clipped to [-clip, clip]; statistics change only through update()
    and load_state_dict().

    No prior count: the statistics are exactly the mean and variance of every observation seen
    (identity before the first update), so they can be checked against numpy. The float32
    shift and scale used on the acting hot path are refreshed whenever the statistics change.
    """

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, epsilon: float = 1e-8):
        super().__init__(shape, epsilon=0.0)
        self.clip = clip
        self.eps = epsilon
        self._refresh()

    def _refresh(self) -> None:
        self._shift = self.mean.astype(np.float32)
        self._scale = (1.0 / np.sqrt(self.var + self.eps)).astype(np.float32)

    def update_from_moments(self, mean: np.ndarray, var: np.ndarray, count: float) -> None:
        super().update_from_moments(mean, var, count)
        self._refresh()

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self._refresh()

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        out = (np.asarray(obs, np.float32) - self._shift) * self._scale
        np.minimum(out, self.clip, out=out)  # np.clip costs more on small batches
        np.maximum(out, -self.clip, out=out)
        return out


class RewardScaler:
    """Scales rewards by the running std of the discounted return, per env stream.

    As in Engstrom et al. 2020 ("Implementation Matters") and SB3's VecNormalize: the return
    R <- gamma * R + r is tracked per env and reset at episode ends; rewards are divided by
    std(R) (not centred), then optionally clipped.
    """

    def __init__(self, n_envs: int, gamma: float, scale: bool, clip: float | None):
        self.returns = np.zeros(n_envs, np.float64)
        self.stats = RunningMeanStd(())
        self.gamma = gamma
        self.scale = scale
        self.clip = clip

    def __call__(self, rewards: np.ndarray, dones: np.ndarray, update: bool = True) -> np.ndarray:
        """rewards, dones: [T, n_envs]; returns learning rewards of the same shape (float32)."""
        out = np.asarray(rewards, np.float64)
        if self.scale:
            scaled = np.empty_like(out)
            for t in range(len(out)):
                self.returns = self.returns * self.gamma + out[t]
                if update:
                    self.stats.update(self.returns)
                scaled[t] = out[t] / np.sqrt(self.stats.var + 1e-8)
                self.returns[np.asarray(dones[t], bool)] = 0.0
            out = scaled
        if self.clip is not None:
            out = np.clip(out, -self.clip, self.clip)
        return out.astype(np.float32)

    def state_dict(self) -> dict:
        return {"stats": self.stats.state_dict(), "returns": self.returns.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.stats.load_state_dict(state["stats"])
        if np.shape(state["returns"]) == self.returns.shape:
            self.returns = np.array(state["returns"], np.float64)
