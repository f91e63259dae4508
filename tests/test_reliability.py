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
        "w": torch.randn(3, 2), "h": torch.randn(4).to(torch.bfloat16), "n": np.arange(5),
        "s": np.float32(1.5), "big": 2**100, "nan": float("nan"), "inf": -float("inf"),
        "t": (1, "a", None, True), "int_keys": {3: "x", (1, 2): [1.0]}, "__odd": 1,
        "nested": [{"a": np.zeros((2, 2), np.uint8)}],
    }  # fmt: skip
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
