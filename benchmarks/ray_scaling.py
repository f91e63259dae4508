"""Ray backend scaling: collection throughput on a slow env, and time-to-solve on CartPole.

    .venv/bin/python benchmarks/ray_scaling.py [--repeats 3] [--quick]

1. Collection throughput (env steps/s, no learning: DQN with learning_starts past the budget,
   no evaluation) on CartPole-v1 wrapped in StepDelay(0.002): the env sleeps, so workers scale
   past the core count. n_workers 1, 4, 8 (worker_num_cpus 0.125 so 8 fit next to the learner on 2 cores), timed
   from the moment every worker's envs exist to the end of the run (Ray start-up excluded).
2. Plain CartPole-v1, PPO preset, reward_threshold 475: single vs Ray with 1, 2, 4 workers;
   throughput over the whole run and wall seconds to reach the threshold (Ray start-up
   included). More workers also mean more env steps per PPO update (n_workers x n_envs x
   n_steps), so time-to-solve measures sample efficiency as well as speed.

Prints median and spread (min-max) over the repeats. Outputs go to a temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.loader import load_config  # noqa: E402
from framework.ray.driver import train_ray  # noqa: E402
from framework.ray.session import init_ray  # noqa: E402
from framework.records.taskdir import TaskDir  # noqa: E402
from framework.runtime.loop import train_single  # noqa: E402
from framework.runtime.setup import Setup  # noqa: E402

SLOW = "env_cfg.wrappers=[{name: StepDelay, delay: 0.002}]"


def run_once(yaml: str | None, overrides: list[str], tasks: str) -> tuple[dict, float]:
    """One training run; returns its summary and the seconds from 'all workers ready' (Ray) or
    the loop's start (single) to the end."""
    cfg = load_config(
        yaml,
        [
            "general_cfg.progress=false",
            "general_cfg.save_fig=false",
            f"general_cfg.tasks_dir={tasks}",
            *overrides,
        ],
    )
    setup = Setup(cfg)
    g = cfg.general
    task = TaskDir.create(g.tasks_dir, g.mode, "bench", g.algo_name)
    ready: list[float] = []

    def on_started(run):
        run.pids()  # returns once every worker built its envs
        ready.append(time.perf_counter())

    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the runs' [eval] lines
        if g.mp_backend == "ray":
            summary = train_ray(cfg, task, setup, on_started=on_started)
        else:
            summary = train_single(cfg, task, setup)
    end = time.perf_counter()
    task.close()
    return summary, end - (ready[0] if ready else start)


def spread(values: list[float]) -> str:
    med = statistics.median(values)
    return f"{med:9.1f}  [{min(values):.1f}-{max(values):.1f}]"


def collection(repeats: int, steps_per_worker: int, tasks: str) -> None:
    print("\n1. Collection throughput, CartPole-v1 + StepDelay(0.002 s), 8 envs per worker")
    print(f"{'workers':>8}  {'env steps/s median [min-max]':>30}  {'vs 1 worker':>11}")
    base = None
    for n in (1, 4, 8):
        sps = []
        for r in range(repeats):
            budget = steps_per_worker * n
            summary, secs = run_once(
                None,
                [
                    "general_cfg.algo_name=DQN",
                    "general_cfg.mp_backend=ray",
                    f"general_cfg.n_workers={n}",
                    "general_cfg.worker_num_cpus=0.125",
                    f"general_cfg.max_env_steps={budget}",
                    f"algo_cfg.learning_starts={10 * budget}",
                    "general_cfg.online_eval=false",
                    "general_cfg.save_best_model=false",
                    f"general_cfg.seed={r + 1}",
                    "env_cfg.n_envs=8",
                    SLOW,
                ],
                tasks,
            )
            sps.append(summary["env_steps"] / secs)
        med = statistics.median(sps)
        base = base or med
        print(f"{n:>8}  {spread(sps):>30}  {med / base:>10.2f}x", flush=True)


def solve(repeats: int, tasks: str) -> None:
    preset = str(ROOT / "config/presets/CartPole-v1_PPO.yaml")
    print("\n2. PPO preset on CartPole-v1 to reward_threshold 475 (max 200k env steps)")
    print(
        f"{'backend':>10}  {'env steps/s':>24}  {'seconds to 475':>24}  {'env steps to 475':>16}  "
        f"solved"
    )
    for label, extra in [
        ("single", []),
        *[
            (
                f"ray x{n}",
                [
                    "general_cfg.mp_backend=ray",
                    f"general_cfg.n_workers={n}",
                    "general_cfg.worker_num_cpus=0.25",
                ],
            )
            for n in (1, 2, 4)
        ],
    ]:
        sps, secs, steps, solved = [], [], [], 0
        for r in range(repeats):
            summary, _ = run_once(preset, [f"general_cfg.seed={r + 1}", *extra], tasks)
            sps.append(summary["env_steps_per_second"])
            if summary["threshold_reached"]:
                solved += 1
                secs.append(summary["threshold_wall_seconds"])
                steps.append(summary["threshold_env_steps"])
        steps_txt = f"{statistics.median(steps):16.0f}" if steps else f"{'-':>16}"
        secs_txt = spread(secs) if secs else "-"
        print(
            f"{label:>10}  {spread(sps):>24}  {secs_txt:>24}  {steps_txt}  {solved}/{repeats}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke check)")
    parser.add_argument("--skip-solve", action="store_true")
    args = parser.parse_args()
    init_ray(load_config(None, []).general)  # one Ray session for every run
    with tempfile.TemporaryDirectory() as tasks:
        collection(args.repeats, 1000 if args.quick else 4000, tasks)
        if not args.skip_solve:
            solve(args.repeats, tasks)


if __name__ == "__main__":
    main()
