"""Data sources: where each step of the training loop gets its data.

A source has ``next() -> Chunk``, ``clock_unit`` (the unit of the run's clock, see
``clock.py``) and ``close()``; it may also have ``state_dict``/``load_state_dict``.

- :class:`EnvSource`: one collector stepping vectorized envs (single mode). Under Ray the
  workers and the DataServer play this part (``framework/ray``), delivering chunks whose data is
  already stored.
- :class:`DatasetSource` (offline RL): chunks without records or data (its buffer holds the
  dataset, of kind ``dataset``); its clock counts update steps.
"""

from __future__ import annotations

from framework.data.types import Chunk
from framework.runtime.collector import Collector


class DatasetSource:
    """Steps no env: every loop step runs the update steps due on the dataset buffer."""

    clock_unit = "update_steps"

    def next(self) -> Chunk:
        return Chunk(None, [])

    def close(self) -> None:
        pass


class EnvSource:
    clock_unit = "env_steps"

    def __init__(self, collector: Collector, policy):
        self.collector, self.policy = collector, policy

    def next(self) -> Chunk:
        c = self.collector
        out = c.collect(self.policy.collect_steps(c.n_envs))
        return Chunk(out.data, [out.record(c.n_envs, self.policy.observes)])

    def close(self) -> None:
        self.collector.close()
