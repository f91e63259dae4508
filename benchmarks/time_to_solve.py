"""Time-to-solve benchmark: launch `python main.py --yaml PRESET` per seed, time it until the
process exits because reward_threshold was reached, then check the best model in test mode.

    python benchmarks/time_to_solve.py                       # both CartPole presets, seeds 1 2 3
    python benchmarks/time_to_solve.py --presets config/presets/CartPole-v1_PPO.yaml --seeds 1 2 3 4 5
    python benchmarks/time_to_solve.py -- algo_cfg.lr=1e-3   # extra overrides for every run

Prints one row per run and a median/min/max table per preset.
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
DEFAULT_PRESETS = ["config/presets/CartPole-v1_PPO.yaml", "config/presets/CartPole-v1_DQN.yaml"]


def run_once(preset: str, seed: int, tasks: Path, extra: list[str]) -> dict:
    cmd = [
        sys.executable,
        "main.py",
        "--yaml",
        preset,
        f"general_cfg.seed={seed}",
        f"general_cfg.tasks_dir={tasks}",
        "general_cfg.progress=false",
        *extra,
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    task = Path(proc.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    summary = json.loads((task / "results" / "summary.json").read_text())
    return {"wall": wall, "task": task, **summary}


def test_best(task: Path, seed: int, episodes: int) -> float:
    cmd = [
        sys.executable,
        "main.py",
        "--yaml",
        str(task / "config.yaml"),
        "general_cfg.mode=test",
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={task}",
        f"general_cfg.max_episode={episodes}",
        f"general_cfg.seed={seed}",
        "general_cfg.save_fig=false",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    out = Path(proc.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    return json.loads((out / "results" / "summary.json").read_text())["mean_return"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=DEFAULT_PRESETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--test-episodes", type=int, default=100)
    parser.add_argument("--test-seed", type=int, default=12345)
    parser.add_argument("extra", nargs="*", help="overrides applied to every run")
    args = parser.parse_args()
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            rows = []
            for seed in args.seeds:
                r = run_once(preset, seed, Path(tmp), args.extra)
                r["test"] = (
                    test_best(r["task"], args.test_seed, args.test_episodes)
                    if args.test_episodes
                    else float("nan")
                )
                rows.append(r)
                print(
                    f"{Path(preset).stem:28s} seed {seed}: {r['wall']:6.2f} s  solved={r['threshold_reached']}"
                    f"  steps={r['threshold_env_steps']}  best={r['best_eval']}  "
                    f"test({args.test_episodes} ep)={r['test']:.1f}",
                    flush=True,
                )
            walls = [r["wall"] for r in rows]
            table.append(
                (
                    Path(preset).stem,
                    statistics.median(walls),
                    min(walls),
                    max(walls),
                    sum(r["threshold_reached"] for r in rows),
                    len(rows),
                    statistics.median(r["threshold_env_steps"] or 0 for r in rows),
                    min(r["test"] for r in rows),
                )
            )
    print(
        f"\n{'preset':28s} {'median s':>9s} {'min':>6s} {'max':>6s} {'solved':>7s} {'med steps':>10s} {'min test':>9s}"
    )
    for name, med, lo, hi, ok, n, steps, test in table:
        print(
            f"{name:28s} {med:9.2f} {lo:6.2f} {hi:6.2f} {ok:>4d}/{n:<2d} {steps:10.0f} {test:9.1f}"
        )


if __name__ == "__main__":
    main()
