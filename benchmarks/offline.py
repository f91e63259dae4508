"""Offline update throughput: update steps per second at batch 256 for BC, CQL, TD3+BC and IQL,
and d3rlpy's discrete BC and CQL side by side.

    python benchmarks/offline.py                         # rldojo only, 5 repeats
    python benchmarks/offline.py --d3rlpy ~/.cache/peers-d3rlpy/bin/python
    python benchmarks/offline.py --d3rlpy ~/.cache/peers-d3rlpy/bin/python --threads 2

Every algorithm learns through the framework's ``Learner.learn`` on a ``DatasetBuffer`` (what
a training run does per loop step: sample, ``policy.learn``, metrics), on random transitions
of the env's shapes: CartPole (obs 4, 2 actions) for the discrete ones, Pendulum (obs 3, one
action in [-2, 2]) for the continuous ones, 256x256 hidden layers everywhere; every side runs
one torch thread unless ``--threads`` says otherwise. d3rlpy (its own venv: it pins an older
gymnasium) runs ``DiscreteBC`` and ``DiscreteCQL`` with the same layer sizes, batch size and
data shapes in a helper process; blocks of ``--updates`` updates are interleaved (rldojo,
d3rlpy, rldojo, ...) so both see the same load. The discrete cases also run the same update in
a bare PyTorch loop ("torch": ``nn.Linear`` layers, ``torch.optim.Adam``, no framework): the
same maths on PyTorch's default CPU kernels, where rldojo computes its large linear layers with
oneDNN (``general_cfg.onednn_linear``, algos/base/linear.py). The table: median ms per update
and updates/s with min-max, and the speed-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

N = 50_000
LAYERS = "[{layer_dim: [256]}, {layer_dim: [256]}]"
CASES = {  # name: (algo, env id, extra algo_cfg overrides)
    "BC discrete": ("BC", "CartPole-v1", [f"actor_layers={LAYERS}"]),
    "CQL discrete": ("CQL", "CartPole-v1", [f"value_layers={LAYERS}"]),
    "BC continuous": ("BC", "Pendulum-v1", [f"actor_layers={LAYERS}"]),
    "TD3+BC": ("TD3BC", "Pendulum-v1", [f"actor_layers={LAYERS}", f"critic_layers={LAYERS}"]),
    "CQL continuous": ("CQL", "Pendulum-v1", [f"actor_layers={LAYERS}", f"critic_layers={LAYERS}"]),
    "IQL continuous": (
        "IQL",
        "Pendulum-v1",
        [f"actor_layers={LAYERS}", f"critic_layers={LAYERS}", f"value_layers={LAYERS}"],
    ),
}
D3RLPY_CASES = {"BC discrete": "DiscreteBC", "CQL discrete": "DiscreteCQL"}


def random_transitions(obs_dim: int, discrete: bool, seed: int = 0):
    from framework.data.types import Transitions

    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 2, N) if discrete else rng.uniform(-2, 2, (N, 1)).astype(np.float32)
    return Transitions(
        rng.standard_normal((N, obs_dim)).astype(np.float32),
        actions,
        rng.standard_normal(N).astype(np.float32),
        rng.standard_normal((N, obs_dim)).astype(np.float32),
        np.full(N, 0.99, np.float32),
    )


class Ours:
    def __init__(self, algo: str, env_id: str, extra: list[str], updates: int, tmp: Path):
        from config.loader import load_config
        from envs.vector import spaces_of
        from framework.data.datasets import DatasetBuffer
        from framework.records.taskdir import TaskDir
        from framework.runtime.learner import Learner
        from framework.runtime.loop import make_clock
        from framework.runtime.setup import build_policy

        cfg = load_config(
            None,
            [
                f"general_cfg.algo_name={algo}",
                f"env_cfg.id={env_id}",
                "general_cfg.online_eval=false",
                "general_cfg.save_fig=false",
                "general_cfg.progress=false",
                "algo_cfg.batch_size=256",
                f"algo_cfg.gradient_steps={updates}",
                *(f"algo_cfg.{e}" for e in extra),
            ],
        )
        obs_space, action_space = spaces_of(cfg)
        self.policy = build_policy(cfg, obs_space, action_space, seed=1)
        discrete = env_id == "CartPole-v1"
        data = random_transitions(obs_space.shape[0], discrete)
        self.buffer = DatasetBuffer(data, seed=1)
        task = TaskDir(tmp / algo / env_id)
        self.learner = Learner(cfg, task, self.policy, make_clock(cfg, "update_steps"))

    def run(self) -> None:
        self.learner.learn(self.buffer)


class Bare:
    """The same discrete update in a bare PyTorch loop on PyTorch's default kernels:
    ``nn.Sequential`` 4-256-256-2, ``torch.optim.Adam`` (foreach), NumPy
    index sampling. BC: cross-entropy. CQL as rldojo's defaults: double DQN, Huber TD loss,
    ``cql_alpha`` 1 times logsumexp_a Q(s, a) - Q(s, a_data), gradients clipped at norm 10, a hard
    target copy every 16 updates."""

    def __init__(self, algo: str, updates: int):
        import copy

        from torch import nn

        self.algo, self.updates, self.step = algo, updates, 0
        data = random_transitions(4, discrete=True)
        self.data = [data.obs, data.actions, data.rewards, data.next_obs, data.discounts]
        self.rng = np.random.default_rng(1)
        torch.manual_seed(1)
        self.net = nn.Sequential(
            nn.Linear(4, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2)
        )
        self.target = copy.deepcopy(self.net).requires_grad_(False)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3, foreach=True)

    def update(self) -> None:
        import torch.nn.functional as F

        idx = self.rng.integers(0, N, 256)
        obs, actions, rewards, next_obs, discounts = (torch.as_tensor(a[idx]) for a in self.data)
        actions = actions.long()
        q_all = self.net(obs)
        if self.algo == "BC":
            loss = F.cross_entropy(q_all, actions)
        else:
            q = q_all.gather(1, actions[:, None]).squeeze(1)
            with torch.no_grad():
                next_a = self.net(next_obs).argmax(1, keepdim=True)
                y = rewards + discounts * self.target(next_obs).gather(1, next_a).squeeze(1)
            loss = F.smooth_l1_loss(q, y) + (torch.logsumexp(q_all, 1) - q).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.algo != "BC":
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), 10.0)
        self.opt.step()
        self.step += 1
        if self.algo != "BC" and self.step % 16 == 0:
            self.target.load_state_dict(self.net.state_dict())
        loss.item()

    def run(self) -> None:
        for _ in range(self.updates):
            self.update()


D3RLPY_SCRIPT = r"""
import json, sys, time
import numpy as np, torch, d3rlpy
N, name, updates, threads = 50_000, sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
rng = np.random.default_rng(0)
obs = rng.standard_normal((N, 4)).astype(np.float32)
dataset = d3rlpy.dataset.MDPDataset(
    obs, rng.integers(0, 2, N), rng.standard_normal(N).astype(np.float32),
    (np.arange(N) % 500 == 499).astype(np.float32), action_space=d3rlpy.ActionSpace.DISCRETE,
    action_size=2,
)
enc = d3rlpy.models.encoders.VectorEncoderFactory([256, 256])
if name == "DiscreteBC":
    config = d3rlpy.algos.DiscreteBCConfig(batch_size=256, encoder_factory=enc)
