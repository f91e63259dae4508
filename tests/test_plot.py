"""The reward figure: drawn by the helper process, or here when that process is gone."""

from __future__ import annotations

from framework.records.plot import FigureWriter

EPISODES = [{"env_steps": 20 * i, "return": float(i % 50)} for i in range(200)]
EVALS = [{"env_steps": 1000 * i, "mean_return": 10.0 * i, "std_return": 1.0} for i in range(4)]
PNG = b"\x89PNG\r\n\x1a\n"


def test_helper_process_draws_the_figure(tmp_path):
    path = tmp_path / "rewards.png"
    writer = FigureWriter(path, "train CartPole-v1 DQN", show=False)
    proc = writer.proc
    assert proc is not None and proc.poll() is None  # started, waiting for the data
    writer.write(EPISODES, EVALS)
    assert proc.returncode == 0  # the helper drew it and exited
    assert path.read_bytes().startswith(PNG)
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically, nothing left behind


def test_figure_drawn_in_process_when_helper_died(tmp_path):
    path = tmp_path / "rewards.png"
    writer = FigureWriter(path, "t", show=False)
    writer.proc.kill()
    writer.proc.wait()
    writer.write(EPISODES, EVALS)
    assert path.read_bytes().startswith(PNG)


def test_close_without_drawing_stops_the_helper(tmp_path):
    writer = FigureWriter(tmp_path / "rewards.png", "t", show=False)
    proc = writer.proc
    writer.close()
    assert proc.returncode == 0
    assert not (tmp_path / "rewards.png").exists()
