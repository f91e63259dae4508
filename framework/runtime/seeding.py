"""Seeds: every random stream of a run derives from the run seed through a SeedSequence.

A stream is ``SeedSequence([seed, STREAM, *ids])``: streams of one run are independent of each
other, and adjacent run seeds (1 and 2) share no env seeds (``seed + i`` would share all but one).
``seed`` 0 means unseeded: every stream draws fresh OS entropy.
"""

from __future__ import annotations

import random
import sys

import numpy as np

TRAIN_ENVS, EVAL, TEST, RENDER, COLLECT, POLICY = range(6)


def sequence(seed: int | None, stream: int, *ids: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, stream, *ids] if seed else None)


def stream_rng(seed: int | None, stream: int, *ids: int) -> np.random.Generator:
    return np.random.default_rng(sequence(seed, stream, *ids))


def env_seeds(seed: int | None, n: int, *ids: int) -> list[int]:
    """Reset seeds of ``n`` training envs (``ids``: e.g. the Ray worker index)."""
    return [int(s) for s in sequence(seed, TRAIN_ENVS, *ids).generate_state(n)]


def policy_seed(seed: int | None, *ids: int) -> int | None:
    """Seed of a policy's own RNG (exploration, replay sampling)."""
    if not seed:
        return None
    return int(sequence(seed, POLICY, *ids).generate_state(1)[0])


def seed_everything(seed: int) -> int | None:
    """Seed Python's, numpy's and (when it is imported: torch algorithms) torch's global RNGs;
    0 means unseeded (returns None)."""
    if seed == 0:
        return None
    random.seed(seed)
    np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
    return seed


def rng_state() -> dict:
    """The global RNGs' states (Python, numpy, torch and CUDA when torch is in use)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state()}
    torch = sys.modules.get("torch")
    if torch is not None:
        state["torch"] = torch.get_rng_state()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    np.random.set_state(tuple(state["numpy"]))
    torch = sys.modules.get("torch")
    if torch is not None and "torch" in state:
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
