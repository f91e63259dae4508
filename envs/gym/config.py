"""Config of the ``gym`` environment family: any gymnasium id (``env_cfg`` in a YAML)."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any, Literal

from config.base import BaseConfig, FieldError, require, suggest


@dataclass
class WrapperSpec(BaseConfig):
    """A wrapper by name with its keyword arguments: ``{name: StepDelay, delay: 0.002}``."""

    name: str = ""
    """A wrapper of envs/gym/wrappers.py, of gymnasium.wrappers, or `module:Class`."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments (in YAML they may also sit beside `name`)."""

    @classmethod
    def from_value(cls, value, path):
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, dict) or "name" not in value:
            raise FieldError(path, "a wrapper is a name or a mapping with `name` and its arguments")
        kwargs = dict(value.get("kwargs") or {})
        kwargs.update({k: v for k, v in value.items() if k not in ("name", "kwargs")})
        spec = cls(name=str(value["name"]), kwargs=kwargs)
        wrapper = resolve_wrapper(spec.name, path)
        try:
            inspect.signature(wrapper).bind(None, **kwargs)
        except TypeError as err:
            raise FieldError(path, f"bad arguments for wrapper {spec.name}: {err}") from None
        return spec


def resolve_wrapper(name: str, path: str = "wrappers"):
    """The wrapper class for ``name`` (ours, gymnasium's, or ``module:Class``)."""
    from envs.gym.wrappers import WRAPPERS

    if name in WRAPPERS:
        return WRAPPERS[name]
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as err:
            raise FieldError(path, f"cannot import wrapper {name}: {err}") from None
    import gymnasium.wrappers as gw

    if hasattr(gw, name):
        return getattr(gw, name)
    known = list(WRAPPERS) + [n for n in dir(gw) if n[0].isupper()]
    raise FieldError(path, f"unknown wrapper {name!r}" + suggest(name, known))


@dataclass
class EnvConfig(BaseConfig):
    trained_keys = ("id", "make_kwargs", "wrappers")  # the env itself, not how a run uses it

    id: str = "CartPole-v1"
    """Gymnasium id (`module:Id` imports module first, e.g. for third-party envs)."""
    render_mode: Literal["human", "rgb_array"] | None = None
    """null: no rendering; human: on screen (needs a display, or SDL_VIDEODRIVER=dummy);
    rgb_array: frames saved as a GIF, videos/video.gif in test/render/collect modes and
    videos/best.gif of each new best policy in training. One extra env renders; others never."""
    make_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for gymnasium.make (e.g. {continuous: true})."""
    wrappers: list[WrapperSpec] = field(default_factory=list)
    """Wrappers applied in order to every env (training, evaluation, rendering)."""
    n_envs: int = 8
    """Vectorized training envs (per worker under Ray)."""
    vector_mode: Literal["sync", "async", "model", "numpy"] = "sync"
    """sync: envs step in this process; async: one subprocess per env (for slow envs); model:
    gymnasium's toy-text envs (FrozenLake, CliffWalking, Taxi) stepped from their transition
    tables in NumPy, all envs at once: the same episodes as sync, about 15x faster (no wrappers,
    no per-step info); numpy: CartPole's or Pendulum's physics on arrays, all training envs at
    once and all evaluation envs at once: the same episodes as sync, about 10x faster (no
    wrappers; of make_kwargs only max_episode_steps, and CartPole's sutton_barto_reward or
    Pendulum's g)."""
    n_eval_envs: int = 10
    """Envs stepped together during evaluation (episodes beyond this run in further rounds)."""
    gif_fps: int = 30
    """Frame rate of saved GIFs."""
    gif_episodes: int = 1
    """Test/render/collect: the first this many episodes run on the render env (into
    videos/video.gif with rgb_array; on screen with human)."""

    def check(self) -> None:
        require(self.n_envs > 0, "n_envs", "must be > 0")
        require(self.n_eval_envs > 0, "n_eval_envs", "must be > 0")
        require(self.gif_fps > 0, "gif_fps", "must be > 0")
        require(self.gif_episodes > 0, "gif_episodes", "must be > 0")
        check_env_id(self.id)
        if self.vector_mode in ("model", "numpy"):
            import gymnasium as gym

            from envs.gym.model_vector import model_problem
            from envs.gym.numpy_vector import numpy_problem

            try:
                env = gym.make(self.id, **self.make_kwargs)
            except TypeError as err:  # reported with the env's own arguments
                raise FieldError("make_kwargs", f"{self.id} does not accept them: {err}") from None
            if self.vector_mode == "model":
                problem = model_problem(env, self.wrappers)
            else:
                problem = numpy_problem(env, self.make_kwargs, self.wrappers)
            env.close()
            require(
                problem is None, "vector_mode", f"{self.vector_mode} cannot run this env: {problem}"
            )


def register_ale() -> None:
    """Register ale-py's ``ALE/...`` ids with gymnasium (they exist only once ale_py is imported);
    a FieldError naming the extra to install when ale-py is missing."""
    import gymnasium as gym

    try:
        ale_py = importlib.import_module("ale_py")
    except ImportError:
        raise FieldError(
            "id", "ALE/... ids need ale-py: pip install 'rldojo[atari]' (or gymnasium[atari])"
        ) from None
    gym.register_envs(ale_py)


def check_env_id(env_id: str) -> None:
    import gymnasium as gym

    if env_id.startswith("ALE/"):
        register_ale()
    if ":" in env_id:
        module = env_id.split(":")[0]
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise FieldError("id", f"cannot import {module!r} for {env_id!r}: {err}") from None
        return
    if env_id not in gym.registry:
        hint = suggest(env_id, list(gym.registry))
        raise FieldError(
            "id", f"unknown gymnasium id {env_id!r}" + (hint or "; see gymnasium.pprint_registry()")
        )
