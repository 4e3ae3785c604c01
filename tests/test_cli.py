"""The command line, driven as a user drives it: in-process through main(argv), and as
a subprocess (under a pseudo-terminal for play and for Ctrl-C during training)."""
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retro_gamer.cli import commands, main

TINY_GAME = '''\
from retro.game import Game


class Walker:
    """Walks along the middle row; reaching the right edge scores 10 and ends the game."""
    name = "walker"
    character = "@"

    def __init__(self):
        self.position = (0, 1)
        self.move = 0

    def handle_keystroke(self, key, game):
        if key.name == "KEY_RIGHT":
            self.move = 1
        elif key.name == "KEY_LEFT":
            self.move = -1

    def play_turn(self, game):
        x, y = self.position
        self.position = (min(max(x + self.move, 0), game.board_size[0] - 1), y)
        self.move = 0
        game.state["turns"] += 1
        if self.position[0] == game.board_size[0] - 1:
            game.state["score"] += 10
            game.end()
        elif game.state["turns"] >= TURN_LIMIT:
            game.end()


class Goal:
    character = "$"
    position = (5, 1)


TURN_LIMIT = 20


def create_game():
    return Game([Walker(), Goal()], {"score": 0, "turns": 0}, board_size=(6, 3))
'''

TINY_PYPROJECT = '''\
[project]
name = "tiny-game"
version = "0.1"

[tool.retro-gamer]
actions = ["KEY_LEFT", "KEY_RIGHT"]
reward = "score"
character_set = ["@", "$"]
'''

SMALL_SETTINGS = ["--memory-capacity", "100", "--batch-size", "8", "--hidden-sizes", "16",
                  "--seed", "1"]
CLI = [sys.executable, "-c", "import sys; from retro_gamer.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def game_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_game")
    (folder / "tiny_game.py").write_text(TINY_GAME)
    (folder / "pyproject.toml").write_text(TINY_PYPROJECT)
    return folder


@pytest.fixture(scope="module")
def trained_run(game_dir, tmp_path_factory):
    """A run of the tiny game trained for 3 episodes (made once; copy it to change it)."""
    run = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["create", "--game", str(game_dir / "tiny_game.py"), "--output", str(run),
                 "--training-episodes", "3", *SMALL_SETTINGS]) == 0
    assert main(["train", str(run)]) == 0
    return run


