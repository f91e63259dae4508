"""Signals around the parts of a run that must not be cut in half."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def interrupt_guard() -> Iterator[None]:
    """While finishing up, a second Ctrl-C must not cut a checkpoint or shard in half."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Ctrl-C inside the block is raised when it ends, so records that belong together (an
    episode's CSV row and its trajectory) are written together or not at all."""
    hit: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda *_: hit.append(1))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if hit:
        raise KeyboardInterrupt
