"""Typed, validated config sections.

Every config section is a dataclass deriving from :class:`BaseConfig`. Each field carries a
docstring (the string literal right under it), which ``python main.py --keys`` prints.

Values coming from YAML or the command line are coerced to the field's declared type where
that loses nothing (PyYAML reads ``1e-3`` as a string, ``1e5`` for an int field is fine), and
rejected otherwise. Cross-field and range checks live in each section's ``check()``.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import math
import textwrap
import types
import typing
from functools import cache
from typing import Any, Literal, Union


class UserError(Exception):
    """A problem the user can fix (bad config, checkpoint, dataset, space, resources).

    The message is one line that says what is wrong and how to fix it; the command line prints
    it and exits with code 2 without a traceback. Every layer's user-facing error derives from
    this class, so callers (the CLI, the run API's users) catch one type.
    """


class FieldError(ValueError):
    """A problem with one key; ``key`` is the dotted path inside its section."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
        self.message = message


def require(condition: bool, key: str, message: str) -> None:
    """Raise :class:`FieldError` for ``key`` unless ``condition`` holds."""
    if not condition:
        raise FieldError(key, message)


# Names users bring from other libraries, mapped to ours where the spelling is far off.
SYNONYMS = {
    "learning_rate": "lr",
    "discount": "gamma",
    "env_id": "id",
    "num_envs": "n_envs",
    "minibatch_size": "batch_size",
    "ent_coeff": "ent_coef",
    "total_timesteps": "max_env_steps",
}


def suggest(word: str, choices: typing.Iterable[str]) -> str:
    """A '; did you mean ...?' hint, or '' when nothing is close."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    key = word.lower().replace("-", "_")
    close: list[str] = []
    if key in lowered:
        close = [lowered[key]]
    elif SYNONYMS.get(key) in choices:
        close = [SYNONYMS[key]]
    else:
        # initials catch abbreviations: `learning_rate` -> `lr`
        parts = [p for p in key.split("_") if p]
        initials = "".join(p[0] for p in parts)
        close = [c for c in choices if len(parts) > 1 and c.lower() == initials]
        close = close or difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


@dataclasses.dataclass
class BaseConfig:
    """Base of every config section: coercion from plain data, docs and validation."""

    trained_keys: typing.ClassVar[tuple[str, ...] | None] = None
    """Keys that test, render and collect take from the checkpoint's copy of this section (None:
    all). An env family lists the keys that define the env, not how a run uses it."""

    def check(self) -> None:
        """Range and consistency checks; raise :class:`FieldError` naming the key."""

    @classmethod
    def from_value(cls, value: Any, path: str) -> BaseConfig:
        """Build an instance from a mapping (used for nested sections and list items)."""
        if not isinstance(value, dict):
            raise FieldError(path, f"expected a mapping of {cls.__name__} keys, got {value!r}")
        obj = cls()
        obj.update(value, path)
        return obj

    def update(self, values: dict[str, Any], prefix: str = "") -> None:
        """Set fields from ``values`` with type coercion; unknown keys raise."""
        hints = field_types(type(self))
        for key, value in values.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in hints:
                raise FieldError(path, "unknown key" + suggest(str(key), hints))
            setattr(self, key, coerce(value, hints[key], path))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for YAML), nested sections included."""
        return _plain(self)

    @classmethod
    def docs(cls) -> dict[str, str]:
        return field_docs(cls)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseConfig):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@cache
def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (the string right under each field), inherited ones included."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass is BaseConfig:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, path: str) -> Any:  # noqa: C901 - one branch per type form
    """Convert ``value`` to type ``tp`` where nothing is lost, else raise FieldError."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("null", "none", "~")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, path)
            except FieldError as err:
                errors.append(err)
        if len(errors) == 1 and "finite" in errors[0].message:  # `float | None`: say why
            raise FieldError(path, errors[0].message + " (or null)")
        raise FieldError(path, f"expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if isinstance(value, bool) and ("on" if value else "off") in args:
            return "on" if value else "off"  # YAML 1.1 reads a bare off/on as a boolean
        if value in args and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            for a in args:
                if isinstance(a, str) and a.lower() == value.lower():
                    return a
        choices = ", ".join(repr(a) for a in args)
        raise FieldError(path, f"{value!r} is not allowed; choose one of {choices}")
    if value is None:
        raise FieldError(path, f"expected {_type_name(tp)}, got null")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise FieldError(path, f"expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise FieldError(path, f"expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        number = _number(value)
        if number is not None and float(number).is_integer():
            return int(number)
        raise FieldError(path, f"expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise FieldError(path, f"expected a number, got {value!r}")
        number = _number(value)
        if number is None:
            raise FieldError(path, f"expected a number, got {value!r}")
        if not math.isfinite(number):
            raise FieldError(path, f"expected a finite number, got {value!r}")
        return float(number)
    if tp is str:
        if isinstance(value, str):
            return value
        raise FieldError(path, f"expected a string, got {value!r}")
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise FieldError(path, f"expected a list, got {value!r}")
        item = args[0] if args else Any
        return [coerce(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise FieldError(path, f"expected a mapping, got {value!r}")
        return dict(value)
    if isinstance(tp, type) and issubclass(tp, BaseConfig):
        if isinstance(value, tp):
            return value
        return tp.from_value(value, path)
    raise TypeError(f"unsupported config type {tp!r} at {path}")


def _number(value: Any) -> float | int | None:
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
