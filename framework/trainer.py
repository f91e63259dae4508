"""Running a config: the single-process training loop and the evaluation modes.

The loop is the same for every algorithm: collect from vectorized envs, add to the buffer,
run the update steps that are due, evaluate, checkpoint. On- and off-policy algorithms differ
only in what their adder/buffer store and in ``updates_due``/``learn``.
"""

from __future__ import annotations

import logging
import signal
import time
from contextlib import contextmanager
from dataclasses import fields

import numpy as np
import torch

from framework.agent import build_policy, load_checkpoint
from framework.collector import Collector
from framework.envs import spaces_of
from framework.learner import TEST_STREAM, Counters, Learner, save_figure
from framework.recorder import CsvLog, TaskDir

log = logging.getLogger("rldojo")


def seed_everything(seed: int) -> int | None:
    """Seed torch and numpy; 0 means unseeded (returns None)."""
    if seed == 0:
        return None
    torch.manual_seed(seed)
    np.random.seed(seed)
    return seed


class Prepared:
    """Everything checked before the task directory exists: spaces, policy, checkpoint."""

    def __init__(self, cfg, checkpoint_path=None):
        g = cfg.general
        torch.set_num_threads(g.torch_threads)
        self.seed = seed_everything(g.seed)
        self.obs_space, self.action_space = spaces_of(cfg)
        self.policy = build_policy(cfg, self.obs_space, self.action_space, self.seed)
        self.counters = Counters()
        self.checkpoint = checkpoint_path
        if checkpoint_path is not None:
            saved = load_checkpoint(
                self.policy, checkpoint_path, cfg, weights_only=g.mode != "train"
            )
            if g.mode == "train":
                known = {f.name for f in fields(Counters)}
                self.counters = Counters(**{k: v for k, v in saved.items() if k in known})


@contextmanager
def interrupt_guard():
    """While finishing up, a second Ctrl-C must not cut a checkpoint or shard in half."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def train_single(cfg, task: TaskDir, prep: Prepared) -> dict:
    g = cfg.general
    policy = prep.policy
    learner = Learner(cfg, task, policy, prep.counters)
    policy.env_steps = learner.counters.env_steps
    assembler = make_assembler(cfg, prep, "epsilon-greedy" if not policy.on_policy else "sampled")
    collector = Collector(cfg, policy, cfg.env.n_envs, prep.seed, assembler)
    buffer = policy.make_buffer()
    interrupted = False
    if prep.checkpoint:
        log.info("resumed from %s at %d env steps", prep.checkpoint, learner.counters.env_steps)
    try:
        if g.max_env_steps > 0 and learner.counters.env_steps >= g.max_env_steps:
            learner.stop_reason = "max_env_steps"
        while not learner.should_stop:
            out = collector.collect(policy.collect_steps)
            learner.record(out.episodes, out.trajectories, out.env_steps, collector.n_envs)
            buffer.add(out.data)
            learner.learn(buffer)
            policy.observe(out.batch.obs)  # after learning: on-policy data used its own stats
            learner.evaluate_if_due()
    except KeyboardInterrupt:
        interrupted = True
        learner.console("interrupted: saving the final checkpoint, results and figures")
    with interrupt_guard():
        collector.close()
        return learner.finish(interrupted)


def make_assembler(cfg, prep: Prepared, exploration: str):
    if not cfg.general.collect_traj:
        return None
    from framework.trajectories import EpisodeAssembler

    meta = {
        "env_id": getattr(cfg.env, "id", cfg.general.env_name),
        "algo": cfg.general.algo_name,
        "checkpoint": str(prep.checkpoint) if prep.checkpoint else None,
        "exploration": exploration,
        "seed": prep.seed,
    }
    return EpisodeAssembler(cfg.env.n_envs, meta)


def run_episodes(cfg, task: TaskDir, prep: Prepared) -> dict:
    """test / render / collect: run a loaded policy for max_episode episodes."""
    from framework.evaluator import Evaluator

    g = cfg.general
    n_episodes = g.max_episode if g.max_episode > 0 else 10
    policy = prep.policy
    evaluator = Evaluator(cfg, min(cfg.env.n_eval_envs, n_episodes), g.seed, TEST_STREAM)
    ep_csv = CsvLog(
        task.results / "episodes.csv", ["episode", "env_steps", "return", "length", "wall_time"]
    )
    start = time.perf_counter()
    interrupted = False
    try:
        res = evaluator.run(lambda o: policy.act(o, deterministic=True)[0], n_episodes)
    except KeyboardInterrupt:
        interrupted, res = True, None
    with interrupt_guard():
        steps = 0
        if res is not None:
            for i, (ret, length) in enumerate(zip(res.returns, res.lengths)):
                steps += int(length)
                wall = round(time.perf_counter() - start, 3)
                ep_csv.write(episode=i + 1, env_steps=steps, **{"return": float(ret)},
                             length=int(length), wall_time=wall)  # fmt: skip
        summary = {
            "mode": g.mode,
            "algo": g.algo_name,
            "env_id": getattr(cfg.env, "id", None),
            "checkpoint": str(prep.checkpoint),
            "episodes": 0 if res is None else len(res.returns),
            "env_steps": steps,
            "mean_return": None if res is None else res.mean,
            "std_return": None if res is None else res.std,
            "min_return": None if res is None else float(res.returns.min()),
            "max_return": None if res is None else float(res.returns.max()),
            "wall_seconds": round(time.perf_counter() - start, 3),
            "interrupted": interrupted,
        }
        task.write_summary(summary)
        save_figure(cfg, task, ep_csv.rows, [])
        ep_csv.close()
        evaluator.close()
        if res is not None:
            print(f"[{g.mode}] {len(res.returns)} episodes: return {res.mean:.2f} +- {res.std:.2f}")
    return summary


def run(cfg, task: TaskDir, prep: Prepared) -> dict:
    if cfg.general.mode == "train":
        if cfg.general.mp_backend == "ray":
            from framework.ray_backend import train_ray

            return train_ray(cfg, task, prep)
        return train_single(cfg, task, prep)
    return run_episodes(cfg, task, prep)
