"""Minari datasets in and out (the optional ``minari`` extra: ``pip install 'rldojo[minari]'``).

- in: ``general_cfg.dataset: minari:<dataset id or path>`` reads a dataset of the local Minari
  store (``minari list local``; ``MINARI_DATASETS_PATH`` moves the store) or the dataset folder
  at a path, with its env id and reference scores (``ref_min_score``/``ref_max_score``, for D4RL
  normalized scores). Remote downloads are never attempted.
- out: rldojo trajectory shards to a Minari dataset (HDF5 backend), with the env spec and the
  reference scores when given, so other offline-RL tools read our data::

      python -m framework.data.minari_io tasks/<Collect_run> rldojo/cartpole/expert-v0 \\
          [--ref-min-score 9.4 --ref-max-score 500]

  Datasets are built from episode buffers (``minari.create_dataset_from_buffers``), so Minari's
  ``DataCollector`` (which needs jax) is not used.

Minari stores T + 1 observations per episode (the first and every next one); rldojo's shards
store the T transitions with their true next observations. Both directions convert exactly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from config.base import UserError
from framework.data.trajectories import iter_trajectories


def _minari():
    try:
        import minari
    except ImportError:
        raise UserError(
            "general_cfg.dataset: minari: datasets need the minari extra: "
            "pip install 'rldojo[minari]'"
        ) from None
    return minari


def open_minari(name: str):
    """The MinariDataset named by an id of the local store or a dataset folder's path."""
    minari = _minari()
    from minari.dataset.minari_dataset import MinariDataset

    path = Path(name).expanduser()
    for candidate in (path / "data", path):
        if (candidate / "metadata.json").is_file():
            return MinariDataset(candidate)
    try:
        return minari.load_dataset(name, download=False)
    except (FileNotFoundError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(
            f"general_cfg.dataset: minari:{name} is not in the local Minari store ({first}); "
            "list it with `minari list local`, or give the dataset folder's path"
        ) from None


def read_minari(name: str) -> tuple[list[dict[str, np.ndarray]], str | None, dict[str, Any]]:
    """A Minari dataset's episodes (with the trajectory-shard keys), its env id and its
    reference scores (``framework.data.datasets.open_dataset`` makes the Dataset)."""
    data = open_minari(name)
    episodes = []
    for ep in data.iterate_episodes():
        obs = np.asarray(ep.observations)
        if obs.dtype == object or not isinstance(ep.observations, np.ndarray):
            raise UserError(
                f"general_cfg.dataset: minari:{name} has structured (Dict/Tuple) observations; "
                "rldojo reads Box and Discrete observations"
            )
        episodes.append(
            {
                "observations": obs[:-1],
                "next_observations": obs[1:],
                "actions": np.asarray(ep.actions),
                "rewards": np.asarray(ep.rewards, np.float32),
                "terminated": np.asarray(ep.terminations, bool),
                "truncated": np.asarray(ep.truncations, bool),
            }
        )
    spec = data.env_spec
    meta = data.storage.metadata
    refs = {k: meta.get(k) for k in ("ref_min_score", "ref_max_score")}
    return episodes, spec.id if spec is not None else None, refs


def export_minari(
    source: str | Sequence[str],
    dataset_id: str,
    ref_min_score: float | None = None,
    ref_max_score: float | None = None,
    **metadata: Any,
):
    """Write rldojo trajectory shards as the Minari dataset ``dataset_id`` (HDF5) in the local
    store; returns the MinariDataset. Reference scores go in only as a pair (Minari would
    otherwise estimate the minimum by running a random policy)."""
    minari = _minari()
    import gymnasium as gym
    from minari.data_collector import EpisodeBuffer

    buffers, env_ids, algos = [], set(), set()
    for n, traj in enumerate(iter_trajectories(source)):
        env_ids.add(traj.get("env_id"))
        algos.add((traj.get("policy") or {}).get("algo"))
        obs = np.concatenate([traj["observations"], traj["next_observations"][-1:]])
        buffers.append(
            EpisodeBuffer(
                id=n,
                seed=traj.get("seed"),
                observations=obs,
                actions=traj["actions"],
                rewards=traj["rewards"].astype(np.float64),
                terminations=traj["terminated"],
                truncations=traj["truncated"],
                infos={},
            )
        )
    env_ids.discard(None)
    if len(env_ids) != 1:
        raise UserError(f"{source}: trajectories of envs {sorted(env_ids)}; export one env")
    env_id = env_ids.pop()
    if (ref_min_score is None) != (ref_max_score is None):
        raise UserError("give both reference scores (--ref-min-score, --ref-max-score) or none")
    refs = {}
    if ref_min_score is not None:
        refs = {"ref_min_score": ref_min_score, "ref_max_score": ref_max_score}
    algos.discard(None)
    return minari.create_dataset_from_buffers(
        dataset_id,
        buffers,
        env=gym.spec(env_id),
        algorithm_name=", ".join(sorted(algos)) or None,
        data_format="hdf5",
        **refs,
        **metadata,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m framework.data.minari_io",
        description="Export rldojo trajectory shards as a Minari dataset (HDF5).",
    )
    parser.add_argument("source", nargs="+", help="task directories or trajs*.npz files")
    parser.add_argument("dataset_id", help="e.g. rldojo/cartpole/expert-v0")
    parser.add_argument("--ref-min-score", type=float, default=None)
    parser.add_argument("--ref-max-score", type=float, default=None)
    parser.add_argument("--description", default=None)
    args = parser.parse_args(argv)
    try:
        data = export_minari(
            args.source,
            args.dataset_id,
            args.ref_min_score,
            args.ref_max_score,
            description=args.description,
        )
    except UserError as err:
        print(f"rldojo: {err}", file=sys.stderr)
        return 2
    print(f"{data.spec.dataset_id}: {data.total_episodes} episodes, {data.total_steps} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
