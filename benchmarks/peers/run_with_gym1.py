"""Run a CleanRL script written for gymnasium 0.29's vector API on gymnasium 1.x, unmodified:
SyncVectorEnv autoresets in the same step and reports final observations and infos under the
old keys ("final_observation", and "final_info" as a list of per-env dicts or None).

    python run_with_gym1.py path/to/sac_continuous_action.py --env-id HalfCheetah-v5

The script's folder goes first on sys.path, so its ``cleanrl_utils/`` beside it is imported.
"""

import runpy
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np


class SyncVectorEnv(gym.vector.SyncVectorEnv):
    def __init__(self, env_fns, **kwargs):
        super().__init__(env_fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP, **kwargs)

    def step(self, actions):
        obs, rewards, terminated, truncated, info = super().step(actions)
        if "final_obs" in info:
            done = info.pop("_final_obs")
            info["final_observation"] = info.pop("final_obs")
            final = info.pop("final_info")
            info.pop("_final_info", None)
            per_env = []
            for i in range(self.num_envs):
                if not done[i]:
                    per_env.append(None)
                    continue
                item = {}
                if "episode" in final:
                    item["episode"] = {
                        k: np.asarray(v)[i]
                        for k, v in final["episode"].items()
                        if not k.startswith("_")
                    }
                per_env.append(item)
            info["final_info"] = per_env
        return obs, rewards, terminated, truncated, info


gym.vector.SyncVectorEnv = SyncVectorEnv
script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path.insert(0, str(Path(script).resolve().parent))
runpy.run_path(script, run_name="__main__")
