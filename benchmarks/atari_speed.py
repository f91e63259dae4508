"""Training throughput on Pong: env steps per second of the whole PPO and DQN loops, rldojo
against CleanRL and Stable-Baselines3 (RL Zoo settings), side by side on this machine.

Rows (each a fresh process; rounds interleave the rows so all see the same machine load):

- ``rldojo PPO``: ``python main.py --yaml config/presets/ALE-Pong-v5_PPO.yaml`` (8 envs, Nature
  CNN, 8 x 128 steps, 4 epochs x 4 minibatches of 256); the loop's env steps per second from
  ``summary.json`` (online evaluation off);
- ``CleanRL PPO``: CleanRL's ``ppo_atari.py``, unmodified (same hyperparameters), its last
  ``SPS`` line; get the file from github.com/vwxyzjn/cleanrl (``cleanrl/ppo_atari.py``) into
  ``--cleanrl-dir``;
- ``SB3 PPO``: ``benchmarks/peers/sb3_atari.py --algo ppo`` (RL Zoo's atari settings);
- ``rldojo DQN``: ``config/presets/ALE-Pong-v5_DQN.yaml`` (8 envs, 8 updates of batch 32 per
  32 env steps, frame replay);
- ``CleanRL DQN``: ``benchmarks/peers/cleanrl_dqn_atari.py`` (CleanRL's dqn_atari.py loop, one
  env, an update every 4 env steps; replay 100k instead of 1M, which SB3's buffer cannot
  allocate on a 23 GB machine: 26 GB);
- ``SB3 DQN``: ``benchmarks/peers/sb3_atari.py --algo dqn`` (RL Zoo: one env, replay 100k).

Every DQN row learns after ``--learning-starts`` env steps (all use the same), so that the short
run measures learning, not the warm-up. Peers run in their own venv (``--peer-python``; make it
with ``benchmarks/peers/setup_atari``). ``--threads`` sets torch's intra-op threads for every row
(``general_cfg.torch_threads`` for rldojo, ``OMP_NUM_THREADS`` for all). The default, 2, is what
each side runs with on a 2-core machine left to itself: the Atari presets' ``torch_threads``, and
torch's own default for the peers (one thread per core).

    python benchmarks/atari_speed.py                         # PPO and DQN, 3 rounds, 2 threads
    python benchmarks/atari_speed.py --algos ppo --rounds 5 --threads 1

Prints a table: median env steps/s, min-max over rounds, and rldojo's speed-up over each peer.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path.home() / ".cache" / "peers-atari"


def rldojo_cmd(algo: str, steps: int, threads: int, tasks: Path, learning_starts: int):
    preset = ROOT / "config" / "presets" / f"ALE-Pong-v5_{algo.upper()}.yaml"
    cmd = [
        sys.executable,
        str(ROOT / "main.py"),
        "--yaml",
        str(preset),
        f"general_cfg.max_env_steps={steps}",
        "general_cfg.online_eval=false",
        "general_cfg.reward_threshold=null",
        "general_cfg.save_fig=false",
        "general_cfg.progress=false",
        f"general_cfg.torch_threads={threads}",
        f"general_cfg.tasks_dir={tasks}",
    ]
    if algo == "dqn":
        cmd.append(f"algo_cfg.learning_starts={learning_starts}")
    return cmd


def run_row(row: str, args, work: Path) -> float:
    system, algo = row.split()
    algo = algo.lower()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PEERS_THREADS": str(args.threads)}
    steps = args.ppo_steps if algo == "ppo" else args.dqn_steps
    run_dir = Path(tempfile.mkdtemp(dir=work))
    peer = [args.peer_python]
    if system == "rldojo":
        cmd = rldojo_cmd(algo, steps, args.threads, run_dir / "tasks", args.learning_starts)
    elif system == "CleanRL" and algo == "ppo":
        cmd = peer + [
            str(ROOT / "benchmarks" / "peers" / "run_with_ale.py"),
            str(Path(args.cleanrl_dir) / "ppo_atari.py"),
            "--env-id",
            "PongNoFrameskip-v4",
            "--total-timesteps",
            str(steps),
            "--no-cuda",
        ]
    elif system == "CleanRL":
        cmd = peer + [
            str(ROOT / "benchmarks" / "peers" / "cleanrl_dqn_atari.py"),
            f"--total-timesteps={steps}",
            f"--learning-starts={args.learning_starts}",
            "--buffer-size=100000",
        ]
    else:
        cmd = peer + [
            str(ROOT / "benchmarks" / "peers" / "sb3_atari.py"),
            f"--algo={algo}",
            f"--steps={steps}",
            f"--learning-starts={args.learning_starts}",
        ]
    out = subprocess.run(cmd, cwd=run_dir, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{row} failed:\n{out.stderr[-2000:]}")
    if system == "rldojo":
        (summary,) = (run_dir / "tasks").glob("*/results/summary.json")
        return float(json.loads(summary.read_text())["env_steps_per_second"])
    if system == "CleanRL" and algo == "ppo":
        return float(re.findall(r"SPS: (\d+)", out.stdout)[-1])
    return float(json.loads(out.stdout.strip().splitlines()[-1])["sps"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algos", nargs="+", default=["ppo", "dqn"], choices=["ppo", "dqn"])
    parser.add_argument("--systems", nargs="+", default=["rldojo", "CleanRL", "SB3"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ppo-steps", type=int, default=4096, help="4 PPO iterations")
    parser.add_argument("--dqn-steps", type=int, default=6000)
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--peer-python", default=str(PEERS / "bin" / "python"))
    parser.add_argument("--cleanrl-dir", default=str(PEERS / "cleanrl"))
    args = parser.parse_args()
    rows = [f"{s} {a.upper()}" for a in args.algos for s in args.systems]
    results: dict[str, list[float]] = {r: [] for r in rows}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.rounds):
            for row in rows:
                results[row].append(run_row(row, args, Path(tmp)))
                print(f"round {k + 1}: {row:12s} {results[row][-1]:7.1f} env steps/s", flush=True)
    print(
        f"\nPong, {args.threads} torch thread(s), {os.cpu_count()} cores; PPO {args.ppo_steps} "
        f"steps, DQN {args.dqn_steps} steps (learning from {args.learning_starts})"
    )
    print(f"{'loop':14s} {'env steps/s':>12s} {'min-max':>14s} {'rldojo speed-up':>16s}")
    for row, values in results.items():
        med = statistics.median(values)
        ours = statistics.median(results.get(f"rldojo {row.split()[1]}", values))
        spread = f"{min(values):.1f}-{max(values):.1f}"
        print(f"{row:14s} {med:12.1f} {spread:>14s} {ours / med:15.2f}x")


if __name__ == "__main__":
    main()
