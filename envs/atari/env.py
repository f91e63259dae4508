"""Environment factory of the ``atari`` family.

- Training (:func:`make_vector`): ale-py's native vector env (``AtariVectorEnv``: C++ threads
  with the DeepMind preprocessing built in), or envpool's, behind :class:`AtariVector`, which
  gives the runtime what it expects of a training vector env: same-step autoreset with dense
  ``final_obs``, learning signals (life losses as terminations, clipped rewards when configured)
  and the true games in ``info["episode"]`` / ``info["_episode"]`` (raw score and length of
  every game that ended; the collector records those).
- Evaluation, test, render and collect (:func:`make_env`): one whole-game env with the same
  preprocessing in gymnasium's wrappers (``AtariPreprocessing`` + ``FrameStackObservation``),
  never episodic-life, never clipped; its ``render()`` is the full-colour game screen. With
  ``noop_max: 0`` and no sticky actions it gives the same observations as the training env
  (tested).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

from envs.atari.config import EnvConfig, ale_module, envpool_id, game_of


def env_label(cfg: EnvConfig) -> str:
    """Short name used in task-directory names (no path separators)."""
    return cfg.id.replace("/", "-")


class FireResetPreprocessing(AtariPreprocessing):
    """``AtariPreprocessing`` that presses FIRE for one frame after the no-op reset, as ale-py's
    vector env does (``use_fire_reset``), so that evaluation starts like training."""

    def __init__(self, env: gym.Env, **kwargs: Any):
        super().__init__(env, **kwargs)
        self.fire = "FIRE" in env.unwrapped.get_action_meanings()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = super().reset(seed=seed, options=options)
        if self.fire:
            import ale_py

            self.ale.act(ale_py.Action.FIRE)
            self.ale.getScreenGrayscale(self.obs_buffer[0])
            self.obs_buffer[1].fill(0)
            obs = self._get_obs()
        return obs, info


def make_env(cfg: EnvConfig, max_step: int = -1, render_mode: str | None = None) -> gym.Env:
    """One whole-game env (raw scores, no episodic life); ``render_mode`` overrides
    cfg.render_mode."""
    ale_module()
    frames = cfg.max_frames if max_step <= 0 else min(cfg.max_frames, max_step * cfg.frame_skip)
    env = gym.make(
        cfg.id,
        frameskip=1,  # the preprocessing skips frames (and max-pools the last two)
        repeat_action_probability=cfg.repeat_action_probability,
        full_action_space=cfg.full_action_space,
        max_num_frames_per_episode=frames,
        render_mode=render_mode,
    )
    wrapper = FireResetPreprocessing if cfg.fire_reset else AtariPreprocessing
    env = wrapper(
        env,
        noop_max=cfg.noop_max,
        frame_skip=cfg.frame_skip,
        screen_size=cfg.screen_size,
        terminal_on_life_loss=False,
        grayscale_obs=True,
        scale_obs=False,
    )
    return FrameStackObservation(env, cfg.frame_stack, padding_type="zero")


class AtariVector(gym.vector.VectorEnv):
    """A native Atari vector env as the runtime's training env.

    ``base`` is ale-py's ``AtariVectorEnv`` (or envpool's adapter) with same-step autoreset,
    raw rewards and, for episodic life, a termination at every life loss while the game goes on.
    This wrapper clips the rewards it returns (``reward_clipping``) and reports each finished
    game in ``info["episode"] = {"r": raw scores, "l": lengths}`` with the mask
    ``info["_episode"]`` (gymnasium's RecordEpisodeStatistics convention): a game ends when its
    episode ends without a life lost (a new game has all its lives again), not at a life
    loss.
    """

    def __init__(self, base: gym.vector.VectorEnv, reward_clipping: bool):
        self.base = base
        self.num_envs = base.num_envs
        self.single_observation_space = base.single_observation_space
        self.single_action_space = base.single_action_space
        self.observation_space = base.observation_space
        self.action_space = base.action_space
        self.metadata = {**base.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}
        self.reward_clipping = reward_clipping
        self.game_return = np.zeros(self.num_envs, np.float64)
        self.game_length = np.zeros(self.num_envs, np.int64)
        self.lives = np.zeros(self.num_envs, np.int64)

    def reset(self, *, seed=None, options=None):
        if seed is not None and not isinstance(seed, int):
            seed = np.asarray(seed, np.int64) % 2**31  # ALE seeds are 32-bit signed ints
        obs, info = self.base.reset(seed=seed, options=options)
        self.game_return[:] = 0.0
        self.game_length[:] = 0
        self.lives[:] = info["lives"]
        return obs, info

    def step(self, actions):
        obs, rewards, terminated, truncated, info = self.base.step(np.asarray(actions))
        self.game_return += rewards
        self.game_length += 1
        lives = info["lives"]
        # an episode that ends without losing a life ends the game: a new game starts with all
        # lives (same-step autoreset), a life loss leaves one fewer
        game_over = (terminated | truncated) & (lives >= self.lives)
        self.lives[:] = lives
        info["_episode"] = game_over
        info["episode"] = {"r": self.game_return.copy(), "l": self.game_length.copy()}
        self.game_return[game_over] = 0.0
        self.game_length[game_over] = 0
        rewards = rewards.astype(np.float32)
        if self.reward_clipping:
            np.clip(rewards, -1.0, 1.0, out=rewards)
        return obs, rewards, terminated, truncated, info

    def close(self, **kwargs):
        self.base.close()


def ale_vector(cfg: EnvConfig, n_envs: int, max_frames: int) -> gym.vector.VectorEnv:
    from ale_py.vector_env import AtariVectorEnv

    ale_module()
    return AtariVectorEnv(
        game_of(cfg.id),
        n_envs,
        num_threads=cfg.num_threads,
        autoreset_mode=AutoresetMode.SAME_STEP,
        max_num_frames_per_episode=max_frames,
        repeat_action_probability=cfg.repeat_action_probability,
        full_action_space=cfg.full_action_space,
        img_height=cfg.screen_size,
        img_width=cfg.screen_size,
        stack_num=cfg.frame_stack,
        frameskip=cfg.frame_skip,
        maxpool=True,
        noop_max=cfg.noop_max,
        # ale-py's episodic_life restarts the game at every life loss; life_loss_info ends the
        # episode there and lets the game go on, as in the DQN paper
        episodic_life=False,
        life_loss_info=cfg.episodic_life,
        reward_clipping=False,  # clipped in AtariVector; the games' raw scores are recorded
        use_fire_reset=cfg.fire_reset,
    )


def make_vector(cfg, n_envs: int) -> AtariVector:
    """The training vector env of the run's config (``cfg`` is the merged Config)."""
    env_cfg: EnvConfig = cfg.env
    max_step = cfg.general.max_step
    frames = env_cfg.max_frames
    if max_step > 0:
        frames = min(frames, max_step * env_cfg.frame_skip)
    if env_cfg.backend == "envpool":
        from envs.atari.envpool_backend import EnvpoolVector

        base = EnvpoolVector(envpool_id(env_cfg.id), env_cfg, n_envs, frames)
    else:
        base = ale_vector(env_cfg, n_envs, frames)
    return AtariVector(base, env_cfg.reward_clipping)
