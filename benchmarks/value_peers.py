"""The value-based family against its peers on CartPole-v1, side by side and interleaved (ours,
theirs, ours, theirs, seed by seed) so both see the same machine load:

- QR-DQN: ours (config/presets/CartPole-v1_QRDQN.yaml) vs sb3-contrib's QR-DQN with the RL
  Zoo's CartPole hyperparameters (benchmarks/peers/sb3_qrdqn_cartpole.py);
- C51 and Rainbow: ours vs Tianshou's with the settings of its CartPole tests
  (benchmarks/peers/tianshou_cartpole.py).

Ours: launch to exit of ``python main.py --yaml PRESET``. Theirs: process start to the first
10-episode deterministic evaluation >= 475 (exit not counted). Peers live in virtual
environments of their own, outside the repo:

    python3 -m venv ~/.cache/peers-sb3contrib && ~/.cache/peers-sb3contrib/bin/pip install \\
        torch==2.13.0 stable-baselines3==2.9.2 sb3-contrib==2.9.2
    python3 -m venv ~/.cache/peers-tianshou && ~/.cache/peers-tianshou/bin/pip install \\
        torch==2.13.0 tianshou==2.0.1
    python benchmarks/value_peers.py --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from time_to_solve import ROOT, run_once  # noqa: E402

HOME = Path.home() / ".cache"
PEERS = ROOT / "benchmarks" / "peers"
PAIRS = {
    "QRDQN": (HOME / "peers-sb3contrib/bin/python", [str(PEERS / "sb3_qrdqn_cartpole.py")]),
    "C51": (HOME / "peers-tianshou/bin/python", [str(PEERS / "tianshou_cartpole.py"), "c51"]),
    "Rainbow": (
        HOME / "peers-tianshou/bin/python",
        [str(PEERS / "tianshou_cartpole.py"), "rainbow"],
    ),
}


def run_peer(python: Path, script: list[str], seed: int) -> dict:
    proc = subprocess.run(
        [str(python), *script, "--seed", str(seed)], capture_output=True, text=True, cwd=PEERS
    )
    if proc.returncode != 0:
        raise SystemExit(f"peer failed: {script}\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--algos", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    args = parser.parse_args()
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for algo in args.algos:
            python, script = PAIRS[algo]
            ours, theirs = [], []
            for seed in args.seeds:
                preset = f"config/presets/CartPole-v1_{algo}.yaml"
                r = run_once(ROOT, preset, seed, Path(tmp) / "tasks", [])
                ours.append((r["wall"], bool(r["threshold_reached"]), r["threshold_env_steps"]))
                p = run_peer(python, script, seed)
                theirs.append((p["total_s"], p["solved"], p["env_steps"]))
                print(
                    f"{algo:8s} seed {seed}: ours {r['wall']:6.2f} s (solved={ours[-1][1]}, "
                    f"{ours[-1][2]} steps)   peer {p['total_s']:6.2f} s (solved={p['solved']}, "
                    f"{p['env_steps']} steps)",
                    flush=True,
                )
            for label, rows in (("rldojo", ours), ("peer", theirs)):
                walls = [w for w, _, _ in rows]
                table.append(
                    (
                        algo,
                        label,
                        statistics.median(walls),
                        min(walls),
                        max(walls),
                        sum(s for _, s, _ in rows),
                        len(rows),
                    )
                )
    print(f"\n{'algo':8s} {'who':>7s} {'median s':>9s} {'min':>6s} {'max':>6s} {'solved':>7s}")
    for algo, who, med, lo, hi, ok, n in table:
        print(f"{algo:8s} {who:>7s} {med:9.2f} {lo:6.2f} {hi:6.2f} {ok:>4d}/{n:<2d}")
    for algo in args.algos:
        ours = next(t for t in table if t[0] == algo and t[1] == "rldojo")[2]
        peer = next(t for t in table if t[0] == algo and t[1] == "peer")[2]
        print(f"{algo}: peer median / ours median = {peer / ours:.1f}x")


if __name__ == "__main__":
    main()
