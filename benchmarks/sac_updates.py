"""SAC update throughput: the framework's learner against a bare PyTorch loop, same networks.

    python benchmarks/sac_updates.py                      # batch 256, 256x256 nets, 7 repeats
    python benchmarks/sac_updates.py --hidden 64 --repeats 9 --updates 400

Both sides train SAC (tanh-Gaussian actor, two critics, automatic entropy tuning, Polyak targets)
with the same layer sizes, batch size and learning rates on the same replay contents (random
Pendulum-shaped transitions, obs 3, action 1), one torch thread each:

- ``rldojo``: ``Learner.learn(buffer)`` of the framework, i.e. what a training run does per learn
  phase: sample from the replay buffer, ``policy.learn`` (batch to tensors, critic, actor and
  alpha steps, Polyak targets, metrics), metrics accumulated;
- ``bare``: a CleanRL-style loop written directly in PyTorch (numpy replay indexing,
  ``torch.optim.Adam`` with its CPU default, Polyak by a loop over parameters); ``bare-foreach``
  is the same loop with ``torch.optim.Adam(foreach=True)`` and a ``_foreach_lerp_`` Polyak, the
  fastest plain-PyTorch variant.

Blocks of ``--updates`` updates run interleaved (rldojo, bare, bare-foreach, rldojo, ...), so all
see the same machine load; the table gives median updates/s with min-max, and the framework's
overhead per update against each bare loop (time per update / bare time per update - 1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OBS, ACT, N = 3, 1, 50_000


def replay_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "obs": rng.standard_normal((N, OBS)).astype(np.float32),
        "actions": rng.uniform(-2, 2, (N, ACT)).astype(np.float32),
        "rewards": rng.standard_normal(N).astype(np.float32),
        "next_obs": rng.standard_normal((N, OBS)).astype(np.float32),
        "discounts": np.full(N, 0.99, np.float32),
    }


# ---- the framework ------------------------------------------------------------------------------
class Framework:
    def __init__(self, args, tmp: Path):
        from config.loader import load_config
        from envs.vector import spaces_of
        from framework.data.types import Transitions
        from framework.records.taskdir import TaskDir
        from framework.runtime.learner import Learner
        from framework.runtime.loop import make_clock
        from framework.runtime.setup import build_policy

        h = args.hidden
        layers = f"[{{layer_dim: [{h}]}}, {{layer_dim: [{h}]}}]"
        cfg = load_config(
            None,
            [
                "general_cfg.algo_name=SAC",
                "env_cfg.id=Pendulum-v1",
                "general_cfg.online_eval=false",
                "general_cfg.save_fig=false",
                "general_cfg.progress=false",
                f"algo_cfg.actor_layers={layers}",
                f"algo_cfg.critic_layers={layers}",
                f"algo_cfg.batch_size={args.batch}",
                f"algo_cfg.gradient_steps={args.updates}",
                "algo_cfg.learning_starts=0",
                "algo_cfg.lr=1e-3",
                f"algo_cfg.buffer_size={N}",
            ],
        )
        obs_space, action_space = spaces_of(cfg)
        self.policy = build_policy(cfg, obs_space, action_space, seed=1)
        self.buffer = self.policy.make_buffer()
        a = replay_arrays()
        self.buffer.add(
            Transitions(a["obs"], a["actions"], a["rewards"], a["next_obs"], a["discounts"])
        )
        self.learner = Learner(cfg, TaskDir(tmp), self.policy, make_clock(cfg))

    def run(self) -> None:
        self.learner.learn(self.buffer)


# ---- bare PyTorch ---------------------------------------------------------------------------------
def mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, o))


class Actor(nn.Module):
    def __init__(self, h: int):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(OBS, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.mean, self.log_std = nn.Linear(h, ACT), nn.Linear(h, ACT)

    def sample(self, obs):
        h = self.trunk(obs)
        mean, log_std = self.mean(h), torch.tanh(self.log_std(h))
        log_std = -5 + 0.5 * (2 - -5) * (log_std + 1)  # CleanRL's bounds
        std = log_std.exp()
        u = mean + std * torch.randn_like(mean)
        a = torch.tanh(u)
        logp = (-0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(1)
        logp = logp - torch.log(1 - a.pow(2) + 1e-6).sum(1)
        return a * 2.0, logp  # Pendulum: [-2, 2]


class Bare:
    def __init__(self, args, foreach: bool):
        torch.manual_seed(1)
        h, self.batch, self.n, self.foreach = args.hidden, args.batch, args.updates, foreach
        self.actor = Actor(h)
        self.q1, self.q2 = mlp(OBS + ACT, h, 1), mlp(OBS + ACT, h, 1)
        self.q1_t, self.q2_t = mlp(OBS + ACT, h, 1), mlp(OBS + ACT, h, 1)
        self.q1_t.load_state_dict(self.q1.state_dict())
        self.q2_t.load_state_dict(self.q2.state_dict())
        kw = {"foreach": True} if foreach else {}
        q_params = list(self.q1.parameters()) + list(self.q2.parameters())
        self.q_opt = torch.optim.Adam(q_params, lr=1e-3, **kw)
        self.a_opt = torch.optim.Adam(self.actor.parameters(), lr=1e-3, **kw)
        self.log_alpha = torch.zeros(1, requires_grad=True)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=1e-3, **kw)
        self.online = q_params
        self.target = list(self.q1_t.parameters()) + list(self.q2_t.parameters())
        self.data = replay_arrays()
        self.rng = np.random.default_rng(0)

    def step(self) -> None:
        idx = self.rng.integers(0, N, self.batch)
        d = {k: torch.as_tensor(v[idx]) for k, v in self.data.items()}
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            na, nlogp = self.actor.sample(d["next_obs"])
            x = torch.cat([d["next_obs"], na], 1)
            next_q = torch.min(self.q1_t(x), self.q2_t(x)).view(-1) - alpha * nlogp
            y = d["rewards"] + d["discounts"] * next_q
        x = torch.cat([d["obs"], d["actions"]], 1)
        q_loss = F.mse_loss(self.q1(x).view(-1), y) + F.mse_loss(self.q2(x).view(-1), y)
        self.q_opt.zero_grad()
        q_loss.backward()
        self.q_opt.step()
        a, logp = self.actor.sample(d["obs"])
        x = torch.cat([d["obs"], a], 1)
        a_loss = (alpha * logp - torch.min(self.q1(x), self.q2(x)).view(-1)).mean()
        self.a_opt.zero_grad()
        a_loss.backward()
        self.a_opt.step()
        alpha_loss = -(self.log_alpha * (logp.detach() - ACT)).mean()
        self.alpha_opt.zero_grad()
        alpha_loss.backward()
        self.alpha_opt.step()
        with torch.no_grad():
            if self.foreach:
                torch._foreach_lerp_(self.target, self.online, 0.005)
            else:
                for p, tp in zip(self.online, self.target):
                    tp.data.copy_(0.005 * p.data + 0.995 * tp.data)
        _ = (q_loss.item(), a_loss.item(), alpha.item())  # metrics, as a loop would log them

    def run(self) -> None:
        for _ in range(self.n):
            self.step()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--updates", type=int, default=300, help="updates per timed block")
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        sides = {
            "rldojo": Framework(args, Path(tmp)),
            "bare": Bare(args, foreach=False),
            "bare-foreach": Bare(args, foreach=True),
        }
        for side in sides.values():  # warm-up
            side.run()
        rates: dict[str, list[float]] = {k: [] for k in sides}
        for _ in range(args.repeats):
            for name, side in sides.items():
                t = time.perf_counter()
                side.run()
                rates[name].append(args.updates / (time.perf_counter() - t))
    print(
        f"SAC updates/s, batch {args.batch}, actor and 2 critics {args.hidden}x{args.hidden}, "
        f"{args.repeats} interleaved blocks of {args.updates} updates, 1 torch thread"
    )
    print(f"{'loop':<14}{'median':>9}{'min':>9}{'max':>9}   rldojo overhead per update")
    ours = statistics.median(rates["rldojo"])
    for name, r in rates.items():
        med = statistics.median(r)
        over = "" if name == "rldojo" else f"{med / ours - 1:+.1%}"
        print(f"{name:<14}{med:>9.1f}{min(r):>9.1f}{max(r):>9.1f}   {over}")


if __name__ == "__main__":
    main()
