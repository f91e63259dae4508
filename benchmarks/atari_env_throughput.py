"""Raw Atari env throughput: env steps per second with random actions, 8 envs.

Side by side, interleaved round by round (so every row sees the same machine load), each
measured in a fresh process:

- ``rldojo ale``: the atari family's training vector env (``envs/atari/env.py``: ale-py's C++
  ``AtariVectorEnv`` with the DeepMind preprocessing, behind ``AtariVector``);
- ``rldojo envpool``: the same with ``env_cfg.backend: envpool`` (skipped where envpool is
  missing);
- ``gymnasium sync``: gymnasium's ``SyncVectorEnv`` of ``AtariPreprocessing`` +
  ``FrameStackObservation`` envs (Python wrappers, one process), same preprocessing.

    python benchmarks/atari_env_throughput.py                  # Pong, 8 envs, 3 rounds
    python benchmarks/atari_env_throughput.py --game ALE/Breakout-v5 --steps 4000 --rounds 5

Prints a table: median env steps/s with min-max over rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = ("rldojo ale", "rldojo envpool", "gymnasium sync")


def measure(row: str, game: str, n_envs: int, steps: int, threads: int) -> float:
    """Env steps per second of ``row`` (run in this process)."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from config.loader import load_config

    if row == "gymnasium sync":
        import gymnasium as gym

        from envs.atari.config import ale_module

        ale_module()

        def make():
            env = gym.make(game, frameskip=1, repeat_action_probability=0.0)
            env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4)
            return gym.wrappers.FrameStackObservation(env, 4, padding_type="zero")

        envs = gym.vector.SyncVectorEnv(
            [make] * n_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
        )
    else:
        from envs.atari.env import make_vector

        backend = row.split()[1]
        cfg = load_config(
            None,
            [
                "general_cfg.env_name=atari",
                f"env_cfg.id={game}",
                f"env_cfg.backend={backend}",
                f"env_cfg.num_threads={threads}",
            ],
        )
        envs = make_vector(cfg, n_envs)
    rng = np.random.default_rng(0)
    n_actions = envs.single_action_space.n
    envs.reset(seed=list(range(n_envs)))
    for _ in range(50):  # warm-up
        envs.step(rng.integers(0, n_actions, n_envs))
    vector_steps = steps // n_envs
    start = time.perf_counter()
    for _ in range(vector_steps):
        envs.step(rng.integers(0, n_actions, n_envs))
    elapsed = time.perf_counter() - start
    envs.close()
    return vector_steps * n_envs / elapsed


def available(row: str) -> bool:
    if row != "rldojo envpool":
        return True
    try:
        import envpool  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--game", default="ALE/Pong-v5")
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8000, help="env steps per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="env_cfg.num_threads (0: auto)")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # internal: measure one row
    args = parser.parse_args()
    if args.row:
        print(json.dumps(measure(args.row, args.game, args.n_envs, args.steps, args.threads)))
        return
    rows = [r for r in ROWS if available(r)]
    results: dict[str, list[float]] = {r: [] for r in rows}
    for k in range(args.rounds):
        for row in rows:  # interleaved: every row once per round
            out = subprocess.run(
                [sys.executable, __file__, "--row", row, *sys.argv[1:]],
                capture_output=True,
                text=True,
                check=True,
            )
            results[row].append(float(out.stdout.strip().splitlines()[-1]))
            print(f"round {k + 1}: {row:16s} {results[row][-1]:8.0f} env steps/s", flush=True)
    base = statistics.median(results["gymnasium sync"])
    print(f"\n{args.game}, {args.n_envs} envs, random actions, {args.steps} steps x {args.rounds}")
    print(f"{'vector env':18s} {'env steps/s':>12s} {'min-max':>16s} {'vs gymnasium':>13s}")
    for row, values in results.items():
        med = statistics.median(values)
        spread = f"{min(values):.0f}-{max(values):.0f}"
        print(f"{row:18s} {med:12.0f} {spread:>16s} {med / base:12.2f}x")


if __name__ == "__main__":
    main()
