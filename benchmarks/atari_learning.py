"""Learning runs on Atari: a preset trained to a score, wall time and env steps to get there.

    python benchmarks/atari_learning.py                                   # PPO on Pong to 18, cuda
    python benchmarks/atari_learning.py --preset ALE-Breakout-v5_DQN.yaml --score 100 --seeds 1 2
    python benchmarks/atari_learning.py --device cpu --budget 200000      # a CPU look (no score)

Each seed runs ``python main.py --yaml config/presets/<preset>`` with ``reward_threshold`` set to
``--score`` (evaluations of ``--eval-episodes`` whole games every ``--eval-every`` env steps)
and prints, per seed and as medians: whether the score was reached, env steps and wall seconds
to it (launch to the evaluation that reached it), the loop's env steps per second, best
evaluation. On 2 CPU cores Pong needs days; the numbers in the README come from a GPU run or
say so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="ALE-Pong-v5_PPO.yaml")
    parser.add_argument("--score", type=float, default=18.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--budget", type=int, default=10_000_000, help="max env steps")
    parser.add_argument("--eval-every", type=int, default=100_000)
    parser.add_argument("--eval-episodes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--tasks-dir", default=None, help="keep the runs here (default: temp)")
    args = parser.parse_args()
    tasks = Path(args.tasks_dir or tempfile.mkdtemp(prefix="atari_learning_"))
    rows = []
    for seed in args.seeds:
        run_dir = tasks / f"seed{seed}"
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "main.py"),
                "--yaml",
                str(ROOT / "config" / "presets" / args.preset),
                f"general_cfg.seed={seed}",
                f"general_cfg.device={args.device}",
                f"general_cfg.reward_threshold={args.score}",
                f"general_cfg.max_env_steps={args.budget}",
                f"general_cfg.online_eval_fre={args.eval_every}",
                f"general_cfg.online_eval_episode={args.eval_episodes}",
                f"general_cfg.torch_threads={args.threads}",
                "general_cfg.progress=false",
                f"general_cfg.tasks_dir={run_dir}",
            ],
            check=True,
        )
        launch = time.perf_counter() - start
        (path,) = run_dir.glob("*/results/summary.json")
        s = json.loads(path.read_text())
        # launch to the solving evaluation: the process's start-up plus the loop's time to it
        startup = launch - s["wall_seconds"]
        to_score = s["threshold_wall_seconds"] + startup if s["threshold_reached"] else None
        rows.append((seed, s, to_score))
        print(json.dumps({"seed": seed, "seconds_to_score": to_score, **s}), flush=True)
    print(f"\n{args.preset} to {args.score} on {args.device}, budget {args.budget:,} env steps")
    print(
        f"{'seed':>4} {'reached':>8} {'env steps':>11} {'seconds':>9} {'env steps/s':>12} {'best':>7}"
    )
    for seed, s, secs in rows:
        steps = s["threshold_env_steps"] or s["env_steps"]
        secs_txt = f"{secs:9.0f}" if secs is not None else f"{'-':>9}"
        print(
            f"{seed:4d} {str(s['threshold_reached']):>8} {steps:11,d} {secs_txt} "
            f"{s['env_steps_per_second']:12.1f} {s['best_eval'] or float('nan'):7.1f}"
        )
    solved = [secs for _, _, secs in rows if secs is not None]
    print(f"reached {len(solved)}/{len(rows)}", end="")
    if solved:
        print(f"; median {statistics.median(solved):.0f} s to the score", end="")
    print(f"; runs in {tasks}")


if __name__ == "__main__":
    main()
