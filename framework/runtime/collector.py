"""The collector: steps vectorized training envs with the policy (the core of a Worker)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from envs.state import env_state, load_env_state
from envs.vector import make_vector, true_next_obs
from framework.data.types import Episode, Record, StepBatch


class Collected(NamedTuple):
    """One collection phase: ``data`` for the buffer (after the adder), the raw batch, the
    episodes that finished, finished trajectories (when recording) and env steps taken."""

    data: Any
    batch: StepBatch
    episodes: list[Episode]
    trajectories: list[dict]
    env_steps: int

    def record(self, n_envs: int, with_obs: bool, worker: int = 0) -> Record:
        obs = self.batch.obs if with_obs else None
        return Record(self.episodes, self.trajectories, self.env_steps, n_envs, obs, worker)


class Collector:
    """Owns ``n_envs`` vectorized envs, the per-stream adder and reward scaler, and the
    per-env episode accounting. Acts with ``policy.act(obs, "explore")``, batched; the actions
    it stores are the ones the envs executed.

    Episodes (the records and trajectories) are the envs' episodes with the summed rewards they
    returned, unless the vector env reports its own in ``info["episode"] = {"r": returns,
    "l": lengths}`` with the mask ``info["_episode"]`` (gymnasium's RecordEpisodeStatistics
    convention): then those are recorded, e.g. whole Atari games with raw scores while learning
    sees life losses as episode ends and clipped rewards. Trajectories then end where those
    episodes end.

    ``seeds``: one reset seed per env (from the run's seed streams), or None (unseeded)."""

    def __init__(self, cfg, policy, n_envs: int, seeds: list[int] | None, assembler=None):
        self.policy = policy
        self.envs = make_vector(cfg, n_envs)
        self.n_envs = n_envs
        self.obs, _ = self.envs.reset(seed=seeds)
        self.adder = policy.make_adder(n_envs)
        self.reward_scaler = policy.make_reward_scaler(n_envs)
        self.assembler = assembler
        if assembler is not None and seeds is not None:
            for i, s in enumerate(seeds):  # later episodes are auto-reset without a seed
                assembler.set_episode_seed(i, s)
        self.ep_return = np.zeros(n_envs, np.float64)
        self.ep_length = np.zeros(n_envs, np.int64)

    def collect(self, n_vector_steps: int) -> Collected:
        T, N = n_vector_steps, self.n_envs
        obs_buf = np.empty((T, *self.obs.shape), self.obs.dtype)
        next_buf = np.empty_like(obs_buf)
        rew_buf = np.empty((T, N), np.float32)
        term_buf = np.empty((T, N), bool)
        trunc_buf = np.empty((T, N), bool)
        act_buf = None
        extras: dict[str, np.ndarray] = {}
        episodes: list[Episode] = []
        trajectories: list[dict] = []
        act = self.policy.act
        for t in range(T):
            actions, extra = act(self.obs, "explore")
            if act_buf is None:
                act_buf = np.empty((T, *actions.shape), actions.dtype)
                extras = {k: np.empty((T, *v.shape), v.dtype) for k, v in extra.items()}
            next_obs, rewards, terminated, truncated, info = self.envs.step(actions)
            done = terminated | truncated
            real_next = true_next_obs(next_obs, info, done)
            obs_buf[t], act_buf[t], rew_buf[t] = self.obs, actions, rewards
            next_buf[t], term_buf[t], trunc_buf[t] = real_next, terminated, truncated
            for k, v in extra.items():
                extras[k][t] = v
            self.ep_return += rewards
            self.ep_length += 1
            ended, ret, length = done, self.ep_return, self.ep_length
            if "_episode" in info:  # the env reports its own episodes (e.g. whole games)
                ended, ret, length = info["_episode"], info["episode"]["r"], info["episode"]["l"]
            if self.assembler is not None:
                trajectories += self.assembler.add_step(
                    self.obs, actions, rewards, real_next, terminated & ended, truncated & ended
                )
            if ended.any():
                for i in np.flatnonzero(ended):
                    episodes.append(Episode(float(ret[i]), int(length[i]), t))
                self.ep_return[ended] = 0.0
                self.ep_length[ended] = 0
            self.obs = next_obs
        batch = StepBatch(obs_buf, act_buf, rew_buf, next_buf, term_buf, trunc_buf, extras)
        if self.reward_scaler is not None:
            batch.learn_rewards = self.reward_scaler(rew_buf, term_buf | trunc_buf)
        return Collected(self.adder(batch), batch, episodes, trajectories, T * N)

    # ---- state (a resumed run continues the episodes in progress) ----------------------------
    def state_dict(self) -> dict[str, Any]:
        """Observations, per-env episode accounting, the envs' own state (None where an env
        cannot be saved, see ``envs/state.py``), the adder's carry, the reward scaler and the
        trajectories in progress."""
        return {
            "obs": self.obs,
            "ep_return": self.ep_return.copy(),
            "ep_length": self.ep_length.copy(),
            "envs": env_state(self.envs),
            "adder": self.adder.state_dict(),
            "reward_scaler": (
                self.reward_scaler.state_dict() if self.reward_scaler is not None else None
            ),
            "assembler": self.assembler.state_dict() if self.assembler is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        """Continue where the saved collector was; False when its envs could not be restored
        (then the envs keep their fresh episodes and only the scaler's statistics carry over)."""
        if self.reward_scaler is not None and state["reward_scaler"] is not None:
            self.reward_scaler.load_state_dict(state["reward_scaler"])
        if state["envs"] is None or not load_env_state(self.envs, state["envs"]):
            return False
        self.obs = state["obs"]
        self.ep_return = np.array(state["ep_return"], np.float64)
        self.ep_length = np.array(state["ep_length"], np.int64)
        self.adder.load_state_dict(state["adder"])
        if self.assembler is not None and state["assembler"] is not None:
            self.assembler.load_state_dict(state["assembler"])
        return True

    def close(self) -> None:
        self.envs.close()
