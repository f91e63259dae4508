"""Time-to-solve benchmark: launch `python main.py --yaml PRESET` per seed, time it until the
process exits because reward_threshold was reached, then check the best model in test mode.

    python benchmarks/time_to_solve.py                       # both CartPole presets, seeds 1 2 3
    python benchmarks/time_to_solve.py --presets config/presets/CartPole-v1_PPO.yaml --seeds 1 2 3 4 5
    python benchmarks/time_to_solve.py -- algo_cfg.lr=1e-3   # extra overrides for every run
    python benchmarks/time_to_solve.py --ref HEAD~2          # side by side with another commit

Prints one row per run and a median/min/max table per preset (and per code with --ref: the other
commit is checked out into a temporary git worktree and its runs are interleaved with ours, seed
by seed, so both see the same machine load). ``sps`` is env steps per second of the whole run,
launch to exit: the framework's speed apart from how many steps a seed happens to need.
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


def task_dir(stdout: str) -> Path:
    return Path(stdout.strip().splitlines()[-1].split(": ", 1)[1])


def run_once(root: Path, preset: str, seed: int, tasks: Path, extra: list[str]) -> dict:
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
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    task = task_dir(proc.stdout)
    summary = json.loads((task / "results" / "summary.json").read_text())
    return {"wall": wall, "task": task, **summary}


def test_best(root: Path, task: Path, seed: int, episodes: int) -> float:
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
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=True)
    return json.loads((task_dir(proc.stdout) / "results" / "summary.json").read_text())[
        "mean_return"
    ]


def worktree(ref: str, into: str) -> Path:
    path = Path(into) / "ref"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), ref],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=DEFAULT_PRESETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--test-episodes", type=int, default=100)
    parser.add_argument("--test-seed", type=int, default=12345)
    parser.add_argument("--ref", help="also run this git revision, interleaved")
    parser.add_argument("extra", nargs="*", help="overrides applied to every run")
    args = parser.parse_args()
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        roots = {"this": ROOT}
        if args.ref:
            roots[args.ref] = worktree(args.ref, tmp)
        try:
            for preset in args.presets:
                rows: dict[str, list[dict]] = {label: [] for label in roots}
                for seed in args.seeds:
                    for label, root in roots.items():
                        r = run_once(root, preset, seed, Path(tmp) / "tasks", args.extra)
                        r["test"] = (
                            test_best(root, r["task"], args.test_seed, args.test_episodes)
                            if args.test_episodes
                            else float("nan")
                        )
                        r["sps"] = r["env_steps"] / r["wall"]
                        rows[label].append(r)
                        print(
                            f"{Path(preset).stem:24s} {label[:8]:>8s} seed {seed}: "
                            f"{r['wall']:6.2f} s  solved={r['threshold_reached']}  "
                            f"steps={r['threshold_env_steps']}  sps={r['sps']:.0f}  "
                            f"best={r['best_eval']}  test({args.test_episodes} ep)="
                            f"{r['test']:.1f}",
                            flush=True,
                        )
                for label, rs in rows.items():
                    walls = [r["wall"] for r in rs]
                    table.append(
                        (
                            Path(preset).stem,
                            label,
                            statistics.median(walls),
                            min(walls),
                            max(walls),
                            sum(r["threshold_reached"] for r in rs),
                            len(rs),
                            statistics.median(r["threshold_env_steps"] or 0 for r in rs),
                            statistics.median(r["sps"] for r in rs),
                            min(r["test"] for r in rs),
                        )
                    )
        finally:
            if args.ref:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(roots[args.ref])],
                    cwd=ROOT,
                    capture_output=True,
                )
    print(
        f"\n{'preset':24s} {'code':>8s} {'median s':>9s} {'min':>6s} {'max':>6s} {'solved':>7s}"
        f" {'med steps':>10s} {'med sps':>8s} {'min test':>9s}"
    )
    for name, label, med, lo, hi, ok, n, steps, sps, test in table:
        print(
            f"{name:24s} {label[:8]:>8s} {med:9.2f} {lo:6.2f} {hi:6.2f} {ok:>4d}/{n:<2d} "
            f"{steps:10.0f} {sps:8.0f} {test:9.1f}"
        )


if __name__ == "__main__":
    main()
