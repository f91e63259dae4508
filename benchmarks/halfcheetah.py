"""HalfCheetah-v5 (mujoco extra): SAC's whole-loop env steps per second against CleanRL, and the
returns of the SAC and TD3 presets after 300,000 env steps.

    python benchmarks/halfcheetah.py throughput --steps 20000          # rldojo only
    python benchmarks/halfcheetah.py throughput --steps 20000 \
        --cleanrl-python ~/.cache/peers-cleanrl/bin/python \
        --cleanrl-script ~/.cache/peers-cleanrl/sac_continuous_action.py
    python benchmarks/halfcheetah.py returns --algos SAC TD3           # 300k steps each: hours

``throughput``: ``python main.py --yaml config/presets/HalfCheetah-v5_SAC.yaml`` for ``--steps``
env steps without online evaluation (the summary's env_steps_per_second is the whole loop:
acting, env steps, replay, one SAC update per step), and, interleaved repeat by repeat,
CleanRL's ``sac_continuous_action.py`` for the same number of steps in its own virtual
environment (its mean SPS over the run, from launch to exit: total steps / wall seconds). Put the
script and its ``cleanrl_utils/`` from github.com/vwxyzjn/cleanrl in one folder; the venv needs
torch, gymnasium[mujoco], stable-baselines3 (its replay buffer), tyro and tensorboard. It runs
unmodified through ``benchmarks/peers/run_with_gym1.py``, which gives it the vector-env API of
gymnasium 0.29 that it was written for.
``returns``: each preset once for its 300,000 steps; prints the best and last evaluation means
(10 deterministic episodes) and how long the run took.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from time_to_solve import run_once  # the sibling script: launch to exit, summary

ROOT = Path(__file__).resolve().parent.parent


def rldojo(algo: str, seed: int, tasks: Path, extra: list[str]) -> dict:
    return run_once(ROOT, f"config/presets/HalfCheetah-v5_{algo}.yaml", seed, tasks, extra)


def cleanrl(python: str, script: str, steps: int, seed: int) -> float:
    shim = str(ROOT / "benchmarks" / "peers" / "run_with_gym1.py")  # gymnasium 0.29's vector API
    cmd = [python, shim, script, "--env-id", "HalfCheetah-v5", f"--total-timesteps={steps}"]
    cmd += [f"--seed={seed}", "--no-track", "--no-capture-video"]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"cleanrl failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}"
        )
    return steps / wall


def throughput(args) -> None:
    rates: dict[str, list[float]] = {"rldojo loop": [], "rldojo launch-to-exit": []}
    if args.cleanrl_script:
        rates["cleanrl launch-to-exit"] = []
    extra = [
        f"general_cfg.max_env_steps={args.steps}",
        "general_cfg.online_eval=false",
        "general_cfg.reward_threshold=null",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, args.repeats + 1):
            s = rldojo("SAC", seed, Path(tmp), extra)
            rates["rldojo loop"].append(s["env_steps_per_second"])
            rates["rldojo launch-to-exit"].append(s["env_steps"] / s["wall"])
            print(f"rldojo  seed {seed}: {s['env_steps_per_second']:.1f} steps/s", flush=True)
            if args.cleanrl_script:
                r = cleanrl(args.cleanrl_python, args.cleanrl_script, args.steps, seed)
                rates["cleanrl launch-to-exit"].append(r)
                print(f"cleanrl seed {seed}: {r:.1f} steps/s", flush=True)
    print(f"\nHalfCheetah-v5 SAC, {args.steps} env steps, env steps/s, median (min-max)")
    for name, r in rates.items():
        print(f"{name:<24}{statistics.median(r):>8.1f} ({min(r):.1f}-{max(r):.1f})")


def returns(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for algo in args.algos:
            s = rldojo(algo, args.seed, Path(tmp), ["general_cfg.reward_threshold=null"])
            wall = s["wall"]
            print(
                f"{algo}: {s['env_steps']} env steps, best eval {s['best_eval']:.1f}, last eval "
                f"{s['last_eval']:.1f}, {wall / 60:.1f} min",
                flush=True,
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--steps", type=int, default=20_000)
    t.add_argument("--repeats", type=int, default=3)
    t.add_argument("--cleanrl-python", default=str(Path.home() / ".cache/peers-cleanrl/bin/python"))
    t.add_argument("--cleanrl-script", default=None, help="path of sac_continuous_action.py")
    r = sub.add_parser("returns")
    r.add_argument("--algos", nargs="+", default=["SAC", "TD3"])
    r.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    throughput(args) if args.what == "throughput" else returns(args)


if __name__ == "__main__":
    main()
