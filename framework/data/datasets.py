"""Datasets for offline RL: what ``general_cfg.dataset`` names, read into flat transitions.

A dataset is one of

- rldojo trajectory shards (``trajs*.npz``, ``framework/data/trajectories.py``): a task
  directory, a results directory, a shard file, or a list of those;
- ``minari:<dataset id or path>``: a Minari dataset in the local store (``minari_io.py``, needs
  the ``minari`` extra).

Everything is read into memory, one shard (or Minari episode) at a time, and kept as flat
arrays (no copy per episode): the dataset must fit in memory, while the files it came from may
be many. Loading never runs code from the files (rldojo shards are no-pickle archives).

:class:`DatasetBuffer` serves minibatches of a dataset to the learner: a buffer of kind
``dataset`` (the policy runs its update steps every loop step; nothing is ever added).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from config.base import UserError
from framework.data.buffers import ReplayBuffer
from framework.data.trajectories import iter_trajectories
from framework.data.types import BufferKind, StepBatch, Transitions

MINARI_PREFIX = "minari:"


class DatasetError(UserError):
    """A dataset that cannot be used (missing, empty, another env, other spaces); one line."""


@dataclass
class Dataset:
    """Flat transitions of whole episodes, in episode order (every episode ends with a
    terminated or truncated step), and what is known about where they came from."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray  # float32, raw env rewards
    next_observations: np.ndarray
    terminated: np.ndarray  # bool
    truncated: np.ndarray  # bool
    episode_returns: np.ndarray
    env_id: str | None
    source: str
    ref_min_score: float | None = None
    ref_max_score: float | None = None

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def n_episodes(self) -> int:
        return len(self.episode_returns)

    @property
    def reference(self) -> tuple[float, float] | None:
        """(ref_min_score, ref_max_score) when both are known (D4RL normalization)."""
        if self.ref_min_score is None or self.ref_max_score is None:
            return None
        return float(self.ref_min_score), float(self.ref_max_score)

    def steps(self) -> StepBatch:
        """The dataset as one env stream ([N, 1] arrays) for a policy's adder (n-step returns
        are folded per episode, since every episode ends with a done step)."""
        return StepBatch(
            self.observations[:, None],
            self.actions[:, None],
            self.rewards[:, None],
            self.next_observations[:, None],
            self.terminated[:, None],
            self.truncated[:, None],
        )


def normalized_score(ret: float, reference: tuple[float, float]) -> float:
    """D4RL's normalized score: 0 at ref_min_score, 100 at ref_max_score."""
    low, high = reference
    return 100.0 * (ret - low) / (high - low)


def from_episodes(
    episodes: list[dict[str, np.ndarray]], env_id: str | None, source: str, **refs: Any
) -> Dataset:
    """A Dataset from episodes with the trajectory-shard keys (observations, actions, rewards,
    next_observations, terminated, truncated); the last step of an episode that ends in
    neither is marked truncated."""
    if not episodes or not sum(len(e["rewards"]) for e in episodes):
        raise DatasetError(f"general_cfg.dataset: {source} holds no transitions; collect some")
    flat = {}
    for key in ("observations", "actions", "next_observations"):
        try:
            flat[key] = np.concatenate([e[key] for e in episodes])
        except ValueError:
            raise DatasetError(
                f"general_cfg.dataset: the episodes of {source} do not share their {key} shape; "
                "use data of one env"
            ) from None
    terminated = np.concatenate([np.asarray(e["terminated"], bool) for e in episodes])
    truncated = np.concatenate([np.asarray(e["truncated"], bool) for e in episodes])
    ends = np.cumsum([len(e["rewards"]) for e in episodes]) - 1
    truncated[ends] |= ~terminated[ends]  # an episode cut short by the recording is truncated
    rewards = np.concatenate([np.asarray(e["rewards"], np.float32) for e in episodes])
    returns = np.array([float(np.sum(e["rewards"], dtype=np.float64)) for e in episodes])
    return Dataset(
        flat["observations"],
        flat["actions"],
        rewards,
        flat["next_observations"],
        terminated,
        truncated,
        returns,
        env_id,
        source,
        **refs,
    )


