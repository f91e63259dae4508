"""The Ray backend (``general_cfg.mp_backend: ray``): the single-process loop spread over actors.

Parts (the same classes as ``train_single``, no Ray copies):

- **Worker** actors (``n_workers``): each owns a :class:`~framework.collector.Collector` with
  ``env_cfg.n_envs`` envs and its own policy copy (CPU). One task = one rollout of
  ``policy.collect_steps(n_envs)`` vector steps; the rollout is pushed straight to the DataServer.
  Weights are versioned: a task carries ``(version, [ref])`` and the worker fetches the
  object only when the version is new (once per rollout at most, never per env step).
- **DataServer** actor: owns the policy's buffer (``make_buffer(parts_per_update)``) and the
  global counters and stop condition (env steps, episodes), updated in one place, so there is
  no overshoot of ``max_episode``. It queues what each push brought (episodes, trajectories,
  env steps, observations) until the learner drains it.
- **LearnerActor**: owns :class:`~framework.learner.Learner` (``learner_num_cpus`` /
  ``learner_num_gpus``: a cuda learner asks Ray for a GPU), pinned to the driver's node where
  it writes the task directory. It creates the DataServer and the Workers (so they share its
  fate) and, for each drained rollout, runs the single-process loop body: ``record``, ``learn``
  (batches sampled from the DataServer, PER priorities sent back), ``observe``,
  ``evaluate_if_due``; then it publishes the new weights with one ``ray.put``.
- **Driver** (``train_ray``): starts Ray and the LearnerActor, advances the run in slices of
  about half a second, prints the learner's lines and the progress bar, turns Ctrl-C into a
  final ``finish``, and writes the summary and figure itself if the LearnerActor dies.

On-policy algorithms run synchronously (every worker rolls out with the same weights version,
one update on the union of the rollouts); off-policy ones asynchronously (a worker starts its
next rollout as soon as its last one arrived, while the learner updates), with the configured
ratio of update steps per env step kept because the learner runs ``learn`` once per rollout of
``collect_steps(n_envs) * n_envs`` env steps, exactly as in single mode. Nobody spins: the
learner blocks in ``ray.wait``, the driver in ``ray.get``, idle actors in Ray's task queue.

Ray is imported lazily: nothing here runs (or imports ray) in single mode.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np

from framework.buffers import PrioritizedReplayBuffer, ReplayBuffer
from framework.data import Episode

log = logging.getLogger("rldojo")
ROOT = Path(__file__).resolve().parent.parent


class Record(NamedTuple):
    """What one rollout brought, for the Learner's ``record`` and the obs normalizer."""

    worker: int
    episodes: list[Episode]
    trajectories: list[dict]
    env_steps: int
    obs: np.ndarray | None


class Ack(NamedTuple):
    """The DataServer's answer to a push: global env steps so far, and whether to stop."""

    env_steps: int
    stopped: bool


class Drained(NamedTuple):
    records: list[Record]
    size: int  # buffer length after these pushes
    ready: bool  # on-policy: enough rollout parts for an update


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
        self.buffer.add(data)
        self.pending.append(rec._replace(episodes=episodes, trajectories=trajectories))
        self.stopped = self._limit_reached()
        return Ack(self.env_steps, self.stopped)

    def drain(self) -> Drained:
        out, self.pending = self.pending, []
        return Drained(out, len(self.buffer), bool(getattr(self.buffer, "ready", True)))

    def sample_many(self, batch_size: int, n: int, beta: float | None) -> list:
        if beta is not None:
            self.buffer.beta = beta
        return [self.buffer.sample(batch_size) for _ in range(n)]

    def sample(self, batch_size: int | None):
        return self.buffer.sample(batch_size)

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        self.buffer.update_priorities(indices, priorities)

    def stop(self) -> None:
        self.stopped = True

    def pid(self) -> int:
        return os.getpid()