else:
    config = d3rlpy.algos.DiscreteCQLConfig(batch_size=256, encoder_factory=enc)
algo = config.create(device="cpu:0")
algo.build_with_dataset(dataset)
buffer = dataset
def block():
    for _ in range(updates):
        batch = buffer.sample_transition_batch(256)
        algo.update(batch)
block()
print("ready", flush=True)
for line in sys.stdin:
    t = time.perf_counter()
    block()
    print(json.dumps(time.perf_counter() - t), flush=True)
"""


class Theirs:
    """A d3rlpy helper process that times one block per request."""

    def __init__(self, python: str, name: str, updates: int, threads: int):
        self.proc = subprocess.Popen(
            [python, "-c", D3RLPY_SCRIPT, name, str(updates), str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for line in self.proc.stdout:  # d3rlpy logs to stdout first
            if line.strip() == "ready":
                break
        else:
            raise RuntimeError(f"d3rlpy helper for {name} failed to start")

    def run(self) -> float:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the d3rlpy helper exited")
            try:
                return float(json.loads(line))
            except ValueError:  # a log line
                continue

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def timed(side, updates: int) -> float:
    if isinstance(side, Theirs):
        return side.run() / updates
    t = time.perf_counter()
    side.run()
    return (time.perf_counter() - t) / updates


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--updates", type=int, default=200, help="updates per timed block")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--d3rlpy", default=None, help="python of a venv with d3rlpy installed")
    p.add_argument("--only", nargs="*", default=None, help="case names to run")
    p.add_argument("--threads", type=int, default=1, help="torch threads of every side")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (algo, env_id, extra) in CASES.items():
            if args.only and name not in args.only:
                continue
            sides = {"rldojo": Ours(algo, env_id, extra, args.updates, Path(tmp))}
            if name in D3RLPY_CASES:
                sides["torch"] = Bare(algo, args.updates)
            if args.d3rlpy and name in D3RLPY_CASES:
                sides["d3rlpy"] = Theirs(
                    args.d3rlpy, D3RLPY_CASES[name], args.updates, args.threads
                )
            for side in sides.values():
                timed(side, args.updates)  # warm-up
            times: dict[str, list[float]] = {k: [] for k in sides}
            for _ in range(args.repeats):
                for key, side in sides.items():
                    times[key].append(timed(side, args.updates))
            for key, side in sides.items():
                if isinstance(side, Theirs):
                    side.close()
                rows.append((name, key, times[key]))
    print(
        f"update steps at batch 256, 256x256 hidden layers, {args.repeats} interleaved blocks of "
        f"{args.updates} updates, {args.threads} torch thread(s)"
    )
    print(f"{'case':<16}{'library':<9}{'ms/update':>10}{'min':>8}{'max':>8}{'updates/s':>11}")
    ours: dict[str, float] = {}
    for name, key, t in rows:
        med = statistics.median(t)
        if key == "rldojo":
            ours[name] = med
        speed = f"   rldojo {med / ours[name]:.1f}x faster" if key != "rldojo" else ""
        print(
            f"{name:<16}{key:<9}{med * 1e3:>10.2f}{min(t) * 1e3:>8.2f}{max(t) * 1e3:>8.2f}"
            f"{1 / med:>11.0f}{speed}"
        )


if __name__ == "__main__":
    main()
