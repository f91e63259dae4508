"""Stop signals: Ctrl-C (SIGINT), SIGTERM (a scheduler, ``timeout``, ``docker stop``) and SIGHUP
(the terminal closed) end a run the same way: the loop stops, and the final checkpoint,
records, summary and trajectory shards are written; the exit code is 128 + the signal's number
(130, 143, 129). (``nohup`` ignores SIGHUP: such a run goes on.)

:func:`stop_signals` turns either signal into :class:`Interrupted` (a ``KeyboardInterrupt`` that
knows its signal) for the duration of a run; :func:`at_boundary` lets a training loop finish its
step first (the final checkpoint is then a state a resumed run continues exactly);
:func:`interrupt_guard` ignores both while the run
finishes, so a second signal cannot cut a checkpoint or shard in half; :func:`deferred_interrupt`
holds a signal until a block of writes that belong together is done. Signal handlers can only be
set in the main thread; elsewhere (a tuner's worker thread) these do nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM) + (
    (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()
)


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived (``signum``: SIGINT for Ctrl-C, SIGTERM, ...)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_name(err: BaseException) -> str:
    """SIGINT for a plain Ctrl-C (KeyboardInterrupt), else the signal that stopped the run."""
    return signal.Signals(getattr(err, "signum", signal.SIGINT)).name


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise(signum, _frame) -> None:
    raise Interrupted(signum)


_active = [0]  # nesting depth of stop_signals blocks


@contextmanager
def stop_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` inside the block."""
    if not _main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise) for s in STOP_SIGNALS}
    _active[0] += 1
    try:
        yield
    finally:
        _active[0] -= 1
        for s, handler in previous.items():
            signal.signal(s, handler)


def reclaim() -> None:
    """Install the stop handlers again after a library replaced them (``ray.init`` installs a
    C-level SIGTERM handler that aborts the process)."""
    if _active[0] and _main_thread():
        for s in STOP_SIGNALS:
            signal.signal(s, _raise)


@contextmanager
def at_boundary(on_signal: Callable[[str], None]) -> Iterator[None]:
    """Inside a training loop: the first stop signal calls ``on_signal(name)`` and the loop ends
    at its next boundary, so last.pt holds a state a resumed run can continue exactly; a second
    one raises :class:`Interrupted` at once (for a step that hangs)."""
    if not _main_thread():
        yield
        return
    seen: list[int] = []

    def handler(signum, _frame) -> None:
        seen.append(signum)
        if len(seen) > 1:
            raise Interrupted(signum)
        on_signal(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def interrupt_guard() -> Iterator[None]:
    """While finishing up, further stop signals are ignored."""
    if not _main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """A stop signal inside the block is raised when it ends, so records that belong together
    (an episode's CSV row and its trajectory) are written together or not at all."""
    if not _main_thread():
        yield
        return
    hit: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _f: hit.append(signum)) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if hit:
        raise Interrupted(hit[0])
