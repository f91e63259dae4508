"""The Ray driver: starts the LearnerActor, advances the run in slices, prints progress, calls the
run's hooks, and writes what it can when the LearnerActor itself dies."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from framework.ray.actors import LearnerActor, Status
from framework.ray.session import (
    check_resources,
    data_server_name,
    first_line,
    init_ray,
    learner_gpus,
    worker_name,
)
from framework.runtime.learner import OnEval, figure_writer, make_progress
from framework.runtime.signals import at_boundary, interrupt_guard, signal_name

log = logging.getLogger("rldojo")


class RunHandles:
    """The driver's handles on a run's actors (for ``on_started`` hooks: tests, tools)."""

    def __init__(self, learner, run_id: str, n_workers: int):
        import ray

        self.learner, self.run_id, self.n_workers = learner, run_id, n_workers
        self.ds = ray.get_actor(data_server_name(run_id))

    def worker(self, index: int):
        import ray

        return ray.get_actor(worker_name(self.run_id, index))

    def pids(self) -> list[int]:
        """The worker processes' pids."""
        import ray

        return ray.get([self.worker(i).pid.remote() for i in range(self.n_workers)])


def learner_options(general) -> dict[str, Any]:
    """Resources of the LearnerActor, pinned to this (the driver's) node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    return {
        "num_cpus": general.learner_num_cpus,
        "num_gpus": learner_gpus(general),
        "max_restarts": 0,
        "scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=False),
    }


def train_ray(
    cfg,
    task,
    setup,
    on_eval: OnEval | None = None,
    on_started: Callable[[RunHandles], None] | None = None,
    policy_hook: Callable[[Any], None] | None = None,
) -> dict:
    """Train with Ray actors; writes the same task directory as ``train_single``.

    The driver starts Ray (unless it runs already) and the LearnerActor, then prints what each
    slice of the run reports, draws the progress bar and calls ``on_eval`` with each evaluation
    (a reason it returns stops the run at the actor's next boundary). ``on_started`` (tests,
    tools) is called with the run's :class:`RunHandles` once its actors exist; ``policy_hook``
    runs on the LearnerActor's policy.
    """
    import ray

    g = cfg.general
    ours = not ray.is_initialized()  # we start Ray, so we shut it down (also after Ctrl-C)
    progress = make_progress(g, setup.counters.env_steps)
    view = DriverView(task, progress, setup.counters.env_steps, on_eval)
    actor = status = summary = None
    interrupted = None

    def on_signal(name: str) -> None:  # stop at the learner's next boundary, then finish
        nonlocal interrupted
        interrupted = name
        view.console(f"{name}: stopping at the end of this step, then saving everything")
        actor.stop.remote("interrupted")

    try:
        init_ray(g)
        check_resources(g)
        run_id = uuid.uuid4().hex[:12]
        checkpoint = str(setup.checkpoint) if setup.checkpoint else None
        actor = (
            ray.remote(LearnerActor)
            .options(**learner_options(g))
            .remote(cfg, str(task.root), checkpoint, run_id, policy_hook)
        )
        view.actor = actor
        status = view.show(ray.get(actor.status.remote()))  # built, with its actors
        if on_started is not None:
            on_started(RunHandles(actor, run_id, g.n_workers))
        with at_boundary(on_signal):  # a signal: the actor stops at its boundary, then done
            while not status.done:
                status = view.show(ray.get(actor.run_for.remote(0.5)))
    except KeyboardInterrupt as err:  # a second signal, or one before the actor existed
        interrupted = signal_name(err)
        view.console(f"{interrupted}: saving the final checkpoint, results and figures")
    except ray.exceptions.RayActorError as err:
        summary = view.learner_died(cfg, status, err)
    except BaseException:
        with interrupt_guard():  # end the actors and Ray, then let the error through
            view.close()
            if actor is not None:
                ray.kill(actor, no_restart=True)
            if ours:
                ray.shutdown()
        raise
    with interrupt_guard():
        if summary is None and actor is not None:
            try:
                summary = ray.get(actor.finish.remote(interrupted))
            except ray.exceptions.RayActorError as err:
                summary = view.learner_died(cfg, status, err)
        view.close()
        if actor is not None:
            ray.kill(actor, no_restart=True)
        if ours:
            ray.shutdown()
    return summary


class DriverView:
    """The driver's side of a Ray run: console lines, the progress bar, and what is written
    when the LearnerActor itself dies (summary, figure; the CSVs and the checkpoints it saved
    are already on disk)."""

    def __init__(self, task, progress, env_steps: int, on_eval: OnEval | None = None):
        self.task, self.progress, self.env_steps = task, progress, env_steps
        self.on_eval = on_eval
        self.actor = None

    def console(self, line: str) -> None:
        if self.progress is not None:
            self.progress.write(line)
        else:
            print(line, flush=True)

    def show(self, status: Status) -> Status:
        for line in status.lines:
            self.console(line)
        for event in status.evals:
            reason = self.on_eval(event) if self.on_eval is not None else None
            if reason and self.actor is not None:
                self.actor.stop.remote(str(reason))
        if self.progress is not None:
            self.progress.set_postfix(status.info, refresh=False)
            self.progress.update(status.env_steps - self.env_steps)
        self.env_steps = status.env_steps
        return status

    def learner_died(self, cfg, status: Status | None, err: BaseException) -> dict[str, Any]:
        error = (
            f"ray backend: the Learner actor died ({first_line(err)}); the run ended with the "
            "records and checkpoints it had written (resume from models/ with load_checkpoint)"
        )
        log.error(error)
        self.console(error)
        summary = dict(status.snapshot) if status is not None else {}
        summary.update(stop_reason="error", error=error, interrupted=False, signal=None)
        self.task.write_summary(summary)
        figure = figure_writer(cfg, self.task)
        if figure is not None:
            results = self.task.results
            figure.write(results / "episodes.csv", results / "evals.csv")
        return summary

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress = None
