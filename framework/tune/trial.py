"""One trial of a search: the runs of one configuration, one per seed, each in a process of its
own, advanced in lockstep from one evaluation to the next.

Each run is ``framework.api.run`` in a child process (its own logger, RNGs and signal handlers,
so several seeds never share them, and a crash or an out-of-memory kill ends only that run). A
child reports over a socket: ``start`` (its task directory), ``eval`` (each online evaluation;
it then waits for the trial's decision: go on, or stop with a reason such as ``pruned``) and
``end`` (its summary), or ``error`` (a UserError) / ``crash`` (a traceback). An evaluation
after which the run ends by itself (its budget or reward_threshold reached) is marked ``final``
and does not wait, so a trial's last evaluation reaches the scheduler as the trial's end, never
as a result it could still stop. A child whose trial disappears (the socket closes) stops at its
next evaluation with ``interrupted``; SIGTERM stops it at the end of its loop step.

The trial's curve is the mean over seeds of each evaluation's mean return; a seed that ended
earlier (reward_threshold) keeps its last evaluation. Its score is the search's ``metric`` over
that curve (:func:`score`).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

_ROOT = str(Path(__file__).resolve().parents[2])
_CHILD = (
    f"import sys; sys.path.insert(0, {_ROOT!r}); "
    "from framework.tune.trial import child_main; child_main()"
)


class TrialError(RuntimeError):
    """A run of the trial failed (bad config, crash); the message says which seed and why."""


def score(curve: list[float], metric: str, n_evals: int = 0) -> float:
    """The trial's score: ``best``, ``last`` or ``auc`` (the mean evaluation, the last one held
    up to ``n_evals`` evaluations: a run that stopped at its threshold counts as staying there)."""
    if not curve:
        return float("nan")
    if metric == "best":
        return max(curve)
    if metric == "last":
        return curve[-1]
    held = curve + [curve[-1]] * max(0, n_evals - len(curve))
    return sum(held) / len(held)


# ---- the child ---------------------------------------------------------------------------------
def child_main() -> None:
    """A run in a child process: the job (YAML and overrides) arrives on the socket given as
    argv[1]; every evaluation is sent there and waits for the decision."""
    # Ray's processes block SIGINT; a child must see the stop signals its trial sends
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    link = socket.socket(fileno=int(sys.argv[1]))
    stream = link.makefile("rw")

    def send(**message: Any) -> None:
        stream.write(json.dumps(message, default=str) + "\n")
        stream.flush()

    job = json.loads(stream.readline())
    from config.base import UserError
    from framework.api import Hooks, run
    from framework.runtime.setup import load_run_config

    try:
        cfg = load_run_config(job["yaml"], job["overrides"])
        g = cfg.general

        def on_eval(event) -> str | None:
            final = 0 < g.max_env_steps <= event.env_steps or event.solved
            send(kind="eval", final=final, **event._asdict())
            if final:
                return None
            line = stream.readline()
            return json.loads(line)["stop"] if line else "interrupted"  # no trial any more

        summary = run(
            cfg, Hooks(on_start=lambda d: send(kind="start", task_dir=str(d)), on_eval=on_eval)
        )
        send(kind="end", summary=summary)
    except UserError as err:
        send(kind="error", message=str(err))
    except Exception:
        send(kind="crash", message=traceback.format_exc())


# ---- the trial's side --------------------------------------------------------------------------
class SeedRun:
    """One child process running one seed."""

    def __init__(self, yaml_path: Path, overrides: list[str], label: str):
        self.label = label
        here, there = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(there.fileno())],
            pass_fds=[there.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C is for the search, which stops runs
        )
        there.close()
        self.link = here
        self.stream = here.makefile("rw")
        self.task_dir: str | None = None
        self.waiting = False  # at an evaluation, waiting for a decision
        self.end: dict[str, Any] | None = None
        self._send(yaml=str(yaml_path), overrides=overrides)

    def _send(self, **message: Any) -> None:
        try:
            self.stream.write(json.dumps(message) + "\n")
            self.stream.flush()
        except OSError:  # the child is gone; its end is read next
            pass

    def next(self) -> dict[str, Any]:
        """The next evaluation, or the end (kept in ``end``)."""
        while True:
            line = self.stream.readline()
            if not line:
                code = self.proc.wait()
                message = {"kind": "crash", "message": f"the run's process exited ({code})"}
            else:
                message = json.loads(line)
            if message["kind"] == "start":
                self.task_dir = message["task_dir"]
                continue
            self.waiting = message["kind"] == "eval" and not message["final"]
            if message["kind"] != "eval":
                self.end = message
                self.close()
            return message

    def decide(self, stop: str | None) -> None:
        """Answer the evaluation the run waits at: go on (None) or stop with ``stop``."""
        if self.waiting:
            self.waiting = False
            self._send(stop=stop)

    def finish(self, reason: str) -> None:
        """Stop the run with ``reason`` (at its evaluation, or by SIGTERM at the end of its loop
        step) and wait for its end."""
        if self.end is not None:
            return
        if self.waiting:
            self.decide(reason)
        else:
            self.terminate()
        while self.end is None:
            if self.next()["kind"] == "eval":
                self.decide(reason)

    def terminate(self) -> None:
        if self.end is None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def close(self, timeout: float = 60.0) -> None:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stream.close()
        self.link.close()


class Trial:
    """The runs of one configuration (one per seed) from ``yaml_path``, in lockstep."""

    def __init__(self, yaml_path: Path, seeds: list[int], metric: str, n_evals: int):
        self.seeds, self.metric, self.n_evals = seeds, metric, n_evals
        self.start = time.monotonic()
        self.runs = [SeedRun(yaml_path, [f"general_cfg.seed={s}"], f"seed {s}") for s in seeds]
        self.means: list[list[float]] = [[] for _ in seeds]  # evaluation means, per seed
        self.steps: list[int] = []  # env steps of each evaluation of the trial
        self.curve: list[float] = []  # the mean over seeds of each evaluation
        self.update_steps = 0
        self.stop: str | None = None

    def advance(self, stop: str | None = None) -> dict[str, Any]:
        """Let every run go on from its evaluation to the next one, or end them with ``stop``
        (e.g. ``pruned``); returns the trial's result (``done`` once every run ended). Raises
        TrialError when a run fails."""
        if stop is not None:
            self.stop = stop
        for run in self.runs:
            run.decide(stop)
        evals = []
        for i, run in enumerate(self.runs):
            if run.end is not None:
                continue
            message = run.next()
            if message["kind"] == "eval":
                self.means[i].append(float(message["mean"]))
                evals.append(message)
                if message["final"]:
                    run.next()  # its end follows at once
        self._raise_failures()
        if evals:
            self.steps.append(max(e["env_steps"] for e in evals))
            self.update_steps = max(e["update_steps"] for e in evals)
            held = [m[-1] for m in self.means if m]
            self.curve.append(sum(held) / len(held))
        return self.result()

    @property
    def ended(self) -> bool:
        return all(run.end is not None for run in self.runs)

    def result(self) -> dict[str, Any]:
        done = self.ended and self.stop != "interrupted"  # an interrupted trial runs again
        n_evals = self.n_evals if done and self.stop is None else 0
        out = {
            "env_steps": self.steps[-1] if self.steps else 0,
            "update_steps": self.update_steps,
            "eval_mean": self.curve[-1] if self.curve else float("nan"),
            "score": score(self.curve, self.metric, n_evals),
            "evaluations": len(self.curve),
            "wall": round(time.monotonic() - self.start, 3),
            "done": done,
            "task_dirs": [run.task_dir for run in self.runs],
        }
        if self.ended:
            out["stop_reason"] = self.stop or self._reason()
            out["seed_scores"] = [score(m, self.metric, n_evals) for m in self.means]
        return out

    def _reason(self) -> str:
        reasons = [(run.end.get("summary") or {}).get("stop_reason") for run in self.runs]
        if "error" in reasons:
            return "error"
        return Counter(reasons).most_common(1)[0][0] or "finished"

    def _raise_failures(self) -> None:
        for run in self.runs:
            if run.end is not None and run.end["kind"] in ("error", "crash"):
                self.close("error")
                raise TrialError(f"{run.label}: {run.end['message'].strip()}")
        if self.ended and not self.curve:
            errors = [(r.end.get("summary") or {}).get("error") for r in self.runs]
            raise TrialError(next((e for e in errors if e), "no run reached an evaluation"))

    def interrupt(self) -> None:
        """The search stops: every run stops at the end of its loop step (any thread)."""
        self.stop = "interrupted"
        for run in self.runs:
            run.terminate()

    def close(self, reason: str = "interrupted") -> None:
        """End every run still going with ``reason`` and wait for them."""
        if self.stop is None and not self.ended:
            self.stop = reason
        for run in self.runs:
            run.finish(reason)
