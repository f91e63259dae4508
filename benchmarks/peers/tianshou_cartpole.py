"""Tianshou 2.0 C51 or Rainbow on CartPole-v1 with the settings of Tianshou's own CartPole tests
(test/discrete/test_c51.py and test_rainbow.py): hidden sizes [128] * 4, lr 1e-3, gamma 0.9,
51 atoms on [-10, 10], 3-step returns, target update every 320 updates, 8 training envs, 8 env
steps per collection, 0.125 updates per env step, batch 64, replay 20,000, epsilon 0.1 held for
10k steps then decayed linearly to 0.01 by 50k; Rainbow adds dueling noisy layers (std 0.1).

Timed like the other peer scripts: every ``--every`` env steps (Tianshou's epoch), 10
deterministic episodes (epsilon 0, noisy layers on their means) on separate envs; ``total_s``
is the time from process start to the first evaluation >= 475.

    ~/.cache/peers-tianshou/bin/python benchmarks/peers/tianshou_cartpole.py c51 --seed 1
"""

from __future__ import annotations

import sys

from common import emit, parse_args, set_threads, since_start

ALGO = sys.argv.pop(1) if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "c51"
import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from tianshou.algorithm.modelfree.c51 import C51, C51Policy  # noqa: E402
from tianshou.algorithm.modelfree.rainbow import RainbowDQN  # noqa: E402
from tianshou.algorithm.optim import AdamOptimizerFactory  # noqa: E402
from tianshou.data import Collector, CollectStats, VectorReplayBuffer  # noqa: E402
from tianshou.env import DummyVectorEnv  # noqa: E402
from tianshou.trainer import OffPolicyTrainerParams  # noqa: E402
from tianshou.utils.net.common import Net  # noqa: E402
from tianshou.utils.net.discrete import NoisyLinear  # noqa: E402

T_IMPORT = since_start()
HP = dict(
    eps_train=0.1,
    buffer_size=20_000,
    lr=1e-3,
    gamma=0.9,
    num_atoms=51,
    v_min=-10.0,
    v_max=10.0,
    noisy_std=0.1,
    n_step=3,
    target_update_freq=320,
    step_per_collect=8,
    update_per_step=0.125,
    batch_size=64,
    hidden_sizes=[128, 128, 128, 128],
    training_num=8,
)


def main() -> None:
    args = parse_args()
    set_threads()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    env = gym.make("CartPole-v1")
    train_envs = DummyVectorEnv([lambda: gym.make("CartPole-v1")] * HP["training_num"])
    test_envs = DummyVectorEnv([lambda: gym.make("CartPole-v1")] * 10)
    train_envs.seed(args.seed)
    test_envs.seed(args.seed + 10_000)
    kwargs = {}
    if ALGO == "rainbow":

        def noisy_linear(x: int, y: int) -> NoisyLinear:
            return NoisyLinear(x, y, HP["noisy_std"])

        kwargs["dueling_param"] = ({"linear_layer": noisy_linear}, {"linear_layer": noisy_linear})
    net = Net(
        state_shape=env.observation_space.shape,
        action_shape=env.action_space.n,
        hidden_sizes=HP["hidden_sizes"],
        softmax=True,
        num_atoms=HP["num_atoms"],
        **kwargs,
    )
    policy = C51Policy(
        model=net,
        action_space=env.action_space,
        observation_space=env.observation_space,
        num_atoms=HP["num_atoms"],
        v_min=HP["v_min"],
        v_max=HP["v_max"],
        eps_training=HP["eps_train"],
        eps_inference=0.0,  # deterministic evaluation
    )
    cls = RainbowDQN if ALGO == "rainbow" else C51
    algorithm = cls(
        policy=policy,
        optim=AdamOptimizerFactory(lr=HP["lr"]),
        gamma=HP["gamma"],
        n_step_return_horizon=HP["n_step"],
        target_update_freq=HP["target_update_freq"],
    )
    buf = VectorReplayBuffer(HP["buffer_size"], buffer_num=len(train_envs))
    train_collector = Collector[CollectStats](algorithm, train_envs, buf, exploration_noise=True)
    test_collector = Collector[CollectStats](algorithm, test_envs, exploration_noise=True)
    train_collector.reset()
    train_collector.collect(n_step=HP["batch_size"] * HP["training_num"])
    history: list = []
    solved: dict = {}

    def train_fn(epoch: int, env_step: int) -> None:  # the tests' epsilon schedule
        eps = HP["eps_train"]
        if env_step > 50_000:
            eps = 0.1 * eps
        elif env_step > 10_000:
            eps = eps - (env_step - 10_000) / 40_000 * (0.9 * eps)
        policy.set_eps_training(eps)

    def stop_fn(mean_rewards: float) -> bool:
        history.append(round(float(mean_rewards), 1))
        if mean_rewards >= 475 and not solved:
            solved["total_s"] = round(since_start(), 2)
        return mean_rewards >= 475

    t_setup = since_start()
    result = algorithm.run_training(
        OffPolicyTrainerParams(
            training_collector=train_collector,
            test_collector=test_collector,
            max_epochs=max(1, args.cap // args.every),
            epoch_num_steps=args.every,
            collection_step_num_env_steps=HP["step_per_collect"],
            test_step_num_episodes=10,
            batch_size=HP["batch_size"],
            update_step_num_gradient_steps_per_sample=HP["update_per_step"],
            training_fn=train_fn,
            stop_fn=stop_fn,
            test_in_training=False,
            verbose=False,
            show_progress=False,
        )
    )
    emit(
        dict(
            bench=f"tianshou_{ALGO}_cartpole",
            seed=args.seed,
            solved=bool(solved),
            total_s=solved.get("total_s", round(since_start(), 2)),
            env_steps=int(result.train_step),
            updates=int(result.update_step),
            import_s=round(T_IMPORT, 2),
            setup_s=round(t_setup - T_IMPORT, 2),
            evals=history,
        )
    )


if __name__ == "__main__":
    main()
