"""Config of the ``atari`` environment family (``env_cfg`` when ``general_cfg.env_name: atari``).

The DeepMind preprocessing (Mnih et al. 2015; Machado et al. 2018 for sticky actions) with the
usual defaults: up to 30 no-op actions at reset, an action repeated for 4 frames with the last two
max-pooled, 84x84 grayscale frames, a stack of the last 4, FIRE at reset where the game needs it.
Training envs also end an episode at every life loss and clip rewards to [-1, 1]; evaluation,
test, render and collect play whole games with raw scores.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Literal

from config.base import BaseConfig, FieldError, require, suggest


@dataclass
class EnvConfig(BaseConfig):
    # the env as the policy sees it (observations, actions, dynamics); how a run trains on it
    # (episodic_life, reward_clipping, n_envs, backend) is not part of a checkpoint's env
    trained_keys = (
        "id",
        "frame_skip",
        "noop_max",
        "screen_size",
        "frame_stack",
        "fire_reset",
        "repeat_action_probability",
        "full_action_space",
    )

    id: str = "ALE/Pong-v5"
    """An ALE game id (ALE/Pong-v5, ALE/Breakout-v5, ...; only the game is taken from it: frame
    skip and sticky actions are set below)."""
    backend: Literal["ale", "envpool"] = "ale"
    """Training vector env: ale (ale-py's AtariVectorEnv, C++ threads) or envpool (where it
    installs: pip install envpool)."""
    n_envs: int = 8
    """Vectorized training envs (per worker under Ray)."""
    num_threads: int = 0
    """C++ threads stepping the training envs (0: one per CPU core, at most n_envs)."""
    n_eval_envs: int = 4
    """Envs stepped together during evaluation (episodes beyond this run in further rounds)."""
    frame_skip: int = 4
    """Frames each action is repeated for (the observation max-pools the last two)."""
    noop_max: int = 30
    """Reset with a random number of no-op actions, up to this many (0: none)."""
    screen_size: int = 84
    """Observation frames are screen_size x screen_size grayscale."""
    frame_stack: int = 4
    """Frames stacked into one observation (zeros before the first frame of an episode)."""
    fire_reset: bool = True
    """Press FIRE at reset in games that wait for it (Breakout, ...)."""
    repeat_action_probability: float = 0.0
    """Sticky actions: the previous action is repeated with this probability each frame
    (0.25 in Machado et al. 2018 and the v5 ids; 0 in the DQN and CleanRL/RL Zoo baselines)."""
    full_action_space: bool = False
    """All 18 actions instead of the game's minimal set."""
    max_frames: int = 108_000
    """Frames per game before truncation (108000 = 30 minutes of play)."""
    episodic_life: bool = True
    """Training only: a life loss ends the episode for learning (terminated) while the game goes
    on; episodes.csv still records whole games."""
    reward_clipping: bool = True
    """Training only: rewards clipped to [-1, 1] for learning; episodes.csv records raw scores."""
    render_mode: Literal["human", "rgb_array"] | None = None
    """null: no rendering; human: on screen; rgb_array: GIFs of the full-colour game screen
    (videos/video.gif in test/render/collect, videos/best.gif of each new best in training)."""
    gif_fps: int = 30
    """Frame rate of saved GIFs."""
    gif_episodes: int = 1
    """Test/render/collect: the first this many episodes run on the render env."""

    def check(self) -> None:
        require(self.n_envs > 0, "n_envs", "must be > 0")
        require(self.num_threads >= 0, "num_threads", "must be >= 0 (0: one per core)")
        require(self.n_eval_envs > 0, "n_eval_envs", "must be > 0")
        require(self.frame_skip > 0, "frame_skip", "must be > 0")
        require(self.noop_max >= 0, "noop_max", "must be >= 0")
        require(self.screen_size >= 16, "screen_size", "must be >= 16")
        require(self.frame_stack >= 1, "frame_stack", "must be >= 1")
        require(
            0.0 <= self.repeat_action_probability <= 1.0,
            "repeat_action_probability",
            "must be in [0, 1]",
        )
        require(self.max_frames > 0, "max_frames", "must be > 0")
        require(self.gif_fps > 0, "gif_fps", "must be > 0")
        require(self.gif_episodes > 0, "gif_episodes", "must be > 0")
        game_of(self.id)
        if self.backend == "envpool":
            # envpool 1.2 crashes (segmentation fault) at reset without no-ops
            require(self.noop_max >= 1, "noop_max", "backend envpool needs noop_max >= 1")
            envpool_id(self.id)


def ale_module():
    """ale_py with its ids registered in gymnasium, or a FieldError naming the extra."""
    import gymnasium as gym

    try:
        ale_py = importlib.import_module("ale_py")
        importlib.import_module("cv2")  # gymnasium's AtariPreprocessing (evaluation envs)
    except ImportError as err:
        raise FieldError(
            "id", f"Atari needs ale-py and OpenCV ({err}): pip install 'rldojo[atari]'"
        ) from None
    gym.register_envs(ale_py)
    return ale_py


def game_of(env_id: str) -> str:
    """The ROM name of an ALE id (``ALE/Pong-v5`` -> ``pong``); FieldError for other ids."""
    import gymnasium as gym

    ale_module()
    ale_ids = [k for k, s in gym.registry.items() if str(s.entry_point).startswith("ale_py")]
    if env_id not in ale_ids:
        v5 = [k for k in ale_ids if k.startswith("ALE/") and k.endswith("-v5")]
        hint = suggest(env_id, v5) or "; ids look like ALE/Pong-v5 (gymnasium.pprint_registry())"
        raise FieldError("id", f"unknown Atari id {env_id!r}" + hint)
    return str(gym.spec(env_id).kwargs["game"])


def envpool_id(env_id: str) -> str:
    """envpool's name of the game (``ALE/Pong-v5`` -> ``Pong-v5``); FieldError without envpool."""
    try:
        envpool = importlib.import_module("envpool")
    except ImportError:
        raise FieldError(
            "backend", "envpool is not installed (pip install envpool); use backend: ale"
        ) from None
    name = env_id.split("/")[-1].replace("NoFrameskip-v4", "-v5").replace("-v4", "-v5")
    if name not in envpool.list_all_envs():
        raise FieldError("backend", f"envpool has no {name}; use backend: ale")
    return name
