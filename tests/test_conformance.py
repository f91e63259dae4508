"""The conformance suite: every algorithm folder under algos/, on every space it declares.

Parametrized over the registry (``available("algos")``) and the probe envs' observation and
action spaces (``envs/gym/probes.py``: vector, image, discrete and dict observations, discrete
and box actions), in the manner of Stable-Baselines3's tests. A new algorithm folder is under the
suite without editing it: what it supports comes from its policy's declarations
(``obs_kinds``, ``action_kinds``, ``stochastic``), and the small settings below are applied only
where its config has the key.

For each supported pair: construction, ``act`` shapes, dtypes and bounds in every mode, greedy
acting deterministic, one ``learn`` on a small batch collected from the env returning finite
metrics, a state round trip through a checkpoint file giving identical greedy actions (and the
actor state, as Ray workers use it). Unsupported pairs are refused with a one-line error naming
the key to change. Each algorithm also trains briefly on both backends (single, Ray; Ray runs of
algorithms whose policy and buffer classes another one covers are marked slow); offline
algorithms (``offline``) train from a small synthetic dataset of the probe env instead, on the
single backend only.
"""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from algos.base.spaces import UnsupportedSpace, action_kind, obs_kind
from config.loader import available, load_config
from envs.vector import spaces_of
from framework.api import run
from framework.data.trajectories import EpisodeAssembler, ShardWriter
from framework.records.checkpoint import read_checkpoint, save_checkpoint
from framework.runtime.collector import Collector
from framework.runtime.seeding import env_seeds
from framework.runtime.setup import build_policy, policy_class

ALGOS = available("algos")
OBS = ("vector", "image", "discrete", "dict")
ACTIONS = ("discrete", "box")
# small settings, applied where the algorithm's config has the key
SMALL = {
    "batch_size": 32,
    "buffer_size": 2000,
    "learning_starts": 64,
    "train_freq": 32,
    "gradient_steps": 2,
    "n_steps": 16,
    "n_epochs": 2,
}


def overrides(algo: str, obs: str, action: str) -> list[str]:
    algo_cfg = load_config(None, [f"general_cfg.algo_name={algo}"]).algo
    small = [f"algo_cfg.{k}={v}" for k, v in SMALL.items() if hasattr(algo_cfg, k)]
    return [
        f"general_cfg.algo_name={algo}",
        "env_cfg.id=rldojo/Probe-v0",
        f"env_cfg.make_kwargs={{obs: {obs}, action: {action}}}",
        *small,
    ]


def kinds(obs: str, action: str) -> tuple[str, str]:
    cfg = load_config(None, overrides("DQN", obs, action)[1:])
    o, a = spaces_of(cfg)
    return obs_kind(o), action_kind(a)


def supports(algo: str, obs: str, action: str) -> bool:
    cls = policy_class(algo)
    o, a = kinds(obs, action)
    return o in cls.obs_kinds and a in cls.action_kinds


CASES = [(algo, o, a) for algo in ALGOS for o in OBS for a in ACTIONS]
SUPPORTED = [c for c in CASES if supports(*c)]
UNSUPPORTED = [c for c in CASES if not supports(*c)]


def make(algo: str, obs: str, action: str, seed: int = 1, *extra: str):
    cfg = load_config(None, [*overrides(algo, obs, action), *extra])
    obs_space, action_space = spaces_of(cfg)
    return cfg, build_policy(cfg, obs_space, action_space, seed=seed), obs_space, action_space


def sample_obs(cfg, n: int = 6) -> np.ndarray:
    envs = gym.vector.SyncVectorEnv([lambda: _single(cfg)] * n)
    obs, _ = envs.reset(seed=3)
    envs.close()
    return obs


def _single(cfg):
    from envs.vector import make_single

    return make_single(cfg)


def check_actions(actions: np.ndarray, space: gym.Space, n: int) -> None:
    assert isinstance(actions, np.ndarray)
    assert actions.shape == (n, *space.shape)
    if isinstance(space, gym.spaces.Discrete):
        assert np.issubdtype(actions.dtype, np.integer)
    else:
        assert actions.dtype == space.dtype
    for a in actions:
        assert space.contains(a.astype(space.dtype) if space.shape else space.dtype.type(a)), a


@pytest.mark.parametrize(("algo", "obs", "action"), SUPPORTED)
def test_policy_contract(algo, obs, action, tmp_path):
    cfg, policy, obs_space, action_space = make(algo, obs, action)
    batch_obs = sample_obs(cfg)
    n = len(batch_obs)
    modes = ["explore", "greedy"] + (["sample"] if policy.stochastic else [])
    policy.env_steps = 10**6  # past any warm-up: the policy's own actions
    for mode in modes:
        actions, extras = policy.act(batch_obs, mode)
        check_actions(actions, action_space, n)
        for k, v in extras.items():
            assert isinstance(v, np.ndarray) and len(v) == n, k
    greedy = policy.act(batch_obs, "greedy").actions
    np.testing.assert_array_equal(greedy, policy.act(batch_obs, "greedy").actions)
    assert isinstance(policy.exploration, str) and policy.exploration

    # one learn phase on a small batch collected from the env
    policy.env_steps = 0
    collector = Collector(cfg, policy, 2, env_seeds(1, 2))
    buffer = policy.make_buffer()
    for _ in range(3):
        out = collector.collect(policy.collect_steps(2))
        buffer.add(out.data)
        if buffer.status().ready and len(buffer) >= 64:
            break
    collector.close()
    spec = policy.sample_spec()
    learned = policy.learn(buffer.sample(spec.batch_size, spec.beta))
    assert learned.metrics, "learn() returned no metrics"
    for k, v in learned.metrics.items():
        assert isinstance(v, float) and (math.isfinite(v) or k == "explained_var"), (k, v)
    assert policy.update_step == 1

    # state round trip through a checkpoint file: identical greedy actions
    path = save_checkpoint(tmp_path / "c.pt", {"policy": policy.state_dict()})
    _, other, *_ = make(algo, obs, action, 7)
    other.load_state_dict(read_checkpoint(path)["policy"])
    np.testing.assert_array_equal(
        other.act(batch_obs, "greedy").actions, policy.act(batch_obs, "greedy").actions
    )
    assert other.update_step == policy.update_step
    # the acting subset (Ray workers)
    _, worker, *_ = make(algo, obs, action, 9)
    worker.load_actor_state(policy.actor_state())
    np.testing.assert_array_equal(
        worker.act(batch_obs, "greedy").actions, policy.act(batch_obs, "greedy").actions
    )


