"""Checks shared by the tests of vector envs written here (``vector_mode: model`` and ``numpy``):
they must step exactly as gymnasium's own envs, and continue exactly after a state round trip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from envs.state import env_state, load_env_state
from envs.vector import true_next_obs
from framework.records.archive import read_archive, write_archive


def step_both(ref, ours, actions: np.ndarray, ends: dict[str, int]) -> None:
    """One step of gymnasium's ``ref`` and of ``ours``: the same observations, rewards,
    terminations and truncations (values and dtypes) and final observations. Counts the
    terminations and truncations into ``ends``."""
    want, got = ref.step(actions), ours.step(actions)
    for a, b in zip(want[:4], got[:4]):
        np.testing.assert_array_equal(b, a)
        assert b.dtype == a.dtype
    done = want[2] | want[3]
    np.testing.assert_array_equal(
        true_next_obs(got[0], got[4], done), true_next_obs(want[0], want[4], done)
    )
    ends["term"] += int(want[2].sum())
    ends["trunc"] += int((want[3] & ~want[2]).sum())


def check_state_restores(make: Callable, n_actions: int | Callable, tmp_path: Path):
    """A checkpointed env of ``make()`` (4 envs, through an rldojo archive) continues exactly as
    the original; returns the original. ``n_actions``: Discrete actions, or a function of a
    generator giving the 4 envs' actions."""
    ours = make()
    ours.reset(seed=11)
    rng = np.random.default_rng(1)
    draw = n_actions if callable(n_actions) else lambda r: r.integers(n_actions, size=4)
    for _ in range(300):
        ours.step(draw(rng))
    write_archive(tmp_path / "env.npz", {"envs": env_state(ours)})
    fresh = make()
    fresh.reset(seed=999)
    assert load_env_state(fresh, read_archive(tmp_path / "env.npz")["envs"])
    for _ in range(600):
        actions = draw(rng)
        for a, b in zip(ours.step(actions)[:4], fresh.step(actions)[:4]):
            np.testing.assert_array_equal(a, b)
    return ours
