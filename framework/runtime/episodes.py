"""Test, render and collect: run a loaded policy for a number of episodes.

Episodes run on the Evaluator's envs (batched actions; each episode reset with its own seed from
the run's TEST stream), the first ``env_cfg.gif_episodes`` of them on one extra render env when a
render mode is on. Actions are deterministic (test, render) or follow ``collect_exploration``.
"""

from __future__ import annotations

import copy
import time

import numpy as np

from config.base import UserError
from framework.records.taskdir import CsvLog, TaskDir
from framework.runtime.evaluator import Evaluator
from framework.runtime.faults import attempt, is_disk_error, write_error
from framework.runtime.learner import figure_writer, grid_value_map
from framework.runtime.loop import make_assembler
from framework.runtime.render import effective_render_mode, make_render_env, save_gif
from framework.runtime.seeding import COLLECT, TEST, stream_rng
from framework.runtime.signals import deferred_interrupt, interrupt_guard, signal_name


def check_exploration(cfg, policy) -> None:
    """collect_exploration must fit the policy (checked before the run): ``sampled`` needs a
    stochastic policy."""
    g = cfg.general
    if g.mode == "collect" and g.collect_exploration == "sampled" and not policy.stochastic:
        raise UserError(
            f"general_cfg.collect_exploration: sampled needs a stochastic policy and "
            f"{g.algo_name} acts deterministically; use epsilon (a random action with "
            "probability collect_epsilon) or deterministic"
        )


def episode_actor(cfg, policy, action_space, exploration: str):
    """Batched obs -> actions for test/render/collect with the given exploration."""
    if exploration == "sampled":
        return lambda obs: policy.act(obs, "sample").actions

    def greedy(obs):
        return policy.act(obs, "greedy").actions

    eps = cfg.general.collect_epsilon
    if exploration == "deterministic" or eps == 0.0:
        return greedy
    rng = stream_rng(cfg.general.seed, COLLECT)
    space = copy.deepcopy(action_space)
    space.seed(int(rng.integers(2**31)))

    def epsilon_greedy(obs):
        actions = np.array(greedy(obs), copy=True)
        for i in np.flatnonzero(rng.random(len(actions)) < eps):
            actions[i] = space.sample()
        return actions

    return epsilon_greedy


def run_episodes(cfg, task: TaskDir, setup) -> dict:
    """test / render / collect: run a loaded policy for max_episode episodes.

    The first env_cfg.gif_episodes episodes run on one extra render env when a render mode is
    on (framework/render.py); every episode is recorded into results/trajs*.pkl when
    collect_traj is on (always in collect mode), each trajectory written together with its
    episodes.csv row so an interrupted run keeps both in step.
    """
    g = cfg.general
    n_episodes = g.max_episode if g.max_episode > 0 else 10
    policy = setup.policy
    exploration = g.collect_exploration if g.mode == "collect" else "deterministic"
    act = episode_actor(cfg, policy, setup.action_space, exploration)
    render_mode = effective_render_mode(cfg)
    n_render = min(cfg.env.gif_episodes, n_episodes) if render_mode else 0
    render_env = make_render_env(cfg, render_mode) if render_mode else None
    n_plain = min(cfg.env.n_eval_envs, n_episodes - n_render)
    evaluator = Evaluator(cfg, n_plain, g.seed, TEST, render_env, n_render)
    n_slots = n_plain + (render_env is not None)
    assemblers = [make_assembler(cfg, setup, exploration, 1) for _ in range(n_slots)]
    writer = None
    if assemblers[0] is not None:
        from framework.data.trajectories import ShardWriter

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
            ep_csv.write(
                episode=episode + 1,
                env_steps=steps,
                **{"return": ret},
                length=length,
                seed=seed,
                wall_time=round(time.perf_counter() - start, 3),
            )

    interrupted = None
    errors: list[str] = []
    try:
        evaluator.run(act, n_episodes, on_step if writer is not None else None, on_episode)
    except KeyboardInterrupt as err:
        interrupted = signal_name(err)
        print(f"[{g.mode}] {interrupted}: saving what was recorded", flush=True)
    except OSError as err:  # a full disk: stop, keep what is complete
        if not is_disk_error(err):
            raise
        errors.append(write_error(err))
    with interrupt_guard():
        files: list = []
        if writer is not None:
            attempt(lambda: files.extend(writer.close()), errors)
        gif = None
        if render_env is not None and render_env.frames:
            path = task.root / "videos" / "video.gif"
            attempt(lambda: save_gif(path, render_env.frames, cfg.env.gif_fps), errors)
            gif = path if path.is_file() else None
        rets = np.asarray(returns)
        summary = {
            "mode": g.mode,
            "algo": g.algo_name,
            "env_id": getattr(cfg.env, "id", None),
            "checkpoint": str(setup.checkpoint),
            "exploration": exploration,
            "episodes": len(returns),
            "env_steps": steps,
            "mean_return": float(rets.mean()) if len(rets) else None,
            "std_return": float(rets.std()) if len(rets) else None,
            "min_return": float(rets.min()) if len(rets) else None,
            "max_return": float(rets.max()) if len(rets) else None,
            "wall_seconds": round(time.perf_counter() - start, 3),
            "interrupted": interrupted is not None,
            "signal": interrupted,
            "trajectory_files": [p.name for p in files],
            "trajectories": writer.n_written if writer is not None else 0,
            "gif": str(gif.relative_to(task.root)) if gif is not None else None,
            "gif_frames": len(render_env.frames) if gif is not None else 0,
            "error": errors[0] if errors else None,
        }
        attempt(lambda: task.write_summary(summary), errors)
        if figure is not None:
            value_map = grid_value_map(cfg, task, policy)
            attempt(lambda: figure.write(ep_csv.path, test=True, value_map=value_map), errors)
        ep_csv.close()
        evaluator.close()
        if returns:
            print(f"[{g.mode}] {len(rets)} episodes: return {rets.mean():.2f} +- {rets.std():.2f}")
    return summary
