"""The search on Ray Tune (imported only when a search runs: it imports ``ray.tune`` and
``optuna``, the ``tune`` extra).

- :class:`TrialTrainable`: a Tune trainable around a :class:`~framework.tune.trial.Trial`; one
  ``step`` is one evaluation of every seed of the trial, reported as the trial's result.
- Pruning: a scheduler (ASHA, median stopping) that says STOP for a trial still training has
  it marked ``pruned`` in :class:`SearchState` and lets it go on; the trial's next step ends
  its runs with ``stop_reason: pruned`` (each writes its final checkpoint, records and summary)
  and reports that as its last result. So a pruned trial leaves complete task directories, and
  its end reaches the search's records like any other.
- Stopping the search: Ctrl-C or SIGTERM on the driver ends Tune's loop (Tune saves its state,
  and ``--tune <search folder>`` resumes it) and, through :class:`SearchState`, sends SIGTERM
  to every trial's runs, which stop at the end of their loop step (``stop_reason:
  interrupted``); a trial stopped that way is not finished and runs again when the search is
  resumed. A second signal stops at once.

Tune pickles its scheduler and callbacks into its experiment state (for resuming), so they keep
no state of their own: they act on :data:`_session`, the search this driver runs now.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import ray
import yaml
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule, TrialScheduler
from ray.tune.search.optuna import OptunaSearch

from framework.records.io import atomic_write_text
from framework.runtime.signals import Interrupted
from framework.tune.space import Param, Search, trial_sections, values_of
from framework.tune.trial import Trial


@ray.remote(num_cpus=0)
class SearchState:
    """What the driver tells the trials: which are pruned, and whether the search stops."""

    def __init__(self):
        self.pruned: set[str] = set()
        self.stopping = asyncio.Event()

    async def prune(self, trial_id: str) -> None:
        self.pruned.add(trial_id)

    async def is_pruned(self, trial_id: str) -> bool:
        return trial_id in self.pruned

    async def stop(self) -> None:
        self.stopping.set()

    async def wait_stop(self) -> None:
        await self.stopping.wait()


@dataclass(frozen=True)
class TrialSpec:
    """What every trial needs (plain data, shipped to the trial actors)."""

    root: str
    base: dict[str, Any]
    params: list[Param]
    seeds: list[int]
    metric: str
    n_evals: int
    state: str  # the SearchState actor's name


class TrialTrainable(tune.Trainable):
    """One trial: writes ``<search>/<trial>/trial.yaml`` and runs it with every seed. The actor
    is reused for the next trial (``reset_config``), which saves starting a Ray worker."""

    def setup(self, config: dict[str, Any], spec: TrialSpec) -> None:
        self.spec = spec
        self.state = ray.get_actor(spec.state)
        self._start(config)
        threading.Thread(target=self._watch, daemon=True).start()

    def _start(self, config: dict[str, Any]) -> None:
        spec = self.spec
        folder = Path(spec.root) / self.trial_name
        folder.mkdir(parents=True, exist_ok=True)
        general = {"tasks_dir": str(folder), "progress": False, "seed": spec.seeds[0]}
        sections = trial_sections(spec.base, values_of(spec.params, config), general)
        text = yaml.safe_dump(sections, sort_keys=False)
        self.trial = Trial(
            atomic_write_text(folder / "trial.yaml", text), spec.seeds, spec.metric, spec.n_evals
        )

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self.trial.close("interrupted")  # its runs ended already, unless the search stops
        self._start(new_config)
        return True

    def _watch(self) -> None:
        try:
            ray.get(self.state.wait_stop.remote())
        except Exception:  # the search's driver is gone: stop too  # noqa: BLE001
            pass
        self.trial.interrupt()

    def step(self) -> dict[str, Any]:
        pruned = ray.get(self.state.is_pruned.remote(self.trial_id))
        return self.trial.advance("pruned" if pruned else None)

    def cleanup(self) -> None:
        self.trial.close("interrupted")


class _Pruning:
    """A scheduler's STOP for a trial still training becomes ``pruned`` (see the module)."""

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        decision = super().on_trial_result(tune_controller, trial, result)
        if decision == TrialScheduler.STOP and not result.get("done"):
            ray.get(_session.state.prune.remote(trial.trial_id))
            return TrialScheduler.CONTINUE
        return decision


class PruningASHA(_Pruning, ASHAScheduler):
    pass


class PruningMedian(_Pruning, MedianStoppingRule):
    pass


def trial_name(trial) -> str:
    """trial_001, trial_002, ... in the order the searcher created them."""
    return f"trial_{int(trial.experiment_tag.split('_')[0]):03d}"