class Worker:
    """A Collector with its own policy copy; collects one rollout per task."""

    def __init__(self, cfg, index: int, seed: int | None, checkpoint, data_server: str):
        import ray
        import torch

        from framework.agent import build_policy
        from framework.collector import Collector
        from framework.envs import spaces_of
        from framework.trainer import make_assembler, seed_everything

        cfg = copy.deepcopy(cfg)
        cfg.general.device = "cpu"  # acting is batched inference on small nets: CPU
        torch.set_num_threads(cfg.general.torch_threads)
        if seed is not None:
            seed += 1000 * index
            if ray.get_runtime_context().was_current_actor_reconstructed:
                seed += 7919 * (os.getpid() % 1000 + 1)  # a restart must not replay the envs
            seed_everything(seed)
        self.index = index
        # by name, not handle: an actor handle among the constructor arguments would have to
        # stay in the object store for restarts (ray-project/ray#53727)
        self.data_server = ray.get_actor(data_server)
        obs_space, action_space = spaces_of(cfg)
        self.policy = build_policy(cfg, obs_space, action_space, seed)
        exploration = "sampled" if self.policy.on_policy else "epsilon-greedy"
        assembler = make_assembler(cfg, SimpleNamespace(seed=seed, checkpoint=checkpoint),
                                   exploration)  # fmt: skip
        self.collector = Collector(cfg, self.policy, cfg.env.n_envs, seed, assembler)
        self.send_obs = self.policy.obs_norm is not None
        self.version = -1

    def collect(self, version: int, weights: list) -> Ack:
        """One rollout with weights ``version`` (``weights[0]`` is its object ref, fetched only
        when the version is new), pushed to the DataServer."""
        import ray

        if version != self.version:
            self.policy.load_actor_state(ray.get(weights[0]))
            self.version = version
        out = self.collector.collect(self.policy.collect_steps(self.collector.n_envs))
        obs = out.batch.obs if self.send_obs else None
        rec = Record(self.index, out.episodes, out.trajectories, out.env_steps, obs)
        ack = ray.get(self.data_server.push.remote(out.data, rec))
        self.policy.env_steps = ack.env_steps  # exploration schedules follow the global count
        return ack

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        self.collector.close()


# ---- the learner's view of the remote buffer ----------------------------------------------------
class RemoteBuffer:
    """Stands in for the DataServer's buffer in ``Learner.learn``: ``len``/``ready`` as of the
    last drain; ``sample`` fetches the ``expect``-ed batches in one call; priorities go back
    fire-and-forget (Ray runs one caller's calls on an actor in order, so they land before the
    next sample). Batches of one learn phase are drawn together, before that phase's
    priorities arrive: the usual staleness of distributed PER (Ape-X)."""

    def __init__(self, data_server, size: int = 0):
        self.ds = data_server
        self.size, self.ready = size, False
        self.batches: list = []
        self.n_expected = 1
        self.beta: float | None = None

    on_policy = False

    def __len__(self) -> int:
        return self.size

    def expect(self, n: int) -> None:
        self.n_expected, self.batches = max(n, 1), []

    def sample(self, batch_size: int | None = None):
        import ray

        if not self.batches:
            ref = self.ds.sample_many.remote(batch_size, self.n_expected, self.beta)
            self.batches = [writable(b) for b in ray.get(ref)]
        return self.batches.pop(0)

    def update_priorities(self, indices, priorities) -> None:
        self.ds.update_priorities.remote(indices, priorities)


class RemoteRollouts(RemoteBuffer):
    """On-policy: ``ready`` once every worker's rollout of this round arrived."""

    on_policy = True

    def sample(self, batch_size: int | None = None):
        import ray

        self.ready = False
        return writable(ray.get(self.ds.sample.remote(batch_size)))


class RemoteReplay(RemoteBuffer, ReplayBuffer):
    """isinstance() of the remote buffer's kind, for policies that ask (methods above win)."""


class RemotePrioritized(RemoteBuffer, PrioritizedReplayBuffer):
    """So that ``updates_due`` anneals ``beta`` here; it is sent with each sample call."""


def remote_view(buffer, data_server) -> RemoteBuffer:
    if isinstance(buffer, PrioritizedReplayBuffer):
        return RemotePrioritized(data_server)
    if isinstance(buffer, ReplayBuffer):
        return RemoteReplay(data_server)
    return RemoteRollouts(data_server)


# ---- Ray session --------------------------------------------------------------------------------
class RaySetupError(RuntimeError):
    """Ray cannot give the run what it needs: no cluster at ray_address, or fewer CPUs/GPUs
    than asked for (a one-line message with the fix)."""


