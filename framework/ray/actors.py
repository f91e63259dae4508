"""The Ray backend's actors: the single-process loop spread over processes, no Ray copies.

- **Worker** (``n_workers``): a :class:`~framework.runtime.collector.Collector` with
  ``env_cfg.n_envs`` envs and its own CPU policy copy. One task = one collection phase, pushed
  straight to the DataServer. Weights are versioned: a task carries ``(version, [ref])`` and the
  worker fetches the object only when the version is new (once per rollout at most).
- **DataServer**: owns the policy's buffer (``make_buffer(n_workers)``) and the global counters
  and stop condition (env steps, episodes), updated in one place, so ``max_episode`` is never
  overshot. It queues the records of each push until the learner drains them.
- **LearnerActor**: owns the :class:`~framework.runtime.learner.Learner` (``learner_num_cpus``
  / ``learner_num_gpus``), pinned to the driver's node where it writes the task directory. It
  creates the DataServer and the Workers (so they share its fate) and runs the one loop body
  (:class:`~framework.runtime.loop.TrainLoop`) on the chunks drained from the DataServer, then
  publishes new weights with one ``ray.put``.

The buffer's kind decides the schedule: ``rollout`` (on-policy) runs synchronously (every worker
rolls out with the same weights version; one loop step on the union of the rollouts), ``replay``
asynchronously (a worker starts its next rollout as soon as its last one arrived, while the
learner updates; one loop step per rollout received, so the ratio of update steps per env step is
single mode's). Nobody spins: the learner blocks in ``ray.wait``, the driver in ``ray.get``,
idle actors in Ray's task queue.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from framework.data.types import BufferStatus, Chunk, Record
from framework.ray.remote import FrozenBuffer, RemoteBuffer, to_cpu
from framework.ray.session import data_server_name, first_line, worker_name

log = logging.getLogger("rldojo")


class Ack(NamedTuple):
    """The DataServer's answer to a push: global env steps so far, and whether to stop."""

    env_steps: int
    stopped: bool


class Drained(NamedTuple):
    records: list[Record]
    status: BufferStatus  # the buffer after these pushes


# ---- actors (plain classes, wrapped with ray.remote when the backend starts) -------------------
class DataServer:
    """Owns the buffer and the run's global env-step/episode counters and stop condition."""

    def __init__(self, cfg, buffer, env_steps: int, episodes: int):
        g = cfg.general
        self.buffer = buffer
        self.env_steps, self.episodes = env_steps, episodes
        self.max_env_steps, self.max_episode = g.max_env_steps, g.max_episode
        self.pending: list[Record] = []
        self.stopped = self._limit_reached()

    def _limit_reached(self) -> bool:
        return (0 < self.max_env_steps <= self.env_steps) or (0 < self.max_episode <= self.episodes)

    def push(self, data, rec: Record) -> Ack:
        """Add one rollout. Rollouts arriving after the stop are dropped (not counted); episodes
        past max_episode are cut, with their trajectories (one per finished episode, same order)."""
        if self.stopped:
            return Ack(self.env_steps, True)
        episodes, trajectories = rec.episodes, rec.trajectories
        if self.max_episode > 0:
            room = max(self.max_episode - self.episodes, 0)
            if len(episodes) > room:
                episodes = episodes[:room]
                trajectories = trajectories[:room]
        self.episodes += len(episodes)
        self.env_steps += rec.env_steps
        if self.buffer.kind == "rollout":  # joined in worker order: the same run every time
            self.buffer.add(data, part=rec.worker)
        else:
            self.buffer.add(data)
        self.pending.append(rec._replace(episodes=episodes, trajectories=trajectories))
        self.stopped = self._limit_reached()
        return Ack(self.env_steps, self.stopped)

    def drain(self) -> Drained:
        out, self.pending = self.pending, []
        if self.buffer.kind == "rollout":  # a round's records in worker order, not arrival
            out.sort(key=lambda r: r.worker)
        return Drained(out, self.buffer.status())

    def buffer_state(self) -> dict:
        return self.buffer.state_dict()

    def buffer_state_nbytes(self) -> int:
        return self.buffer.state_nbytes()

    def load_buffer_state(self, state: dict) -> None:
        self.buffer.load_state_dict(state)

    def sample_many(self, batch_size: int, n: int, beta: float | None) -> list:
        return [self.buffer.sample(batch_size, beta) for _ in range(n)]

    def sample(self, batch_size: int | None, beta: float | None = None):
        return self.buffer.sample(batch_size, beta)

    def update_priorities(self, indices, priorities) -> None:
        self.buffer.update_priorities(indices, priorities)

    def stop(self) -> None:
        self.stopped = True

    def pid(self) -> int:
        return os.getpid()


