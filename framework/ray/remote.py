"""The learner's view of the DataServer's buffer, and moving arrays and weights between actors.

:class:`RemoteBuffer` stands in for the DataServer's buffer in ``Learner.learn``: the same
protocol (``kind``, ``status()``, ``sample``, ``update_priorities``), answered from the status of
the last drain and from batches fetched in one call per learn phase (``prefetch``). Priorities go
back fire-and-forget (Ray runs one caller's calls on an actor in order, so they land before the
next sample). Batches of one learn phase are drawn together, before that phase's priorities
arrive: the usual staleness of distributed PER (Ape-X).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from framework.data.types import BufferStatus, SampleSpec


class RemoteBuffer:
    def __init__(self, data_server, status: BufferStatus):
        self.ds = data_server
        self.kind = status.kind
        self.last_status = status
        self.batches: list = []

    def status(self) -> BufferStatus:
        return self.last_status

    def __len__(self) -> int:
        return self.last_status.size

    def prefetch(self, n: int, spec: SampleSpec) -> None:
        """Fetch the ``n`` batches of the coming learn phase in one call (replay only)."""
        import ray

        if self.kind == "replay":
            ref = self.ds.sample_many.remote(spec.batch_size, n, spec.beta)
            self.batches = [writable(b) for b in ray.get(ref)]

    def sample(self, batch_size: int | None = None, beta: float | None = None):
        import ray

        if self.batches:
            return self.batches.pop(0)
        if self.kind == "rollout":  # the round's rollouts are handed over once
            self.last_status = self.last_status._replace(ready=False, size=0)
        return writable(ray.get(self.ds.sample.remote(batch_size, beta)))

    def update_priorities(self, indices, priorities) -> None:
        self.ds.update_priorities.remote(indices, priorities)

    def state_dict(self) -> dict:
        import ray

        return ray.get(self.ds.buffer_state.remote())

    def state_nbytes(self) -> int:
        import ray

        return ray.get(self.ds.buffer_state_nbytes.remote())

    def load_state_dict(self, state: dict) -> None:
        import ray

        ray.get(self.ds.load_buffer_state.remote(state))
        self.last_status = self.last_status._replace(size=int(state.get("size", 0)))


class FrozenBuffer:
    """What the learner saves beside last.pt once the DataServer is gone: the buffer's status
    and state as they were at the end (no state when it was above buffer_save_limit_mb: only
    its size, for the log line)."""

    def __init__(self, status: BufferStatus, state: dict | None, nbytes: int):
        self._status, self._state, self._nbytes = status, state, nbytes

    def status(self) -> BufferStatus:
        return self._status

    def state_nbytes(self) -> int:
        return self._nbytes

    def state_dict(self) -> dict:
        if self._state is None:
            raise ValueError("the replay buffer was above buffer_save_limit_mb: not fetched")
        return self._state


def writable(batch):
    """Own, writable copies of the arrays of a batch fetched from the object store (Ray hands
    out read-only zero-copy views; torch warns about those and in-place ops would fail)."""
    for f in dataclasses.fields(batch):
        value = getattr(batch, f.name)
        if isinstance(value, np.ndarray):
            setattr(batch, f.name, value.copy())
        elif isinstance(value, dict):
            setattr(batch, f.name, {k: np.array(v) for k, v in value.items()})
    return batch


def to_cpu(state: Any) -> Any:
    """Tensors moved to CPU (a CUDA learner's weights must load on CPU workers)."""
    import torch

    if isinstance(state, torch.Tensor):
        return state.detach().cpu()
    if isinstance(state, dict):
        return {k: to_cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(to_cpu(v) for v in state)
    return state
