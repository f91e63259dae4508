"""Reliability (issue 10): safe loading, file modes, signals, faults, non-finite training,
checkpoint housekeeping, config input that used to be accepted silently. Real subprocesses,
real signals, real files."""

from __future__ import annotations

import json
import os
import pickle
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli, run_main

from framework.records.archive import ArchiveError, read_archive, write_archive


class Evil:
    """Unpickling this runs a shell command (what a crafted checkpoint does)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def one_line_error(proc, code: int = 2) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return lines[0]


# ---- safety ---------------------------------------------------------------------------------
def test_a_crafted_checkpoint_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "rldojo-checkpoint-1", "policy": Evil(marker)}, evil)
    pickled = tmp_path / "evil.pkl.pt"
    pickled.write_bytes(pickle.dumps(Evil(marker)))
    # an archive whose arrays hold a pickled object array: np.load refuses to unpickle it
    tampered = tmp_path / "tampered.pt"
    with zipfile.ZipFile(tampered, "w") as z:
        with z.open("__tree__.npy", "w") as f:
            np.save(f, np.frombuffer(b'{"format":"rldojo-checkpoint-2"}', np.uint8))
        with z.open("a0.npy", "w") as f:
            np.save(f, np.array([Evil(marker)], dtype=object), allow_pickle=True)
    for path in (evil, pickled, tampered):
        proc = run_cli(
            "general_cfg.mode=test",
            "general_cfg.load_checkpoint=true",
            f"general_cfg.load_path={path}",
            f"general_cfg.tasks_dir={tmp_path / 't'}",
        )
        line = one_line_error(proc)
        assert str(path) in line and "rldojo checkpoint" in line, line
        assert not marker.exists(), "loading the file ran its code"
    assert not (tmp_path / "t").exists()


def test_archive_round_trip_and_refusals(tmp_path):
    tree = {
        "w": torch.randn(3, 2),
        "h": torch.randn(4).to(torch.bfloat16),
        "n": np.arange(5),
        "s": np.float32(1.5),
        "big": 2**100,
        "nan": float("nan"),
        "inf": -float("inf"),
        "t": (1, "a", None, True),
        "int_keys": {3: "x", (1, 2): [1.0]},
        "__odd": 1,
        "nested": [{"a": np.zeros((2, 2), np.uint8)}],
    }
    back = read_archive(write_archive(tmp_path / "a.npz", tree))
    torch.testing.assert_close(back["w"], tree["w"])
    assert back["h"].dtype == torch.bfloat16 and torch.equal(back["h"], tree["h"])
    np.testing.assert_array_equal(back["n"], tree["n"])
    assert back["s"] == np.float32(1.5) and isinstance(back["s"], np.generic)
    assert back["big"] == 2**100 and np.isnan(back["nan"]) and back["inf"] == -float("inf")
    assert back["t"] == (1, "a", None, True) and back["int_keys"] == {3: "x", (1, 2): [1.0]}
    assert back["__odd"] == 1 and back["nested"][0]["a"].dtype == np.uint8
    with np.load(tmp_path / "a.npz", allow_pickle=False) as z:  # a plain .npz, no pickle
        assert "__tree__" in z.files
    with pytest.raises(TypeError, match="cannot be stored"):
        write_archive(tmp_path / "b.npz", {"f": lambda: 1})
    with pytest.raises(TypeError, match="object arrays"):
        write_archive(tmp_path / "c.npz", {"o": np.array([object()])})
    (tmp_path / "junk").write_bytes(b"junk")
    with pytest.raises(ArchiveError, match="not an .npz archive"):
        read_archive(tmp_path / "junk")


def test_outputs_respect_the_umask(tasks):
    run = run_main(
        tasks,
        "general_cfg.max_env_steps=600",
        "algo_cfg.learning_starts=200",
        "general_cfg.online_eval_fre=300",
        "general_cfg.online_eval_episode=2",
    )
    files = [p for p in run.rglob("*") if p.is_file()]
    assert {"config.yaml", "best.pt", "last.pt", "summary.json", "episodes.csv"} <= {
        p.name for p in files
    }
    umask = os.umask(0)
    os.umask(umask)
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, p
    assert json.loads((run / "results" / "summary.json").read_text())["env_steps"] >= 600


# ---- faults -----------------------------------------------------------------------------------
def limit_file_size(nbytes: int):
    """preexec_fn: files larger than ``nbytes`` cannot be written (EFBIG, not a kill)."""

    def apply():
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return apply


def run_cli_limited(tasks: Path, nbytes: int, *args: str):
    import subprocess
    import sys

    from conftest import ROOT

    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "main.py"),
            f"general_cfg.tasks_dir={tasks}",
            "general_cfg.progress=false",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit_file_size(nbytes),
    )


def test_a_file_that_cannot_be_written_stops_the_run_cleanly(tmp_path):
    """The checkpoint (about 1.1 MB for DQN's default network) exceeds a 200 kB file-size
    limit: the run stops at once with one line naming the file, exit 1, and keeps its records."""
    tasks = tmp_path / "tasks"
    proc = run_cli_limited(
        tasks,
        200_000,
        "general_cfg.max_env_steps=100000",
        "general_cfg.online_eval_fre=1200",
        "general_cfg.online_eval_episode=2",
    )
    line = one_line_error(proc, code=1)
    assert "cannot write" in line and "best.pt" in line and "File too large" in line, line
    (run,) = tasks.iterdir()
    summary = json.loads((run / "results" / "summary.json").read_text())
    assert summary["stop_reason"] == "error" and summary["env_steps"] < 5000
    assert len((run / "results" / "evals.csv").read_text().splitlines()) == 2  # header + 1 eval
    assert not list(run.rglob(".*.tmp")), "a temp file was left behind"
    assert not list((run / "models").glob("*.pt"))  # none could be written: none half-written


def _mount_tmpfs(path: Path, options: str) -> bool:
    import subprocess

    path.mkdir(parents=True, exist_ok=True)
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )


def _umount(path: Path) -> None:
    import subprocess

    subprocess.run(["umount", str(path)], capture_output=True)


def test_a_full_disk_keeps_the_last_complete_checkpoint(tmp_path):
    """A 4 MB tmpfs fills with periodic checkpoints (about 1.1 MB each): the run stops with one
    line naming the file it could not write; the checkpoints already written are complete."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "size=4m"):
        pytest.skip("mounting a tmpfs needs privileges this machine does not give")
    try:
        proc = run_cli(
            f"general_cfg.tasks_dir={disk}",
            "general_cfg.max_env_steps=100000",
            "general_cfg.model_save_fre=16",
            "general_cfg.keep_checkpoints=0",
            "general_cfg.online_eval=false",
            "general_cfg.progress=false",
        )
        line = one_line_error(proc, code=1)
        assert "cannot write" in line and "No space left on device" in line, line
        (run,) = disk.iterdir()
        saved = list((run / "models").glob("*.pt"))
        assert saved, "no checkpoint was complete before the disk filled"
        from framework.records.checkpoint import read_checkpoint

        for path in saved:
            assert read_checkpoint(path)["counters"]["update_steps"] >= 16
        assert not list(run.rglob(".*.tmp"))
    finally:
        _umount(disk)


def test_tasks_folder_problems_are_one_line_errors_before_anything_is_written(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [(a_file, "is a file, not a folder"), (Path("/sys/rldojo-tasks"), "cannot write into")]
    readonly = tmp_path / "ro"
    if _mount_tmpfs(readonly, "ro,size=1m"):
        cases.append((readonly / "tasks", "Read-only file system"))
    try:
        for tasks, expected in cases:
            line = one_line_error(run_cli(f"general_cfg.tasks_dir={tasks}"))
            assert "general_cfg.tasks_dir: " in line and expected in line, line
    finally:
        _umount(readonly)
    assert a_file.read_text() == "x"


def test_diverging_training_stops_and_keeps_the_last_finite_checkpoint(tasks):
    """lr 1e10 blows DQN up once learning starts (1000 steps). The run stops with one line
    naming the update step; the update with non-finite gradients is not applied, so no NaN
    reaches updates.csv or a checkpoint, and last.pt holds the last finite state."""
    proc = run_cli(
        f"general_cfg.tasks_dir={tasks}",
        "algo_cfg.lr=1e10",
        "general_cfg.online_eval_fre=500",
        "general_cfg.online_eval_episode=2",
        "general_cfg.max_env_steps=50000",
        "general_cfg.progress=false",
    )
    line = one_line_error(proc, code=1)
    assert "training diverged: non-finite gradients of the q loss at update step" in line, line
    (run,) = tasks.iterdir()
    summary = json.loads((run / "results" / "summary.json").read_text())
    assert summary["stop_reason"] == "error" and summary["env_steps"] < 5000
    updates = run / "results" / "updates.csv"
    assert not updates.exists() or "nan" not in updates.read_text().lower()
    from framework.records.checkpoint import read_checkpoint

    last = read_checkpoint(run / "models" / "last.pt")
    assert last["counters"]["env_steps"] == summary["env_steps"] >= 1000
    for tensor in last["policy"]["networks"]["q"].values():
        assert torch.isfinite(tensor).all()


def test_non_finite_parameters_never_reach_a_checkpoint(tmp_path):
    """Parameters that did go non-finite: no checkpoint is written from them, and last.pt is a
    copy of the newest finite checkpoint of the run."""
    from config.loader import load_config
    from framework.records.checkpoint import read_checkpoint
    from framework.records.taskdir import TaskDir
    from framework.runtime.learner import Learner
    from framework.runtime.loop import make_clock
    from framework.runtime.setup import Setup

    cfg = load_config(None, ["general_cfg.online_eval=false", "general_cfg.save_fig=false"])
    setup = Setup(cfg)
    task = TaskDir.create(tmp_path, "train", "CartPole-v1", "DQN")
    learner = Learner(cfg, task, setup.policy, make_clock(cfg))
    learner.counters.env_steps = 100
    assert learner.save("best") is not None
    with torch.no_grad():
        next(setup.policy.q.parameters()).fill_(float("nan"))
    assert not setup.policy.params_finite()
    learner.counters.env_steps = 200
    assert learner.save("7") is None and not (task.models / "7.pt").exists()
    learner.finish()
    assert read_checkpoint(task.models / "last.pt")["counters"]["env_steps"] == 100


def test_periodic_checkpoints_are_pruned_and_stale_temp_files_removed(tasks):
    run = run_main(
        tasks,
        "general_cfg.max_env_steps=3000",
        "algo_cfg.learning_starts=500",
        "general_cfg.model_save_fre=16",
        "general_cfg.keep_checkpoints=2",
        "general_cfg.online_eval_fre=1000",
        "general_cfg.online_eval_episode=2",
    )
    periodic = sorted(int(p.stem) for p in (run / "models").glob("[0-9]*.pt"))
    assert len(periodic) == 2 and periodic[-1] >= 160  # the newest two of about ten
    assert (run / "models" / "best.pt").is_file() and (run / "models" / "last.pt").is_file()
    # a run killed mid-write (kill -9) leaves hidden temp files; resuming from it removes them
    stale = run / "models" / ".48.pt.abc123.tmp"
    fresh = run / "models" / ".64.pt.def456.tmp"  # too young: a writer may still be busy
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"partial")
    os.utime(stale, (1, 1))
    run_main(
        tasks,
        "general_cfg.max_env_steps=3500",
        "algo_cfg.learning_starts=500",
        "general_cfg.load_checkpoint=true",
        f"general_cfg.load_path={run}",
        "general_cfg.online_eval=false",
    )
    assert not stale.exists() and fresh.exists()