class Worker:
    """A Collector with its own policy copy; collects one rollout per task."""

    def __init__(
        self, cfg, index: int, seed: int | None, checkpoint, data_server: str, sync: bool = False
    ):
        import ray

        from envs.vector import spaces_of
        from framework.runtime.collector import Collector
        from framework.runtime.loop import make_assembler
        from framework.runtime.seeding import env_seeds, policy_seed, seed_everything
        from framework.runtime.setup import apply_torch_settings, build_policy, policy_class

        cfg = copy.deepcopy(cfg)
        cfg.general.device = "cpu"  # acting is batched inference on small nets: CPU
        ids: tuple[int, ...] = (index,)
        if ray.get_runtime_context().was_current_actor_reconstructed:
            ids = (index, os.getpid())  # a restarted worker must not replay its envs
        policy_class(cfg.general.algo_name)  # imports torch first, so that it gets seeded too
        if seed is not None:
            seed_everything(seed + 1000 * index)
        self.index = index
        # by name, not handle: an actor handle among the constructor arguments would have to
        # stay in the object store for restarts (ray-project/ray#53727)
        self.data_server = ray.get_actor(data_server)
        obs_space, action_space = spaces_of(cfg)
        self.policy = build_policy(cfg, obs_space, action_space, policy_seed(seed, *ids))
        apply_torch_settings(cfg)
        setup = _WorkerSetup(checkpoint)
        assembler = make_assembler(cfg, setup, self.policy.exploration)
        n_envs = cfg.env.n_envs
        self.collector = Collector(
            cfg, self.policy, n_envs, env_seeds(seed, n_envs, *ids), assembler
        )
        self.version = -1
        self.sync = sync

    def collect(self, version: int, weights: list) -> Ack:
        """One rollout with weights ``version`` (``weights[0]`` is its object ref, fetched only
        when the version is new), pushed to the DataServer."""
        import ray

        if version != self.version:
            self.policy.load_actor_state(ray.get(weights[0]))
            self.version = version
        c = self.collector
        out = c.collect(self.policy.collect_steps(c.n_envs))
        rec = out.record(c.n_envs, self.policy.observes, self.index)
        ack = ray.get(self.data_server.push.remote(out.data, rec))
        if not self.sync:  # exploration follows the global count between weight versions;
            self.policy.env_steps = ack.env_steps  # a synchronous round keeps the published one
        return ack

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        self.collector.close()


class _WorkerSetup(NamedTuple):
    checkpoint: str | None


