"""The training loop: one loop body for both runtimes and every data source.

Glossary (see also ``framework/data/types.py``)
- loop step: one :meth:`TrainLoop.step` on the chunk a source delivered: record its episodes,
  add its data to the buffer, run the update steps that are due, feed the raw observations to
  the normalizer, then at the boundary save a periodic checkpoint and evaluate when due.
- collection phase: what one collector gathers for one chunk (``policy.collect_steps`` vector
  steps); under Ray, one rollout of one worker (off-policy) or of all workers (on-policy).
- learn phase: the ``updates_due`` update steps run in one loop step.

The single-process trainer (:func:`train_single`) steps an :class:`EnvSource`; the Ray
LearnerActor steps chunks the DataServer collected from the workers; a dataset source steps no
env at all. Everything else (the Learner, the buffers, the policy) is the same.
"""

from __future__ import annotations

import logging

from algos.base.policy import NonFiniteError
from framework.data.datasets import DatasetBuffer
from framework.data.types import Chunk
from framework.records.archive import read_archive
from framework.runtime.clock import Clock, ClockUnit
from framework.runtime.collector import Collector
from framework.runtime.faults import fault_message
from framework.runtime.learner import Learner, OnEval
from framework.runtime.seeding import env_seeds, set_rng_state
from framework.runtime.setup import buffer_path
from framework.runtime.signals import at_boundary, interrupt_guard, signal_name
from framework.runtime.sources import DatasetSource, EnvSource

log = logging.getLogger("rldojo")


class TrainLoop:
    def __init__(self, learner: Learner, policy, buffer):
        self.learner, self.policy, self.buffer = learner, policy, buffer

    def step(self, chunk: Chunk) -> None:
        learner = self.learner
        for rec in chunk.records:
            learner.record(rec)
        if chunk.data is not None:
            self.buffer.add(chunk.data)
        learner.learn(self.buffer)
        for rec in chunk.records:
            if rec.obs is not None:  # after learning: on-policy data used its own statistics
                self.policy.observe(rec.obs)
        learner.at_boundary()


def make_clock(cfg, unit: ClockUnit = "env_steps") -> Clock:
    g = cfg.general
    budget = g.max_env_steps if unit == "env_steps" else getattr(g, "max_update_steps", -1)
    return Clock(unit, budget if budget > 0 else None, g.online_eval_fre)


def make_assembler(cfg, setup, exploration: str, n_envs: int | None = None):
    """The EpisodeAssembler of a recording run (None unless collect_traj is on)."""
    if not (cfg.general.collect_traj or cfg.general.mode == "collect"):
        return None
    from framework.data.trajectories import EpisodeAssembler

    meta = {
        "env_id": getattr(cfg.env, "id", cfg.general.env_name),
        "algo": cfg.general.algo_name,
        "checkpoint": str(setup.checkpoint) if setup.checkpoint else None,
        "exploration": exploration,
        "seed": None,  # episodes without an explicit reset seed (vector-env autoresets)
    }
    return EpisodeAssembler(cfg.env.n_envs if n_envs is None else n_envs, meta)


def train_single(cfg, task, setup, on_eval: OnEval | None = None) -> dict:
    """Train in this process, on vectorized envs or from the run's dataset; returns the
    summary."""
    policy = setup.policy
    dataset = setup.dataset
    unit: ClockUnit = "env_steps" if dataset is None else "update_steps"
    reference = None if dataset is None else dataset.reference
    learner = Learner(
        cfg,
        task,
        policy,
        make_clock(cfg, unit),
        setup.counters,
        on_eval=on_eval,
        reference=reference,
    )
    collector = None
    if dataset is None:
        n_envs = cfg.env.n_envs
        assembler = make_assembler(cfg, setup, policy.exploration)
        collector = Collector(cfg, policy, n_envs, env_seeds(setup.seed, n_envs), assembler)
        source = EnvSource(collector, policy)
        loop = TrainLoop(learner, policy, policy.make_buffer())
        learner.snapshot = lambda: {"collector": collector.state_dict()}
    else:
        source = DatasetSource()
        loop = TrainLoop(learner, policy, dataset_buffer(policy, dataset))
        learner.snapshot = lambda: {"dataset_buffer": loop.buffer.state_dict()}
        if setup.resume is None and policy.observes:  # normalizer statistics of the dataset
            policy.observe(dataset.observations)
        learner.log.info(
            "learning from %s: %d transitions in %d episodes of %s",
            dataset.source,
            len(dataset),
            dataset.n_episodes,
            dataset.env_id,
        )
    learner.buffer = loop.buffer
    if setup.resume is not None:
        resume(setup, learner, loop.buffer, collector)
    interrupted = None

    def on_signal(name: str) -> None:
        nonlocal interrupted
        interrupted = name
        learner.stop("interrupted")
        learner.console(f"{name}: stopping at the end of this step, then saving everything")

    try:
        with at_boundary(on_signal):
            while not learner.should_stop:
                loop.step(source.next())
    except KeyboardInterrupt as err:  # a second signal: the step was cut short
        interrupted = signal_name(err)
        learner.console(f"{interrupted}: saving the final checkpoint, results and figures")
    except (OSError, NonFiniteError) as err:  # a full disk, diverged training: stop cleanly
        message = fault_message(err)
        if message is None:
            raise
        learner.fail(message)
    with interrupt_guard():
        source.close()
        return learner.finish(interrupted)


def dataset_buffer(policy, dataset) -> DatasetBuffer:
    """The dataset as the transitions the policy's adder makes of it (n-step returns)."""
    transitions = policy.make_adder(1)(dataset.steps())
    return DatasetBuffer(transitions, getattr(policy, "buffer_seed", None))


def resume(setup, learner: Learner, buffer, collector: Collector | None = None) -> None:
    """Continue the run a checkpoint's last.pt was saved from, at its loop boundary: learner,
    collector (envs, episodes in progress, adder, reward scaler), replay buffer, then every RNG
    (last: building the parts drew from them). Without a collector (the Ray backend, whose
    workers hold the envs) new episodes start."""
    state = setup.resume
    learner.load_state_dict(state["learner"])
    notes = list(setup.notes)
    if buffer.status().kind == "dataset":  # offline: the dataset, and where sampling was
        if "dataset_buffer" in state:
            try:
                buffer.load_state_dict(state["dataset_buffer"])
            except ValueError as err:
                notes.append(f"minibatches are drawn anew ({err})")
    elif collector is None or "collector" not in state:
        notes.append("new episodes start (the envs' state is not part of this checkpoint)")
    elif not collector.load_state_dict(state["collector"]):
        notes.append("the envs could not be restored (see envs/state.py): new episodes start")
    saved = buffer_path(setup.checkpoint)
    if buffer.status().kind == "replay" and saved.is_file():
        try:
            buffer.load_state_dict(read_archive(saved)["buffer"])
        except ValueError as err:  # e.g. another buffer_size
            notes.append(f"the saved replay buffer does not fit ({err}): it refills from empty")
    elif buffer.status().kind == "replay":
        notes.append(f"no saved replay buffer ({saved.name}): it refills from empty")
    set_rng_state(state["rng"])
    for note in notes:
        learner.log.warning("resume: %s", note)
        learner.console(f"resume: {note}")
