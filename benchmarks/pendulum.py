"""Pendulum-v1 PPO benchmark: time to solve, and what observation normalization costs.

    python benchmarks/pendulum.py                    # seeds 1 2 3, 5 throughput repeats
    python benchmarks/pendulum.py --seeds 1 2 3 4 5 --repeats 7 --envs 16

1. Time to solve: ``python main.py --yaml config/presets/Pendulum-v1_PPO.yaml`` per seed as a
   subprocess, wall time until it exits (it stops at reward_threshold -250), the summary's
   threshold fields, and the test-mode mean of the saved best.pt (which carries the
   normalizer statistics of its moment). Median over the seeds.
2. Collection throughput: framework.runtime.collector.Collector with a PPO policy, obs_norm on vs off,
   ``--envs`` Pendulum envs, env steps/s over several interleaved repeats (median).

Timings depend on the machine's load; run it on a quiet machine to compare numbers.
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
PRESET = "config/presets/Pendulum-v1_PPO.yaml"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _task_dir(stdout: str) -> Path:
    return Path(stdout.strip().splitlines()[-1].split(": ", 1)[1])


def solve_once(seed: int, tasks: Path, extra: list[str]) -> dict:
    cmd = [
        sys.executable,
        "main.py",
        "--yaml",
        PRESET,
        f"general_cfg.seed={seed}",
        f"general_cfg.tasks_dir={tasks}",
        "general_cfg.progress=false",
        "general_cfg.save_fig=false",
        *extra,
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    task = _task_dir(proc.stdout)
    summary = json.loads((task / "results" / "summary.json").read_text())
    test = [
        sys.executable,
        "main.py",
        "--yaml",
        str(task / "config.yaml"),
        "general_cfg.mode=test",
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={task / 'models' / 'best.pt'}",
        "general_cfg.max_episode=10",
        f"general_cfg.tasks_dir={tasks}",
        "general_cfg.seed=12345",
        "general_cfg.save_fig=false",
    ]
    proc = subprocess.run(test, cwd=ROOT, capture_output=True, text=True, check=True)
    tested = json.loads((_task_dir(proc.stdout) / "results" / "summary.json").read_text())
    return {"seed": seed, "wall": wall, "test_mean": tested["mean_return"], **summary}


def throughput(obs_norm: bool, n_envs: int, vector_steps: int) -> float:
    from config.loader import load_config
    from envs.vector import spaces_of
    from framework.runtime.collector import Collector
    from framework.runtime.seeding import env_seeds
    from framework.runtime.setup import build_policy

    cfg = load_config(
        PRESET, [f"algo_cfg.obs_norm={str(obs_norm).lower()}", f"env_cfg.n_envs={n_envs}"]
    )
    policy = build_policy(cfg, *spaces_of(cfg), seed=1)
    collector = Collector(cfg, policy, n_envs, env_seeds(1, n_envs))
    out = collector.collect(8)  # warm-up
    policy.observe(out.batch.obs)
    start = time.perf_counter()
    out = collector.collect(vector_steps)
    elapsed = time.perf_counter() - start
    collector.close()
    return out.env_steps / elapsed


def act_latency(obs_norm: bool, n_envs: int, number: int = 2000, repeat: int = 7) -> float:
    """Best-of-``repeat`` seconds per ``policy.act`` on a batch of ``n_envs`` observations."""
    import timeit

    import numpy as np

    from config.loader import load_config
    from envs.vector import spaces_of
    from framework.runtime.setup import build_policy

    cfg = load_config(PRESET, [f"algo_cfg.obs_norm={str(obs_norm).lower()}"])
    policy = build_policy(cfg, *spaces_of(cfg), seed=1)
    obs = np.random.default_rng(0).normal(0, 1, (n_envs, 3)).astype(np.float32)
    policy.observe(obs)
    return min(timeit.repeat(lambda: policy.act(obs), number=number, repeat=repeat)) / number


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--repeats", type=int, default=9, help="throughput repeats per setting")
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--vector-steps", type=int, default=500)
    parser.add_argument("--skip-solve", action="store_true")
    parser.add_argument("extra", nargs="*", help="overrides for every training run")
    args = parser.parse_args()

    if not args.skip_solve:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for seed in args.seeds:
                r = solve_once(seed, Path(tmp), args.extra)
                rows.append(r)
                print(
                    f"seed {seed}: solved={r['threshold_reached']} at "
                    f"{r['threshold_env_steps']} env steps, {r['threshold_wall_seconds']} s "
                    f"in-run, {r['wall']:.1f} s process, best eval {r['best_eval']:.1f}, "
                    f"best.pt test mean {r['test_mean']:.1f}",
                    flush=True,
                )
        solved = [r for r in rows if r["threshold_reached"]]
        print(f"\nPendulum-v1 PPO time to solve (-250), {len(solved)}/{len(rows)} seeds solved")
        print("| metric | median | min | max |\n|---|---|---|---|")
        metrics = [
            ("env steps", "threshold_env_steps"),
            ("in-run seconds", "threshold_wall_seconds"),
            ("process seconds", "wall"),
            ("best.pt test mean", "test_mean"),
        ]
        for name, key in metrics:
            vals = [r[key] for r in solved]
            if vals:
                print(
                    f"| {name} | {statistics.median(vals):.1f} | {min(vals):.1f} | "
                    f"{max(vals):.1f} |"
                )

    speeds: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeats):  # interleaved, so load changes hit both settings
        for on in (False, True):
            speeds[on].append(throughput(on, args.envs, args.vector_steps))
    print(
        f"\nCollection throughput, {args.envs} Pendulum envs, PPO policy, "
        f"{args.vector_steps} vector steps x {args.repeats} interleaved repeats"
    )
    print("| obs_norm | env steps/s best | median | min |\n|---|---|---|---|")
    for label, v in (("off", speeds[False]), ("on", speeds[True])):
        print(f"| {label} | {max(v):.0f} | {statistics.median(v):.0f} | {min(v):.0f} |")
    for stat, f in (("best-of", max), ("median", statistics.median)):
        off, on = f(speeds[False]), f(speeds[True])
        print(f"obs_norm cost ({stat}): {100 * (off - on) / off:+.1f}% of collection throughput")
    print("(best-of is the least sensitive to other load on the machine)")
    lat = {on: act_latency(on, args.envs) for on in (False, True)}
    step = args.envs / max(speeds[False])  # seconds per vector step, best case
    print(
        f"policy.act on {args.envs} obs, best of 7: off {lat[False] * 1e6:.1f} us, "
        f"on {lat[True] * 1e6:.1f} us; normalization adds {(lat[True] - lat[False]) * 1e6:.1f}"
        f" us = {100 * (lat[True] - lat[False]) / step:.1f}% of a {step * 1e6:.0f} us vector "
        "step"
    )


if __name__ == "__main__":
    main()
