"""Collection throughput: env steps per second of the policy acting in vectorized envs (no
learning), against gymnasium's own SyncVectorEnv with random actions.

    python benchmarks/collect_throughput.py                 # 16 CartPole-v1 envs, 5 repeats
    python benchmarks/collect_throughput.py --n-envs 16 --steps 32000 --repeats 5
    python benchmarks/collect_throughput.py --ref HEAD~1    # side by side with another commit

Every measurement runs in a fresh process (one thread). With ``--ref`` the same measurements of
the other commit's code (checked out into a temporary git worktree) are interleaved with ours,
so both see the same machine load. Policies act as after their warm-up (env_steps 100,000:
DQN's epsilon is at its floor, no uniform-random warm-up actions).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter with argv: root algo n_envs steps extra-overrides-json.
SNIPPET = r"""
import json, sys, time
root, algo, n_envs, steps, extra = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5])
sys.path.insert(0, root)
import torch
torch.set_num_threads(1)
if algo == "random":
    import gymnasium as gym
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * n_envs)
    envs.reset(seed=1)
    envs.action_space.seed(1)
    T = max(1, steps // n_envs)
    start = time.perf_counter()
    for _ in range(T):
        envs.step(envs.action_space.sample())
    print(T * n_envs / (time.perf_counter() - start))
    raise SystemExit
from config.loader import load_config
cfg = load_config(None, [f"general_cfg.algo_name={algo}", f"env_cfg.n_envs={n_envs}", *extra])
try:  # the layout since foundation v2
    from envs.vector import spaces_of
    from framework.runtime.collector import Collector
    from framework.runtime.seeding import env_seeds
    from framework.runtime.setup import build_policy
    policy = build_policy(cfg, *spaces_of(cfg), seed=1)
    collector = Collector(cfg, policy, n_envs, env_seeds(1, n_envs))
except ImportError:  # the layout before it
    from framework.agent import build_policy
    from framework.collector import Collector
    from framework.envs import spaces_of
    policy = build_policy(cfg, *spaces_of(cfg), seed=1)
    collector = Collector(cfg, policy, n_envs, seed=1)
policy.env_steps = 100_000
T = max(1, steps // n_envs)
collector.collect(8)  # warm-up
start = time.perf_counter()
collector.collect(T)
print(T * n_envs / (time.perf_counter() - start))
collector.close()
"""

ROWS = {
    "gymnasium SyncVectorEnv, random actions": ("random", []),
    "rldojo Collector, DQN policy (eps-greedy)": ("DQN", []),
    "rldojo Collector, PPO policy (sampled)": ("PPO", []),
    "rldojo Collector, PPO + obs_norm": ("PPO", ["algo_cfg.obs_norm=true"]),
}


def measure(root: Path, algo: str, extra: list[str], n_envs: int, steps: int) -> float:
    args = [
        sys.executable,
        "-c",
        SNIPPET,
        str(root),
        algo,
        str(n_envs),
        str(steps),
        json.dumps(extra),
    ]
    proc = subprocess.run(args, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"measurement failed in {root}:\n{proc.stderr[-2000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


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
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ref", help="also measure this git revision, interleaved")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        roots = {"this": ROOT}
        if args.ref:
            roots[args.ref] = worktree(args.ref, tmp)
        try:
            results = {(name, label): [] for name in ROWS for label in roots}
            for _ in range(args.repeats):
                for name, (algo, extra) in ROWS.items():
                    for label, root in roots.items():
                        sps = measure(root, algo, extra, args.n_envs, args.steps)
                        results[(name, label)].append(sps)
        finally:
            if args.ref:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(roots[args.ref])],
                    cwd=ROOT,
                    capture_output=True,
                )
    title = f"CartPole-v1, {args.n_envs} envs, {args.repeats} runs"
    print(f"{title:45s} {'code':>10s} {'median sps':>11s} {'min':>9s} {'max':>9s} {'vs ref':>7s}")
    for name in ROWS:
        for label in roots:
            values = results[(name, label)]
            med = statistics.median(values)
            ratio = ""
            if args.ref and label == "this":
                ratio = f"{med / statistics.median(results[(name, args.ref)]):7.3f}"
            print(
                f"{name:45s} {label[:10]:>10s} {med:11.0f} {min(values):9.0f} "
                f"{max(values):9.0f} {ratio:>7s}",
                flush=True,
            )


if __name__ == "__main__":
    main()
