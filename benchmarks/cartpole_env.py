"""CartPole env cost per step: ``env_cfg.vector_mode: numpy`` (envs/gym/numpy_vector.py) against
gymnasium's ``SyncVectorEnv`` (training) and gymnasium envs stepped one by one (evaluation).

    python benchmarks/cartpole_env.py [--rounds 5]

Training: microseconds per vector step of 8 envs with random actions (same-step autoreset).
Evaluation: seconds per round of 10 episodes of 500 steps played by the Evaluator with a
balancing controller (what a solved CartPole evaluation costs, acting excluded). Both modes run
interleaved, round by round; medians and ranges.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.loader import load_config  # noqa: E402
from envs.vector import make_vector  # noqa: E402
from framework.runtime.evaluator import Evaluator  # noqa: E402

MODES = ("sync", "numpy")


def balance(obs: np.ndarray) -> np.ndarray:
    return (obs[:, 2] * 10 + obs[:, 3] > 0).astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5000, help="vector steps per training round")
    args = parser.parse_args()
    train: dict[str, list[float]] = {m: [] for m in MODES}
    evaluate: dict[str, list[float]] = {m: [] for m in MODES}
    cfgs = {m: load_config(None, [f"env_cfg.vector_mode={m}"]) for m in MODES}
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 2, (args.steps, 8))
    for _ in range(args.rounds):
        for mode in MODES:
            envs = make_vector(cfgs[mode], 8)
            envs.reset(seed=1)
            start = time.perf_counter()
            for a in actions:
                envs.step(a)
            train[mode].append((time.perf_counter() - start) / args.steps * 1e6)
            envs.close()
            evaluator = Evaluator(cfgs[mode], 10, seed=1)
            start = time.perf_counter()
            result = evaluator.run(balance, 10)
            evaluate[mode].append(time.perf_counter() - start)
            assert result.lengths.min() == 500, result.lengths
            evaluator.close()

    def cell(values: list[float], fmt: str) -> str:
        return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"

    print(f"\nCartPole-v1, {args.rounds} interleaved rounds, median (min-max)")
    print(
        f"{'vector_mode':12s} {'train: us per vector step of 8':>32s} {'eval: s per 10x500':>24s}"
    )
    for mode in MODES:
        print(f"{mode:12s} {cell(train[mode], '.1f'):>32s} {cell(evaluate[mode], '.3f'):>24s}")


if __name__ == "__main__":
    main()
