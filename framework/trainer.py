"""Running a config: the single-process training loop and the evaluation modes.

The loop is the same for every algorithm: collect from vectorized envs, add to the buffer,
run the update steps that are due, evaluate, checkpoint. On- and off-policy algorithms differ
only in what their adder/buffer store and in ``updates_due``/``learn``.
"""

from __future__ import annotations

import copy
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
from framework.learner import TEST_STREAM, Counters, Learner, figure_writer
from framework.recorder import CsvLog, TaskDir

log = logging.getLogger("rldojo")
COLLECT_STREAM = 4  # seed stream of collect mode's exploration noise


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
            out = collector.collect(policy.collect_steps(collector.n_envs))
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


def make_assembler(cfg, prep: Prepared, exploration: str, n_envs: int | None = None):
    """The EpisodeAssembler of a recording run (None unless collect_traj is on)."""
    if not (cfg.general.collect_traj or cfg.general.mode == "collect"):
        return None
    from framework.trajectories import EpisodeAssembler

    meta = {
        "env_id": getattr(cfg.env, "id", cfg.general.env_name),
        "algo": cfg.general.algo_name,
        "checkpoint": str(prep.checkpoint) if prep.checkpoint else None,
        "exploration": exploration,
        "seed": prep.seed,
    }
    return EpisodeAssembler(cfg.env.n_envs if n_envs is None else n_envs, meta)


def exploration_error(cfg, policy) -> str | None:
    """Why collect_exploration cannot be used with this policy (checked before the run)."""
    g = cfg.general
    if g.mode == "collect" and g.collect_exploration == "sampled" and not policy.on_policy:
        return (
            f"general_cfg.collect_exploration: sampled needs a stochastic policy and "
            f"{g.algo_name} acts greedily; use epsilon (epsilon-greedy with collect_epsilon)"
        )
    return None


def episode_actor(cfg, policy, action_space, exploration: str):
    """Batched obs -> actions for test/render/collect with the given exploration."""
    if exploration == "sampled":
        return lambda obs: policy.act(obs, deterministic=False)[0]

    def greedy(obs):
        return policy.act(obs, deterministic=True)[0]

    eps = cfg.general.collect_epsilon
    if exploration == "deterministic" or eps == 0.0:
        return greedy
    seed = cfg.general.seed
    rng = np.random.default_rng(np.random.SeedSequence([seed, COLLECT_STREAM] if seed else None))
    space = copy.deepcopy(action_space)
    space.seed(int(rng.integers(2**31)))

    def epsilon_greedy(obs):
        actions = np.array(greedy(obs), copy=True)
        for i in np.flatnonzero(rng.random(len(actions)) < eps):
            actions[i] = space.sample()
        return actions

    return epsilon_greedy


@contextmanager
def deferred_interrupt():
    """Ctrl-C inside the block is raised when it ends, so per-episode records (CSV row and
    trajectory) are written together or not at all."""
    hit: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda *_: hit.append(1))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if hit:
        raise KeyboardInterrupt


def run_episodes(cfg, task: TaskDir, prep: Prepared) -> dict:
    """test / render / collect: run a loaded policy for max_episode episodes.

    The first env_cfg.gif_episodes episodes run on one extra render env when a render mode is
    on (framework/render.py); every episode is recorded into results/trajs*.pkl when
    collect_traj is on (always in collect mode), each trajectory written together with its
    episodes.csv row so an interrupted run keeps both in step.
    """
    from framework.evaluator import Evaluator
    from framework.render import effective_render_mode, make_render_env, save_gif

    g = cfg.general
    n_episodes = g.max_episode if g.max_episode > 0 else 10
    policy = prep.policy
    exploration = g.collect_exploration if g.mode == "collect" else "deterministic"
    act = episode_actor(cfg, policy, prep.action_space, exploration)
    render_mode = effective_render_mode(cfg)
    n_render = min(cfg.env.gif_episodes, n_episodes) if render_mode else 0
    render_env = make_render_env(cfg, render_mode) if render_mode else None
    n_plain = min(cfg.env.n_eval_envs, n_episodes - n_render)
    evaluator = Evaluator(cfg, n_plain, g.seed, TEST_STREAM, render_env, n_render)
    n_slots = n_plain + (render_env is not None)
    assemblers = [make_assembler(cfg, prep, exploration, 1) for _ in range(n_slots)]
    writer = None
    if assemblers[0] is not None:
        from framework.trajectories import ShardWriter

        writer = ShardWriter(task.results)
    finished: dict[int, dict] = {}
    ep_csv = CsvLog(
        task.results / "episodes.csv",
        ["episode", "env_steps", "return", "length", "seed", "wall_time"],
    )
    figure = figure_writer(cfg, task)
    returns: list[float] = []
    start = time.perf_counter()
    steps = 0

    def on_step(slot, obs, action, reward, next_obs, term, trunc, seed):
        asm = assemblers[slot]
        asm.set_episode_seed(0, seed)
        done = asm.add_step([obs], [action], [reward], [next_obs], [term], [trunc])
        if done:
            finished[slot] = done[0]

    def on_episode(slot, episode, ret, length, seed):
        nonlocal steps
        with deferred_interrupt():
            if writer is not None:
                traj = finished.pop(slot)
                traj["episode"] = episode
                if exploration == "epsilon":
                    traj["policy"]["epsilon"] = g.collect_epsilon
                writer.add(traj)
            steps += length
            returns.append(ret)
            ep_csv.write(episode=episode + 1, env_steps=steps, **{"return": ret}, length=length,
                         seed=seed, wall_time=round(time.perf_counter() - start, 3))  # fmt: skip

    interrupted = False
    try:
        evaluator.run(act, n_episodes, on_step if writer is not None else None, on_episode)
    except KeyboardInterrupt:
        interrupted = True
        print(f"[{g.mode}] interrupted: saving what was recorded", flush=True)
    with interrupt_guard():
        files = writer.close() if writer is not None else []
        gif = None
        if render_env is not None and render_env.frames:
            gif = save_gif(task.root / "videos" / "video.gif", render_env.frames, cfg.env.gif_fps)
        rets = np.asarray(returns)
        summary = {
            "mode": g.mode,
            "algo": g.algo_name,
            "env_id": getattr(cfg.env, "id", None),
            "checkpoint": str(prep.checkpoint),
            "exploration": exploration,
            "episodes": len(returns),
            "env_steps": steps,
            "mean_return": float(rets.mean()) if len(rets) else None,
            "std_return": float(rets.std()) if len(rets) else None,
            "min_return": float(rets.min()) if len(rets) else None,
            "max_return": float(rets.max()) if len(rets) else None,
            "wall_seconds": round(time.perf_counter() - start, 3),
            "interrupted": interrupted,
            "trajectory_files": [p.name for p in files],
            "trajectories": writer.n_written if writer is not None else 0,
            "gif": str(gif.relative_to(task.root)) if gif is not None else None,
            "gif_frames": len(render_env.frames) if gif is not None else 0,
        }
        task.write_summary(summary)
        if figure is not None:
            figure.write(ep_csv.rows, [])
        ep_csv.close()
        evaluator.close()
        if returns:
            print(f"[{g.mode}] {len(rets)} episodes: return {rets.mean():.2f} +- {rets.std():.2f}")
    return summary


def run(cfg, task: TaskDir, prep: Prepared) -> dict:
    if cfg.general.mode == "train":
        if cfg.general.mp_backend == "ray":
            from framework.ray_backend import train_ray

            return train_ray(cfg, task, prep)
        return train_single(cfg, task, prep)
    return run_episodes(cfg, task, prep)
