"""Milliseconds per DQN update (Double DQN on) for a preset, against the alternative of passing
s and s' through the online network together with gradients (what DQN did before 8d370e4).

    python benchmarks/dqn_update.py [PRESET ...]   # default: CartPole-v1_DQN and ALE-Pong-v5_DQN

Random batches of the preset's batch size and observation space, with the preset's
``general_cfg.torch_threads`` (1 by default), as its training run has them; the two variants
run in interleaved blocks so both see the same machine load; prints median, min and max per
variant.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import algos.DQN.policy as dqn  # noqa: E402
from config.loader import load_config  # noqa: E402
from envs.vector import spaces_of  # noqa: E402
from framework.data.types import ReplayBatch  # noqa: E402
from framework.runtime.setup import build_policy  # noqa: E402


def joint_update(self, batch):
    """The former update: online Q(s) and Q(s') in one pass with gradients."""
    head, n = self.head, batch.n
    for layer in self.noisy_online + self.noisy_target:
        layer.reset_noise()
    actions = batch.actions.long() - self.action_start
    out, next_online = head.forward(self.q, batch.obs_all, "learn").split(n)
    taken = head.taken(out, actions)
    with torch.no_grad():
        next_out = head.forward(self.q_target, batch.next_obs, "learn")
        next_actions = head.q_values(next_online).argmax(dim=1)
        target = head.target(head.taken(next_out, next_actions), batch.rewards, batch.discounts)
    per_sample, priorities = head.loss(taken, out.taus, target)
    loss = batch.weighted_mean(per_sample)
    self.optimize("q", loss)
    return {"loss": loss.item(), "q_mean": head.mean(taken).mean().item()}, (
        priorities.cpu().numpy()
    )


def measure(preset: str, blocks: int = 5) -> None:
    cfg = load_config(preset, ["algo_cfg.double_dqn=true"])
    torch.set_num_threads(cfg.general.torch_threads)  # as a training run of the preset sets it
    obs_space, action_space = spaces_of(cfg)
    policy = build_policy(cfg, obs_space, action_space, seed=1)
    size, rng = cfg.algo.batch_size, np.random.default_rng(0)

    def batch() -> ReplayBatch:
        shape = (size, *obs_space.shape)
        if obs_space.dtype == np.uint8:
            obs = rng.integers(0, 255, shape, dtype=np.uint8)
        else:
            obs = rng.standard_normal(shape).astype(np.float32)
        return ReplayBatch(
            obs=obs,
            actions=rng.integers(0, action_space.n, size),
            rewards=np.ones(size, np.float32),
            next_obs=obs[::-1].copy(),
            discounts=np.full(size, 0.99, np.float32),
        )

    batches = [batch() for _ in range(8)]
    n = 300 if size >= 64 else 60
    current = dqn.Policy.update
    times: dict[str, list[float]] = {"current": [], "joint s+s' pass": []}
    for _ in range(blocks):
        for name, fn in (("current", current), ("joint s+s' pass", joint_update)):
            dqn.Policy.update = fn
            start = time.perf_counter()
            for i in range(n):
                policy.learn(batches[i % len(batches)])
            times[name].append((time.perf_counter() - start) / n * 1e3)
    dqn.Policy.update = current
    for name, t in times.items():
        print(
            f"{Path(preset).stem:24s} {name:16s} median {np.median(t):7.2f} ms/update "
            f"(min {min(t):.2f}, max {max(t):.2f}; batch {size}, {blocks} blocks of {n})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("presets", nargs="*", help="preset YAMLs (default: CartPole and Pong DQN)")
    presets = parser.parse_args().presets or [
        str(ROOT / "config/presets/CartPole-v1_DQN.yaml"),
        str(ROOT / "config/presets/ALE-Pong-v5_DQN.yaml"),
    ]
    for p in presets:
        measure(p)
