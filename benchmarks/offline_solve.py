"""Pendulum-v1 offline time to solve (-250): TD3+BC and IQL (and CQL) from a SAC expert's data.

    python benchmarks/offline_solve.py                         # TD3BC, IQL; seeds 1 2 3
    python benchmarks/offline_solve.py --algos TD3BC IQL CQL --seeds 1 2 3 4 5
    python benchmarks/offline_solve.py --dataset tasks/<Collect_run>   # reuse a dataset
    python benchmarks/offline_solve.py --set general_cfg.threshold_evals=1   # our overrides

The dataset is made as a user would (unless ``--dataset`` names one): the SAC preset trains an
expert (seed 1), then ``mode: collect`` records 100 episodes (20,000 transitions) of its sampled
actions. For each seed and algorithm, ``python main.py --yaml
config/presets/Pendulum-v1_<ALGO>.yaml general_cfg.dataset=...`` runs as a subprocess, timed
from launch to exit (it stops at reward_threshold -250, 10 deterministic evaluation episodes,
or at 20,000 update steps); then its best.pt is tested on ``--test-episodes`` episodes with
another seed. Runs alternate between algorithms seed by seed.

Prints one row per run and a table: median launch-to-exit seconds (min-max), update steps to
the threshold, seeds solved, and the re-test mean.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from time_to_solve import run_once, task_dir, test_best  # launch to exit, re-test

ROOT = Path(__file__).resolve().parent.parent


def make_dataset(tasks: Path) -> Path:
    expert = run_once(ROOT, "config/presets/Pendulum-v1_SAC.yaml", 1, tasks, [])["task"]
    cmd = [
        sys.executable,
        "main.py",
        "general_cfg.mode=collect",
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={expert}",
        "general_cfg.max_episode=100",
        "general_cfg.collect_exploration=sampled",
        f"general_cfg.tasks_dir={tasks}",
        "general_cfg.save_fig=false",
        "general_cfg.progress=false",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    return task_dir(proc.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--algos", nargs="+", default=["TD3BC", "IQL"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--dataset", default=None)
    p.add_argument("--test-episodes", type=int, default=100)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="our overrides")
    args = p.parse_args()
    rows: dict[str, list[dict]] = {a: [] for a in args.algos}
    with tempfile.TemporaryDirectory() as tmp:
        tasks = Path(tmp)
        data = Path(args.dataset).resolve() if args.dataset else make_dataset(tasks)
        print(f"dataset: {data}", flush=True)
        for seed in args.seeds:
            for algo in args.algos:
                preset = f"config/presets/Pendulum-v1_{algo}.yaml"
                r = run_once(ROOT, preset, seed, tasks, [f"general_cfg.dataset={data}", *args.set])
                test = None
                if args.test_episodes:
                    test = test_best(ROOT, r["task"], seed + 100, args.test_episodes)
                row = {
                    "wall": r["wall"],
                    "solved": r["threshold_reached"],
                    "updates": r["update_steps"],
                    "best": r["best_eval"],
                    "test": test,
                }
                rows[algo].append(row)
                print(f"{algo:<6} seed {seed}: {row}", flush=True)
    print(f"\nPendulum-v1 offline, threshold -250, seeds {args.seeds}")
    print(f"{'algo':<7}{'median s':>9}{'min':>7}{'max':>7}{'updates':>9}  solved  re-test  lowest")
    for algo, rs in rows.items():
        walls = [r["wall"] for r in rs]
        solved = [r for r in rs if r["solved"]]
        ups = statistics.median([r["updates"] for r in solved]) if solved else float("nan")
        tests = [r["test"] for r in rs if r["test"] is not None]
        test = f"{statistics.median(tests):8.1f}{min(tests):8.1f}" if tests else "-"
        print(
            f"{algo:<7}{statistics.median(walls):>9.1f}{min(walls):>7.1f}{max(walls):>7.1f}"
            f"{ups:>9.0f}  {len(solved)}/{len(rs)}   {test}"
        )


if __name__ == "__main__":
    main()