def init_ray(general) -> bool:
    """Start a local Ray (``ray_address: null``) or join a cluster; True when we started it
    (and so must shut it down). Workers import this checkout's packages (PYTHONPATH locally,
    the checkout as working_dir on a cluster)."""
    import ray

    if ray.is_initialized():
        return False
    common = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
              "configure_logging": False}  # fmt: skip
    if general.ray_address is None:
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        # "local": a new local Ray even where `ray start` left one running (plain ray.init()
        # would join that cluster instead)
        ray.init(address="local", num_cpus=os.cpu_count(),
                 runtime_env={"env_vars": {"PYTHONPATH": path}}, **common)  # fmt: skip
    else:
        excludes = ["tasks/", ".venv/", ".git/", "**/__pycache__/"]
        env = {"working_dir": str(ROOT), "excludes": excludes}
        try:
            check_reachable(general.ray_address)  # Ray itself retries a dead address for minutes
            ray.init(address=general.ray_address, runtime_env=env, **common)
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise RaySetupError(
                f"general_cfg.ray_address: cannot join a Ray cluster at {general.ray_address!r} "
                f"({first_line(err)}); start one with `ray start --head` and give the address "
                "it prints (`auto` on its node; with an explicit address to a cluster that uses "
                "token authentication, also set RAY_AUTH_MODE=token), or use null for a local Ray"
            ) from None
    return True


def learner_gpus(general) -> float:
    if general.learner_num_gpus is not None:
        return general.learner_num_gpus
    from framework.agent import resolve_device

    return 1.0 if resolve_device(general.device) == "cuda" else 0.0


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """ConnectionError unless something listens at a ``host:port`` / ``ray://host:port``
    address (``auto`` is left to Ray, which fails fast when it finds no cluster)."""
    import socket

    hostport = address.removeprefix("ray://")
    if address == "auto" or ":" not in hostport:
        return
    host, _, port = hostport.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError) as err:
        raise ConnectionError(f"nothing answers at {hostport}: {err}") from None


def check_resources(general) -> None:
    """CPUs for the workers and the learner in the cluster, GPUs for the learner on this node
    (the learner runs here). A local Ray that cannot fit them is an error; a cluster may
    still scale up, so there it is a warning."""
    import ray

    n, w, lc = general.n_workers, general.worker_num_cpus, general.learner_num_cpus
    need = n * w + lc
    have = ray.cluster_resources().get("CPU", 0.0)
    problems = []
    if need > have + 1e-9:
        fit = max(have - lc, 0.0) / n
        problems.append(
            f"general_cfg.n_workers: {n} workers x worker_num_cpus {w:g} + learner_num_cpus "
            f"{lc:g} need {need:g} CPUs but Ray has {have:g}; lower general_cfg.worker_num_cpus"
            f" (e.g. {fit:.2g}), learner_num_cpus or n_workers"
        )
    gpus = learner_gpus(general)
    if gpus > 0:
        here = ray.get_runtime_context().get_node_id()
        node_gpus = sum(
            node.get("Resources", {}).get("GPU", 0.0)
            for node in ray.nodes()
            if node.get("NodeID") == here and node.get("Alive", True)
        )
        if gpus > node_gpus + 1e-9:
            problems.append(
                f"general_cfg.learner_num_gpus: the learner needs {gpus:g} GPU(s) on the "
                f"driver's node, which gives Ray {node_gpus:g}; run the driver on a GPU node, "
                "or set general_cfg.device: cpu"
            )
    for message in problems:
        if general.ray_address is None:
            raise RaySetupError(message)
        log.warning("%s (waiting for the cluster to scale up)", message)


# ---- the run ----------------------------------------------------------------------------------
def worker_name(run_id: str, index: int) -> str:
    return f"rldojo-worker-{run_id}-{index}"


def data_server_name(run_id: str) -> str:
    return f"rldojo-data-server-{run_id}"


