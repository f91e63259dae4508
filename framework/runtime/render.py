"""Rendering: episodes shown on screen (``human``) or saved as GIFs (``rgb_array``).

Rendering always uses ONE extra non-vectorized env made with the render mode
(``make_single(cfg, render_mode)``); training and evaluation envs never render, and nothing
here runs when ``env_cfg.render_mode`` is null (except ``mode: render``, which implies
``rgb_array``).

GIF frames: one frame after each reset and one after each step, so an episode of T steps
gives T + 1 frames and a GIF of episodes T_1..T_k has N = sum(T_i) + k frames of 1/gif_fps
seconds. GIF delays are whole centiseconds: frame delays alternate (30, 30, 40 ms at 30 fps)
so that every frame ends within 5 ms of its real time, and the GIF lasts N / gif_fps to within
5 ms. The GIF encoder (Pillow) stores a run of identical consecutive frames as one longer
frame, so a GIF may hold fewer images, with the same playback time.

Files (in the task directory): ``videos/video.gif`` (test/render/collect modes: the first
``env_cfg.gif_episodes`` episodes) and ``videos/best.gif`` (training: one episode of the
policy each time online evaluation finds a new best).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

from envs.vector import make_single
from framework.records.io import atomic_write
from framework.runtime.evaluator import Evaluator
from framework.runtime.seeding import RENDER

HEADLESS_SDL_DRIVERS = ("dummy", "offscreen")


def effective_render_mode(cfg) -> str | None:
    """``env_cfg.render_mode``, except that ``mode: render`` with none set means rgb_array."""
    mode = getattr(cfg.env, "render_mode", None)
    if mode is None and cfg.general.mode == "render":
        return "rgb_array"
    return mode


def display_error(render_mode: str | None) -> str | None:
    """Why ``render_mode`` cannot work here (a one-line message), or None when it can."""
    if render_mode != "human" or not sys.platform.startswith("linux"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    if os.environ.get("SDL_VIDEODRIVER", "").lower() in HEADLESS_SDL_DRIVERS:
        return None
    return (
        "human needs a display and none was found (DISPLAY/WAYLAND_DISPLAY unset); "
        "use render_mode: rgb_array to save a GIF instead, or set SDL_VIDEODRIVER=dummy"
    )


class FrameRecorder(gym.Wrapper):
    """Keeps the frame after every reset and step when the env renders ``rgb_array``
    (``human`` envs draw themselves on reset/step; nothing is kept)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.frames: list[np.ndarray] = []
        self.keep = env.render_mode == "rgb_array"

    def reset(self, **kwargs):
        out = self.env.reset(**kwargs)
        if self.keep:
            self.frames.append(np.asarray(self.env.render()))
        return out

    def step(self, action):
        out = self.env.step(action)
        if self.keep:
            self.frames.append(np.asarray(self.env.render()))
        return out


def make_render_env(cfg, render_mode: str) -> FrameRecorder:
    if render_mode == "rgb_array" and display_error("human"):
        # off-screen drawing needs no display; stops SDL probing for one (and complaining)
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    return FrameRecorder(make_single(cfg, render_mode))


def save_gif(path: str | Path, frames: list[np.ndarray], fps: int) -> Path:
    """Write ``frames`` (H, W, 3 uint8) as a looping GIF at ``fps`` (atomically)."""
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stack = np.stack(frames)
    durations = gif_durations(len(frames), fps)
    return atomic_write(
        path, lambda f: iio.imwrite(f, stack, extension=".gif", duration=durations, loop=0)
    )


def gif_durations(n: int, fps: int) -> list[int]:
    """Per-frame delays in ms for ``n`` frames at ``fps``. GIF delays are whole centiseconds, so
    1000 / fps ms (33.3 at 30 fps) cannot be stored per frame; each frame ends at its ideal time
    rounded to 10 ms instead (30, 30, 40, ... at 30 fps), so the GIF never drifts by more than
    5 ms from real time and its length is n / fps to within 5 ms."""
    ends = [round((i + 1) * 100 / fps) * 10 for i in range(n)]
    return [b - a for a, b in zip([0, *ends[:-1]], ends)]


def on_new_best(cfg, task, policy) -> Path | None:
    """Learner hook: with a render_mode set, run one deterministic episode of the new best
    policy on a separate render env; ``rgb_array`` saves it as videos/best.gif."""
    render_mode = getattr(cfg.env, "render_mode", None)
    if render_mode is None:
        return None
    env = make_render_env(cfg, render_mode)
    evaluator = Evaluator(cfg, 0, cfg.general.seed, RENDER, env, render_episodes=1)
    try:
        evaluator.run(lambda o: policy.act(o, "greedy").actions, 1)
    finally:
        evaluator.close()
    if not env.frames:
        return None
    return save_gif(task.root / "videos" / "best.gif", env.frames, cfg.env.gif_fps)
