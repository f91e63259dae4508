"""Trajectory collection and storage for offline RL.

Collection
----------
:class:`EpisodeAssembler` turns the batched steps of a vector env into finished
trajectories, keeping one in-progress episode per sub-env. It expects the *true*
next observation for every step: with gymnasium's ``AutoresetMode.SAME_STEP`` the
caller substitutes ``info["final_obs"][i]`` wherever ``info["_final_obs"][i]`` is
set. (With ``NEXT_STEP`` autoreset the reset step is not a transition and must
not be fed to the assembler.) :class:`ShardWriter` streams finished trajectories
to disk in shards.

On-disk schema
--------------
Files live in a run's results directory (``<task_dir>/results``):

* a run that recorded at most ``shard_size`` (default :data:`SHARD_SIZE`)
  trajectories leaves exactly one file, ``trajs.npz``;
* a longer run leaves ``trajs_0.npz, trajs_1.npz, ...`` (numbered in collection
  order, each with at most ``shard_size`` trajectories; every trajectory is in
  exactly one shard).

A shard is full at ``shard_size`` trajectories or at ``max_bytes`` (default
:data:`SHARD_BYTES`; image observations counted packed) of array data, whichever
comes first; it is written as soon as it is full, so a crashed run loses at most the
shard being filled. Every write is atomic (to a hidden temp file in the
same directory, flush + fsync, ``os.replace``), so a reader never sees a half
written shard.

Each file is an rldojo archive (``framework/records/archive.py``: a NumPy ``.npz`` of plain
``.npy`` arrays plus one JSON structure; no pickle, so loading one cannot run code) of::

    {"format": "rldojo-trajs-2", "shard": k, "trajectories": [traj, ...]}

(A trajectory with uint8 image observations, such as Atari's frame stacks, holds
``packed_images`` (see ``framework/data/frames.py``: each frame once, zlib) instead
of ``observations`` and ``next_observations``; the loaders below unpack it.)

and each trajectory is a dict::

    observations       np.ndarray (T, *obs_shape)  env observation dtype
    actions            np.ndarray (T, *act_shape)  action dtype as passed in
    rewards            np.ndarray (T,) float32     raw env rewards
    next_observations  np.ndarray (T, *obs_shape)  true next observations
    terminated         np.ndarray (T,) bool        only ever True at the last step
    truncated          np.ndarray (T,) bool        only ever True at the last step
    return             float   sum of the raw rewards (accumulated in float64)
    length             int     T
    env_id             str
    seed               int | None   seed the episode's env was reset with
                                    (falls back to the run seed)
    policy             dict    {"algo": str, "checkpoint": str | None,
                                "exploration": str}
    episode            int     index of the trajectory within the run

Loading
-------
:func:`trajectory_files` finds the shards of a task dir, a results dir, a single
file or a list of those; :func:`iter_trajectories` streams trajectories shard by
shard; :func:`load_transitions` returns the flat D4RL-style transition arrays.
Loading runs no code from the files (``np.load(..., allow_pickle=False)`` underneath).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from config.base import UserError
from framework.data.frames import pack_images, unpack_images
from framework.records.archive import ArchiveError, read_archive, write_archive
from framework.records.io import fsync_dir

__all__ = [
    "FORMAT",
    "SHARD_SIZE",
    "EpisodeAssembler",
    "ShardWriter",
    "TrajectoryDataError",
    "iter_trajectories",
    "load_transitions",
    "trajectory_files",
]

SHARD_SIZE = 1000
SHARD_BYTES = 256 * 2**20  # array data per shard (a packed Atari game is 0.1-1 MB)
_ENTRY_BYTES = 256  # what an .npz entry adds to its array: zip headers, .npy header
FORMAT = "rldojo-trajs-2"

ARRAY_KEYS = (
    "observations",
    "actions",
    "rewards",
    "next_observations",
    "terminated",
    "truncated",
)
_SHARD_RE = re.compile(r"^trajs(?:_(\d+))?\.npz$")
_FIX_HINT = "re-collect it with collect_traj on (or delete the file)"

PathLike = str | os.PathLike[str]


class TrajectoryDataError(UserError):
    """Missing, empty or corrupt trajectory files.

    The message is one line: it names the file or directory and says how to fix it.
    """


# --------------------------------------------------------------------------- collection


class EpisodeAssembler:
    """Turns batched vector-env steps into finished trajectories, one episode per env.

    ``meta`` is static information stamped on every trajectory: ``env_id`` (str),
    ``algo`` (str), ``checkpoint`` (str | None), ``exploration`` (str, e.g.
    ``"epsilon-greedy"``, ``"deterministic"``, ``"sampled"``) and ``seed``
    (int | None, the default per-episode seed).
    """

    def __init__(self, n_envs: int, meta: dict[str, Any]) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        self.n_envs = int(n_envs)
        self.meta = dict(meta)
        self._default_seed: int | None = self.meta.get("seed")
        self._policy = {
            "algo": self.meta.get("algo"),
            "checkpoint": self.meta.get("checkpoint"),
            "exploration": self.meta.get("exploration"),
        }
        self._buffers: list[dict[str, list[Any]]] = [self._empty() for _ in range(self.n_envs)]
        self._seeds: list[int | None] = [self._default_seed] * self.n_envs

    @staticmethod
    def _empty() -> dict[str, list[Any]]:
        return {key: [] for key in ARRAY_KEYS}

    def set_episode_seed(self, env_index: int, seed: int | None) -> None:
        """Record the seed of the episode now in progress (or starting) in ``env_index``."""
        self._check_index(env_index)
        self._seeds[env_index] = self._default_seed if seed is None else int(seed)

    def in_progress_lengths(self) -> list[int]:
        """Number of steps buffered for each env's unfinished episode."""
        return [len(buf["rewards"]) for buf in self._buffers]

    def add_step(
        self,
        obs: Any,
        actions: Any,
        rewards: Any,
        next_obs: Any,
        terminated: Any,
        truncated: Any,
        reset_seeds: Sequence[int | None] | None = None,
    ) -> list[dict[str, Any]]:
        """Add one batched step; return the trajectories that finished on it, in env order.

        All arguments have leading dimension ``n_envs``. ``next_obs`` must be the true
        next observation (the final observation where the episode ended). ``reset_seeds``
        optionally gives, per env, the seed the episode now in progress was reset with
        (for an env whose episode just ended: the seed of the new episode); ``None``
        entries leave an unfinished episode's seed unchanged and give a new episode the
        default ``meta["seed"]``.
        """
        obs = np.asarray(obs)
        actions = np.asarray(actions)
        rewards = np.asarray(rewards)
        next_obs = np.asarray(next_obs)
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool)
        for name, value in (
            ("obs", obs),
            ("actions", actions),
            ("rewards", rewards),
            ("next_obs", next_obs),
            ("terminated", terminated),
            ("truncated", truncated),
        ):
            if value.ndim == 0 or value.shape[0] != self.n_envs:
                raise ValueError(
                    f"{name} must have leading dimension n_envs={self.n_envs}, "
                    f"got shape {value.shape}"
                )
        if reset_seeds is not None and len(reset_seeds) != self.n_envs:
            raise ValueError(f"reset_seeds must have {self.n_envs} entries, got {len(reset_seeds)}")

        finished: list[dict[str, Any]] = []
        for i in range(self.n_envs):
            buf = self._buffers[i]
            # Copies: vector envs may reuse their output buffers between steps.
            buf["observations"].append(np.array(obs[i], copy=True))
            buf["actions"].append(np.array(actions[i], copy=True))
            buf["rewards"].append(rewards[i].item())
            buf["next_observations"].append(np.array(next_obs[i], copy=True))
            buf["terminated"].append(bool(terminated[i]))
            buf["truncated"].append(bool(truncated[i]))
            done = bool(terminated[i] or truncated[i])
            if done:
                finished.append(self._finish(i))
            new_seed = None if reset_seeds is None else reset_seeds[i]
            if new_seed is not None:
                self._seeds[i] = int(new_seed)
            elif done:
                self._seeds[i] = self._default_seed
        return finished

    def _finish(self, i: int) -> dict[str, Any]:
        buf = self._buffers[i]
        raw_rewards = np.asarray(buf["rewards"], dtype=np.float64)
        traj: dict[str, Any] = {
            "observations": np.stack(buf["observations"]),
            "actions": np.stack(buf["actions"]),
            "rewards": raw_rewards.astype(np.float32),
            "next_observations": np.stack(buf["next_observations"]),
            "terminated": np.asarray(buf["terminated"], dtype=bool),
            "truncated": np.asarray(buf["truncated"], dtype=bool),
            "return": float(raw_rewards.sum()),
            "length": len(raw_rewards),
            "env_id": self.meta.get("env_id"),
            "seed": self._seeds[i],
            "policy": dict(self._policy),
        }
        self._buffers[i] = self._empty()
        return traj

    def state_dict(self) -> dict[str, Any]:
        """The episodes in progress (a resumed run completes them)."""
        return {
            "buffers": [{k: list(v) for k, v in b.items()} for b in self._buffers],
            "seeds": list(self._seeds),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["buffers"]) != self.n_envs:
            return
        self._buffers = [{k: list(v) for k, v in b.items()} for b in state["buffers"]]
        self._seeds = list(state["seeds"])

    def _check_index(self, env_index: int) -> None:
        if not 0 <= env_index < self.n_envs:
            raise IndexError(f"env_index {env_index} out of range for n_envs={self.n_envs}")


