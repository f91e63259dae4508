"""Ray on Atari: collection throughput with 1, 2 and 4 workers, and what a rollout ships.

    python benchmarks/atari_ray.py [--repeats 3] [--steps 4000]

1. What crosses the object store per env step: a worker's DQN rollout is a FrameChunk (each
   new 84x84 frame once, plus references), against the dense obs + next_obs a StepBatch holds
   (PPO's rollouts, and what replay would receive without frame deduplication).
2. Collection throughput on Pong (env steps/s): DQN preset in its warm-up (uniformly random
   actions, learning_starts past the budget, no evaluation), so the run measures stepping the
   envs, building the chunks, shipping them and adding them to the DataServer's frame replay.
   Single mode for reference, then Ray with 1, 2 and 4 workers of 8 envs (worker_num_cpus 0.25
   so 4 fit on 2 cores next to the learner), timed from the moment every worker's envs exist.

Prints median and spread (min-max) over the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ray_scaling import run_once, spread  # noqa: E402
from config.loader import load_config  # noqa: E402
from framework.ray.session import init_ray  # noqa: E402

PRESET = str(ROOT / "config" / "presets" / "ALE-Pong-v5_DQN.yaml")


def shipped_bytes() -> None:
    import pickle

    from framework.runtime.collector import Collector
    from framework.runtime.seeding import env_seeds
    from framework.runtime.setup import Setup

    cfg = load_config(PRESET, ["general_cfg.progress=false"])
    policy = Setup(cfg).policy
    col = Collector(cfg, policy, 8, env_seeds(1, 8))
    col.collect(16)
    out = col.collect(128)
    col.close()
    steps = out.batch.n_steps
    chunk = len(pickle.dumps(out.data, protocol=5)) / steps
    dense = (out.batch.obs.nbytes + out.batch.next_obs.nbytes) / steps
    print("\n1. Bytes shipped per env step (8 envs x 128 steps of Pong)")
    print(f"   DQN FrameChunk (frames once + references): {chunk:9.0f}")
    print(f"   dense obs + next_obs (PPO's StepBatch):     {dense:9.0f}  ({dense / chunk:.1f}x)")


def collection(repeats: int, steps_per_worker: int, tasks: str) -> None:
    print("\n2. Collection throughput, Pong, DQN warm-up (random actions), 8 envs per worker")
    print(f"{'backend':>10}  {'env steps/s median [min-max]':>30}  {'vs 1 worker':>11}")
    base = None
    for n in (0, 1, 2, 4):
        sps = []
        for r in range(repeats):
            budget = steps_per_worker * max(n, 1)
            ray = [
                "general_cfg.mp_backend=ray",
                f"general_cfg.n_workers={n}",
                "general_cfg.worker_num_cpus=0.25",
                "general_cfg.learner_num_cpus=0.5",
            ]
            summary, secs = run_once(
                PRESET,
                [
                    *(ray if n else []),
                    f"general_cfg.max_env_steps={budget}",
                    f"algo_cfg.learning_starts={10 * budget}",
                    "algo_cfg.buffer_size=100000",
                    "general_cfg.online_eval=false",
                    "general_cfg.save_best_model=false",
                    "general_cfg.reward_threshold=null",
                    f"general_cfg.seed={r + 1}",
                    "env_cfg.n_envs=8",
                ],
                tasks,
            )
            sps.append(summary["env_steps"] / secs)
        med = statistics.median(sps)
        if n == 1:
            base = med
        label = f"ray x{n}" if n else "single"
        ratio = f"{med / base:>10.2f}x" if base else f"{'':>11}"
        print(f"{label:>10}  {spread(sps):>30}  {ratio}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4000, help="env steps per worker")
    args = parser.parse_args()
    shipped_bytes()
    init_ray(load_config(None, []).general)  # one Ray session for every run
    with tempfile.TemporaryDirectory() as tasks:
        collection(args.repeats, args.steps, tasks)


if __name__ == "__main__":
    main()
