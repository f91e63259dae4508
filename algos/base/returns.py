"""Return and advantage estimators shared by the algorithms (numpy, [T, n_envs] arrays)."""

from __future__ import annotations

import numpy as np


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    episode_end: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> np.ndarray:
    """Generalized Advantage Estimation (Schulman et al. 2016).

    ``next_values[t]`` is V of the true next state of step t (the final observation where an
    episode ended), so a time-limit truncation bootstraps from it: the TD error uses
    ``(1 - terminated)``, while the lambda-recursion stops at any episode end
    (``episode_end = terminated | truncated``).
    """
    T = len(rewards)
    not_term = 1.0 - terminated.astype(np.float64)
    not_end = 1.0 - episode_end.astype(np.float64)
    deltas = rewards + gamma * next_values * not_term - values
    adv = np.zeros_like(deltas, dtype=np.float64)
    last = np.zeros(deltas.shape[1:], np.float64)
    for t in reversed(range(T)):
        last = deltas[t] + gamma * gae_lambda * not_end[t] * last
        adv[t] = last
    return adv.astype(np.float32)


def compute_mc_returns(
    rewards: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
) -> np.ndarray:
    """Discounted Monte-Carlo returns over a [T, n_envs] rollout, per env column.

    G_t = r_t + gamma * G_{t+1} inside an episode; at a termination G_t = r_t; at a time-limit
    truncation G_t = r_t + gamma * V(final obs) (the episode would have gone on); at the end of
    the rollout, an episode still running bootstraps from ``next_values[T-1]`` the same way.
    With complete episodes (REINFORCE) no bootstrap value is used at all.
    """
    T = len(rewards)
    returns = np.zeros(rewards.shape, np.float64)
    running = np.zeros(rewards.shape[1:], np.float64)  # G_{t+1}
    for t in reversed(range(T)):
        boot = np.where(terminated[t], 0.0, next_values[t])
        running = np.where(truncated[t] | terminated[t] | (t == T - 1), boot, running)
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns.astype(np.float32)
