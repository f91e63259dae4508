"""Collection throughput: env steps per second of the policy acting in vectorized envs
(no learning), against gymnasium's own SyncVectorEnv with random actions.

    python benchmarks/collect_throughput.py            # 16 CartPole-v1 envs, 5 repeats
    python benchmarks/collect_throughput.py --n-envs 16 --steps 20000 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gymnasium as gym  # noqa: E402
import torch  # noqa: E402

from config.loader import load_config  # noqa: E402
from framework.agent import build_policy  # noqa: E402
from framework.collector import Collector  # noqa: E402
from framework.envs import spaces_of  # noqa: E402


def policy_sps(algo: str, n_envs: int, steps: int, extra: list[str]) -> float:
    cfg = load_config(None, [f"general_cfg.algo_name={algo}", f"env_cfg.n_envs={n_envs}", *extra])
    obs_space, act_space = spaces_of(cfg)
    policy = build_policy(cfg, obs_space, act_space, seed=1)
    collector = Collector(cfg, policy, n_envs, seed=1)
    T = max(1, steps // n_envs)
    collector.collect(8)  # warm-up
    start = time.perf_counter()
    collector.collect(T)
    sps = T * n_envs / (time.perf_counter() - start)
    collector.close()
    return sps


def random_sps(n_envs: int, steps: int) -> float:
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * n_envs)
    envs.reset(seed=1)
    envs.action_space.seed(1)
    T = max(1, steps // n_envs)
    start = time.perf_counter()
    for _ in range(T):
        envs.step(envs.action_space.sample())
    sps = T * n_envs / (time.perf_counter() - start)
    envs.close()
    return sps


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = {
        "gymnasium SyncVectorEnv, random actions": lambda: random_sps(args.n_envs, args.steps),
        "rldojo Collector, DQN policy (eps-greedy)": lambda: policy_sps(
            "DQN", args.n_envs, args.steps, []
        ),
        "rldojo Collector, PPO policy (sampled)": lambda: policy_sps(
            "PPO", args.n_envs, args.steps, []
        ),
        "rldojo Collector, PPO + obs_norm": lambda: policy_sps(
            "PPO", args.n_envs, args.steps, ["algo_cfg.obs_norm=true"]
        ),
    }
    print(
        f"{'CartPole-v1, ' + str(args.n_envs) + ' envs':45s} {'median sps':>11s} {'min':>9s} {'max':>9s}"
    )
    for name, fn in rows.items():
        values = [fn() for _ in range(args.repeats)]
        print(
            f"{name:45s} {statistics.median(values):11.0f} {min(values):9.0f} {max(values):9.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
