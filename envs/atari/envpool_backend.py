"""envpool as the Atari family's optional training backend (``env_cfg.backend: envpool``).

envpool autoresets on the step *after* an episode ended (that step's action is ignored and it
returns the first observation of the next episode). :class:`EnvpoolVector` turns this into the
same-step autoreset the runtime expects: when envs finish, it steps just those envs once more
(envpool resets them), returns their new first observations and puts the final ones in a dense
``info["final_obs"]``, as ale-py does. Seeds are fixed when the pool is made, so the pool is made
by ``reset`` (with its seeds). Episodic life is envpool's own (the episode ends
at a life loss, the game goes on); rewards are raw (clipped by ``AtariVector``).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from envs.atari.config import EnvConfig
from envs.vector import set_spaces


class EnvpoolVector(gym.vector.VectorEnv):
    def __init__(self, task: str, cfg: EnvConfig, n_envs: int, max_frames: int):
        import envpool

        self.options = dict(
            env_type="gymnasium",
            num_envs=n_envs,
            batch_size=n_envs,
            num_threads=cfg.num_threads,
            max_episode_steps=max(1, max_frames // cfg.frame_skip),
            stack_num=cfg.frame_stack,
            frame_skip=cfg.frame_skip,
            noop_max=cfg.noop_max,
            episodic_life=cfg.episodic_life,
            reward_clip=False,
            use_fire_reset=cfg.fire_reset,
            img_height=cfg.screen_size,
            img_width=cfg.screen_size,
            repeat_action_probability=cfg.repeat_action_probability,
            full_action_space=cfg.full_action_space,
            gray_scale=True,
        )
        self.task = task
        self.pool = None  # made by reset, which has the seeds
        spec = envpool.make_spec(task, **{k: v for k, v in self.options.items() if k != "env_type"})
        set_spaces(self, spec.gymnasium_observation_space, spec.gymnasium_action_space, n_envs)

    def reset(self, *, seed=None, options=None):
        import envpool

        if seed is not None or self.pool is None:
            if seed is None:  # unseeded: fresh entropy
                seed = np.random.default_rng().integers(2**31, size=self.num_envs)
            seeds = np.broadcast_to(np.asarray(seed, np.int64) % 2**31, (self.num_envs,))
            if np.ndim(seed) == 0:  # an int seeds consecutive envs, as gymnasium's do
                seeds = seeds + np.arange(self.num_envs)
            if self.pool is not None:
                self.pool.close()
            self.pool = envpool.make(
                self.task, seed=int(seeds[0]), env_seed=[int(s) for s in seeds], **self.options
            )
        obs, info = self.pool.reset()
        return np.array(obs), {"lives": np.array(info["lives"])}

    def step(self, actions):
        obs, rewards, terminated, truncated, info = self.pool.step(np.asarray(actions))
        obs = np.array(obs)
        lives = np.array(info["lives"])
        out = {"lives": lives}
        done = terminated | truncated
        if done.any():
            ids = np.flatnonzero(done)
            out["final_obs"] = obs.copy()  # dense, like ale-py's (rows of finished envs count)
            new_obs, _, _, _, new_info = self.pool.step(
                np.zeros(len(ids), np.int64), env_id=ids.astype(np.int32)
            )
            order = np.asarray(new_info["env_id"])
            obs[order] = new_obs
            lives[order] = new_info["lives"]
        return obs, np.asarray(rewards), np.asarray(terminated), np.asarray(truncated), out

    def close(self, **kwargs):
        if self.pool is not None:
            self.pool.close()
