"""Helpers shared by the peer scripts (run inside the peers' own virtual environments, never the
project's): a clock from process start, thread pinning, one JSON line of output."""

from __future__ import annotations

import argparse
import json
import os
import time

THREADS = int(os.environ.get("PEERS_THREADS", "1"))  # torch intra-op threads, as rldojo's runs


def _process_age() -> float:
    """Seconds since this process started (kernel start time, 10 ms resolution)."""
    with open("/proc/self/stat") as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")


_AGE0, _PERF0 = _process_age(), time.perf_counter()


def since_start() -> float:
    """Wall seconds since process start (interpreter start-up and imports included)."""
    return _AGE0 + time.perf_counter() - _PERF0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--every", type=int, default=2048, help="env steps between evaluations")
    p.add_argument("--cap", type=int, default=150_000, help="env-step budget")
    return p.parse_args()


def set_threads() -> None:
    import torch

    torch.set_num_threads(THREADS)
    torch.set_num_interop_threads(1)


def emit(result: dict) -> None:
    print(json.dumps(result), flush=True)