@pytest.fixture
def run_copy(trained_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


def run_cli(*args, cwd=None, input=None, timeout=60):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    return subprocess.run([*CLI, *map(str, args)], cwd=cwd, input=input, capture_output=True,
                          text=True, timeout=timeout, env=env)


# --------------------------------------------------------------------------- help and usage

def test_help_lists_every_command_without_loading_numpy():
    code = ("import sys; from retro_gamer.cli import main; status = main(['--help']); "
            "assert 'numpy' not in sys.modules and 'blessed' not in sys.modules, sorted(sys.modules); "
            "sys.exit(status)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for command in ("create", "init", "train", "play", "info", "clean", "plot", "eval"):
        assert re.search(rf"^\s+{command}\s+\w", result.stdout, re.MULTILINE), command
    assert "retro-gamer train runs/snake/" in result.stdout


def test_version(capsys):
    assert main(["--version"]) == 0
    assert re.match(r"retro-gamer \d+\.\d+", capsys.readouterr().out)


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_create_help_shows_every_option_with_its_default(capsys):
    assert main(["create", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--training-episodes", "--hidden-sizes", "--n-layers", "--layer-size",
                   "--learning-rate", "--learning-rate-decay", "--lr-decay", "--gamma",
                   "--epsilon-decay", "--epsilon-min", "--batch-size", "--memory-capacity",
                   "--target-update-freq", "--train-every", "--max-turns-per-episode",
                   "--exploration-turns", "--seed", "--prioritize-experiences",
                   "--no-prioritize-experiences"):
        assert option in text, option
    assert "(default: 0.001)" in text and "(default: 128,128)" in text


@pytest.mark.parametrize("args,message", [
    (["create", "--game", "g", "--output", "o", "--learning-rate", "fast"], "invalid float value"),
    (["create", "--game", "g", "--output", "o", "--hidden-sizes", "128,x"], "--hidden-sizes 128,64"),
    (["play", "run", "--framerate", "0"], "must be a number above 0"),
    (["eval", "run", "--episodes", "-3"], "whole number above 0"),
    (["train"], "RUN_DIR"),
    (["fly"], "invalid choice"),
])
def test_bad_usage_exits_2_with_a_message(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "play", "info", "clean", "plot", "eval"])
def test_missing_run_directory_is_a_one_paragraph_error(command, tmp_path, capsys):
    assert main([command, str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: There is no training run at") and "retro-gamer create" in err


def test_folder_without_config_is_not_a_run(tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 1
    assert "has no config.toml" in capsys.readouterr().err


# --------------------------------------------------------------------------- create

def test_create_writes_config_and_teaches_the_next_step(game_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["create", "--game", str(game_dir / "tiny_game.py"), "--output", str(run),
                 "--lr-decay", "0.9", "--n-layers", "3", "--layer-size", "32",
                 "--no-prioritize-experiences"]) == 0
    out = capsys.readouterr().out
    assert "board size    6 x 3" in out and "KEY_LEFT, KEY_RIGHT (and a no-op)" in out
    assert f"retro-gamer train {run}" in out
    text = (run / "config.toml").read_text()
    assert "learning_rate_decay = 0.9" in text
    assert re.search(r"hidden_sizes = \[\s*32,\s*32,\s*32,?\s*\]", text)


def test_init_is_the_older_spelling_of_create(game_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["init", str(game_dir / "tiny_game.py"), str(run), "--gamma", "0.9"]) == 0
    assert "gamma = 0.9" in (run / "config.toml").read_text()


def test_create_reports_bad_hyperparameters_without_a_traceback(game_dir, tmp_path, capsys):
    assert main(["create", "--game", str(game_dir / "tiny_game.py"), "--output",
                 str(tmp_path / "run"), "--gamma", "2", "--epsilon-min", "-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error:") and "gamma" in err and "epsilon_min" in err
    assert not (tmp_path / "run" / "config.toml").exists()


def test_create_with_a_missing_game_module(tmp_path, capsys):
    assert main(["create", "--game", "no_such_game_module", "--output", str(tmp_path / "r")]) == 1
    assert "Cannot find the game module 'no_such_game_module'" in capsys.readouterr().err


def test_create_refuses_to_overwrite_a_trained_run(run_copy, game_dir, capsys):
    assert main(["create", "--game", str(game_dir / "tiny_game.py"), "--output", str(run_copy)]) == 1
    assert "retro-gamer clean" in capsys.readouterr().err


# --------------------------------------------------------------------------- train

def test_train_prints_plain_lines_when_not_a_terminal(game_dir, tmp_path, capsys):
    run = tmp_path / "run"
    main(["create", "--game", str(game_dir / "tiny_game.py"), "--output", str(run),
          "--training-episodes", "2", *SMALL_SETTINGS])
    capsys.readouterr()
    assert main(["train", str(run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Press Ctrl-C to stop; progress is saved."
    assert re.match(r"\[ep_0002\]  ep=0001-0002  avg_reward=[+-]\d", lines[1])
    assert lines[2].startswith("Done: 2 episodes trained.")
    assert (run / "checkpoints" / "ep_0002.npz").is_file() and (run / "checkpoints" / "final.npz").is_file()


def test_train_when_complete_says_how_to_keep_going(run_copy, capsys):
    assert main(["train", str(run_copy)]) == 0
    assert capsys.readouterr().out.strip() == (
        "Training already complete (3 episodes). To keep training, increase "
        "training_episodes in config.toml.")


def test_train_resumes_and_extends(run_copy, capsys):
    config = run_copy / "config.toml"
    config.write_text(config.read_text().replace("training_episodes = 3", "training_episodes = 4"))
    assert main(["train", str(run_copy)]) == 0
    out = capsys.readouterr().out
    assert "Resuming from ep_0003.npz: episode 4 of 4." in out
    assert "[ep_0004]  ep=0004-0004" in out


def test_train_with_a_broken_checkpoint_is_an_error(run_copy, capsys):
    (run_copy / "checkpoints" / "ep_0003.npz").write_bytes(b"PK\x03\x04 cut short")
    config = run_copy / "config.toml"
    config.write_text(config.read_text().replace("training_episodes = 3", "training_episodes = 4"))
    assert main(["train", str(run_copy)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: Checkpoint ep_0003.npz is damaged")
    assert "Traceback" not in err


def test_train_when_the_game_module_is_gone(run_copy, capsys):
    config = run_copy / "config.toml"
    config.write_text(config.read_text().replace('module = "tiny_game"', 'module = "vanished_game"'))
    assert main(["train", str(run_copy)]) == 1
    assert "vanished_game" in capsys.readouterr().err


def test_train_resume_names_a_checkpoint_inside_the_run_only(run_copy, capsys):
    assert main(["train", str(run_copy), "--resume", "../config.toml"]) == 1
    assert "is not a checkpoint of this run" in capsys.readouterr().err


# --------------------------------------------------------------------------- info

def test_info_summarises_the_run(run_copy, capsys):
    log = run_copy / "training.log"
    lines = "".join(
        f"[ep_{n:04d}]  ep={n - 99:04d}-{n:04d}  avg_reward=+{n / 100:.1f}  avg_steps=5  "
        f"epsilon=0.5  avg_loss=1.0  time=0m01s  total=0m0{n // 100}s\n" for n in range(100, 800, 100))
    log.write_text(log.read_text() + lines)
    assert main(["info", str(run_copy)]) == 0
    out = capsys.readouterr().out
    assert "Game module   : tiny_game" in out
    for label in ("Metadata", "Preprocessing", "Model", "Training"):
        assert f"{label:<14}: {{" in out
    assert "Last 5 checkpoints:" in out
    assert "[ep_0300]" in out and "[ep_0700]" in out and "[ep_0200]" not in out
    assert "Checkpoints (2): ['ep_0003.npz', 'final.npz']" in out


# --------------------------------------------------------------------------- clean

def test_clean_lists_asks_and_keeps_config(run_copy, monkeypatch, capsys):
    (run_copy / "checkpoints" / ".tmp-ep_0004.npz.x1").write_bytes(b"half")
    (run_copy / ".tmp-training.log.x2").write_text("half")
    (run_copy / "checkpoints" / "notes.txt").write_text("mine")
    monkeypatch.setattr("builtins.input", lambda question: "n")
    assert main(["clean", str(run_copy)]) == 1
    out = capsys.readouterr().out
    for name in ("checkpoints/ep_0003.npz", "checkpoints/final.npz", "checkpoints/replay_ep_0003.npz",
                 "checkpoints/.tmp-ep_0004.npz.x1", ".tmp-training.log.x2", "training.log", "episodes.csv"):
        assert f"  {name}\n" in out, name
    assert "config.toml is kept." in out and "Nothing was removed." in out
    assert (run_copy / "training.log").exists()

    monkeypatch.setattr("builtins.input", lambda question: "y")
    assert main(["clean", str(run_copy)]) == 0
    # .lock stays: removing a lock file another process may be opening would break the lock.
    assert sorted(p.name for p in run_copy.rglob("*")) == [".lock", "checkpoints", "config.toml", "notes.txt"]
    assert "Cleaned. Run 'retro-gamer train" in capsys.readouterr().out


def test_clean_without_an_answer_removes_nothing(run_copy, monkeypatch, capsys):
    def closed_stdin(question):
        raise EOFError

    monkeypatch.setattr("builtins.input", closed_stdin)
    assert main(["clean", str(run_copy)]) == 1
    assert (run_copy / "checkpoints" / "final.npz").exists()


def test_clean_never_follows_links_out_of_the_run(run_copy, tmp_path, capsys):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "ep_0100.npz").write_bytes(b"not yours")
    (outside / "training.log").write_text("keep me")
    (run_copy / "training.log").unlink()
    (run_copy / "training.log").symlink_to(outside / "training.log")
    (run_copy / "checkpoints" / "ep_0100.npz").symlink_to(outside / "ep_0100.npz")
    assert main(["clean", str(run_copy), "--yes"]) == 0
    assert "training.log  (a link: only the link is removed)" in capsys.readouterr().out
    assert (outside / "ep_0100.npz").read_bytes() == b"not yours"
    assert (outside / "training.log").read_text() == "keep me"
    assert not (run_copy / "training.log").is_symlink()
    assert not (run_copy / "checkpoints" / "ep_0100.npz").is_symlink()

    # A checkpoints folder that is itself a link: the link goes, the folder it shows stays.
    shutil.rmtree(run_copy / "checkpoints")
    (run_copy / "checkpoints").symlink_to(outside, target_is_directory=True)
    assert main(["clean", str(run_copy), "-y"]) == 0
    assert not (run_copy / "checkpoints").exists()
    assert sorted(p.name for p in outside.iterdir()) == ["ep_0100.npz", "training.log"]


def test_clean_with_nothing_to_clean(game_dir, tmp_path, capsys):
    run = tmp_path / "run"
    main(["create", "--game", str(game_dir / "tiny_game.py"), "--output", str(run)])
    assert main(["clean", str(run)]) == 0
    assert "Nothing to clean" in capsys.readouterr().out


def test_files_to_clean_lists_only_files(run_copy):
    (run_copy / "checkpoints" / "odd.npz").mkdir()
    listed = commands.files_to_clean(run_copy)
    assert all(path.is_file() or path.is_symlink() for path in listed)
    assert run_copy / "config.toml" not in listed


# --------------------------------------------------------------------------- plot

def test_plot_draws_the_four_curves_in_the_terminal(run_copy, capsys):
    assert main(["plot", str(run_copy)]) == 0
    out = capsys.readouterr().out
    assert "3 episodes from episodes.csv" in out
    for title in ("total reward per episode", "steps per episode", "average loss", "epsilon"):
        assert title in out
    assert "┤" in out


def test_plot_without_history_explains(game_dir, tmp_path, capsys):
    run = tmp_path / "run"
    main(["create", "--game", str(game_dir / "tiny_game.py"), "--output", str(run)])
    assert main(["plot", str(run)]) == 1
    assert "no training history to plot yet" in capsys.readouterr().err


def test_plot_output_needs_matplotlib_or_saves(run_copy, tmp_path, capsys):
    status = main(["plot", str(run_copy), "--output", str(tmp_path / "curves.png")])
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert status == 1
        assert 'pip install "retro-gamer-numpy[plot]"' in capsys.readouterr().err
    else:
        assert status == 0 and (tmp_path / "curves.png").stat().st_size > 0


# --------------------------------------------------------------------------- eval

def test_eval_compares_checkpoints_side_by_side(run_copy, capsys):
    assert main(["eval", str(run_copy), "--checkpoint", "ep_0003", "--checkpoint", "final",
                 "--episodes", "3", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"checkpoint\s+reward mean\s+median\s+max\s+turns mean\s+median\s+max", out)
    rows = [line for line in out.splitlines() if line.startswith(("ep_0003 ", "final "))]
    assert len(rows) == 2
    # The same weights and the same seed play the same games.
    assert rows[0].split()[1:] == rows[1].split()[1:]
    turns = float(rows[0].split()[4])
    assert 1 <= turns <= 20


def test_eval_caps_games_at_max_turns(run_copy, capsys):
    config = run_copy / "config.toml"
    config.write_text(config.read_text().replace("max_turns_per_episode = 2000", "max_turns_per_episode = 2"))
    assert main(["eval", str(run_copy), "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("final ") or line.startswith("ep_0003 "))
    assert float(row.split()[4]) <= 2


def test_eval_unknown_checkpoint(run_copy, capsys):
    assert main(["eval", str(run_copy), "--checkpoint", "ep_9999"]) == 1
    assert "There is no checkpoint 'ep_9999'" in capsys.readouterr().err


# --------------------------------------------------------------------------- pseudo-terminal

class PseudoTerminal:
    """A command running under a pseudo-terminal of a given size, as in a terminal window."""

    def __init__(self, args, cwd, rows=40, columns=120):
        import fcntl
        import pty
        import struct
        import termios

        env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(Path(__file__).parents[1]),
               # blessed asks a new terminal about itself and waits up to 5 s for the answer;
               # this pseudo-terminal never answers.
               "BLESSED_QUERY_TIMEOUT_SECONDS": "0.05"}
        env.pop("COLUMNS", None)
        env.pop("LINES", None)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: its terminal is the pseudo-terminal
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
            os.chdir(cwd)
            os.execve(sys.executable, [*CLI, *map(str, args)], env)
        self.output = b""

    def read_until(self, pattern: bytes, timeout=30.0) -> bytes:
        deadline = time.monotonic() + timeout
        while pattern not in self.output:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{pattern!r} never appeared in: {self.output[-2000:]!r}")
            if not self._read(remaining):
                raise AssertionError(f"ended before {pattern!r}: {self.output[-2000:]!r}")
        return self.output

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self, timeout=30.0) -> int:
        deadline = time.monotonic() + timeout
        while self._read(max(0.01, deadline - time.monotonic())) and time.monotonic() < deadline:
            pass
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.02)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"did not exit: {self.output[-2000:]!r}")

    def _read(self, timeout) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # the child closed the terminal
            return False
        self.output += data
        return bool(data)


def text_of(output: bytes) -> str:
    escapes = r"\x1bP[^\x1b]*\x1b\\|\x1b\[[0-9;?>]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
    return re.sub(escapes, "", output.decode("utf-8", "replace"))


def test_play_under_a_terminal_shows_q_values_and_quits_on_escape(run_copy, game_dir):
    session = PseudoTerminal(["play", run_copy, "--framerate", "50"], cwd=game_dir)
    session.read_until(b"Q-values, next move")
    session.send(b"\x1b")
    assert session.wait() == 0
    text = text_of(session.output)
    assert "▶" in text and "right" in text and "no-op" in text
    assert re.search(r"Checkpoint (final|ep_0003) played \d+ turns", text)


def test_play_in_a_too_small_terminal_says_the_size_needed(run_copy, game_dir):
    session = PseudoTerminal(["play", run_copy], cwd=game_dir, rows=5, columns=40)
    assert session.wait() == 1
    text = text_of(session.output)
    assert "Error: The terminal height (5) is less than the required" in text
    assert "at least 8 columns and 8 lines" in text
    assert "Traceback" not in text


def test_play_needs_a_terminal(run_copy, game_dir):
    result = run_cli("play", run_copy, cwd=game_dir)
    assert result.returncode == 1
    assert "is not a terminal" in result.stderr


def test_ctrl_c_during_training_keeps_a_checkpoint_and_says_how_to_resume(game_dir, tmp_path):
    run = tmp_path / "long"
    main(["create", "--game", str(game_dir / "tiny_game.py"), "--output", str(run),
          "--training-episodes", "100000", *SMALL_SETTINGS])
    session = PseudoTerminal(["train", run], cwd=game_dir)
    session.read_until(b"Press Ctrl-C to stop; progress is saved.")
    session.read_until(b"last episode 2")  # the live display is running
    session.send(b"\x03")
    assert session.wait() == 130
    text = text_of(session.output)
    kept = re.search(r"Episodes 1-(\d+) are kept in checkpoint (ep_\d+\.npz)", text)
    assert kept, text[-1500:]
    assert (run / "checkpoints" / kept.group(2)).is_file()
    assert int(kept.group(1)) == int(kept.group(2)[3:7])
    assert f"Resume with:  retro-gamer train {run}" in text
    assert "Traceback" not in text


def test_one_trainer_per_run_and_a_killed_one_leaves_no_lock_behind(game_dir, tmp_path, capsys):
    run = tmp_path / "busy"
    main(["create", "--game", str(game_dir / "tiny_game.py"), "--output", str(run),
          "--training-episodes", "100000", *SMALL_SETTINGS])
    capsys.readouterr()
    first = subprocess.Popen([*CLI, "train", str(run)], cwd=game_dir, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    try:
        assert first.stdout.readline().startswith("Press Ctrl-C")        # training has started
        for command in (["train", str(run)], ["clean", str(run), "--yes"]):
            started = time.monotonic()
            assert main(command) == 1
            err = capsys.readouterr().err
            assert f"is busy: process {first.pid} is training it" in err, err
            assert "Traceback" not in err and time.monotonic() - started < 5       # refused at once
        assert (run / "training.log").exists()             # the refused clean removed nothing
    finally:
        first.kill()                                 # SIGKILL: no clean-up runs in the first process
        first.wait()
    run_dir_text = (run / "config.toml").read_text().replace("training_episodes = 100000", "training_episodes = 2")
    (run / "config.toml").write_text(run_dir_text)
    assert main(["train", str(run)]) == 0            # the dead process's lock does not block
    assert "Done: 2 episodes trained." in capsys.readouterr().out


# --------------------------------------------------------------------------- the play screen

def test_q_value_lines_mark_the_chosen_action():
    import numpy as np

    from retro_gamer.cli.play import action_label, q_value_lines

    labels = [action_label(key) for key in ["KEY_RIGHT", "a", None]]
    assert labels == ["right", "a", "no-op"]
    lines = q_value_lines(labels, np.array([0.5, 2.0, -1.0], dtype=np.float32), turn=7)
    assert lines[0] == "Q-values, next move"
    assert lines[1] == "  right   +0.50 ███"
    assert lines[2] == "▶ a       +2.00 ██████"
    assert lines[3] == "  no-op   -1.00 "
    assert lines[4] == "turn 7  Enter/Esc quits"


class FakeScreen:
    """Terminal, view and game sizes for placing the Q-value panel."""

    def __init__(self, width, height, board=(32, 16), state_lines=5):
        self.width, self.height = width, height
        self.view_size, self.turn_number, self.state_lines = board, 3, state_lines

    def move_xy(self, x, y):
        return f"<{x},{y}>"

    def get_view_origin_coords(self, game):
        return (self.width - self.view_size[0] - 2) // 2, (self.height - self.view_size[1] - 3) // 2

    def state_height(self, game):
        return self.state_lines


@pytest.mark.parametrize("width,height,where", [
    (120, 40, "<42,33>"),   # under the board and the game state
    (80, 24, "<57,1>"),     # no room under it: to the right of the board
    (60, 28, "<0,27>"),     # no room beside it either: one line under it
])
def test_q_value_panel_goes_where_it_fits(width, height, where, capsys):
    import numpy as np

    from retro_gamer.cli.play import QValuePanel

    screen = FakeScreen(width, height)
    panel = QValuePanel(screen, screen, ["right", "up", "left", "down", "no-op"])
    panel.draw(screen, np.arange(5, dtype=np.float32))
    drawn = capsys.readouterr().out
    assert drawn.startswith(where)
    assert "▶ no-op" in drawn or "[no-op +4.0]" in drawn
    assert all(int(x) + len(text) <= width
               for x, text in re.findall(r"<(\d+),\d+>([^<]*)", drawn))


def test_q_value_panel_message_fits_on_one_line(capsys):
    from retro_gamer.cli.play import QValuePanel

    screen = FakeScreen(40, 28)
    QValuePanel(screen, screen, ["right"]).draw_message(screen, "Game over after 3 turns. Enter or Escape quits.")
    assert capsys.readouterr().out == "<0,27>" + "Game over after 3 turns. Enter or Escape"[:39]
