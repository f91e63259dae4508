"""Frame replay at DQN scale: memory of a 1M-transition buffer and the time to sample a batch.

Fills a ``FrameReplayBuffer`` (the one the off-policy base picks for Atari's 4 x 84 x 84 uint8
stacks) through its ``FrameAdder`` with collection phases shaped like the DQN preset's (8 envs),
built from Atari-like stacks: each step shifts in one new 84x84 frame, episodes (about 1000
steps) start with zero padding and some stacks restart without shifting, as after a life loss.
Frames are drawn from a pool of real-looking random frames, so building them costs little and
the buffer does all the work it does in training.

    python benchmarks/atari_replay.py                     # 1M transitions, batch 32, n-step 1 and 3
    python benchmarks/atari_replay.py --capacity 200000   # a quicker look
    python benchmarks/atari_replay.py --per               # also prioritized, 3-step (Rainbow)

Reports the process's resident memory added by the buffer (VmRSS, after the rings wrapped, so
every page is touched), what a dense buffer (obs and next_obs as 4x84x84 uint8) would take,
the add rate, and the sampling time of a batch (median and 99th percentile over 2000 samples).
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

from framework.data.frames import FrameAdder, FrameReplayBuffer  # noqa: E402
from framework.data.types import StepBatch  # noqa: E402

K, H = 4, 84


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class StackStreams:
    """Atari-shaped [T, N] phases: per env a stack of K frame ids into a pool of frames."""

    def __init__(self, n_envs: int, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.pool = self.rng.integers(1, 256, (4096, H, H), dtype=np.uint8)
        self.pool[0] = 0  # id 0: the zero frame (padding)
        self.n = n_envs
        self.ids = np.zeros((n_envs, K), np.int64)
        self.ids[:, -1] = self.rng.integers(1, len(self.pool), n_envs)

    def phase(self, T: int) -> StepBatch:
        obs_ids = np.empty((T, self.n, K), np.int64)
        next_ids = np.empty_like(obs_ids)
        terminated = self.rng.random((T, self.n)) < 1 / 1000
        restart = self.rng.random((T, self.n)) < 1 / 200  # a fresh stack (life loss)
        for t in range(T):
            obs_ids[t] = self.ids
            new = self.rng.integers(1, len(self.pool), self.n)
            nxt = np.concatenate([self.ids[:, 1:], new[:, None]], axis=1)
            nxt[restart[t]] = self.rng.integers(1, len(self.pool), (int(restart[t].sum()), K))
            next_ids[t] = nxt
            self.ids = nxt.copy()
            for i in np.flatnonzero(terminated[t]):  # reset: zero padding, one new frame
                self.ids[i] = 0
                self.ids[i, -1] = self.rng.integers(1, len(self.pool))
        zeros = np.zeros((T, self.n), bool)
        return StepBatch(
            self.pool[obs_ids],
            self.rng.integers(0, 6, (T, self.n)),
            self.rng.normal(size=(T, self.n)).astype(np.float32),
            self.pool[next_ids],
            terminated,
            zeros,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--phase", type=int, default=128, help="vector steps per add")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--per", action="store_true", help="also PER (alpha 0.5), n-step 3")
    args = parser.parse_args()
    streams = StackStreams(args.n_envs)
    before = rss()
    rows = []
    variants = [(1, None), (3, None)] + ([(3, 0.5)] if args.per else [])
    rng = np.random.default_rng(0)
    for n_step, alpha in variants:
        buf = FrameReplayBuffer(args.capacity, n_step, 0.99, seed=0, alpha=alpha)
        adder = FrameAdder(args.n_envs)
        fill = int(1.1 * args.capacity)  # past the capacity: both rings wrap, all pages touched
        added, add_time = 0, 0.0
        while added < fill:
            batch = streams.phase(args.phase)
            start = time.perf_counter()
            buf.add(adder(batch))
            add_time += time.perf_counter() - start
            added += batch.n_steps
        memory = rss() - before
        times = []
        for _ in range(args.samples):
            start = time.perf_counter()
            sampled = buf.sample(args.batch, beta=0.4)
            times.append(time.perf_counter() - start)
            buf.update_priorities(sampled.indices, rng.random(args.batch))  # as learning does
        times.sort()
        rows.append(
            (
                f"{n_step}{' PER' if alpha else ''}",
                len(buf),
                memory,
                added / add_time,
                statistics.median(times),
                times[int(0.99 * len(times))],
                buf.frames_total / buf.steps_total,
            )
        )
        del buf, adder
    dense = args.capacity * 2 * K * H * H
    print(f"\nframe replay, capacity {args.capacity:,} transitions, {args.n_envs} env streams")
    print(f"dense replay would hold obs and next_obs: {dense / 2**30:.1f} GiB")
    print(
        f"{'n_step':>7s} {'held':>10s} {'memory GiB':>11s} {'frames/step':>12s} "
        f"{'add steps/s':>12s} {f'sample({args.batch}) median':>20s} {'p99':>9s}"
    )
    for n_step, held, memory, rate, med, p99, fps in rows:
        print(
            f"{n_step:>7s} {held:10,d} {memory / 2**30:11.2f} {fps:12.3f} {rate:12,.0f} "
            f"{med * 1e6:17.0f} us {p99 * 1e6:6.0f} us"
        )


if __name__ == "__main__":
    main()
