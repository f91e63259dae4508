"""The Ray backend on a real local Ray (no mocks): learning, task directory, worker death,
trajectory collection, and idle actors that use no CPU.

One Ray session for the module (the runs join it and leave it running).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from config.base import UserError  # noqa: E402
from config.loader import load_config  # noqa: E402
from framework.api import Hooks, run  # noqa: E402
from framework.ray.session import init_ray  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ROOT / "config" / "presets"
LAYOUT = [
    "config.yaml",
    "models/best.pt",
    "models/last.pt",
    "results/episodes.csv",
    "results/evals.csv",
    "results/summary.json",
    "figs/rewards.png",
]


@pytest.fixture(scope="module")
def ray_session():
    cfg = load_config(None, [])
    started = init_ray(cfg.general)
    yield
    if started:
        ray.shutdown()


def train(tmp_path, yaml, overrides, on_started=None, policy_hook=None):
    """A Ray training run through the run API, as main.py does it; returns (summary as written
    to summary.json, task root)."""
    cfg = load_config(
        PRESETS / yaml if yaml else None,
        [
            "general_cfg.mp_backend=ray",
            "general_cfg.progress=false",
            f"general_cfg.tasks_dir={tmp_path}",
            *overrides,
        ],
    )
    summary = run(cfg, Hooks(on_ray_started=on_started, ray_policy_hook=policy_hook))
    root = Path(summary.pop("task_dir"))
    return summary, root


def assert_layout(root: Path, summary: dict) -> None:
    missing = [p for p in LAYOUT if not (root / p).is_file()]
    assert not missing, f"missing outputs: {missing}"
    assert json.loads((root / "results/summary.json").read_text()) == summary
    rows = (root / "results/episodes.csv").read_text().splitlines()
    assert len(rows) == summary["episodes"] + 1
    numbers = [int(r.split(",")[0]) for r in rows[1:]]
    assert numbers == list(range(1, summary["episodes"] + 1))


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_import_is_lazy():
    code = (
        "import sys, framework.api, framework.runtime.loop, framework.ray.driver; "
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.parametrize("preset", ["CartPole-v1_PPO.yaml", "CartPole-v1_DQN.yaml"])
def test_learns_with_two_workers(ray_session, tmp_path, preset):
    """The preset as shipped, 2 workers (each with the preset's n_envs), seed 1: eval mean
    >= 195 within 60k env steps, and the task directory of single mode."""
    summary, root = train(
        tmp_path,
        preset,
        [
            "general_cfg.n_workers=2",
            "general_cfg.reward_threshold=195",
            "general_cfg.max_env_steps=60000",
        ],
    )
    assert summary["stop_reason"] == "reward_threshold", summary
    assert summary["best_eval"] >= 195
    assert summary["mp_backend"] == "ray" and summary["n_workers"] == 2
    if "DQN" in preset:  # the update-to-data ratio of single mode: 16 gradient steps per 256
        assert summary["update_steps"] <= 16 * summary["env_steps"] / 256
    assert_layout(root, summary)


def test_worker_killed_mid_run(ray_session, tmp_path):
    """SIGKILL one worker's process: Ray restarts it, the run finishes with complete outputs."""
    seen: dict = {}

    def killer(run):
        seen["before"] = run.pids()

        def kill_later():
            time.sleep(2.0)
            os.kill(seen["before"][0], signal.SIGKILL)
            seen["killed_at"] = time.perf_counter()
            for _ in range(100):  # while Ray restarts it, calls fail as "unavailable"
                try:
                    seen["after"] = run.pids()
                    seen["restart_seconds"] = time.perf_counter() - seen["killed_at"]
                    return
                except ray.exceptions.RayActorError:
                    time.sleep(0.2)

        seen["thread"] = threading.Thread(target=kill_later, daemon=True)
        seen["thread"].start()

    summary, root = train(
        tmp_path,
        "CartPole-v1_DQN.yaml",
        [
            "general_cfg.n_workers=2",
            "general_cfg.max_env_steps=40000",
            "general_cfg.reward_threshold=null",
            "general_cfg.online_eval_fre=5000",
        ],
        on_started=killer,
    )
    seen["thread"].join(timeout=30)
    assert summary["worker_restarts"] == 1, summary  # one death, counted once
    assert summary["stop_reason"] == "max_env_steps"
    assert summary["env_steps"] >= 40000
    # a new process took over worker 0 while the run went on
    assert seen["after"][0] != seen["before"][0], seen
    assert "died" in (root / "logs/run.log").read_text()
    assert_layout(root, summary)


def test_collect_traj_under_ray(ray_session, tmp_path):
    """Trajectories from 2 workers: one per counted episode, none repeated, none past the
    max_episode limit (episodes finishing in the same step beyond it are dropped)."""
    from framework.data.trajectories import iter_trajectories

    summary, root = train(
        tmp_path,
        "CartPole-v1_PPO.yaml",
        [
            "general_cfg.n_workers=2",
            "general_cfg.collect_traj=true",
            "general_cfg.max_episode=150",
            "general_cfg.reward_threshold=null",
            "general_cfg.online_eval_fre=1024",
        ],
    )
    assert summary["episodes"] == 150 and summary["stop_reason"] == "max_episode"
    trajs = list(iter_trajectories(root))
    assert len(trajs) == summary["episodes"]
    assert sorted(t["episode"] for t in trajs) == list(range(len(trajs)))
    rows = (root / "results/episodes.csv").read_text().splitlines()[1:]
    lengths = sorted(int(r.split(",")[3]) for r in rows)
    assert sorted(t["length"] for t in trajs) == lengths
    # the first episode of each env has an explicit reset seed, distinct across both workers'
    # 16 envs (later ones are auto-reset and carry None)
    seeds = [t["seed"] for t in trajs if t["seed"] is not None]
    assert len(seeds) == len(set(seeds)) == 32
    assert_layout(root, summary)


def test_idle_actors_do_not_spin(ray_session, tmp_path):
    """While the learner is blocked for 3 s, workers and the DataServer wait using ~no CPU."""
    marker = tmp_path / "learner-blocked"
    used: dict[int, float] = {}

    def slow_first_learn(policy):  # runs in the LearnerActor's process
        import time

        learn = policy.learn

        def learn_once_slowly(batch):
            if not marker.exists():
                marker.touch()
                time.sleep(3.0)
            return learn(batch)

        policy.learn = learn_once_slowly

    def monitor(run):
        pids = [*run.pids(), ray.get(run.ds.pid.remote())]

        def measure():
            for _ in range(600):
                if marker.exists():
                    break
                time.sleep(0.05)
            time.sleep(0.5)  # rollouts already in flight finish
            start = {p: cpu_seconds(p) for p in pids}
            time.sleep(2.0)
            used.update({p: cpu_seconds(p) - start[p] for p in pids})

        threading.Thread(target=measure, daemon=True).start()

    summary, root = train(
        tmp_path,
        "CartPole-v1_DQN.yaml",
        [
            "general_cfg.n_workers=2",
            "general_cfg.max_env_steps=3000",
            "algo_cfg.learning_starts=256",
            "general_cfg.online_eval=false",
            "general_cfg.reward_threshold=null",
            "general_cfg.save_best_model=false",
        ],
        on_started=monitor,
        policy_hook=slow_first_learn,
    )
    assert marker.exists(), "the learner never blocked"
    assert len(used) == 3, "the CPU time was not measured"
    assert max(used.values()) < 0.3, f"CPU seconds used in a 2 s idle window: {used}"
    assert summary["env_steps"] >= 3000


def test_too_many_cpus_requested_is_a_clear_error(ray_session, tmp_path):
    with pytest.raises(UserError, match="worker_num_cpus"):
        train(tmp_path, None, ["general_cfg.n_workers=64", "general_cfg.worker_num_cpus=1"])


def kill_after(seconds: float, pid_of, seen: dict, ready=None):
    """SIGKILL the process ``pid_of()`` names, ``seconds`` from now (after ``ready()`` holds,
    when given), in a thread."""

    def go():
        for _ in range(1200):
            if ready is None or ready():
                break
            time.sleep(0.05)
        time.sleep(seconds)
        seen["pid"] = pid_of()
        os.kill(seen["pid"], signal.SIGKILL)

    seen["thread"] = threading.Thread(target=go, daemon=True)
    seen["thread"].start()


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_learner_killed_ends_the_run_with_what_it_wrote(ray_session, tmp_path):
    """SIGKILL the Learner actor: the driver ends the run with a clear error, keeps the
    records and periodic checkpoints, writes the summary and figure, and the workers and
    DataServer die with their owner."""
    seen: dict = {}

    def killer(run):
        seen["others"] = [*run.pids(), ray.get(run.ds.pid.remote())]
        kill_after(4.0, lambda: ray.get(run.learner.pid.remote()), seen)

    summary, root = train(
        tmp_path,
        "CartPole-v1_DQN.yaml",
        [
            "general_cfg.n_workers=2",
            "general_cfg.max_env_steps=200000",
            "general_cfg.reward_threshold=null",
            "general_cfg.model_save_fre=200",
        ],
        on_started=killer,
    )
    assert summary["stop_reason"] == "error" and "Learner actor died" in summary["error"]
    assert json.loads((root / "results/summary.json").read_text()) == summary
    assert summary["env_steps"] < 200000 and summary["update_steps"] >= 200
    assert (root / "figs/rewards.png").is_file()
    assert list((root / "models").glob("[0-9]*.pt")), "no periodic checkpoint"
    rows = (root / "results/episodes.csv").read_text().splitlines()
    assert len(rows) - 1 >= summary["episodes"] > 0
    assert "Learner actor died" in (root / "logs/run.log").read_text()
    for _ in range(100):  # fate-sharing: the actors it owned go too
        if not any(alive(p) for p in seen["others"]):
            break
        time.sleep(0.1)
    assert not any(alive(p) for p in seen["others"]), "workers outlived their learner"


def test_data_server_killed_is_a_clear_error_with_a_final_checkpoint(ray_session, tmp_path):
    """SIGKILL the DataServer: the learner stops with a clear error and still writes the
    final checkpoint, records, figure and summary."""
    seen: dict = {}

    def killer(run):  # once the first evaluation (and best.pt) is written
        evals = Path(ray.get(run.learner.task_root.remote())) / "results" / "evals.csv"
        kill_after(
            0.0,
            lambda: ray.get(run.ds.pid.remote()),
            seen,
            ready=lambda: evals.is_file() and len(evals.read_text().splitlines()) > 1,
        )

    summary, root = train(
        tmp_path,
        "CartPole-v1_PPO.yaml",
        [
            "general_cfg.n_workers=2",
            "general_cfg.max_env_steps=500000",
            "general_cfg.reward_threshold=null",
        ],
        on_started=killer,
    )
    assert summary["stop_reason"] == "error" and "DataServer actor died" in summary["error"]
    assert_layout(root, summary)


@pytest.mark.parametrize(
    ("signum", "code"),
    [pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow), (signal.SIGTERM, 143)],
)
def test_stop_signals_under_ray_save_everything(tmp_path, signum, code):
    """SIGINT to the whole process group, as a terminal's Ctrl-C, or SIGTERM to the driver, as a
    scheduler sends it: exit 128 + the signal and the final checkpoint, records, figure and
    summary are all written."""
    cmd = [
        sys.executable,
        "main.py",
        "--yaml",
        str(PRESETS / "CartPole-v1_PPO.yaml"),
        "general_cfg.mp_backend=ray",
        "general_cfg.n_workers=2",
        "general_cfg.max_env_steps=10000000",
        "general_cfg.reward_threshold=null",
        f"general_cfg.tasks_dir={tmp_path}",
        "general_cfg.progress=false",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    for line in proc.stdout:  # training is under way once the first evaluation is printed
        if line.startswith("[eval]"):
            break
    time.sleep(1.0)
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)
    else:
        os.kill(proc.pid, signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    root = Path(out.strip().splitlines()[-1].split(": ", 1)[1])
    summary = json.loads((root / "results/summary.json").read_text())
    assert summary["interrupted"] and summary["stop_reason"] == "interrupted"
    assert summary["signal"] == signal.Signals(signum).name
    assert_layout(root, summary)
    assert "Traceback" not in err


def test_gpu_learner_needs_a_gpu_on_this_node(tmp_path):
    """learner_num_gpus asks Ray for a GPU: without one it is a one-line error, no files."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    run = subprocess.run(
        [
            sys.executable,
            "main.py",
            "general_cfg.mp_backend=ray",
            "general_cfg.learner_num_gpus=1",
            f"general_cfg.tasks_dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "learner_num_gpus" in run.stderr and "Traceback" not in run.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # starts a second Ray cluster with `ray start --head`: over a minute on 2 cores
def test_joins_an_existing_cluster(tmp_path):
    """`ray start --head` (an existing cluster), then `ray_address: <its address>`: the run
    ships this checkout as the working_dir, learns and writes the usual task directory.
    Ray's token authentication (on by default) needs RAY_AUTH_MODE=token with an explicit
    address, as Ray documents; the token is the one `ray start` saved in ~/.ray."""
    port = free_port()
    head = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            "--block",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        address, seen = None, []
        for line in head.stdout:  # it prints `ray start --address='IP:PORT'` for other nodes
            seen.append(line)
            found = re.search(r"--address='([^']+)'", line)
            if found:
                address = found.group(1)
            if "block forever" in line:
                break
        assert address and address.endswith(f":{port}"), "".join(seen)[-2000:]
        run = subprocess.run(
            [
                sys.executable,
                "main.py",
                "--yaml",
                str(PRESETS / "CartPole-v1_PPO.yaml"),
                "general_cfg.mp_backend=ray",
                "general_cfg.n_workers=2",
                f"general_cfg.ray_address={address}",
                "general_cfg.reward_threshold=195",
                f"general_cfg.tasks_dir={tmp_path / 'tasks'}",
                "general_cfg.progress=false",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "RAY_AUTH_MODE": "token"},  # Ray: explicit address, token auth
        )
        assert run.returncode == 0, run.stderr[-2000:]
        root = Path(run.stdout.strip().splitlines()[-1].split(": ", 1)[1])
        summary = json.loads((root / "results/summary.json").read_text())
        assert summary["stop_reason"] == "reward_threshold" and summary["best_eval"] >= 195
        assert_layout(root, summary)
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # `ray start --block` stops its processes
        head.wait(timeout=60)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def test_synchronous_ppo_under_ray_is_reproducible(ray_session, tmp_path):
    """Same seed, same number of workers: the same episodes and evaluations, whichever worker
    finishes its rollout first (the round is joined in worker order)."""
    runs = []
    for i in range(2):
        summary, root = train(
            tmp_path / str(i),
            "CartPole-v1_PPO.yaml",
            [
                "general_cfg.n_workers=2",
                "general_cfg.max_env_steps=4096",
                "general_cfg.reward_threshold=null",
                "general_cfg.online_eval_fre=1024",
                "general_cfg.online_eval_episode=3",
            ],
        )
        runs.append(root)
    a, b = ((r / "results" / name).read_text() for r in runs for name in ["episodes.csv"])

    def strip(text: str) -> list[str]:  # rows without their wall time
        return [line.rsplit(",", 1)[0] for line in text.splitlines()]

    assert strip(a) == strip(b) and len(strip(a)) > 50
    ea, eb = ((r / "results" / "evals.csv").read_text() for r in runs)
    assert strip(ea) == strip(eb) and len(strip(ea)) == 5


def test_a_ray_run_resumes_with_its_replay_buffer(ray_session, tmp_path):
    args = [
        "general_cfg.n_workers=2",
        "general_cfg.reward_threshold=null",
        "general_cfg.online_eval_fre=2048",
        "general_cfg.online_eval_episode=2",
    ]
    first, root = train(tmp_path, "CartPole-v1_DQN.yaml", [*args, "general_cfg.max_env_steps=4096"])
    from framework.records.archive import read_archive

    saved = read_archive(root / "models" / "last.buffer.npz")["buffer"]
    assert saved["size"] == first["env_steps"]  # every transition the workers sent
    second, root2 = train(
        tmp_path,
        "CartPole-v1_DQN.yaml",
        [
            *args,
            "general_cfg.max_env_steps=8192",
            "general_cfg.load_checkpoint=true",
            f"general_cfg.load_path={root}",
        ],
    )
    assert second["env_steps"] >= 8192 and second["episodes"] > first["episodes"]
    log = (root2 / "logs" / "run.log").read_text()
    assert "new episodes start" in log and "refills" not in log  # buffer restored, envs not
    first_row = (root2 / "results" / "episodes.csv").read_text().splitlines()[1]
    assert int(first_row.split(",")[0]) == first["episodes"] + 1


def test_killing_the_driver_takes_its_ray_processes_down(tmp_path):
    """kill -9 of the driver: Ray's processes (its agents used to linger for a minute) end
    within seconds."""
    import psutil

    cmd = [
        sys.executable,
        "main.py",
        "general_cfg.mp_backend=ray",
        "general_cfg.max_env_steps=10000000",
        f"general_cfg.tasks_dir={tmp_path}",
        "general_cfg.progress=false",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        for line in proc.stdout:  # training is under way once the first evaluation is printed
            if line.startswith("[eval]"):
                break
        ray_procs = psutil.Process(proc.pid).children(recursive=True)
        names = {p.name() for p in ray_procs}
        assert ray_procs and any("raylet" in n for n in names), names
        proc.kill()
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs(ray_procs, timeout=15)
        assert not alive, f"still running 15 s after the driver died: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
