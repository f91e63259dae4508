"""The search-space file of a hyperparameter search: how to search and over what.

    # space.yaml: python main.py --yaml base.yaml --tune space.yaml
    search:                                 # SearchConfig below; every key is optional
      trials: 20
      concurrent: 2
    space:                                  # dotted keys of the base config, one distribution each
      algo_cfg.lr: {loguniform: [1.0e-4, 3.0e-3]}
      algo_cfg.gamma: {uniform: [0.95, 0.999]}
      algo_cfg.train_freq: {int: [64, 512]}          # both bounds included
      algo_cfg.value_layers: {choice: [[{layer_type: linear, layer_dim: [64]}],
                                       [{layer_type: linear, layer_dim: [256]}]]}

:func:`load_search` checks all of it before the first trial: unknown sections, settings, keys and
distributions (with "did you mean"), bounds (``low < high``, ``loguniform`` above 0, integers
for ``int``, no ``uniform`` on an integer key), and every value at the bounds (every choice)
through the config's own checks, alone and, where there are at most 256 of them, in every
combination of bounds. Problems are one-line :class:`~config.base.UserError` messages naming
the file and the key.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from config.base import BaseConfig, FieldError, UserError, coerce, field_types, require, suggest
from config.loader import SECTIONS, Config, ConfigError
from framework.runtime.setup import load_run_config

DISTRIBUTIONS = ("loguniform", "uniform", "int", "choice")
MAX_CORNERS = 256  # combinations of bounds checked together (beyond: each value alone)

# general_cfg keys the search sets itself, and where to set them instead
OWNED = {
    "seed": "set search.seeds",
    "max_env_steps": "set search.budget",
    "algo_name": "compare algorithms with --compare",
    "env_name": "compare envs with --compare",
    "mode": "a search trains",
    "tasks_dir": "trials are written into the search folder",
    "online_eval": "trials report their evaluations",
    "online_eval_fre": "schedulers compare trials at the same evaluations",
    "load_checkpoint": "every trial starts from scratch",
    "load_path": "every trial starts from scratch",
    "mp_backend": "trials run in single mode (the search runs them on Ray)",
    "progress": "trials run without a progress bar",
}


@dataclass
class SearchConfig(BaseConfig):
    """The ``search:`` section of a search-space file."""

    trials: int = 20
    """Trials to run (configurations sampled)."""
    concurrent: int = 1
    """Trials running at the same time (each on its own CPUs: cpus_per_trial)."""
    searcher: Literal["tpe", "random"] = "tpe"
    """tpe: Optuna's Tree-structured Parzen Estimator (Bergstra et al., 2011; its first 10
    trials are random); random: independent uniform samples."""
    scheduler: Literal["asha", "median", "none"] = "asha"
    """asha: asynchronous successive halving (Li et al., 2020) stops trials below the top
    1/reduction_factor at each rung; median: stops a trial whose running mean falls below the
    median of the others at the same env steps (Golovin et al., 2017); none: every trial runs
    its whole budget."""
    metric: Literal["best", "last", "auc"] = "best"
    """What a trial is scored by, from the mean over its seeds of each evaluation: best (the
    highest evaluation), last (the latest), auc (the area under the evaluation curve divided by
    its length, i.e. the mean evaluation; a run that stops at reward_threshold keeps its last
    evaluation up to the budget)."""
    seeds: list[int] | int = 1
    """Seeds per trial, whose evaluations are averaged: a number n (general_cfg.seed,
    general_cfg.seed + 1, ...) or a list of seeds. Each seed is a run of its own."""
    budget: int | None = None
    """Env steps per trial (each trial's general_cfg.max_env_steps); null: the YAML's."""
    grace_period: int | None = None
    """asha, median: env steps a trial runs before it can be stopped; null: a quarter of the
    budget (at least one evaluation)."""
    reduction_factor: float = 3.0
    """asha: a trial goes on past a rung when it is in the top 1/reduction_factor there."""
    seed: int = 0
    """Seed of the searcher (the same seed samples the same configurations)."""
    cpus_per_trial: float | None = None
    """CPUs Ray reserves per trial; null: one per seed (each seed runs in a process)."""
    gpus_per_trial: float = 0.0
    """GPUs Ray reserves per trial (general_cfg.device: cuda needs some; fractions share one)."""
    ray_address: str | None = None
    """null: a local Ray on this machine; `auto` or `host:port`: an existing Ray cluster (give
    general_cfg.tasks_dir on a file system that every node shares)."""

    def check(self) -> None:
        require(self.trials >= 1, "trials", "must be >= 1")
        require(self.concurrent >= 1, "concurrent", "must be >= 1")
        if isinstance(self.seeds, int):
            require(1 <= self.seeds <= 100, "seeds", "must be a count in [1, 100] or a list")
        else:
            require(len(self.seeds) >= 1, "seeds", "give at least one seed")
            require(len(set(self.seeds)) == len(self.seeds), "seeds", "seeds repeat")
            require(all(0 <= s < 2**32 for s in self.seeds), "seeds", "must be in [0, 2**32)")
        require(self.budget is None or self.budget > 0, "budget", "must be > 0 (null: the YAML's)")
        require(self.grace_period is None or self.grace_period > 0, "grace_period", "must be > 0")
        require(self.reduction_factor > 1, "reduction_factor", "must be > 1")
        require(self.cpus_per_trial is None or self.cpus_per_trial > 0, "cpus_per_trial", "> 0")
        require(self.gpus_per_trial >= 0, "gpus_per_trial", "must be >= 0")


@dataclass(frozen=True)
class Param:
    """One searched key: ``kind`` is a distribution, ``args`` its bounds or its choices."""

    key: str
    kind: str
    args: tuple

    def domain(self):
        """The Ray Tune domain; a choice is sampled as the index of a value (Optuna's
        categorical distributions take only scalars; whole layer lists are values here)."""
        from ray import tune

        low, high = self.args[0], self.args[-1]
        if self.kind == "loguniform":
            return tune.loguniform(low, high)
        if self.kind == "uniform":
            return tune.uniform(low, high)
        if self.kind == "int":
            return tune.randint(low, high + 1)  # Tune's upper bound is exclusive
        return tune.choice(list(range(len(self.args))))

    def value(self, sampled: Any) -> Any:
        """The config value of a sample."""
        if self.kind == "choice":
            return self.args[int(sampled)]
        return int(sampled) if self.kind == "int" else float(sampled)

    def label(self, value: Any) -> str:
        """A short text of a value (tables, figures)."""
        if isinstance(value, float):
            return f"{value:.4g}"
        if isinstance(value, (list, dict)):
            return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
        return str(value)


@dataclass
class Search:
    """A checked search: its settings, parameters and base config (the trials' budget set)."""

    space_path: Path
    settings: SearchConfig
    params: list[Param]
    base: Config
    seeds: list[int] = field(default_factory=list)

    @property
    def budget(self) -> int:
        return self.base.general.max_env_steps

    @property
    def grace_period(self) -> int:
        s, g = self.settings, self.base.general
        return s.grace_period or max(g.online_eval_fre, self.budget // 4)

    @property
    def cpus_per_trial(self) -> float:
        return self.settings.cpus_per_trial or float(len(self.seeds))

    def trial_config(self, values: dict[str, Any], **general: Any) -> dict[str, Any]:
        """The config sections of a trial: the base with the trial's values and ``general``."""
        return trial_sections(self.base.to_dict(), values, general)


def values_of(params: list[Param], sampled: dict[str, Any]) -> dict[str, Any]:
    """Config values of a trial from what the searcher sampled."""
    return {p.key: p.value(sampled[p.key]) for p in params}


def trial_sections(
    base: dict[str, Any], values: dict[str, Any], general: dict[str, Any]
) -> dict[str, Any]:
    sections = copy.deepcopy(base)
    for key, value in values.items():
        section, name = key.split(".", 1)
        sections[section][name] = value
    sections["general_cfg"].update(general)
    return sections


def read_space(path: Path) -> dict[str, Any]:
    from config.loader import safe_load_unique  # the config loader's: repeated keys are errors

    if not path.is_file():
        raise UserError(f"{path}: no such file; give a search-space YAML (see the README)")
    try:
        data = safe_load_unique(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise UserError(f"{path}: malformed YAML{where}: {getattr(err, 'problem', err)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("space"), dict) or not data["space"]:
        raise UserError(
            f"{path}: a search-space file has a `space:` mapping of dotted keys to "
            "distributions, e.g. algo_cfg.lr: {loguniform: [1.0e-4, 3.0e-3]}"
        )
    for section in data:
        if section not in ("search", "space"):
            raise UserError(
                f"{path}: unknown section {section!r}{suggest(str(section), ['search', 'space'])}"
                " (sections: search, space)"
            )
    return data


def parse_settings(path: Path, raw: Any) -> SearchConfig:
    settings = SearchConfig()
    if raw is not None and not isinstance(raw, dict):
        raise UserError(f"{path}: search: expected a mapping of settings, got {raw!r}")
    try:
        settings.update(raw or {})
        settings.check()
    except FieldError as err:
        raise UserError(f"{path}: search.{err.key}: {err.message}") from None
    return settings


def parse_param(path: Path, key: Any, spec: Any) -> Param:
    where = f"{path}: space: {key}"
    section, dot, name = str(key).partition(".")
    if not dot or not name or "." in name:
        raise UserError(f"{where}: expected section.key, e.g. algo_cfg.lr")
    if section not in SECTIONS:
        raise UserError(f"{where}: unknown section {section!r}{suggest(section, SECTIONS)}")
    if section == "general_cfg" and name in OWNED:
        raise UserError(f"{where}: not searchable: {OWNED[name]}")
    example = "{loguniform: [1.0e-4, 3.0e-3]}"
    if not isinstance(spec, dict) or len(spec) != 1:
        raise UserError(f"{where}: give one distribution, e.g. {example}")
    ((kind, args),) = spec.items()
    if kind not in DISTRIBUTIONS:
        raise UserError(
            f"{where}: unknown distribution {kind!r}{suggest(str(kind), DISTRIBUTIONS)} "
            f"(distributions: {', '.join(DISTRIBUTIONS)})"
        )
    if kind == "choice":
        if not isinstance(args, list) or len(args) < 2:
            raise UserError(f"{where}: choice: give a list of at least two values")
        return Param(str(key), kind, tuple(args))
    if not isinstance(args, list) or len(args) != 2:
        raise UserError(f"{where}: {kind}: give [low, high]")
    try:
        low, high = (coerce(a, int if kind == "int" else float, kind) for a in args)
    except FieldError as err:
        raise UserError(f"{where}: {kind}: {err.message}") from None
    if not low < high:
        raise UserError(f"{where}: {kind}: low {low} must be below high {high}")
    if kind == "loguniform" and low <= 0:
        raise UserError(f"{where}: loguniform: low {low} must be > 0 (or use uniform)")
    return Param(str(key), kind, (low, high))


def load_search(
    space_path: str | Path, yaml_path: str | Path | None, overrides: list[str] | None = None
) -> Search:
    """Read and check a search: the space file, the base config (YAML and overrides, with the
    search's budget) and every value at the bounds. Raises UserError (one line)."""
    path = Path(space_path)
    data = read_space(path)
    settings = parse_settings(path, data.get("search"))
    params = [parse_param(path, key, spec) for key, spec in data["space"].items()]
    fixed = list(overrides or [])
    if settings.budget is not None:
        fixed.append(f"general_cfg.max_env_steps={settings.budget}")
    base = load_run_config(yaml_path, fixed)
    check_base(path, base, settings)
    for p in params:
        check_type(path, p, base)
    checked = [check_values(path, p, yaml_path, fixed) for p in params]
    check_corners(path, checked, yaml_path, fixed)
    g = base.general
    seeds = settings.seeds
    seeds = [g.seed + i for i in range(seeds)] if isinstance(seeds, int) else list(seeds)
    return Search(path, settings, checked, base, seeds)


def check_base(path: Path, base: Config, settings: SearchConfig) -> None:
    g = base.general
    problems = [
        (g.mode != "train", "general_cfg.mode", "a search trains: set mode: train"),
        (not g.online_eval, "general_cfg.online_eval", "trials are scored by their evaluations"),
        (g.mp_backend != "single", "general_cfg.mp_backend", "trials run single (set single)"),
        (g.load_checkpoint, "general_cfg.load_checkpoint", "every trial starts from scratch"),
        (
            g.max_env_steps <= 0,
            "general_cfg.max_env_steps",
            f"no budget: set search.budget in {path}",
        ),
    ]
    for bad, key, message in problems:
        if bad:
            raise UserError(f"{key}: {message}")
    if g.online_eval_fre > g.max_env_steps:
        raise UserError(
            f"{path}: search.budget: {g.max_env_steps} env steps allow no evaluation "
            f"(general_cfg.online_eval_fre {g.online_eval_fre}); raise it or evaluate more often"
        )
    if settings.grace_period is not None and settings.grace_period >= g.max_env_steps:
        raise UserError(
            f"{path}: search.grace_period: {settings.grace_period} must be below the budget "
            f"({g.max_env_steps} env steps)"
        )
    if g.device != "cpu" and settings.gpus_per_trial == 0:
        raise UserError(
            f"{path}: search.gpus_per_trial: general_cfg.device is {g.device}: reserve GPUs for "
            "the trials (e.g. 0.5 for two trials per GPU) or use device: cpu"
        )


def _is_int(tp: Any) -> bool:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        return int in args and float not in args
    return tp is int


def check_type(path: Path, p: Param, base: Config) -> None:
    """A continuous distribution on an integer key would sample values the key refuses."""
    section = {"general_cfg": base.general, "algo_cfg": base.algo, "env_cfg": base.env}
    name = p.key.split(".", 1)[1]
    tp = field_types(type(section[p.key.split(".")[0]])).get(name)
    if tp is not None and p.kind in ("uniform", "loguniform") and _is_int(tp):
        raise UserError(
            f"{path}: space: {p.key}: an integer key: use {{int: [{int(p.args[0])}, "
            f"{int(p.args[1])}]}} or a choice"
        )


def _override(key: str, value: Any) -> str:
    return f"{key}={json.dumps(value)}"  # JSON is YAML: the loader parses it back


def _load(
    path: Path, what: str, yaml_path, fixed: list[str], values: list[tuple[str, Any]]
) -> Config:
    try:
        return load_run_config(yaml_path, [*fixed, *(_override(k, v) for k, v in values)])
    except ConfigError as err:
        message = str(err).removeprefix("command line: ")
        raise UserError(f"{path}: space: {what}: {message}") from None


def check_values(path: Path, p: Param, yaml_path, fixed: list[str]) -> Param:
    """Each bound (each choice) alone through the config; choices of scalars come back as the
    config reads them (a YAML ``1e-4`` is a string until a float key reads it)."""
    section, name = p.key.split(".", 1)
    typed = []
    for i, value in enumerate(p.args):
        what = f"{p.key}={p.label(value)}" + (
            f" ({['low', 'high'][i]} bound)" if p.kind != "choice" else ""
        )
        cfg = _load(path, what, yaml_path, fixed, [(p.key, value)])
        read = cfg.to_dict()[section][name]
        typed.append(read if not isinstance(read, (list, dict)) else value)
    if p.kind == "choice":
        return Param(p.key, p.kind, tuple(typed))
    return p


def check_corners(path: Path, params: list[Param], yaml_path, fixed: list[str]) -> None:
    """Every combination of bounds (and choices), for checks across keys (``batch_size <=
    buffer_size``), when there are at most MAX_CORNERS of them."""
    if len(params) < 2 or math.prod(len(p.args) for p in params) > MAX_CORNERS:
        return
    for combo in itertools.product(*(p.args for p in params)):
        values = [(p.key, v) for p, v in zip(params, combo)]
        what = "with " + ", ".join(f"{p.key}={p.label(v)}" for p, v in zip(params, combo))
        _load(path, what, yaml_path, fixed, values)
