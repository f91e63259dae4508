"""The reward figure: drawn from the run's CSV files by the helper process, or here when that
process is gone; test runs drawn as points with their mean."""

from __future__ import annotations

import pytest

from framework.records.plot import FigureWriter, draw_rewards
from framework.records.taskdir import CsvLog, read_csv_rows

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def csvs(tmp_path):
    episodes = CsvLog(tmp_path / "episodes.csv", ["episode", "env_steps", "return"])
    for i in range(200):
        episodes.write(episode=i + 1, env_steps=20 * i, **{"return": float(i % 50)})
    evals = CsvLog(tmp_path / "evals.csv", ["env_steps", "mean_return", "std_return"])
    for i in range(4):
        evals.write(env_steps=1000 * i, mean_return=10.0 * i, std_return=1.0)
    episodes.close()
    evals.close()
    return episodes.path, evals.path


def test_csv_lines_end_with_newline_only(csvs):
    data = csvs[0].read_bytes()
    assert b"\r" not in data and data.count(b"\n") == 201
    assert read_csv_rows(csvs[0])[3] == {"episode": 4, "env_steps": 60, "return": 3.0}


def test_helper_process_draws_the_figure(tmp_path, csvs):
    path = tmp_path / "rewards.png"
    writer = FigureWriter(path, "train CartPole-v1 DQN", show=False)
    proc = writer.proc
    assert proc is not None and proc.poll() is None  # started, waiting for the data
    writer.write(*csvs)
    assert proc.returncode == 0  # the helper drew it and exited
    assert path.read_bytes().startswith(PNG)
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically, nothing left behind


def test_figure_drawn_in_process_when_helper_died(tmp_path, csvs):
    path = tmp_path / "rewards.png"
    writer = FigureWriter(path, "t", show=False)
    writer.proc.kill()
    writer.proc.wait()
    writer.write(*csvs)
    assert path.read_bytes().startswith(PNG)


def test_close_without_drawing_stops_the_helper(tmp_path):
    writer = FigureWriter(tmp_path / "rewards.png", "t", show=False)
    proc = writer.proc
    writer.close()
    assert proc.returncode == 0
    assert not (tmp_path / "rewards.png").exists()


def test_test_runs_are_points_with_their_mean(csvs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_csv_rows(csvs[0])[:5]
    fig, ax = plt.subplots()
    draw_rewards(ax, rows, [], test=True)
    points, mean = ax.lines
    assert points.get_linestyle() == "None" and points.get_marker() == "o"
    assert list(points.get_xdata()) == [1, 2, 3, 4, 5]
    assert mean.get_ydata()[0] == pytest.approx(2.0)  # returns 0..4
    fig2, ax2 = plt.subplots()
    draw_rewards(ax2, read_csv_rows(csvs[0]), [], test=False)
    assert [line.get_label() for line in ax2.lines] == ["episode return", "smoothed"]
    plt.close("all")


def test_csv_logs_do_not_keep_their_rows_in_memory(tmp_path):
    import tracemalloc

    log = CsvLog(tmp_path / "episodes.csv", ["episode", "env_steps", "return", "length"])
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(20_000):
        log.write(episode=i, env_steps=20 * i, length=20, **{"return": float(i)})
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    log.close()
    assert grown < 200_000, f"{grown} bytes kept for 20,000 rows"
    assert len(read_csv_rows(log.path)) == 20_000
