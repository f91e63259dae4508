"""Pendulum-v1 time to solve (-200): rldojo's SAC, TD3 and DDPG presets against Stable-Baselines3.

    python benchmarks/continuous.py                          # SAC, TD3, DDPG; seeds 1 2 3; SB3 too
    python benchmarks/continuous.py --algos SAC --seeds 1 2 3 4 5
    python benchmarks/continuous.py --no-peers               # rldojo only
    python benchmarks/continuous.py --test-episodes 0        # skip the 100-episode re-test
    python benchmarks/continuous.py --algos SAC --set general_cfg.online_eval_fre=500

For each seed, ``python main.py --yaml config/presets/Pendulum-v1_<ALGO>.yaml`` runs as a
subprocess, timed from launch to exit (it stops once two evaluations in a row of 100
deterministic episodes reach -200: a stricter stop than SB3's scripts, which stop at their first
evaluation past -200); then its best.pt is tested on ``--test-episodes`` episodes with another
seed. Stable-Baselines3's SAC and TD3 with the RL Zoo's Pendulum hyperparameters
(``/work/shared/peers/sb3_{sac,td3}_pendulum.py``, in their own virtual environment, see
``--peers-python``) run interleaved with ours, seed by seed (ours, theirs, ours, ...), so both
see the same machine load; their time is from process start to the solving evaluation (they
evaluate every 1000 env steps, as our presets do). SB3 has no DDPG script here: DDPG runs alone.

Prints one row per run and a table: median launch-to-exit seconds (min-max), env steps to the
threshold, seeds solved, the re-test mean, and SB3's median over the same seeds with the
speed-up (SB3 median / ours).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

from time_to_solve import run_once, test_best  # the sibling script: launch to exit, re-test

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT.parent / "shared" / "peers"
SB3 = {"SAC": "sb3_sac_pendulum.py", "TD3": "sb3_td3_pendulum.py"}


def ours(algo: str, seed: int, tasks: Path, test_episodes: int, overrides: list[str]) -> dict:
    r = run_once(ROOT, f"config/presets/Pendulum-v1_{algo}.yaml", seed, tasks, overrides)
    out = {"wall": r["wall"], "solved": r["threshold_reached"], "steps": r["threshold_env_steps"]}
    out["test"] = test_best(ROOT, r["task"], seed + 1000, test_episodes) if test_episodes else None
    return out


def theirs(algo: str, seed: int, python: str) -> dict:
    cmd = [python, str(PEERS / SB3[algo]), "--seed", str(seed)]
    proc = subprocess.run(cmd, cwd=PEERS, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"peer failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall": r["total_s"], "solved": r["solved"], "steps": r["env_steps"], "test": None}


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--algos", nargs="+", default=["SAC", "TD3", "DDPG"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--test-episodes", type=int, default=100)
    p.add_argument("--no-peers", action="store_true", help="run rldojo only")
    p.add_argument("--peers-python", default=str(Path.home() / ".cache/rldojo-peers/bin/python"))
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="our overrides")
    args = p.parse_args()
    rows: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for algo in args.algos:
            for seed in args.seeds:
                runs = [
                    (
                        "rldojo",
                        lambda a=algo, s=seed: ours(a, s, Path(tmp), args.test_episodes, args.set),
                    )
                ]
                if algo in SB3 and not args.no_peers:
                    runs.append(("sb3", lambda a=algo, s=seed: theirs(a, s, args.peers_python)))
                for who, fn in runs:
                    r = fn()
                    rows.setdefault((algo, who), []).append(r)
                    test = f"  test {r['test']:.1f}" if r["test"] is not None else ""
                    print(
                        f"{algo:<5} {who:<7} seed {seed}: {r['wall']:6.1f} s  "
                        f"solved {r['solved']} at {r['steps']} env steps{test}",
                        flush=True,
                    )
    print(f"\nPendulum-v1 to -200, seeds {args.seeds}: seconds launch to exit, median (min-max)")
    header = f"{'algo':<6}{'rldojo s':>22}  {'env steps':>24}{'solved':>8}{'test':>9}"
    print(header + f"  {'SB3 s':>22}{'speed-up':>10}")
    for algo in args.algos:
        mine = rows[(algo, "rldojo")]
        walls = [r["wall"] for r in mine]
        steps = [r["steps"] for r in mine if r["solved"]]
        tests = [r["test"] for r in mine if r["test"] is not None]
        line = f"{algo:<6}{spread(walls):>22}  {spread(steps):>24}"
        line += f"{sum(r['solved'] for r in mine):>5}/{len(mine)}"
        line += f"{statistics.median(tests):>9.1f}" if tests else f"{'-':>9}"
        peer = rows.get((algo, "sb3"))
        if peer:
            pw = [r["wall"] for r in peer]
            line += f"  {spread(pw):>22}{statistics.median(pw) / statistics.median(walls):>9.1f}x"
        print(line)


if __name__ == "__main__":
    main()
