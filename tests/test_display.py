"""The training display: live dashboard in a terminal, plain lines in a pipe."""
import io
import re

from blessed import Terminal

from retro_gamer.cli import display as display_module
from retro_gamer.cli.display import START_MESSAGE, TrainingDisplay
from retro_gamer.run.records import format_duration

HISTORY = [
    {"avg_reward": -31.4, "avg_steps": 47, "avg_loss": 7.2, "epsilon": 0.938, "episode": 100},
    {"avg_reward": -18.6, "avg_steps": 89, "avg_loss": 6.8, "epsilon": 0.879, "episode": 200},
]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def episode(number, reward=-5.0):
    return {"episode": number, "total_reward": reward, "steps": 30, "epsilon": 0.7,
            "avg_loss": 3.25, "seconds": 0.01}


def checkpoint(number, reward):
    return {"name": f"ep_{number:04d}", "episode": number, "first_episode": number - 99,
            "avg_reward": reward, "avg_steps": 80.0, "epsilon": 0.7, "avg_loss": 5.0,
            "seconds": 1.0, "total_seconds": 3.0,
            "line": f"[ep_{number:04d}]  ep={number - 99:04d}-{number:04d}  avg_reward={reward:+.1f}"}


class FakeTerminal:
    """What the display uses of blessed.Terminal, with readable control sequences."""
    width = 100
    clear_eol = "<EOL>"
    clear_eos = "<EOS>"

    def move_up(self, n):
        return f"<UP{n}>"


def test_format_duration_always_writes_minutes():
    assert format_duration(12) == "0m12s"
    assert format_duration(125) == "2m05s"
    assert format_duration(3725) == "1h02m05s"


def test_pipe_gets_one_plain_line_per_checkpoint():
    stream = io.StringIO()
    shown = TrainingDisplay(300, 201, HISTORY, stream=stream)
    assert not shown.live
    shown.start()
    for number in range(201, 301):
        shown.on_episode(episode(number))
    shown.on_checkpoint(checkpoint(300, -4.1))
    shown.close()
    assert stream.getvalue() == START_MESSAGE + "\n" + checkpoint(300, -4.1)["line"] + "\n"


def test_terminal_display_redraws_in_place():
    stream = io.StringIO()
    shown = TrainingDisplay(1000, 201, HISTORY, stream=stream, terminal=FakeTerminal())
    shown.start()
    first_draw = stream.getvalue()
    assert first_draw.startswith(START_MESSAGE + "\n")
    drawn_lines = first_draw.count("<EOL>")
    shown.on_checkpoint(checkpoint(300, -4.1))
    redraw = stream.getvalue()[len(first_draw):]
    # Back up over everything drawn before, clear it, then draw the whole block again.
    assert redraw.startswith(f"\r<UP{drawn_lines - 1}><EOS>")
    assert "avg reward  (last -4.1)" in redraw


def test_episode_updates_redraw_only_the_progress_lines(monkeypatch):
    stream = io.StringIO()
    shown = TrainingDisplay(1000, 201, HISTORY, stream=stream, terminal=FakeTerminal())
    shown.start()
    before = len(stream.getvalue())
    monkeypatch.setattr(display_module, "REDRAW_SECONDS", 0.0)
    shown.on_episode(episode(201, reward=12.0))
    update = stream.getvalue()[before:]
    assert update.startswith("\r<UP1>201/1000 episodes")
    assert "last episode 201:  reward 12.0  steps 30  epsilon 0.700  loss 3.2" in update
    assert "avg reward" not in update


def test_episode_updates_are_throttled(monkeypatch):
    stream = io.StringIO()
    shown = TrainingDisplay(1000, 1, stream=stream, terminal=FakeTerminal())
    shown.start()
    monkeypatch.setattr(display_module, "REDRAW_SECONDS", 3600.0)
    before = len(stream.getvalue())
    for number in range(1, 50):
        shown.on_episode(episode(number))
    assert len(stream.getvalue()) == before
    assert shown.episodes_done == 49


def test_progress_lines_fit_and_show_the_figures():
    shown = TrainingDisplay(1000, 501, HISTORY, stream=io.StringIO(), terminal=FakeTerminal())
    shown.on_episode(episode(512))
    for width in (60, 80, 140):
        bar_line, figures = shown.progress_lines(width)
        assert len(bar_line) <= width and len(figures) <= width
        assert bar_line.startswith("512/1000 episodes ▕")
        assert "51%" in bar_line and "left" in bar_line
    wide = shown.progress_lines(140)[0]
    assert "0m00s elapsed" in wide and "ep/" in wide  # run.records.format_duration: always minutes
    assert shown.progress_lines(140)[1].startswith("last episode 512:  reward -5.0")


def test_charts_follow_the_terminal_width():
    shown = TrainingDisplay(1000, 301, HISTORY, stream=io.StringIO(), terminal=FakeTerminal())
    wide = shown.chart_lines(120)
    narrow = shown.chart_lines(79)
    assert len(wide) == 6 and all(t in wide[0] for t in ("avg reward", "avg steps", "avg loss", "epsilon"))
    assert len(narrow) == 13 and "avg loss" not in narrow[0] and "avg loss" in narrow[7]
    assert max(len(line) for line in wide) <= 120 and max(len(line) for line in narrow) <= 79


def test_without_history_the_display_says_when_charts_come():
    shown = TrainingDisplay(1000, 1, stream=io.StringIO(), terminal=FakeTerminal())
    assert "after the first checkpoint" in shown.chart_lines(100)[0]


def test_close_leaves_the_cursor_below_the_display():
    stream = io.StringIO()
    shown = TrainingDisplay(10, 1, stream=stream, terminal=FakeTerminal())
    shown.start()
    shown.close()
    assert stream.getvalue().endswith("\n")
    shown.close()  # a second close (the CLI's finally) adds nothing
    assert not stream.getvalue().endswith("\n\n")


def test_real_blessed_terminal_sequences():
    stream = io.StringIO()
    terminal = Terminal(kind="xterm-256color", stream=stream, force_styling=True)
    shown = TrainingDisplay(300, 1, stream=stream, terminal=terminal)
    shown.start()
    shown.on_checkpoint(checkpoint(100, -31.4))
    shown.close()
    text = ANSI.sub("", stream.getvalue())
    assert "avg reward  (last -31.4)" in text and "100/300 episodes" in text
