"""The value-based family's benchmark: launch-to-exit time of ``python main.py --yaml PRESET``
per seed (until the reward threshold stops it, or the budget for presets without one), then a
100-episode test of its best model with another seed.

    python benchmarks/value_family.py                  # CartPole variants, Acrobot, tabular
    python benchmarks/value_family.py --group cartpole --seeds 1 2 3
    python benchmarks/value_family.py --group lunarlander   # needs the box2d extra
    python benchmarks/value_family.py --group tabular --set env_cfg.vector_mode=sync  # before

Prints one row per run and a table per preset: median, min and max seconds, seeds solved, median
env steps, and the lowest 100-episode test mean. The torch-import row says how much of every
launch is ``import torch`` alone (tabular runs never import it).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from time_to_solve import ROOT, run_once, test_best  # noqa: E402

CARTPOLE = [
    "DQN",
    "DoubleDQN",
    "DuelingDQN",
    "NoisyDQN",
    "PER_DQN",
    "C51",
    "QRDQN",
    "IQN",
    "Rainbow",
]
GROUPS = {
    "cartpole": [f"config/presets/CartPole-v1_{a}.yaml" for a in CARTPOLE],
    "acrobot": ["config/presets/Acrobot-v1_DQN.yaml", "config/presets/Acrobot-v1_Rainbow.yaml"],
    "lunarlander": [
        "config/presets/LunarLander-v3_DQN.yaml",
        "config/presets/LunarLander-v3_Rainbow.yaml",
    ],
    "tabular": [
        "config/presets/FrozenLake-v1_QLearning.yaml",
        "config/presets/CliffWalking-v1_QLearning.yaml",
        "config/presets/CliffWalking-v1_Sarsa.yaml",
        "config/presets/Taxi-v4_QLearning.yaml",
        "config/presets/Taxi-v4_ExpectedSarsa.yaml",
    ],
}


def torch_import_seconds(repeats: int = 3) -> float:
    """Median wall seconds of a bare ``python -c 'import torch'``."""
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--group", nargs="+", default=["cartpole", "acrobot", "tabular"], choices=list(GROUPS)
    )
    parser.add_argument("--presets", nargs="+", help="instead of --group")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--test-episodes", type=int, default=100)
    parser.add_argument("--test-seed", type=int, default=12345)
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="KEY=VALUE", help="overrides for every run"
    )
    args = parser.parse_args()
    presets = args.presets or [p for g in args.group for p in GROUPS[g]]
    table = []
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for preset in presets:
            rows = []
            for seed in args.seeds:
                r = run_once(ROOT, preset, seed, Path(tmp) / "tasks", args.set)
                r["test"] = (
                    test_best(ROOT, r["task"], args.test_seed, args.test_episodes)
                    if args.test_episodes
                    else float("nan")
                )
                rows.append(r)
                print(
                    f"{Path(preset).stem:32s} seed {seed}: {r['wall']:6.2f} s  "
                    f"solved={r['threshold_reached']}  steps={r['threshold_env_steps'] or r['env_steps']}"
                    f"  best={r['best_eval']}  test({args.test_episodes} ep)={r['test']:.2f}",
                    flush=True,
                )
            walls = [r["wall"] for r in rows]
            solved = sum(bool(r["threshold_reached"]) for r in rows)
            has_threshold = rows[0]["reward_threshold"] is not None
            table.append(
                (
                    Path(preset).stem,
                    statistics.median(walls),
                    min(walls),
                    max(walls),
                    f"{solved}/{len(rows)}" if has_threshold else "budget",
                    statistics.median(r["threshold_env_steps"] or r["env_steps"] for r in rows),
                    min(r["test"] for r in rows),
                )
            )
    torch_s = torch_import_seconds()
    print(
        f"\n{'preset':32s} {'median s':>9s} {'min':>6s} {'max':>6s} {'solved':>7s}"
        f" {'med steps':>10s} {'min test':>9s}"
    )
    for name, med, lo, hi, ok, steps, test in table:
        print(f"{name:32s} {med:9.2f} {lo:6.2f} {hi:6.2f} {ok:>7s} {steps:10.0f} {test:9.2f}")
    print(f"{'(python -c import torch)':32s} {torch_s:9.2f}")


if __name__ == "__main__":
    main()
