"""Console streams that outlive their reader.

A run's console output is a convenience: everything it says is also in the task directory
(``logs/run.log``, ``results/``). When the reader of stdout or stderr goes away (the parent that
captured them exits, ``python main.py | head``, a closed terminal), the next print raises
``BrokenPipeError`` (or ``EIO`` on a vanished terminal), and without a guard that exception ends
the run with no final checkpoint and no summary. :func:`outliving_console` wraps both streams
for the duration of a CLI run: the first failed write points the stream's file descriptor at
``os.devnull`` (so the interpreter's last flush at exit succeeds too), and the run goes on.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

GONE = (errno.EPIPE, errno.EIO, errno.ECONNRESET)


def _gone(err: BaseException) -> bool:
    return isinstance(err, ValueError) or (  # ValueError: write to a closed file
        isinstance(err, OSError) and err.errno in GONE
    )


class OutlivingStream:
    """A text stream whose writes and flushes never fail because the reader went away."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self.dropped = False

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError) as err:
            if not _gone(err):
                raise
            self._drop()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError) as err:
            if not _gone(err):
                raise
            self._drop()

    def _drop(self) -> None:
        if self.dropped:
            return
        self.dropped = True
        try:  # later writes through the descriptor (the exit flush, subprocesses) go nowhere
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)
        except (OSError, ValueError):
            pass
        self._stream = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def outliving_console() -> Iterator[None]:
    """sys.stdout and sys.stderr wrapped in :class:`OutlivingStream` inside the block."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = OutlivingStream(sys.stdout), OutlivingStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
