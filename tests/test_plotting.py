"""Terminal charts (cli/charts.py) and reading a run's history back (run/records.py)."""
import math

import pytest

from retro_gamer.cli import charts
from retro_gamer.run import records
from retro_gamer.errors import RetroGamerError

LOG_TEXT = """\
[INIT] Network: MLP 3074 -> 128 -> 128 -> 5
=== Training started | 2026-05-09 14:22:01 ===
[ep_0100]  ep=0001-0100  avg_reward=-31.4  avg_steps=47  epsilon=0.938  avg_loss=7.2  time=0m12s  total=0m12s
[ep_0200]  ep=0101-0200  avg_reward=-18.6  avg_steps=89  epsilon=0.879  avg_loss=6.8  time=0m14s  total=0m26s
=== Resumed from ep_0200.npz | 2026-05-09 15:00:00 ===
[ep_0300]  ep=0201-0300  avg_reward= -4.1  avg_steps=134  epsilon=0.824  avg_loss=6.1  time=0m15s  total=0m41s
[ep_0500]  ep=0401-0500  avg_reward= +8.7  avg_steps=210  epsilon=0.724  avg_loss=5.4  time=1h02m03s  total=1h03m12s
"""


# --------------------------------------------------------------------------- records

def test_parse_checkpoint_line_reads_every_field():
    record = records.parse_checkpoint_line(LOG_TEXT.splitlines()[2])
    assert record == {
        "name": "ep_0100", "first_episode": 1, "episode": 100,
        "avg_reward": -31.4, "avg_steps": 47.0, "epsilon": 0.938, "avg_loss": 7.2,
        "seconds": 12.0, "total_seconds": 12.0, "line": LOG_TEXT.splitlines()[2],
    }


def test_parse_checkpoint_line_accepts_padded_signed_values_and_hours():
    record = records.parse_checkpoint_line(LOG_TEXT.splitlines()[6])
    assert record["avg_reward"] == 8.7
    assert record["seconds"] == 3723.0 and record["total_seconds"] == 3792.0


@pytest.mark.parametrize("line", [
    "[INIT] Network: MLP", "=== Training started | 2026 ===", "", "[ep_0100] no fields here",
    "avg_reward=3 [ep_0100] ep=0001-0100",
])
def test_other_lines_are_not_checkpoint_lines(line):
    assert records.parse_checkpoint_line(line) is None


def test_history_is_ordered_and_a_relogged_episode_keeps_its_latest_line(tmp_path):
    redone = "[ep_0200]  ep=0101-0200  avg_reward=+1.0  avg_steps=9  epsilon=0.5  avg_loss=1.0  time=0m01s  total=0m30s\n"
    (tmp_path / "training.log").write_text(LOG_TEXT + redone)
    history = records.read_checkpoint_history(tmp_path)
    assert [r["episode"] for r in history] == [100, 200, 300, 500]
    assert history[1]["avg_reward"] == 1.0


def test_missing_files_give_empty_history(tmp_path):
    assert records.read_checkpoint_history(tmp_path) == []
    assert records.read_episodes(tmp_path) == {}


def test_read_episodes_skips_broken_rows_and_keeps_the_latest_row(tmp_path):
    (tmp_path / "episodes.csv").write_text(
        "episode,total_reward,steps,epsilon,avg_loss,seconds\n"
        "1,-10,5,0.99,0,0.01\n"
        "2,-3.5,8,0.98,1.5,0.02\n"
        "2,4,9,0.98,1.25,0.02\n"
        "3,oops,1,1,1,1\n"
        "4,7,1"  # cut short by a crash
    )
    episodes = records.read_episodes(tmp_path)
    assert episodes["episode"] == [1.0, 2.0]
    assert episodes["total_reward"] == [-10.0, 4.0]
    assert episodes["avg_loss"] == [0.0, 1.25]


@pytest.mark.parametrize("text,seconds", [("0m12s", 12), ("1h02m03s", 3723), ("45s", 45), ("3m", 180)])
def test_parse_duration(text, seconds):
    assert records.parse_duration(text) == seconds


def test_parse_duration_rejects_nonsense():
    assert records.parse_duration("soon") is None
    assert records.parse_duration("") is None


# --------------------------------------------------------------------------- charts

def test_resample_averages_equal_shares_and_skips_nan():
    assert charts.resample([1, 3, 5, 7], 2) == [2, 6]
    assert charts.resample([1, 2], 5) == [1, 2]
    columns = charts.resample([math.nan, 4, math.nan, math.nan], 2)
    assert columns[0] == 4 and math.isnan(columns[1])