# ---- the learner's side -------------------------------------------------------------------------
class RayRun:
    """The actors of one run and the Learner's loops over them (inside the LearnerActor)."""

    def __init__(self, cfg, setup, learner, run_id: str):
        import ray

        from framework.runtime.loop import TrainLoop

        g = cfg.general
        self.cfg, self.learner, self.policy = cfg, learner, setup.policy
        self.n_workers = g.n_workers
        self.restarts = 0
        buffer = self.policy.make_buffer(g.n_workers)
        c = learner.counters
        ds_name = data_server_name(run_id)
        self.ds = (
            ray.remote(DataServer)
            .options(num_cpus=0, max_restarts=0, name=ds_name)
            .remote(cfg, buffer, c.env_steps, c.episodes)
        )
        self.buffer = RemoteBuffer(self.ds, buffer.status())
        self.loop = TrainLoop(learner, self.policy, self.buffer)
        worker_cls = ray.remote(Worker)
        checkpoint = str(setup.checkpoint) if setup.checkpoint else None
        self.workers = [
            worker_cls.options(
                num_cpus=g.worker_num_cpus,
                max_restarts=g.worker_max_restarts,
                max_task_retries=0,
                name=worker_name(run_id, i),
            ).remote(cfg, i, setup.seed, checkpoint, ds_name, self.buffer.kind == "rollout")
            for i in range(g.n_workers)
        ]
        self.pids: list[int | None] = [None] * g.n_workers  # to tell a restart from a hiccup
        self.version = -1
        self.weights: list = []
        self.publish()

    # ---- weights ----
    def publish(self) -> None:
        """Put the current acting state in the object store once; workers fetch it lazily."""
        import ray

        self.version += 1
        self.weights = [ray.put(to_cpu(self.policy.actor_state()))]

    def launch(self, worker: int):
        return self.workers[worker].collect.remote(self.version, self.weights)

    def result(self, ref, worker: int) -> Ack | None:
        """A rollout's Ack; None when the worker's process died (Ray restarts it; it will
        rebuild its envs and fetch the current weights with its next task)."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        try:
            return ray.get(ref)
        except RayActorError as err:
            if isinstance(err, RayTaskError):  # the worker is alive; an actor it called died
                raise
            if getattr(err, "actor_init_failed", False):
                raise
            pid = self.wait_alive(worker)
            if pid is None:  # not restarted (worker_max_restarts used up)
                raise
            if pid != self.pids[worker]:  # one death, however many calls failed meanwhile
                self.pids[worker] = pid
                self.restarts += 1
                log.warning(
                    "Ray worker %d died (%s); Ray restarted it and the run goes on",
                    worker,
                    first_line(err)[:200],
                )
            return None

    def wait_alive(self, worker: int, timeout: float = 120.0) -> int | None:
        """The worker's pid once it answers again (Ray is restarting it), or None when it is
        gone for good. Waits in short sleeps: a restart is rare and takes seconds."""
        import ray
        from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return ray.get(self.workers[worker].pid.remote(), timeout=10)
            except ActorDiedError:
                return None
            except (ActorUnavailableError, GetTimeoutError):
                time.sleep(0.2)
        return None

    def death_message(self, err: BaseException) -> str:
        """One line for an actor death that ends the run: which actor, and what is kept."""
        import ray

        try:
            ray.get(self.ds.pid.remote(), timeout=10)
        except Exception:  # noqa: BLE001 - any failure to answer means it is gone
            return (
                "ray backend: the DataServer actor died, and the experience it held with it;"
                " the run stopped with a final checkpoint (resume from it with "
                "load_checkpoint)"
            )
        return f"ray backend: a worker died and could not be restarted: {first_line(err)}"

    # ---- the loop body of single mode, on drained chunks ----
    def absorb(self) -> int:
        """Drain what the DataServer received and run the loop body on it: one loop step per
        rollout (replay) or one on the whole round (rollout). Returns the records drained."""
        import ray

        drained = ray.get(self.ds.drain.remote())
        self.buffer.last_status = drained.status
        before = self.policy.update_step
        if self.buffer.kind == "rollout":
            self.loop.step(Chunk(None, drained.records))
        else:
            for rec in drained.records:
                self.loop.step(Chunk(None, [rec]))
        learned = self.policy.update_step != before
        if learned or (self.policy.observes and drained.records):
            self.publish()
        return len(drained.records)

    def rounds_async(self) -> Iterator[None]:
        """Replay: every worker always has one rollout in flight (relaunched before the learner
        updates), and the learner runs one loop step per rollout received."""
        import ray

        inflight = {self.launch(w): w for w in range(self.n_workers)}
        while not self.learner.should_stop and inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            worker = inflight.pop(ready[0])
            ack = self.result(ready[0], worker)
            if ack is None or not ack.stopped:
                inflight[self.launch(worker)] = worker
            self.absorb()
            yield

    def rounds_sync(self) -> Iterator[None]:
        """Rollout: all workers roll out with the same weights version, then one update."""
        import ray

        while not self.learner.should_stop:
            inflight = {self.launch(w): w for w in range(self.n_workers)}
            while inflight:
                ready, _ = ray.wait(list(inflight), num_returns=1)
                worker = inflight.pop(ready[0])
                if self.result(ready[0], worker) is None:  # died: same version again
                    inflight[self.launch(worker)] = worker
            if self.absorb() == 0:
                return  # the DataServer stopped taking data
            yield

    def rounds(self) -> Iterator[None]:
        """The training loop, one round (a learn phase) per step of the iterator."""
        import ray

        self.pids = ray.get([w.pid.remote() for w in self.workers])  # constructor errors here
        yield
        yield from self.rounds_sync() if self.buffer.kind == "rollout" else self.rounds_async()

    def close(self) -> None:
        """Close the workers' envs (briefly), then end every actor."""
        import ray

        try:
            self.ds.stop.remote()
            refs = [w.close.remote() for w in self.workers]
            ray.wait(refs, num_returns=len(refs), timeout=5.0)
        except Exception:  # noqa: BLE001 - best effort: the actors are killed next anyway
            pass
        for actor in [*self.workers, self.ds]:
            ray.kill(actor, no_restart=True)