@pytest.mark.parametrize(("algo", "obs", "action"), UNSUPPORTED)
def test_unsupported_spaces_are_refused(algo, obs, action):
    with pytest.raises(UnsupportedSpace) as info:
        make(algo, obs, action)
    message = str(info.value)
    assert "\n" not in message and "general_cfg.algo_name" in message, message


def synthetic_dataset(cfg, root: Path, episodes: int = 8) -> Path:
    """Random-action episodes of the config's env, written as rldojo trajectory shards."""
    env = _single(cfg)
    meta = {"env_id": cfg.env.id, "algo": "random", "exploration": "random"}
    assembler = EpisodeAssembler(1, meta)
    with ShardWriter(root) as writer:
        for episode in range(episodes):
            obs, _ = env.reset(seed=episode)
            env.action_space.seed(episode)
            done = False
            while not done:
                action = env.action_space.sample()
                nxt, reward, term, trunc, _ = env.step(action)
                step = [np.asarray(x)[None] for x in (obs, action, reward, nxt, term, trunc)]
                writer.extend(assembler.add_step(*step))
                obs, done = nxt, term or trunc
    env.close()
    return root


def smoke_args(algo: str, tmp_path: Path, *extra: str) -> list[str]:
    obs, action = next((o, a) for (al, o, a) in SUPPORTED if al == algo)
    if policy_class(algo).offline:  # a dataset instead of the env; the clock counts updates
        cfg = load_config(None, overrides(algo, obs, action))
        data = synthetic_dataset(cfg, tmp_path / "dataset")
        extra = (
            f"general_cfg.dataset={data}",
            "general_cfg.max_update_steps=20",
            "general_cfg.online_eval_fre=10",
            *extra,
        )
    return [
        *overrides(algo, obs, action),
        "general_cfg.max_env_steps=400",
        "general_cfg.online_eval_fre=200",
        "general_cfg.online_eval_episode=2",
        "general_cfg.save_fig=false",
        "general_cfg.progress=false",
        "env_cfg.n_envs=4",
        f"general_cfg.tasks_dir={tmp_path}",
        *extra,
    ]


def check_run(summary: dict) -> None:
    root = Path(summary["task_dir"])
    if summary["stop_reason"] == "max_update_steps":  # offline
        assert summary["update_steps"] >= 20 and summary["env_steps"] == 0, summary
    else:
        assert summary["env_steps"] >= 400 and summary["stop_reason"] == "max_env_steps", summary
    assert summary["update_steps"] > 0, "no update ran"
    for rel in (
        "config.yaml",
        "models/last.pt",
        "models/best.pt",
        "results/episodes.csv",
        "results/evals.csv",
        "results/summary.json",
    ):
        assert (root / rel).is_file(), rel


@pytest.mark.parametrize("algo", ALGOS)
def test_smoke_single(algo, tmp_path):
    check_run(run(load_config(None, smoke_args(algo, tmp_path))))


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    from framework.ray.session import init_ray

    started = init_ray(load_config(None, []).general)
    yield
    if started:
        ray.shutdown()


def ray_paths() -> list:
    """Every algorithm, with the Ray smoke runs of those whose Ray path another one already
    covers (the same policy class and buffer class: thin configs such as DoubleDQN or DDPG)
    marked slow. A Ray run costs about 10 s of actor start-up per algorithm on 2 cores; what
    differs between algorithms under Ray is what travels (actor state, adder output) and how
    the DataServer stores it (the buffer), so one run per pair keeps every path in the default
    suite. ``pytest -m slow`` runs the rest."""
    seen, params = set(), []
    for algo in ALGOS:
        _, policy, _, _ = make(algo, *next((o, a) for al, o, a in SUPPORTED if al == algo))
        key = (type(policy), type(policy.make_buffer()))
        params.append(pytest.param(algo, marks=[pytest.mark.slow] if key in seen else []))
        seen.add(key)
    return params


@pytest.mark.parametrize("algo", ray_paths())
def test_smoke_ray(algo, tmp_path, ray_session):
    if policy_class(algo).offline:
        pytest.skip("offline algorithms train from a dataset on the single backend")
    args = smoke_args(algo, tmp_path, "general_cfg.mp_backend=ray", "general_cfg.n_workers=2")
    summary = run(load_config(None, args))
    check_run(summary)
    assert summary["mp_backend"] == "ray"


def test_every_algorithm_supports_something():
    for algo in ALGOS:
        assert any(a == algo for a, *_ in SUPPORTED), f"{algo} supports no probe env"
