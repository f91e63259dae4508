"""The ``atari`` env family (envs/atari/): real ALE games, skipped without the ``atari`` extra.

Training envs (ale-py's vector env behind AtariVector) against evaluation envs (gymnasium's
preprocessing), whole games with raw scores in the records while learning sees life losses and
clipped rewards, full-colour rendering, frame replay on real stacks, and a smoke run of the DQN
and PPO presets on Pong.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ale_py")
pytest.importorskip("cv2")

from config.base import UserError  # noqa: E402
from config.loader import ConfigError, load_config  # noqa: E402
from envs.atari.env import make_env, make_vector  # noqa: E402
from framework.api import run  # noqa: E402
from framework.data.frames import FrameAdder, FrameReplayBuffer  # noqa: E402
from framework.data.trajectories import EpisodeAssembler  # noqa: E402
from framework.runtime.collector import Collector  # noqa: E402
from framework.runtime.setup import load_run_config  # noqa: E402
from tests.random_policy import RandomPolicy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def atari(*args: str):
    return load_config(None, ["general_cfg.env_name=atari", *args])


@pytest.mark.parametrize("game", ["ALE/Pong-v5", "ALE/Breakout-v5"])
def test_evaluation_env_sees_what_the_training_env_sees(game):
    """Without random no-ops and sticky actions, gymnasium's preprocessing (evaluation, test,
    render) and ale-py's vector env (training) give the same stacks and rewards, FIRE reset
    included."""
    cfg = atari(f"env_cfg.id={game}", "env_cfg.noop_max=0", "env_cfg.episodic_life=false")
    vec, single = make_vector(cfg, 1), make_env(cfg.env)
    v_obs, _ = vec.reset(seed=[3])
    s_obs, _ = single.reset(seed=3)
    np.testing.assert_array_equal(v_obs[0], s_obs)
    assert v_obs.shape == (1, 4, 84, 84) and v_obs.dtype == np.uint8
    rng = np.random.default_rng(1)
    for _ in range(300):
        a = int(rng.integers(vec.single_action_space.n))
        v_obs, v_rew, v_term, _, info = vec.step(np.array([a]))
        s_obs, s_rew, s_term, _, _ = single.step(a)
        assert v_term[0] == s_term and v_rew[0] == np.clip(s_rew, -1, 1)
        if s_term:
            np.testing.assert_array_equal(info["final_obs"][0], s_obs)
            break
        np.testing.assert_array_equal(v_obs[0], s_obs)
    vec.close()
    single.close()


def collect(clipping: bool, steps: int = 300):
    cfg = atari("env_cfg.id=ALE/Asterix-v5", f"env_cfg.reward_clipping={clipping}")
    assembler = EpisodeAssembler(4, {"env_id": "ALE/Asterix-v5"})
    col = Collector(cfg, RandomPolicy(9, seed=5), 4, [11, 12, 13, 14], assembler)
    out = col.collect(steps)
    col.close()
    return out


def test_training_learns_from_lives_and_clipped_rewards_but_records_whole_games():
    """Asterix played at random (four envs, same seeds twice): with reward clipping the
    learning rewards are clipped, and both runs record the same whole games with raw scores;
    life losses end learning episodes but not games (nor trajectories)."""
    clipped, raw = collect(True), collect(False)
    np.testing.assert_array_equal(clipped.batch.actions, raw.batch.actions)
    assert raw.batch.rewards.max() >= 50  # raw scores
    np.testing.assert_array_equal(clipped.batch.rewards, np.clip(raw.batch.rewards, -1, 1))
    games = raw.episodes
    assert len(games) >= 2 and clipped.episodes == games
    assert raw.batch.terminated.sum() >= 3 * len(games)  # each of 3 lives ends an episode
    done = raw.batch.terminated | raw.batch.truncated
    for g in games:  # a game's record: raw score and length from its first step to game over
        first = g.step - g.length + 1
        assert first >= 0
        assert any(
            done[g.step, e] and raw.batch.rewards[first : g.step + 1, e].sum() == g.ret
            for e in range(4)
        )
    assert [t["length"] for t in raw.trajectories] == [g.length for g in games]
    assert [t["return"] for t in raw.trajectories] == [g.ret for g in games]
    for traj in raw.trajectories:
        assert traj["terminated"].sum() + traj["truncated"].sum() == 1  # at game over only


def test_evaluation_plays_whole_games_with_raw_scores_and_renders_the_screen():
    cfg = atari("env_cfg.id=ALE/Breakout-v5")
    env = make_env(cfg.env, render_mode="rgb_array")
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    lives, ret = [], 0.0
    for _ in range(5000):
        _, r, term, trunc, _ = env.step(int(rng.integers(4)))
        ret += r
        lives.append(env.unwrapped.ale.lives())
        if term or trunc:
            break
    assert term and lives[-1] == 0 and max(lives) == 5  # the whole game, every life
    frame = env.render()
    assert frame.shape == (210, 160, 3) and frame.dtype == np.uint8  # the real colour screen
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 2
    env.close()


def test_frame_replay_on_breakout_stacks():
    """Real stacks (zero padding at game start, restarted stacks after life losses) come back
    from the frame buffer exactly as the dense buffer has them."""
    from framework.data.adders import NStepAdder
    from framework.data.buffers import ReplayBuffer

    cfg = atari("env_cfg.id=ALE/Breakout-v5")
    adder = FrameAdder(3)
    col = Collector(cfg, RandomPolicy(4, seed=2, adder=adder), 3, [1, 2, 3])
    frames = FrameReplayBuffer(5000, 3, 0.99, seed=0)
    dense_adder, dense = NStepAdder(3, 0.99), ReplayBuffer(5000)
    for _ in range(25):
        out = col.collect(16)
        frames.add(out.data)
        dense.add(dense_adder(out.batch))
    col.close()
    assert len(frames) == len(dense) > 1000
    # one frame per transition, plus up to 4 for the fresh stack after each life loss (random
    # play loses a life every 30 steps or so)
    assert frames.frames_total < 1.2 * frames.steps_total
    dense_keys = {
        (dense.store["obs"][i].tobytes(), dense.store["next_obs"][i].tobytes())
        + (float(dense.store["rewards"][i]), float(dense.store["discounts"][i]))
        for i in range(len(dense))
    }
    batch = frames.sample(256)
    for i in range(256):
        k = (batch.obs[i].tobytes(), batch.next_obs[i].tobytes())
        assert k + (float(batch.rewards[i]), float(batch.discounts[i])) in dense_keys


def test_config_errors_are_one_line():
    with pytest.raises(ConfigError, match="env_cfg.id: unknown Atari id 'ALE/Pongg-v5'; did you"):
        atari("env_cfg.id=ALE/Pongg-v5")
    with pytest.raises(ConfigError, match="env_cfg.frame_stack: must be >= 1"):
        atari("env_cfg.frame_stack=0")
    assert issubclass(ConfigError, UserError)


def episodes(task: Path) -> list[dict]:
    with open(task / "results" / "episodes.csv") as f:
        return list(csv.DictReader(f))


SMOKE = [
    "general_cfg.max_step=250",  # short games: a few finish within the smoke run
    "general_cfg.online_eval_episode=1",
    "general_cfg.save_fig=false",
    "general_cfg.progress=false",
    "general_cfg.reward_threshold=null",
    "general_cfg.torch_threads=1",
    "env_cfg.n_envs=4",
]


@pytest.mark.parametrize(
    ("preset", "extra"),
    [
        (
            "ALE-Pong-v5_DQN.yaml",
            [
                "algo_cfg.learning_starts=1000",
                "algo_cfg.gradient_steps=1",
                "algo_cfg.buffer_size=5000",
            ],
        ),
        (
            "ALE-Pong-v5_Rainbow.yaml",  # prioritized frame replay, noisy nets, 3-step returns
            [
                "algo_cfg.learning_starts=1000",
                "algo_cfg.gradient_steps=1",
                "algo_cfg.buffer_size=5000",
            ],
        ),
        ("ALE-Pong-v5_PPO.yaml", ["algo_cfg.n_steps=64", "algo_cfg.n_epochs=1"]),
    ],
)
def test_presets_smoke(preset, extra, tmp_path, capsys):
    """A few thousand env steps of the Pong presets on CPU, in two parts (1024, then a resume
    to 2048: Atari envs restart their games, the replay buffer travels beside last.pt):
    learning runs, evaluation plays, episodes.csv holds games, checkpoints load for a test
    run."""
    args = [
        "general_cfg.online_eval_fre=1024",
        f"general_cfg.tasks_dir={tmp_path}",
        *SMOKE,
        *extra,
    ]
    yaml = ROOT / "config" / "presets" / preset
    first = run(load_config(yaml, [*args, "general_cfg.max_env_steps=1024"]))
    first_task = Path(first["task_dir"])
    if "DQN" in preset:  # the frame replay's frames were saved (within buffer_save_limit_mb)
        assert (first_task / "models" / "last.buffer.npz").stat().st_size > 1024 * 84 * 84
    resume = [
        "general_cfg.max_env_steps=2048",
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={first_task}",
    ]
    summary = run(load_run_config(yaml, [*args, *resume]))
    out = capsys.readouterr().out
    assert f"resumed from {first_task / 'models' / 'last.pt'} at 10" in out
    assert "new episodes start" in out and "refills from empty" not in out, out
    task = Path(summary["task_dir"])
    assert summary["env_steps"] >= 2048 and summary["update_steps"] > 0, summary
    assert summary["best_eval"] is not None
    rows = episodes(first_task) + episodes(task)
    assert rows and all(int(r["length"]) == 250 for r in rows)  # whole (truncated) games
    assert all(-21 <= float(r["return"]) <= 0 for r in rows)
    test = run(
        load_run_config(
            None,
            [
                "general_cfg.mode=test",
                "general_cfg.load_checkpoint=true",
                f"general_cfg.load_path={task}",
                "general_cfg.max_episode=1",
                *SMOKE,
                f"general_cfg.tasks_dir={tmp_path}",
            ],
        )
    )
    assert test["episodes"] == 1


def test_envpool_backend_gives_same_step_games():
    """envpool (where it installs) behind the same-step adapter: final observations, life-loss
    episodes for learning, whole games with raw scores in the records."""
    pytest.importorskip("envpool")
    cfg = atari(
        "env_cfg.id=ALE/Asterix-v5", "env_cfg.backend=envpool", "env_cfg.reward_clipping=false"
    )
    col = Collector(cfg, RandomPolicy(9, seed=5), 4, [11, 12, 13, 14])
    out = col.collect(300)
    col.close()
    batch, games = out.batch, out.episodes
    assert len(games) >= 2 and batch.terminated.sum() >= 3 * len(games)
    done = batch.terminated | batch.truncated
    for g in games:
        first = g.step - g.length + 1
        assert any(
            done[g.step, e] and batch.rewards[first : g.step + 1, e].sum() == g.ret
            for e in range(4)
        )
    # same step: where an episode ended, next_obs is its final stack, obs its successor's first
    t, e = np.argwhere(done[:-1])[0]
    assert not np.array_equal(batch.next_obs[t, e], batch.obs[t + 1, e])
    np.testing.assert_array_equal(batch.next_obs[t, e, :-1], batch.obs[t, e, 1:])