class RayRun:
    """The actors of one run and the Learner's loops over them (inside the LearnerActor)."""

    def __init__(self, cfg, prep, learner, run_id: str):
        import ray

        g = cfg.general
        self.cfg, self.learner, self.policy = cfg, learner, prep.policy
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
        self.buffer = remote_view(buffer, self.ds)
        worker_cls = ray.remote(Worker)
        checkpoint = str(prep.checkpoint) if prep.checkpoint else None
        self.workers = [
            worker_cls.options(
                num_cpus=g.worker_num_cpus, max_restarts=g.worker_max_restarts,
                max_task_retries=0, name=worker_name(run_id, i),
            ).remote(cfg, i, prep.seed, checkpoint, ds_name)
            for i in range(g.n_workers)
        ]  # fmt: skip
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
            if getattr(err, "actor_init_failed", False) or self._worker_gone(worker):
                raise
            self.restarts += 1
            log.warning("Ray worker %d died (%s); Ray restarts it and the run goes on",
                        worker, str(err).strip().splitlines()[0][:200])  # fmt: skip
            return None

    def death_message(self, err: BaseException) -> str:
        """One line for an actor death that ends the run: which actor, and what is kept."""
        import ray

        try:
            ray.get(self.ds.pid.remote(), timeout=10)
        except Exception:  # noqa: BLE001 - any failure to answer means it is gone
            return ("ray backend: the DataServer actor died, and the experience it held with it;"
                    " the run stopped with a final checkpoint (resume from it with "
                    "load_checkpoint)")  # fmt: skip
        return f"ray backend: a worker died and could not be restarted: {first_line(err)}"

    def _worker_gone(self, worker: int) -> bool:
        limit = self.cfg.general.worker_max_restarts
        return limit == 0 or (limit > 0 and self.restarts >= limit * self.n_workers)

    # ---- the loop body of train_single ----
    def absorb(self) -> int:
        """Record what the DataServer received, then learn, observe, evaluate as train_single
        does: off-policy once per rollout received, on-policy once per round (the union)."""
        import ray

        drained = ray.get(self.ds.drain.remote())
        learner, policy, buffer = self.learner, self.policy, self.buffer
        buffer.size = drained.size
        n_envs = self.cfg.env.n_envs
        updates = 0
        if buffer.on_policy:
            for rec in drained.records:
                learner.record(rec.episodes, rec.trajectories, rec.env_steps, n_envs)
            buffer.ready = drained.ready
            updates = learner.learn(buffer)
            for rec in drained.records:
                self.observe(rec)
            learner.evaluate_if_due()
        else:
            for rec in drained.records:
                learner.record(rec.episodes, rec.trajectories, rec.env_steps, n_envs)
                buffer.expect(policy.updates_due(buffer))
                updates += learner.learn(buffer)
                self.observe(rec)
                learner.evaluate_if_due()
        if updates or (policy.obs_norm is not None and drained.records):
            self.publish()
        return len(drained.records)

    def observe(self, rec: Record) -> None:
        if rec.obs is not None:
            self.policy.observe(rec.obs)  # after learning: on-policy data used its own stats

    def rounds_async(self) -> Iterator[None]:
        """Off-policy: every worker always has one rollout in flight (relaunched before the
        learner updates), and the learner runs one learn phase per rollout received."""
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
        """On-policy: all workers roll out with the same weights version, then one update."""
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

        ray.get([w.pid.remote() for w in self.workers])  # envs built; constructor errors here
        yield
        yield from self.rounds_sync() if self.policy.on_policy else self.rounds_async()

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
    env_steps: int
    info: dict[str, Any]  # progress-bar fields
    snapshot: dict[str, Any]  # the summary as of now: written by the driver if the actor dies
    done: bool