def read_shards(source: str | Sequence[str]) -> Dataset:
    """rldojo trajectory shards (one shard in memory besides the growing result)."""
    episodes, env_ids = [], set()
    try:
        for traj in iter_trajectories(source):
            episodes.append(traj)
            env_ids.add(traj.get("env_id"))
    except UserError as err:
        raise DatasetError(f"general_cfg.dataset: {err}") from None
    env_ids.discard(None)
    if len(env_ids) > 1:
        raise DatasetError(
            f"general_cfg.dataset: {source} mixes trajectories of envs {sorted(env_ids)}; "
            "give data of one env"
        )
    return from_episodes(episodes, env_ids.pop() if env_ids else None, str(source))


def open_dataset(spec: str | Sequence[str]) -> Dataset:
    """The dataset ``general_cfg.dataset`` names (see the module docstring)."""
    names = [spec] if isinstance(spec, str) else list(spec)
    minari = [n for n in names if n.startswith(MINARI_PREFIX)]
    if minari:
        if len(names) > 1:
            raise DatasetError(
                "general_cfg.dataset: a Minari dataset is given alone, not in a list; "
                "combine datasets with Minari's own tools"
            )
        from framework.data.minari_io import read_minari

        try:
            episodes, env_id, refs = read_minari(names[0][len(MINARI_PREFIX) :])
        except UserError as err:
            raise DatasetError(str(err)) from None
        return from_episodes(episodes, env_id, names[0], **refs)
    return read_shards(names[0] if len(names) == 1 else names)


def check_dataset(dataset: Dataset, env_id: str, obs_space: gym.Space, action_space: gym.Space):
    """One-line DatasetError unless the dataset's transitions fit the env's spaces."""
    where = f"general_cfg.dataset: {dataset.source}"
    obs_shape = dataset.observations.shape[1:]
    if obs_shape != tuple(obs_space.shape or ()):
        raise DatasetError(
            f"{where}: observations of shape {obs_shape} do not fit {env_id}'s observation space "
            f"{obs_space}; evaluate on the dataset's env (env_cfg.id)"
        )
    actions = dataset.actions
    if isinstance(action_space, gym.spaces.Discrete):
        ok = actions.ndim == 1 and np.issubdtype(actions.dtype, np.integer)
        ok = ok and actions.min() >= action_space.start
        ok = ok and actions.max() < action_space.start + action_space.n
    elif isinstance(action_space, gym.spaces.Box):
        ok = actions.shape[1:] == action_space.shape and np.issubdtype(actions.dtype, np.floating)
        if ok:  # a small tolerance: float32 round trips of the bounds
            tol = 1e-5 * np.maximum(1.0, np.abs(action_space.high))
            ok = bool((actions >= action_space.low - tol).all())
            ok = ok and bool((actions <= action_space.high + tol).all())
    else:
        ok = False
    if not ok:
        raise DatasetError(
            f"{where}: actions ({actions.dtype}, shape {actions.shape[1:]}, in "
            f"[{actions.min()}, {actions.max()}]) do not fit {env_id}'s action space "
            f"{action_space}; evaluate on the dataset's env (env_cfg.id)"
        )


class DatasetBuffer(ReplayBuffer):
    """A fixed dataset served as uniform minibatches (kind ``dataset``): the transitions a
    policy's adder made of it (n-step returns, discounts). Its state is the sampling RNG only;
    the data come from the dataset again on resume."""

    kind: ClassVar[BufferKind] = "dataset"

    def __init__(self, transitions: Transitions, seed: int | None = None):
        super().__init__(max(len(transitions), 1), seed)
        super().add(transitions)

    def add(self, data) -> None:
        raise TypeError("a dataset buffer holds a fixed dataset; nothing is added while training")

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["size"]) != self.size:
            raise ValueError(f"the dataset now holds {self.size} transitions, not {state['size']}")
        self.rng.bit_generator.state = state["rng"]