class SearchCallback(tune.Callback):
    """Progress lines, the trials table after every finished trial, and the stop signals."""

    def setup(self, **info) -> None:
        _session.take_signals()

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        _session.say(trial, "started: " + _session.describe(trial.config))

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if not result.get("done"):
            _session.say(
                trial,
                f"{result['env_steps']:>8d} env steps  eval {result['eval_mean']:8.2f}  "
                f"score {result['score']:8.2f}",
            )

    def on_experiment_end(self, trials, **info) -> None:
        _session.trials = list(trials)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        last = trial.last_result or {}
        if last.get("done"):
            _session.say(
                trial,
                f"{last.get('stop_reason')} at {last.get('env_steps')} env steps, score "
                f"{last.get('score', float('nan')):.2f}",
            )
        _session.table(trials)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        _session.say(trial, f"error (see {trial.path}/error.txt)")
        _session.table(trials)


class Session:
    """The search this driver runs: its state actor, its output and the stop signals."""

    def __init__(self, search: Search, on_table, state_name: str):
        self.search = search
        self.on_table = on_table
        self.state = SearchState.options(name=state_name).remote()
        self.signal: str | None = None
        self.stopping = threading.Event()
        self.previous: dict[int, Any] = {}
        self.trials: list = []  # Tune's Trial objects, as of the last callback
        threading.Thread(target=self._tell_trials, daemon=True).start()

    def describe(self, sampled: dict[str, Any]) -> str:
        values = values_of(self.search.params, sampled)
        return "  ".join(
            f"{p.key.split('.', 1)[1]}={p.label(values[p.key])}" for p in self.search.params
        )

    def table(self, trials) -> None:
        self.trials = list(trials)
        self.on_table(self.trials)

    def say(self, trial, line: str) -> None:
        print(f"[{trial}] {line}", flush=True)

    def take_signals(self) -> None:
        """Inside Tune's loop: Ctrl-C and SIGTERM end the search the way Tune's own Ctrl-C
        handler does (its state saved), and stop the trials' runs; a second signal at once."""
        if threading.current_thread() is not threading.main_thread():
            return
        tune_handler = signal.getsignal(signal.SIGINT)

        def handler(signum, frame) -> None:
            if self.signal is not None:
                raise Interrupted(signum)
            self.signal = signal.Signals(signum).name
            print(f"{self.signal}: stopping the search (its state is kept)", flush=True)
            self.stopping.set()
            if callable(tune_handler):
                tune_handler(signal.SIGINT, frame)

        for s in (signal.SIGINT, signal.SIGTERM):
            self.previous.setdefault(s, signal.getsignal(s))
            signal.signal(s, handler)

    def _tell_trials(self) -> None:
        self.stopping.wait()
        if self.signal is not None:
            ray.get(self.state.stop.remote())

    def close(self) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)
        self.stopping.set()


_session: Session | None = None


def fit(search: Search, root: Path, resume: bool, on_table) -> tuple[list, Any, str | None]:
    """Run (or resume) the search into ``root``; returns Tune's trials, its ResultGrid and the
    signal that stopped it (None when it ran to the end). ``on_table(trials)`` after each
    trial."""
    global _session
    s = search.settings
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's own tables: the lines here say it
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)  # trials' errors are reported here
    # a resumed trial restarts its iterations at 1, and Tune's Optuna searcher reports them to
    # the study again; Optuna keeps the first value of each step, which is what the search wants
    warnings.filterwarnings("ignore", "The reported value is ignored because this `step`")
    name = f"rldojo-search-{uuid.uuid4().hex[:12]}"
    _session = Session(search, on_table, name)
    g = search.base.general
    spec = TrialSpec(
        str(root),
        search.base.to_dict(),
        search.params,
        search.seeds,
        s.metric,
        search.budget // g.online_eval_fre,
        name,
    )
    trainable = tune.with_resources(
        tune.with_parameters(TrialTrainable, spec=spec),
        {"cpu": search.cpus_per_trial, "gpu": s.gpus_per_trial},
    )
    experiment = str(root.resolve() / "ray")
    try:
        if resume:
            tuner = tune.Tuner.restore(experiment, trainable, resume_unfinished=True)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space={p.key: p.domain() for p in search.params},
                tune_config=tune.TuneConfig(
                    metric="score",
                    mode="max",
                    num_samples=s.trials,
                    max_concurrent_trials=s.concurrent,
                    search_alg=searcher(search),
                    scheduler=scheduler(search),
                    trial_name_creator=trial_name,
                    trial_dirname_creator=trial_name,
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name="ray",
                    storage_path=str(root.resolve()),
                    verbose=0,
                    callbacks=[SearchCallback()],
                    checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False),
                ),
            )
        grid = tuner.fit()
    finally:
        _session.close()
    return _session.trials, grid, _session.signal


def searcher(search: Search):
    s = search.settings
    if s.searcher == "random":
        sampler = optuna.samplers.RandomSampler(seed=s.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=s.seed)
    return OptunaSearch(sampler=sampler)


def scheduler(search: Search) -> TrialScheduler:
    s = search.settings
    if s.scheduler == "asha":
        return PruningASHA(
            time_attr="env_steps",
            max_t=search.budget,
            grace_period=search.grace_period,
            reduction_factor=s.reduction_factor,
        )
    if s.scheduler == "median":
        return PruningMedian(time_attr="env_steps", grace_period=search.grace_period)
    return FIFOScheduler()
