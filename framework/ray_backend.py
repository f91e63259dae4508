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
  env steps, observations) until the driver drains it.
- **Learner**: the driver process owns :class:`~framework.learner.Learner` and the task
  directory. For each drained rollout it runs the single-process loop body: ``record``,
  ``learn`` (batches sampled from the DataServer, PER priorities sent back), ``observe``,
  ``evaluate_if_due``; then it publishes the new weights with one ``ray.put``.

On-policy algorithms run synchronously (every worker rolls out with the same weights version,
one update on the union of the rollouts); off-policy ones asynchronously (a worker starts its
next rollout as soon as its last one arrived, while the learner updates), with the configured
ratio of update steps per env step kept because the learner runs ``learn`` once per rollout of
``collect_steps(n_envs) * n_envs`` env steps, exactly as in single mode. Nobody spins: the
driver blocks in ``ray.wait``, idle actors block in Ray's task queue.

Ray is imported lazily: nothing here runs (or imports ray) in single mode.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import uuid
from collections.abc import Callable
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
        ray.init(num_cpus=os.cpu_count(), runtime_env={"env_vars": {"PYTHONPATH": path}},
                 **common)  # fmt: skip
    else:
        excludes = ["tasks/", ".venv/", ".git/", "**/__pycache__/"]
        env = {"working_dir": str(ROOT), "excludes": excludes}
        ray.init(address=general.ray_address, runtime_env=env, **common)
    return True


def check_resources(general) -> None:
    import ray

    need = general.n_workers * general.worker_num_cpus
    have = ray.cluster_resources().get("CPU", 0.0)
    if need > have + 1e-9:
        message = (
            f"general_cfg.n_workers: {general.n_workers} workers x worker_num_cpus "
            f"{general.worker_num_cpus} need {need:g} CPUs but Ray has {have:g}; lower "
            f"general_cfg.worker_num_cpus (e.g. {have / general.n_workers:.2g}) or n_workers"
        )
        if general.ray_address is None:
            raise RuntimeError(message)
        log.warning("%s (waiting for the cluster to scale up)", message)


# ---- the run ----------------------------------------------------------------------------------
class RayRun:
    """The actors of one run and the driver's loops over them."""

    def __init__(self, cfg, prep, learner):
        import ray

        g = cfg.general
        self.cfg, self.learner, self.policy = cfg, learner, prep.policy
        self.n_workers = g.n_workers
        self.restarts = 0
        buffer = self.policy.make_buffer(g.n_workers)
        c = learner.counters
        ds_name = f"rldojo-data-server-{uuid.uuid4().hex[:12]}"
        self.ds = (
            ray.remote(DataServer)
            .options(num_cpus=0, max_restarts=0, name=ds_name)
            .remote(cfg, buffer, c.env_steps, c.episodes)
        )
        self.buffer = remote_view(buffer, self.ds)
        worker_cls = ray.remote(Worker).options(
            num_cpus=g.worker_num_cpus, max_restarts=g.worker_max_restarts, max_task_retries=0
        )
        checkpoint = str(prep.checkpoint) if prep.checkpoint else None
        self.workers = [
            worker_cls.remote(cfg, i, prep.seed, checkpoint, ds_name) for i in range(g.n_workers)
        ]
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

    def pids(self) -> list[int]:
        import ray

        return ray.get([w.pid.remote() for w in self.workers])

    def result(self, ref, worker: int) -> Ack | None:
        """A rollout's Ack; None when the worker's process died (Ray restarts it; it will
        rebuild its envs and fetch the current weights with its next task)."""
        import ray
        from ray.exceptions import RayActorError

        try:
            return ray.get(ref)
        except RayActorError as err:
            if getattr(err, "actor_init_failed", False) or self._worker_gone(worker):
                raise
            self.restarts += 1
            log.warning("Ray worker %d died (%s); Ray restarts it and the run goes on",
                        worker, str(err).strip().splitlines()[0][:200])  # fmt: skip
            return None

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

    def train_async(self) -> None:
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

    def train_sync(self) -> None:
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
                break  # the DataServer stopped taking data

    def train(self) -> None:
        import ray

        ray.get([w.pid.remote() for w in self.workers])  # envs built; constructor errors here
        if self.policy.on_policy:
            self.train_sync()
        else:
            self.train_async()

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


def train_ray(cfg, task, prep, on_started: Callable[[RayRun], None] | None = None) -> dict:
    """Train with Ray actors; writes the same task directory as ``train_single``. ``on_started``
    (tests, tools) is called with the running :class:`RayRun` once its actors exist."""
    import ray

    from framework.learner import Learner
    from framework.trainer import interrupt_guard

    g = cfg.general
    ours = not ray.is_initialized()  # we start Ray, so we shut it down (also after Ctrl-C)
    run = None
    learner = Learner(cfg, task, prep.policy, prep.counters)
    prep.policy.env_steps = learner.counters.env_steps
    interrupted = False
    error = None
    try:
        init_ray(g)
        check_resources(g)
        if prep.checkpoint:
            log.info("resumed from %s at %d env steps", prep.checkpoint, learner.counters.env_steps)
        if g.max_env_steps > 0 and learner.counters.env_steps >= g.max_env_steps:
            learner.stop_reason = "max_env_steps"
        run = RayRun(cfg, prep, learner)
        log.info("ray backend: %d workers x %d envs (%g CPUs each)", g.n_workers, cfg.env.n_envs,
                 g.worker_num_cpus)  # fmt: skip
        if on_started is not None:
            on_started(run)
        if not learner.should_stop:
            run.train()
    except KeyboardInterrupt:
        interrupted = True
        learner.console("interrupted: saving the final checkpoint, results and figures")
    except ray.exceptions.RayActorError as err:
        error = f"ray backend: an actor died and the run cannot go on: {first_line(err)}"
        log.error(error)
        learner.console(error)
    except BaseException:
        with interrupt_guard():  # end the actors and Ray, then let the error through
            if run is not None:
                run.close()
            if ours:
                ray.shutdown()
        raise
    with interrupt_guard():
        if run is not None:
            run.close()
        if error is not None:
            learner.stop_reason = "error"
        extra = {"mp_backend": "ray", "n_workers": g.n_workers,
                 "worker_restarts": run.restarts if run else 0, "error": error}  # fmt: skip
        summary = learner.finish(interrupted, extra)
        if ours:
            ray.shutdown()
    return summary


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__