# --------------------------------------------------------------------------- writing


def _archive_bytes(tree: Any) -> int:
    """About the bytes ``tree`` takes in an archive: its arrays and their entries."""
    if isinstance(tree, np.ndarray):
        return tree.nbytes + _ENTRY_BYTES
    if isinstance(tree, dict):
        return sum(_archive_bytes(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(_archive_bytes(v) for v in tree)
    return 16  # a number or string in the JSON structure


def _shard_files_in(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.is_file() and _SHARD_RE.match(p.name)]


class ShardWriter:
    """Streams finished trajectories to ``results_dir`` in shards of at most ``shard_size``.

    A full shard is written at once as ``trajs_{k}.npz``; :meth:`close` writes the
    partial last shard and, when the whole run fit in a single shard, leaves it as
    ``trajs.npz``. Trajectory files already in ``results_dir`` would mix with this
    run's, so they raise :class:`FileExistsError` unless ``overwrite=True``, which
    deletes them. Usable as a context manager (closes on exit, also on error, so
    everything collected so far is kept).
    """

    def __init__(
        self,
        results_dir: PathLike,
        shard_size: int = SHARD_SIZE,
        overwrite: bool = False,
        max_bytes: int = SHARD_BYTES,
    ) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.results_dir = Path(results_dir)
        self.shard_size = int(shard_size)
        self.max_bytes = int(max_bytes)
        self._bytes = 0
        if self.results_dir.is_dir():
            stale = sorted(_shard_files_in(self.results_dir))
            if stale and not overwrite:
                raise FileExistsError(
                    f"{self.results_dir} already holds trajectory files "
                    f"({', '.join(p.name for p in stale)}); move them away or pass overwrite=True"
                )
            for p in stale:
                p.unlink()
        self._buffer: list[dict[str, Any]] = []
        self._files: list[Path] = []
        self._n_written = 0
        self._closed = False

    @property
    def n_written(self) -> int:
        """Trajectories already on disk."""
        return self._n_written

    @property
    def n_total(self) -> int:
        """Trajectories on disk plus those buffered for the next shard."""
        return self._n_written + len(self._buffer)

    @property
    def files(self) -> list[Path]:
        """Shard files written so far, in order."""
        return list(self._files)

    def add(self, traj: dict[str, Any]) -> None:
        """Buffer one trajectory (assigning ``episode`` if missing); write the shard when full."""
        if self._closed:
            raise RuntimeError("ShardWriter is closed")
        if not isinstance(traj, dict):
            raise TypeError(f"trajectory must be a dict, got {type(traj).__name__}")
        traj = pack_trajectory(traj)
        if traj.get("episode") is None:
            traj["episode"] = self.n_total
        self._buffer.append(traj)
        self._bytes += _archive_bytes(traj)
        if len(self._buffer) >= self.shard_size or self._bytes >= self.max_bytes:
            self._write(f"trajs_{len(self._files)}.npz")

    def extend(self, trajs: Iterable[dict[str, Any]]) -> None:
        """Add several trajectories in order."""
        for traj in trajs:
            self.add(traj)

    def _write(self, name: str) -> None:
        self.results_dir.mkdir(parents=True, exist_ok=True)
        path = self.results_dir / name
        shard = {"format": FORMAT, "shard": len(self._files), "trajectories": self._buffer}
        write_archive(path, shard)
        self._files.append(path)
        self._n_written += len(self._buffer)
        self._buffer = []
        self._bytes = 0

    def close(self) -> list[Path]:
        """Write the partial shard and return the files written; later calls do nothing."""
        if self._closed:
            return list(self._files)
        self._closed = True
        if self._buffer:
            self._write("trajs.npz" if not self._files else f"trajs_{len(self._files)}.npz")
        elif len(self._files) == 1 and self._files[0].name != "trajs.npz":
            # Exactly one full shard: the run fit in one file after all.
            single = self.results_dir / "trajs.npz"
            os.replace(self._files[0], single)
            fsync_dir(self.results_dir)
            self._files = [single]
        return list(self._files)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --------------------------------------------------------------------------- loading


def _shard_sort_key(path: Path) -> int:
    match = _SHARD_RE.match(path.name)
    return -1 if match is None or match.group(1) is None else int(match.group(1))


def _files_in_dir(directory: Path) -> list[Path]:
    files = _shard_files_in(directory)
    if not files:
        return []
    files.sort(key=_shard_sort_key)
    numbered = [k for k in map(_shard_sort_key, files) if k >= 0]
    if numbered and files[0].name == "trajs.npz":
        raise TrajectoryDataError(
            f"{directory} holds both trajs.npz and trajs_N.npz (files from different runs); "
            "keep one run's files only"
        )
    if numbered and numbered != list(range(len(numbered))):
        missing = sorted(set(range(numbered[-1] + 1)) - set(numbered))
        warnings.warn(
            f"{directory}: trajectory shards {missing} are missing; loading the others",
            stacklevel=3,
        )
    return files


def trajectory_files(source: PathLike | Sequence[PathLike]) -> list[Path]:
    """Return the trajectory shard files of ``source``, in order.

    ``source`` is a task directory (reads ``<dir>/results/trajs*.npz``), a results
    directory, a single ``.npz`` file, or a list/tuple of any of those (concatenated in
    the given order). Shards are ordered numerically (``trajs_2`` before ``trajs_10``).
    """
    if isinstance(source, (list, tuple)):
        if not source:
            raise TrajectoryDataError("no trajectory source given (empty list)")
        return [f for item in source for f in trajectory_files(item)]
    path = Path(source)
    if not path.exists():
        raise TrajectoryDataError(
            f"trajectory path {path} does not exist; check the path (task dir, results dir "
            "or trajs*.npz file)"
        )
    if path.is_file():
        return [path]
    files = _files_in_dir(path)
    if not files and (path / "results").is_dir():
        files = _files_in_dir(path / "results")
    if not files:
        raise TrajectoryDataError(
            f"no trajectory files (trajs*.npz) in {path} or {path / 'results'}; "
            "run the task with collect_traj on to record them"
        )
    return files


def _corrupt(path: Path, reason: str) -> TrajectoryDataError:
    return TrajectoryDataError(f"corrupt trajectory file {path}: {reason}; {_FIX_HINT}")


def _load_shard(path: Path) -> list[dict[str, Any]]:
    try:
        shard = read_archive(path)
    except ArchiveError as exc:
        raise _corrupt(path, f"not a readable archive ({exc})".replace("\n", " ")) from None
    except OSError as exc:
        raise TrajectoryDataError(
            f"cannot read trajectory file {path}: {exc.strerror or exc}; check permissions"
        ) from exc
    if not isinstance(shard, dict):
        raise _corrupt(path, f"expected a dict, got {type(shard).__name__}")
    if shard.get("format") != FORMAT:
        raise _corrupt(path, f"format tag is {shard.get('format')!r}, expected {FORMAT!r}")
    trajs = shard.get("trajectories")
    if not isinstance(trajs, list):
        raise _corrupt(path, "'trajectories' is missing or not a list")
    for n, traj in enumerate(trajs):  # packed ones are checked as they are unpacked
        if not (isinstance(traj, dict) and "packed_images" in traj):
            _check_trajectory(path, n, traj)
    return trajs


def pack_trajectory(traj: dict[str, Any]) -> dict[str, Any]:
    """A copy with uint8 image observations packed (``packed_images``); others as they are."""
    traj = dict(traj)
    obs = traj.get("observations")
    if isinstance(obs, np.ndarray) and obs.dtype == np.uint8 and obs.ndim >= 3:
        traj["packed_images"] = pack_images(obs, traj.pop("next_observations"))
        del traj["observations"]
    return traj


def _unpacked(path: Path, n: int, traj: Any) -> dict[str, Any]:
    """A trajectory of a shard with its image observations unpacked, checked."""
    if isinstance(traj, dict) and "packed_images" in traj:
        traj = dict(traj)
        try:
            traj["observations"], traj["next_observations"] = unpack_images(
                traj.pop("packed_images")
            )
        except Exception as exc:  # zlib, shapes, missing keys: all mean a damaged file
            raise _corrupt(path, f"trajectory {n} has damaged packed images ({exc})") from exc
    _check_trajectory(path, n, traj)
    return traj


def _check_trajectory(path: Path, n: int, traj: Any) -> None:
    if not isinstance(traj, dict):
        raise _corrupt(path, f"trajectory {n} is a {type(traj).__name__}, not a dict")
    lengths = {}
    for key in ARRAY_KEYS:
        value = traj.get(key)
        if not isinstance(value, np.ndarray) or value.ndim == 0:
            raise _corrupt(path, f"trajectory {n} has no array {key!r}")
        lengths[key] = value.shape[0]
    if len(set(lengths.values())) != 1:
        detail = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise _corrupt(path, f"trajectory {n} has arrays of unequal length ({detail})")
    length = traj.get("length")
    if length is not None and length != lengths["rewards"]:
        raise _corrupt(path, f"trajectory {n} has length={length} but {lengths['rewards']} steps")


def iter_trajectories(source: PathLike | Sequence[PathLike]) -> Iterator[dict[str, Any]]:
    """Yield trajectories in order, loading one shard at a time (bounded memory)."""
    for path in trajectory_files(source):
        for n, traj in enumerate(_load_shard(path)):  # images unpacked one at a time
            yield _unpacked(path, n, traj)


def load_transitions(source: PathLike | Sequence[PathLike]) -> dict[str, np.ndarray]:
    """Return all transitions as flat arrays, concatenated in trajectory order.

    Keys follow D4RL: ``observations``, ``actions``, ``rewards`` (float32),
    ``next_observations``, ``terminals`` (= terminated) and ``timeouts`` (= truncated).
    """
    keys = {
        "observations": "observations",
        "actions": "actions",
        "rewards": "rewards",
        "next_observations": "next_observations",
        "terminals": "terminated",
        "timeouts": "truncated",
    }
    parts: dict[str, list[np.ndarray]] = {out: [] for out in keys}
    for traj in iter_trajectories(source):
        for out, key in keys.items():
            parts[out].append(traj[key])
    if not parts["rewards"]:
        raise TrajectoryDataError(
            f"trajectory files of {source} contain no trajectories; "
            "re-collect them with collect_traj on"
        )
    try:
        flat = {out: np.concatenate(arrays) for out, arrays in parts.items()}
    except ValueError as exc:
        raise TrajectoryDataError(
            f"trajectories in {source} do not share observation/action shapes ({exc}); "
            "load runs of the same env separately"
        ) from exc
    flat["rewards"] = flat["rewards"].astype(np.float32, copy=False)
    flat["terminals"] = flat["terminals"].astype(bool, copy=False)
    flat["timeouts"] = flat["timeouts"].astype(bool, copy=False)
    return flat