class LearnerActor:
    """:class:`~framework.learner.Learner` as an actor, running the loops of :class:`RayRun`.

    It reserves ``learner_num_cpus`` / ``learner_num_gpus`` and is pinned to the driver's node,
    where it writes the task directory (records, evaluations, checkpoints, figures). It creates
    the DataServer and the Workers, so its death takes them down with it. The driver advances
    the run in slices (:meth:`run_for`), printing progress and catching Ctrl-C in between.
    """

    def __init__(self, cfg, task_root: str, checkpoint, run_id: str, setup=None):
        from framework.learner import Learner
        from framework.recorder import TaskDir
        from framework.trainer import Prepared

        prep = Prepared(cfg, checkpoint)  # the driver's policy again, on this actor's device
        if setup is not None:
            setup(prep.policy)
        self.task = TaskDir(Path(task_root))
        self.task.setup_logging()
        self.lines: list[str] = []
        self.learner = Learner(cfg, self.task, prep.policy, prep.counters, self.lines.append)
        prep.policy.env_steps = self.learner.counters.env_steps
        g = cfg.general
        if prep.checkpoint:
            log.info("resumed from %s at %d env steps", prep.checkpoint,
                     self.learner.counters.env_steps)  # fmt: skip
        if g.max_env_steps > 0 and self.learner.counters.env_steps >= g.max_env_steps:
            self.learner.stop_reason = "max_env_steps"
        self.run = RayRun(cfg, prep, self.learner, run_id)
        self.rounds = self.run.rounds()
        self.error: str | None = None
        log.info("ray backend: %d workers x %d envs (%g CPUs each), learner on %s",
                 g.n_workers, cfg.env.n_envs, g.worker_num_cpus, prep.policy.device)  # fmt: skip

    def run_for(self, seconds: float) -> Status:
        """Advance the run for about ``seconds`` (whole learn phases)."""
        from ray.exceptions import RayActorError

        deadline = time.perf_counter() + seconds
        done = self.learner.should_stop or self.error is not None
        try:
            while not done and time.perf_counter() < deadline:
                next(self.rounds)
                done = self.learner.should_stop
        except StopIteration:
            done = True
        except RayActorError as err:
            self.error = self.run.death_message(err)
            log.error(self.error)
            self.learner.stop_reason = "error"
            done = True
        return self.status(done)

    def status(self, done: bool = False) -> Status:
        lines, self.lines[:] = list(self.lines), []
        return Status(lines, self.learner.counters.env_steps, self.learner.progress_info(),
                      self.learner.summary(extra=self.extra()), done)  # fmt: skip

    def extra(self) -> dict[str, Any]:
        g = self.learner.cfg.general
        return {"mp_backend": "ray", "n_workers": g.n_workers,
                "worker_restarts": self.run.restarts, "error": self.error}  # fmt: skip

    def finish(self, interrupted: bool) -> dict[str, Any]:
        """End the actors, then the Learner's final checkpoint, records, figure and summary."""
        self.run.close()
        if self.error is not None:
            self.learner.stop_reason = "error"
        summary = self.learner.finish(interrupted, self.extra())
        self.task.close()
        return summary

    def pid(self) -> int:
        return os.getpid()


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
    return {"num_cpus": general.learner_num_cpus, "num_gpus": learner_gpus(general),
            "max_restarts": 0,
            "scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=False)}  # fmt: skip


def train_ray(cfg, task, prep, on_started: Callable[[RunHandles], None] | None = None,
              setup: Callable[[Any], None] | None = None) -> dict:  # fmt: skip
    """Train with Ray actors; writes the same task directory as ``train_single``.

    The driver starts Ray and the LearnerActor, then prints what each slice of the run reports
    and draws the progress bar. ``on_started`` (tests, tools) is called with the run's
    :class:`RunHandles` once its actors exist; ``setup`` runs on the LearnerActor's policy.
    """
    import ray

    from framework.learner import make_progress
    from framework.trainer import interrupt_guard

    g = cfg.general
    ours = not ray.is_initialized()  # we start Ray, so we shut it down (also after Ctrl-C)
    progress = make_progress(g, prep.counters.env_steps)
    view = DriverView(task, progress, prep.counters.env_steps)
    actor = status = summary = None
    interrupted = False
    try:
        init_ray(g)
        check_resources(g)
        run_id = uuid.uuid4().hex[:12]
        checkpoint = str(prep.checkpoint) if prep.checkpoint else None
        actor = (
            ray.remote(LearnerActor)
            .options(**learner_options(g))
            .remote(cfg, str(task.root), checkpoint, run_id, setup)
        )
        status = view.show(ray.get(actor.status.remote()))  # built, with its actors
        if on_started is not None:
            on_started(RunHandles(actor, run_id, g.n_workers))
        while not status.done:
            status = view.show(ray.get(actor.run_for.remote(0.5)))
    except KeyboardInterrupt:
        interrupted = True
        view.console("interrupted: saving the final checkpoint, results and figures")
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

    def __init__(self, task, progress, env_steps: int):
        self.task, self.progress, self.env_steps = task, progress, env_steps

    def console(self, line: str) -> None:
        if self.progress is not None:
            self.progress.write(line)
        else:
            print(line, flush=True)

    def show(self, status: Status) -> Status:
        for line in status.lines:
            self.console(line)
        if self.progress is not None:
            self.progress.set_postfix(status.info, refresh=False)
            self.progress.update(status.env_steps - self.env_steps)
        self.env_steps = status.env_steps
        return status

    def learner_died(self, cfg, status: Status | None, err: BaseException) -> dict[str, Any]:
        from framework.learner import figure_writer
        from framework.recorder import read_csv_rows

        error = (
            f"ray backend: the Learner actor died ({first_line(err)}); the run ended with the "
            "records and checkpoints it had written (resume from models/ with load_checkpoint)"
        )
        log.error(error)
        self.console(error)
        summary = dict(status.snapshot) if status is not None else {}
        summary.update(stop_reason="error", error=error, interrupted=False)
        self.task.write_summary(summary)
        figure = figure_writer(cfg, self.task)
        if figure is not None:
            results = self.task.results
            figure.write(read_csv_rows(results / "episodes.csv"),
                         read_csv_rows(results / "evals.csv"))  # fmt: skip
        return summary

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress = None


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__
