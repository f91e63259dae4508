"""sb3-contrib QR-DQN on CartPole-v1 with the RL Zoo's hyperparameters (rl-zoo3
hyperparams/qrdqn.yml, CartPole-v1: those of its DQN entry plus n_quantiles 10).

Timed like the other peer scripts: every ``--every`` env steps, 10 deterministic episodes on a
separate env; ``total_s`` is the time from process start to the first evaluation >= 475.

    ~/.cache/peers-sb3contrib/bin/python benchmarks/peers/sb3_qrdqn_cartpole.py --seed 1
"""

from __future__ import annotations

import time

import gymnasium as gym  # noqa: E402
from common import emit, parse_args, set_threads, since_start
from sb3_contrib import QRDQN  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402
from stable_baselines3.common.monitor import Monitor  # noqa: E402

T_IMPORT = since_start()
ZOO_N_TIMESTEPS = 50_000


def hyperparameters(cap: int) -> dict:
    # the zoo's exploration: eps 1 -> 0.04 over 0.16 * 5e4 = 8000 steps; that absolute
    # schedule is kept while running up to `cap` steps
    return dict(
        learning_rate=2.3e-3,
        batch_size=64,
        buffer_size=100_000,
        learning_starts=1000,
        gamma=0.99,
        target_update_interval=10,
        train_freq=256,
        gradient_steps=128,
        exploration_fraction=0.16 * ZOO_N_TIMESTEPS / cap,
        exploration_final_eps=0.04,
        policy_kwargs=dict(net_arch=[256, 256], n_quantiles=10),
    )


class Solve(BaseCallback):
    def __init__(self, seed: int, every: int):
        super().__init__()
        self.env = Monitor(gym.make("CartPole-v1"))
        self.env.reset(seed=seed + 10_000)
        self.every, self.next, self.history, self.solved = every, every, [], None

    def _on_step(self) -> bool:
        if self.num_timesteps < self.next:
            return True
        self.next += self.every
        mean, _ = evaluate_policy(self.model, self.env, n_eval_episodes=10, deterministic=True)
        self.history.append([self.num_timesteps, round(float(mean), 1)])
        if mean >= 475:
            self.solved = dict(env_steps=self.num_timesteps, total_s=round(since_start(), 2))
            return False
        return True


def main() -> None:
    args = parse_args()
    set_threads()
    env = make_vec_env("CartPole-v1", n_envs=1, seed=args.seed)
    hp = hyperparameters(args.cap)
    model = QRDQN("MlpPolicy", env, **hp, seed=args.seed, device="cpu", verbose=0)
    cb = Solve(args.seed, args.every)
    t_setup = since_start()
    start = time.perf_counter()
    model.learn(total_timesteps=args.cap, callback=cb)
    s = cb.solved or dict(env_steps=model.num_timesteps, total_s=round(since_start(), 2))
    emit(
        dict(
            bench="sb3_contrib_qrdqn_cartpole",
            seed=args.seed,
            solved=cb.solved is not None,
            **s,
            loop_s=round(time.perf_counter() - start, 2),
            import_s=round(T_IMPORT, 2),
            setup_s=round(t_setup - T_IMPORT, 2),
            evals=cb.history,
        )
    )


if __name__ == "__main__":
    main()