class Status(NamedTuple):
    """What the LearnerActor tells the driver after each slice of the run."""

    lines: list[str]  # console lines (evaluations, warnings) to print
    evals: list  # EvalEvents since the last slice, for the driver's hooks
    env_steps: int
    info: dict[str, Any]  # progress-bar fields
    snapshot: dict[str, Any]  # the summary as of now: written by the driver if the actor dies
    done: bool


class LearnerActor:
    """:class:`~framework.runtime.learner.Learner` as an actor, running the loops of
    :class:`RayRun`. It reserves ``learner_num_cpus`` / ``learner_num_gpus`` and is pinned to the
    driver's node, where it writes the task directory. It creates the DataServer and the
    Workers, so its death takes them down with it. The driver advances the run in slices
    (:meth:`run_for`), printing progress, calling the run's hooks and catching Ctrl-C in
    between."""

    def __init__(self, cfg, task_root: str, checkpoint, run_id: str, policy_hook=None):
        from framework.records.taskdir import TaskDir
        from framework.runtime.learner import Learner
        from framework.runtime.loop import make_clock
        from framework.runtime.setup import Setup

        setup = Setup(cfg, checkpoint)  # the driver's policy again, on this actor's device
        if policy_hook is not None:
            policy_hook(setup.policy)
        self.task = TaskDir(Path(task_root))
        self.task.setup_logging()
        self.lines: list[str] = []
        self.evals: list = []
        self.learner = Learner(
            cfg,
            self.task,
            setup.policy,
            make_clock(cfg),
            setup.counters,
            console=self.lines.append,
            on_eval=self._on_eval,
        )
        self.run = RayRun(cfg, setup, self.learner, run_id)
        self.learner.buffer = self.run.buffer
        if setup.resume is not None:
            from framework.runtime.loop import resume

            resume(setup, self.learner, self.run.buffer)
        self.rounds = self.run.rounds()
        g = cfg.general
        log.info(
            "ray backend: %d workers x %d envs (%g CPUs each), learner on %s",
            g.n_workers,
            cfg.env.n_envs,
            g.worker_num_cpus,
            setup.policy.device,
        )

    def _on_eval(self, event) -> None:
        self.evals.append(event)  # the driver's hooks see it after this slice

    def run_for(self, seconds: float) -> Status:
        """Advance the run for about ``seconds`` (whole learn phases)."""
        from ray.exceptions import RayActorError

        from algos.base.policy import NonFiniteError
        from framework.runtime.faults import fault_message

        deadline = time.perf_counter() + seconds
        done = self.learner.should_stop
        try:
            while not done and time.perf_counter() < deadline:
                next(self.rounds)
                done = self.learner.should_stop
        except StopIteration:
            done = True
        except RayActorError as err:
            self.learner.fail(self.run.death_message(err))
            done = True
        except (OSError, NonFiniteError) as err:  # a full disk, diverged training
            message = fault_message(err)
            if message is None:
                raise
            self.learner.fail(message)
            done = True
        return self.status(done)

    def stop(self, reason: str) -> None:
        """Stop at the next boundary (a hook of the driver asked for it)."""
        self.learner.stop(reason)

    def status(self, done: bool = False) -> Status:
        lines, self.lines[:] = list(self.lines), []
        evals, self.evals = self.evals, []
        return Status(
            lines,
            evals,
            self.learner.counters.env_steps,
            self.learner.progress_info(),
            self.learner.summary(extra=self.extra()),
            done,
        )

    def extra(self) -> dict[str, Any]:
        g = self.learner.cfg.general
        return {
            "mp_backend": "ray",
            "n_workers": g.n_workers,
            "worker_restarts": self.run.restarts,
        }

    def finish(self, interrupted: str | None) -> dict[str, Any]:
        """End the actors, then the Learner's final checkpoint (the replay buffer fetched from
        the DataServer first), records, figure and summary."""
        from ray.exceptions import RayActorError

        status, state, nbytes = self.run.buffer.status(), None, None
        if self.learner.cfg.general.save_buffer and status.kind == "replay":
            try:  # sized first: a buffer above the limit is not fetched (Learner.save_buffer)
                nbytes = self.run.buffer.state_nbytes()
                if self.learner.buffer_fits(nbytes):
                    state = self.run.buffer.state_dict()
            except RayActorError:  # the DataServer died with it
                nbytes = None
        self.learner.buffer = FrozenBuffer(status, state, nbytes) if nbytes is not None else None
        self.run.close()
        summary = self.learner.finish(interrupted, self.extra())
        self.task.close()
        return summary

    def task_root(self) -> str:
        return str(self.task.root)

    def pid(self) -> int:
        return os.getpid()
