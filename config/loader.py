"""Load, merge and validate a run's config.

Order of precedence: typed Python defaults < YAML file < ``section.key=value`` overrides.
Every problem raises :class:`ConfigError` with a one-line message that names the source (file or
command line), the section and the key, before anything is written to disk.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from config.base import BaseConfig, FieldError, UserError, suggest
from config.config import GeneralConfig

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("general_cfg", "algo_cfg", "env_cfg")


class ConfigError(UserError):
    """A user-facing config problem; the message is one line."""


def _check_unique_keys(node: yaml.Node | None) -> None:
    """A key given twice in one mapping is an error naming both lines (a ConstructorError, so
    callers report it as malformed YAML), where PyYAML lets the last one win."""
    stack, seen_nodes = [node], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:str":
                    line = key_node.start_mark.line + 1
                    if key_node.value in seen:
                        raise yaml.constructor.ConstructorError(
                            None,
                            None,
                            f"{key_node.value!r} appears twice (lines {seen[key_node.value]} "
                            f"and {line}); keep one",
                            key_node.start_mark,
                        )
                    seen[key_node.value] = line
                stack += [key_node, value_node]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value


def safe_load_unique(text: str) -> Any:
    """``yaml.safe_load`` (plain data only, nothing runs), but a key given twice in one mapping
    (a second ``general_cfg:`` block, a repeated ``lr:``) is an error instead of the last one
    silently winning."""
    _check_unique_keys(yaml.compose(text, Loader=yaml.SafeLoader))
    return yaml.safe_load(text)


@dataclass
class Config:
    """The merged config of a run: three typed sections, and warnings about values that are
    allowed but probably not meant (printed and logged by the run)."""

    general: GeneralConfig
    algo: BaseConfig
    env: BaseConfig
    warnings: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "general_cfg": self.general.to_dict(),
            "algo_cfg": self.algo.to_dict(),
            "env_cfg": self.env.to_dict(),
        }

    def dump(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)


def available(kind: str) -> list[str]:
    """Folders of algos/ or envs/ that hold a config.py (the registry is the file tree)."""
    base = ROOT / kind
    return sorted(
        p.name
        for p in base.iterdir()
        if p.is_dir() and p.name != "base" and (p / "config.py").exists()
    )


def _section_class(kind: str, name: str, origin: str) -> tuple[str, type[BaseConfig]]:
    names = available(kind)
    key = "algo_name" if kind == "algos" else "env_name"
    match = next((n for n in names if n.lower() == name.lower()), None)
    if match is None:
        what = key.removesuffix("_name")
        raise ConfigError(
            f"{origin}: general_cfg.{key}: unknown {what} {name!r}; available: {', '.join(names)}"
        )
    module = importlib.import_module(f"{kind}.{match}.config")
    cls = module.AlgoConfig if kind == "algos" else module.EnvConfig
    return match, cls


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a config YAML into its sections (missing or empty sections allowed)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: no such file; give the path of a YAML config (see config/presets/)"
        )
    try:
        data = safe_load_unique(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file; give a YAML config") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config is a mapping with sections {', '.join(SECTIONS)}")
    for section, values in data.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"{path}: unknown section {section!r}{suggest(str(section), SECTIONS)}"
                f" (sections: {', '.join(SECTIONS)})"
            )
        if values is not None and not isinstance(values, dict):
            raise ConfigError(f"{path}: {section}: expected a mapping of keys, got {values!r}")
    return {s: dict(v or {}) for s, v in data.items()}


def parse_overrides(items: list[str]) -> list[tuple[str, str, Any]]:
    """``section.key=value`` (value parsed as YAML) into (section, key, value)."""
    parsed = []
    for item in items:
        dotted, sep, raw = item.partition("=")
        section, dot, key = dotted.partition(".")
        if not sep or not dot or not key:
            raise ConfigError(
                f"command line: {item!r}: expected section.key=value, e.g. algo_cfg.lr=3e-4"
            )
        if section not in SECTIONS:
            raise ConfigError(
                f"command line: {item!r}: unknown section {section!r}{suggest(section, SECTIONS)}"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        parsed.append((section, key, value))
    return parsed


def load_config(
    yaml_path: str | Path | None = None,
    overrides: list[str] | None = None,
    *,
    checkpoint_config: Callable[[Path], dict[str, Any]] | None = None,
) -> Config:
    """Defaults, then the YAML, then the overrides; validated. Raises ConfigError.

    ``checkpoint_config(path)`` returns the config sections a checkpoint was trained with. When
    it is given, test, render and collect runs take ``algo_name``, ``env_name``, ``algo_cfg`` and
    ``env_cfg`` from the checkpoint (``load_path``): the YAML and the overrides may leave them
    out; env_cfg values they give win (a test env may differ), while an algo_name or algo_cfg
    value that contradicts the checkpoint is an error naming the key.
    """
    source = str(yaml_path) if yaml_path else "defaults"
    data = read_yaml(yaml_path) if yaml_path else {}
    notes = []
    if yaml_path and not data:
        notes.append(f"{yaml_path} sets nothing (empty file or sections): running the defaults")
    over = parse_overrides(overrides or [])
    # origin of every key, so an error names the place that set it
    origins: dict[tuple[str, str], str] = {}
    layered: dict[str, list[tuple[str, dict[str, Any]]]] = {s: [] for s in SECTIONS}
    for section in SECTIONS:
        if data.get(section):
            layered[section].append((source, data[section]))
            origins.update({(section, k): source for k in data[section]})
    for section, key, value in over:
        layered[section].append(("command line", {key: value}))
        origins[(section, key)] = "command line"

    general = GeneralConfig()
    _apply(general, "general_cfg", layered["general_cfg"])
    saved, trained = _trained_config(general, origins, source, checkpoint_config)
    algo_name, algo_cls = _section_class(
        "algos", general.algo_name, origins.get(("general_cfg", "algo_name"), source)
    )
    env_name, env_cls = _section_class(
        "envs", general.env_name, origins.get(("general_cfg", "env_name"), source)
    )
    general.algo_name, general.env_name = algo_name, env_name
    algo, env = algo_cls(), env_cls()
    if saved is not None:
        for obj, section in ((algo, "algo_cfg"), (env, "env_cfg")):
            keys = obj.trained_keys
            values = {k: v for k, v in saved[section].items() if keys is None or k in keys}
            _apply(obj, section, [(trained, values)])
        before = algo.to_dict()
    _apply(algo, "algo_cfg", layered["algo_cfg"])
    _apply(env, "env_cfg", layered["env_cfg"])
    if saved is not None:
        _check_contradictions(before, algo.to_dict(), origins, trained)
    for section, obj in (("general_cfg", general), ("algo_cfg", algo), ("env_cfg", env)):
        try:
            obj.check()
        except FieldError as err:
            top = err.key.split(".")[0].split("[")[0]
            where = origins.get((section, top), trained if section != "general_cfg" else None)
            raise ConfigError(f"{where or source}: {section}.{err.key}: {err.message}") from None
    if general.load_checkpoint:
        resolve_load_path(general, origins.get(("general_cfg", "load_path"), source))
    if general.init_from is not None and general.mode == "train" and not general.load_checkpoint:
        resolve_init_from(general, origins.get(("general_cfg", "init_from"), source))
    if general.tensorboard:
        try:
            importlib.import_module("torch.utils.tensorboard")
        except ImportError:
            raise ConfigError(
                f"{origins.get(('general_cfg', 'tensorboard'), source)}: general_cfg.tensorboard: "
                "needs the tensorboard package: pip install 'rldojo[tensorboard]'"
            ) from None
    return Config(general, algo, env, notes + config_warnings(general, env))


def config_warnings(general: GeneralConfig, env: BaseConfig) -> list[str]:
    """Values that pass validation but are probably not what the user meant."""
    notes = []
    n_envs = getattr(env, "n_envs", 1) * (general.n_workers if general.mp_backend == "ray" else 1)
    if general.mode == "train" and 0 < general.max_env_steps < 10 * n_envs:
        notes.append(
            f"general_cfg.max_env_steps {general.max_env_steps} allows fewer than 10 vector steps "
            f"of {n_envs} envs; lower env_cfg.n_envs or raise max_env_steps"
        )
    if general.online_eval and general.online_eval_episode > 1000:
        notes.append(
            f"general_cfg.online_eval_episode {general.online_eval_episode}: every evaluation "
            "plays that many episodes; 10 to 100 are usual"
        )
    return notes


def _trained_config(
    general: GeneralConfig,
    origins: dict[tuple[str, str], str],
    source: str,
    checkpoint_config: Callable[[Path], dict[str, Any]] | None,
) -> tuple[dict[str, Any] | None, str | None]:
    """Test/render/collect from a checkpoint: its config sections and a label for messages;
    ``algo_name`` and ``env_name`` are taken from it (an explicit contradicting value is an
    error). (None, None) for other runs."""
    if not (
        general.mode != "train"
        and general.load_checkpoint
        and general.load_path
        and checkpoint_config is not None
    ):
        return None, None
    path = resolve_load_path(general, origins.get(("general_cfg", "load_path"), source))
    saved = checkpoint_config(path)
    trained = f"checkpoint {path}"
    for key in ("algo_name", "env_name"):
        value = str(saved["general_cfg"][key])
        if ("general_cfg", key) in origins and getattr(general, key).lower() != value.lower():
            raise ConfigError(
                f"{origins[('general_cfg', key)]}: general_cfg.{key}: {getattr(general, key)}"
                f" contradicts {trained}, trained with {value}; remove general_cfg.{key} "
                "(test, render and collect take it from the checkpoint)"
            )
        setattr(general, key, value)
    return saved, trained


def _check_contradictions(
    before: dict[str, Any], after: dict[str, Any], origins: dict[tuple[str, str], str], trained
) -> None:
    for (section, key), origin in origins.items():
        if section == "algo_cfg" and after.get(key) != before.get(key):
            raise ConfigError(
                f"{origin}: algo_cfg.{key}: {after[key]!r} contradicts {trained}, trained "
                f"with {before[key]!r}; remove algo_cfg.{key} (test, render and collect take "
                "the algorithm config from the checkpoint)"
            )


def _apply(obj: BaseConfig, section: str, layers: list[tuple[str, dict[str, Any]]]) -> None:
    for origin, values in layers:
        try:
            obj.update(values)
        except FieldError as err:
            raise ConfigError(f"{origin}: {section}.{err.key}: {err.message}") from None


def resolve_load_path(general: GeneralConfig, origin: str = "config") -> Path:
    """The checkpoint file that ``load_path`` names: a file, or a task directory (or its
    ``models/``), where training resumes from ``last.pt`` and test, render and collect use
    ``best.pt`` (each falling back to the other, then to the newest checkpoint)."""
    order = ("last.pt", "best.pt") if general.mode == "train" else ("best.pt", "last.pt")
    return _checkpoint_file(general, "load_path", order, origin)


def resolve_init_from(general: GeneralConfig, origin: str = "config") -> Path:
    """The checkpoint file that ``init_from`` names: a file, or a task directory's ``best.pt``
    (falling back to ``last.pt``, then to the newest checkpoint)."""
    return _checkpoint_file(general, "init_from", ("best.pt", "last.pt"), origin)


def _checkpoint_file(general: GeneralConfig, key: str, order: tuple[str, ...], origin: str) -> Path:
    value = getattr(general, key)
    raw = Path(str(value)).expanduser()
    candidates = [raw] if raw.is_absolute() else [raw, Path(general.tasks_dir) / raw]
    path = next((c for c in candidates if c.exists()), None)
    if path is None:
        raise ConfigError(
            f"{origin}: general_cfg.{key}: {value} does not exist; give a task "
            f"directory under {general.tasks_dir}/ or a checkpoint file"
        )
    if path.is_file():
        return path
    models = path / "models" if (path / "models").is_dir() else path
    for name in order:
        if (models / name).is_file():
            return models / name
    checkpoints = sorted(models.glob("*.pt"), key=lambda p: p.stat().st_mtime)
    if not checkpoints:
        raise ConfigError(
            f"{origin}: general_cfg.{key}: no checkpoint (*.pt) in {models}; "
            "train with this task directory first or give a checkpoint file"
        )
    return checkpoints[-1]


def describe_keys() -> str:
    """Every key of every section with its default and docstring (for --keys)."""
    lines = []
    sections: list[tuple[str, type[BaseConfig]]] = [("general_cfg", GeneralConfig)]
    for name in available("algos"):
        sections.append((f"algo_cfg (algo_name: {name})", _section_class("algos", name, "")[1]))
    for name in available("envs"):
        sections.append((f"env_cfg (env_name: {name})", _section_class("envs", name, "")[1]))
    for title, cls in sections:
        lines.append(f"{title}:")
        defaults = cls().to_dict()
        docs = cls.docs()
        for f in dataclasses.fields(cls):
            default = yaml.safe_dump(defaults[f.name], default_flow_style=True).strip()
            default = default.removesuffix("\n...").removesuffix("...").strip()
            lines.append(f"  {f.name} = {default}\n      {docs.get(f.name, '')}")
        lines.append("")
    return "\n".join(lines)