def test_bar_heights_span_one_to_levels():
    assert charts.bar_heights([0, 5, 10], 8) == [1, 5, 8]
    assert charts.bar_heights([3, 3], 8) == [4, 4]
    assert charts.bar_heights([math.nan, 1.0, 2.0], 8) == [0, 1, 8]


def test_a_one_line_chart_rises_with_the_values():
    assert charts.chart_rows(list(range(8)), 8, height=1) == ["▁▂▃▄▅▆▇█"]
    assert len(charts.chart_rows(list(range(100)), 10, height=1)[0]) == 10


def test_chart_rows_stack_eighth_blocks_from_the_bottom():
    rows = charts.chart_rows([0.0, 1.0], width=2, height=2)
    assert rows == [" █", "▁█"]


def test_labelled_chart_has_labels_and_exact_width():
    lines = charts.labelled_chart("reward", [1, 2, 3], [-5.0, 0.0, 12.5], width=40, height=4)
    assert all(len(line) == 40 for line in lines)
    assert lines[0].startswith("reward")
    assert "12.5┤" in lines[1] and "-5.0┤" in lines[4]
    assert lines[-1].strip().startswith("1") and lines[-1].strip().endswith("3")


def test_labelled_chart_without_data_says_so():
    lines = charts.labelled_chart("loss", [1, 2], [math.nan, math.nan], width=30, height=3)
    assert "no data yet" in lines[1]


def test_chart_grid_puts_as_many_charts_side_by_side_as_fit():
    curves = [(f"curve {i}", [1, 2, 3], [1.0, 2.0, 3.0]) for i in range(4)]
    widest = charts.chart_grid(curves, width=200, height=3, min_width=40)
    wide = charts.chart_grid(curves, width=120, height=3, min_width=40)
    narrow = charts.chart_grid(curves, width=60, height=3, min_width=40)
    assert all(f"curve {i}" in widest[0] for i in range(4))
    assert "curve 0" in wide[0] and "curve 1" in wide[0] and "curve 2" not in wide[0]
    assert "curve 1" not in narrow[0]
    assert len(narrow) > len(wide) > len(widest)
    assert max(len(line) for line in wide) <= 120


def test_few_values_get_wider_bars():
    lines = charts.labelled_chart("epsilon", [100, 200], [0.9, 0.5], width=30, height=2)
    assert lines[0].startswith("epsilon  (last 0.500)")
    assert lines[1].rstrip().endswith("0.900┤███")        # each value three columns wide
    assert lines[2].rstrip().endswith("0.500┤███▁▁▁")


def test_checkpoint_curves_leave_gaps_for_missing_figures():
    history = [{"episode": 100, "avg_reward": 1.0, "avg_steps": 5, "avg_loss": None, "epsilon": 0.9},
               {"episode": 200, "avg_reward": 2.0, "avg_steps": 6, "avg_loss": 0.5, "epsilon": 0.8}]
    curves = charts.checkpoint_curves(history)
    assert [title for title, _, _ in curves] == ["avg reward", "avg steps", "avg loss", "epsilon"]
    assert curves[0][1] == [100, 200] and math.isnan(curves[2][2][0]) and curves[2][2][1] == 0.5


def test_learning_curves_prefer_episodes_csv(tmp_path):
    (tmp_path / "training.log").write_text(LOG_TEXT)
    curves, source = charts.learning_curves(tmp_path)
    assert source == "4 checkpoints from training.log"
    assert curves[0][2] == [-31.4, -18.6, -4.1, 8.7]
    (tmp_path / "episodes.csv").write_text(
        "episode,total_reward,steps,epsilon,avg_loss,seconds\n1,-10,5,0.99,0,0.01\n2,3,8,0.98,1.5,0.02\n")
    curves, source = charts.learning_curves(tmp_path)
    assert source == "2 episodes from episodes.csv"
    assert [title for title, _, _ in curves][0] == "total reward per episode"
    loss = curves[2][2]
    assert math.isnan(loss[0]) and loss[1] == 1.5  # no learning step yet: a gap, not a zero


def test_save_figure_refuses_unknown_formats(tmp_path):
    with pytest.raises(RetroGamerError, match=r"\.png"):
        charts.save_figure([], tmp_path / "curves.jpg", "t")


def test_save_figure_without_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(RetroGamerError, match=r'pip install "retro-gamer-numpy\[plot\]"'):
        charts.save_figure([], tmp_path / "curves.png", "t")


def test_save_figure_writes_a_file(tmp_path):
    pytest.importorskip("matplotlib")
    curves = [(f"c{i}", [1, 2, 3], [1.0, 2.0, 3.0]) for i in range(4)]
    charts.save_figure([("run", curves)], tmp_path / "curves.svg", "run")
    assert (tmp_path / "curves.svg").read_text().lstrip().startswith("<?xml")
