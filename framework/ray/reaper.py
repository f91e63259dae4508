"""Fate-sharing for the local Ray that a run starts.

When the driver dies without shutting Ray down (kill -9, an OOM kill), Ray's head processes
follow within seconds, but its dashboard and runtime-env agents report the raylet's death to a
GCS that is already gone and wait for a 60 s timeout first. :func:`watch` starts a tiny watcher
right after ``ray.init``: it blocks on a pipe from the driver, and when the pipe closes (the
driver ended, however) it ends the processes the driver had started for Ray that are still
there, with everything they started since (the agents, the workers). After a normal
``ray.shutdown()`` they are gone already and it does nothing.
"""

from __future__ import annotations

import subprocess
import sys

_CODE = r"""
import sys
sys.path.insert(0, sys.argv[1])  # psutil, as Ray ships it
import psutil
targets = [tuple(map(float, item.split(":"))) for item in sys.argv[2:]]
sys.stdin.read()  # returns when the driver's end of the pipe closes
doomed = []
for pid, created in targets:  # the head processes, and what they started since (agents)
    try:
        proc = psutil.Process(int(pid))
        if abs(proc.create_time() - created) < 1e-3:
            doomed += [proc, *proc.children(recursive=True)]
    except (psutil.Error, ValueError):
        pass
for proc in doomed:
    try:
        proc.kill()
    except psutil.Error:
        pass
"""

_watchers: list[subprocess.Popen] = []  # kept open for the life of this process


def watch() -> None:
    """Start the watcher for the processes this driver started so far (Ray's)."""
    import os

    import psutil  # importable once ray is (Ray ships its own copy)

    me = psutil.Process()
    targets = []
    for child in me.children(recursive=True):
        try:
            targets.append(f"{child.pid}:{child.create_time()}")
        except psutil.Error:
            continue
    if not targets:
        return
    try:
        _watchers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _CODE,
                    os.path.dirname(os.path.dirname(psutil.__file__)),
                    *targets,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a terminal's Ctrl-C is for the run, not for this
            )
        )
    except OSError:  # without a watcher Ray still cleans up, only later
        pass
