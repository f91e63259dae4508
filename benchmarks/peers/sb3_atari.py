"""Stable-Baselines3 PPO or DQN on an Atari game with the RL Zoo's hyperparameters, timed.

Runs in a peer virtual environment (see ``benchmarks/peers/setup_atari``), never in rldojo's.
Settings: rl-baselines3-zoo ``hyperparams/ppo.yml`` and ``dqn.yml``, block ``atari``
(AtariWrapper: noop reset 30, frame skip 4 with max-pooling, episodic life, FIRE reset,
84x84 grayscale, reward clipping; VecFrameStack 4; CnnPolicy = Nature CNN):

- PPO: 8 envs, n_steps 128, n_epochs 4, batch_size 256, lr linear from 2.5e-4, clip_range
  linear from 0.1, vf_coef 0.5, ent_coef 0.01;
- DQN: 1 env, buffer 100k, lr 1e-4, batch 32, train_freq 4, gradient_steps 1,
  target_update_interval 1000, exploration_fraction 0.1 to 0.01; ``--learning-starts``
  replaces the zoo's 100k so that a short run measures learning.

Prints one JSON line: env steps, seconds inside ``learn`` and env steps per second.

    python sb3_atari.py --algo ppo --steps 4096
"""

from __future__ import annotations

import argparse
import json
import os
import time

import ale_py  # noqa: F401  (registers the Atari ids with gymnasium)
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.vec_env import VecFrameStack


def linear(start: float):
    return lambda progress: progress * start  # SB3 passes the remaining fraction (1 -> 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--algo", choices=["ppo", "dqn"], default="ppo")
    parser.add_argument("--env", default="PongNoFrameskip-v4")
    parser.add_argument("--steps", type=int, default=4096)
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if "PEERS_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["PEERS_THREADS"]))
    n_envs = 8 if args.algo == "ppo" else 1
    env = VecFrameStack(make_atari_env(args.env, n_envs=n_envs, seed=args.seed), n_stack=4)
    if args.algo == "ppo":
        model = PPO(
            "CnnPolicy",
            env,
            n_steps=128,
            n_epochs=4,
            batch_size=256,
            learning_rate=linear(2.5e-4),
            clip_range=linear(0.1),
            vf_coef=0.5,
            ent_coef=0.01,
            seed=args.seed,
            device="cpu",
        )
    else:
        model = DQN(
            "CnnPolicy",
            env,
            buffer_size=100_000,
            learning_rate=1e-4,
            batch_size=32,
            learning_starts=args.learning_starts,
            target_update_interval=1000,
            train_freq=4,
            gradient_steps=1,
            exploration_fraction=0.1,
            exploration_final_eps=0.01,
            optimize_memory_usage=False,
            seed=args.seed,
            device="cpu",
        )
    start = time.perf_counter()
    model.learn(total_timesteps=args.steps)
    seconds = time.perf_counter() - start
    steps = model.num_timesteps
    print(json.dumps({"env_steps": steps, "seconds": seconds, "sps": steps / seconds}))


if __name__ == "__main__":
    main()
