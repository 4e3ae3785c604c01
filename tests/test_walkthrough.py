"""walkthrough/README.md works as written.

The walkthrough is a page of commands with their outputs pasted from real runs. This
test reads the page and replays it, in order, in a temporary copy of the walkthrough
folder:

- every ``$ command`` of its console blocks runs, and must exit as the page says: 0,
  1 when the pasted output is an ``Error:``, and 130 when it shows training stopped by
  Ctrl-C (simulated with SIGINT). The first and last lines of the pasted output must
  appear in what the command really prints, once numbers are blanked out, since every
  training run differs;
- every ``# In runs/.../config.toml ... change:`` block is applied to that file, as the
  reader does in an editor;
- every excerpt of a file (a block whose first line names an existing file) must still
  match that file, and a block naming a new file (watch_orchard.py) is written out.

The page trains for 1000 and 1500 episodes and compares checkpoints such as ep_0300,
so the episode counts stay; the test cuts each episode to a single turn instead (by
editing max_turns_per_episode after each ``create``). ``retro-gamer play`` runs under
a pseudo-terminal and is quit with Escape. Only the setup lines (pip install, cd) and
``python -m GAME`` (a person playing the game with the arrow keys) are not run.
"""
from __future__ import annotations

import os
import pty
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from retro_gamer.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
WALKTHROUGH = ROOT / "walkthrough"
README = WALKTHROUGH / "README.md"

CLI = [sys.executable, "-m", "retro_gamer"]
TURNS_PER_TEST_EPISODE = 1
SETUP_COMMANDS = {"pip install -e .", "cd walkthrough"}
HUMAN_PLAYS = {"python -m orchard": "orchard.py", "python -m beachcomber": "beachcomber/__main__.py"}
CTRL_C_SIGN = "Stopped. Episodes"
INTERRUPTED = 130  # the shell's exit status for a program stopped by Ctrl-C

ENV = {
    **os.environ,
    "OPENBLAS_NUM_THREADS": "1",  # the machine is shared; these networks are small
    "PYTHONPATH": str(ROOT),
    "TERM": "xterm-256color",
    # blessed asks a new terminal about itself and waits up to 5 s for an answer that
    # a pseudo-terminal never gives.
    "BLESSED_QUERY_TIMEOUT_SECONDS": "0.05",
}


# --------------------------------------------------------------------- reading the page

@dataclass
class Command:
    line: str
    documented: list[str]  # the pasted output, one string per line


@dataclass
class Edit:
    path: str
    lines: list[str]  # "key = value" lines to put in place of the file's lines for those keys


@dataclass
class FileBlock:
    path: str
    language: str
    text: str  # the block without its first line (which names the file)


def blocks(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a Markdown text, in order: (language, body)."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


def walkthrough_steps(text: str) -> list[Command | Edit | FileBlock]:
    steps = []
    for language, body in blocks(text):
        lines = body.splitlines()
        if language == "console":
            for line in lines:
                if line.startswith("$ "):
                    steps.append(Command(line[2:].strip(), []))
                else:
                    assert steps and isinstance(steps[-1], Command), f"output before any command: {line!r}"
                    steps[-1].documented.append(line)
        elif language in ("toml", "python"):
            first = lines[0]
            if edit := re.fullmatch(r"# In (\S+), .*change:", first):
                steps.append(Edit(edit.group(1), lines[1:]))
            else:
                named = re.fullmatch(r"# (\S+\.(?:toml|py))", first)
                assert named, f"a {language} block must start by naming its file, not {first!r}"
                steps.append(FileBlock(named.group(1), language, "\n".join(lines[1:]) + "\n"))
    return steps


STEPS = walkthrough_steps(README.read_text(encoding="utf-8"))
COMMANDS = [step for step in STEPS if isinstance(step, Command)]


def normalized(text: str) -> str:
    """Text with what changes from run to run blanked out: numbers become '#', anything
    in square brackets becomes '[]' (checkpoint labels, lists of files), and runs of
    spaces (column alignment) become one space."""
    text = re.sub(r"\[[^\]\n]*\]", "[]", text)
    text = re.sub(r"[-+]?\d[\d,]*(?:\.\d+)?", "#", text)
    return " ".join(text.split())


def expected_exit_status(command: Command) -> int:
    pasted = "\n".join(command.documented)
    if pasted.startswith("Error:"):
        return 1
    if CTRL_C_SIGN in pasted:
        return INTERRUPTED
    return 0


# --------------------------------------------------------------------- quick checks of the page

def test_the_page_covers_the_whole_path():
    commands = [shlex.split(c.line) for c in COMMANDS if c.line.startswith("retro-gamer ")]
    used = {words[1] for words in commands}
    assert used == {"create", "train", "play", "info", "eval", "plot", "clean", "record"}
    # The worked investigation: runs compared by plot and eval, a recording, an explained move.
    assert any(words[1] in ("plot", "eval") and len([w for w in words if w.startswith("runs/")]) > 1
               for words in commands)
    assert any("--explain" in words for words in commands)
    assert any(CTRL_C_SIGN in "\n".join(c.documented) for c in COMMANDS)
    assert any(expected_exit_status(c) == 1 for c in COMMANDS)
    assert sum(isinstance(step, Edit) for step in STEPS) >= 3
    assert "## Questions for investigation" in README.read_text(encoding="utf-8")


@pytest.mark.parametrize("command", [c.line for c in COMMANDS if c.line.startswith("retro-gamer ")])
def test_every_retro_gamer_command_is_a_real_command(command):
    parser = build_parser()
    try:
        parser.parse_args(shlex.split(command)[1:])
    except SystemExit:
        pytest.fail(f"'{command}' is not a valid retro-gamer command line")


EXCERPTS = [step for step in STEPS if isinstance(step, FileBlock) and (WALKTHROUGH / step.path).exists()]


@pytest.mark.parametrize("block", EXCERPTS, ids=lambda block: block.path)
def test_every_excerpt_still_matches_its_file(block):
    source = (WALKTHROUGH / block.path).read_text(encoding="utf-8")
    if block.language == "toml":
        # The page shows a [tool.retro-gamer] section without its comments.
        shown = tomllib.loads(block.text)["tool"]["retro-gamer"]
        assert shown == tomllib.loads(source)["tool"]["retro-gamer"]
    else:
        assert block.text in source, f"this excerpt is no longer in {block.path}:\n{block.text}"


# --------------------------------------------------------------------- running the page

def copy_of_walkthrough(tmp_path: Path) -> Path:
    folder = tmp_path / "walkthrough"
    shutil.copytree(WALKTHROUGH, folder, ignore=shutil.ignore_patterns("runs", "__pycache__", "*.egg-info"))
    return folder


def shorten_episodes(config: Path) -> None:
    """Cut every episode of this run to TURNS_PER_TEST_EPISODE turns: the page's episode
    counts and checkpoint names stay, and training takes about a second."""
    text, found = re.subn(r"^max_turns_per_episode = .*$", f"max_turns_per_episode = {TURNS_PER_TEST_EPISODE}",
                          config.read_text(), flags=re.MULTILINE)
    assert found == 1
    config.write_text(text)


def apply_edit(folder: Path, edit: Edit) -> None:
    config = folder / edit.path
    text = config.read_text()
    for line in edit.lines:
        key = line.split("=")[0].strip()
        text, found = re.subn(rf"^{re.escape(key)} = .*$", line, text, flags=re.MULTILINE)
        assert found == 1, f"{edit.path} has no single '{key} = ...' line to change"
    config.write_text(text)


def run(words: list[str], folder: Path, stdin_text: str = "") -> tuple[int, str]:
    result = subprocess.run(words, cwd=folder, env=ENV, input=stdin_text, capture_output=True, text=True,
                            timeout=120)
    return result.returncode, result.stdout + result.stderr


def run_and_press_ctrl_c(words: list[str], folder: Path, run_dir: str) -> tuple[int, str]:
    """Start training and send SIGINT (what Ctrl-C sends) once the first checkpoint is saved."""
    process = subprocess.Popen(words, cwd=folder, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    first_checkpoint = folder / run_dir / "checkpoints" / "ep_0100.npz"
    deadline = time.monotonic() + 60
    while not first_checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    return process.returncode, output


def run_in_a_terminal(words: list[str], folder: Path) -> tuple[int, str]:
    """Run ``play`` under an 80 x 24 pseudo-terminal and press Escape once it draws."""
    import fcntl
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal is the pseudo-terminal
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
            os.chdir(folder)
            os.execve(words[0], words, ENV)
        finally:
            os._exit(127)  # never go on running pytest in the child
    output = b""
    deadline = time.monotonic() + 60
    escape_sent_at = None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the child has closed the terminal
                break
            if not data:
                break
            output += data
        # Escape once the game is on screen; again if a keypress got lost.
        if b"Esc quits" in output and (escape_sent_at is None or time.monotonic() - escape_sent_at > 2):
            os.write(fd, b"\x1b")
            escape_sent_at = time.monotonic()
    if time.monotonic() >= deadline:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode("utf-8", "replace")


def execute(command: Command, folder: Path) -> tuple[int, str] | None:
    """Run one command of the page; None for the lines a test cannot run."""
    words = shlex.split(command.line)
    if command.line in SETUP_COMMANDS:
        return None  # the test already runs in an installed environment, inside the folder
    if command.line in HUMAN_PLAYS:
        assert (folder / HUMAN_PLAYS[command.line]).exists()
        return None  # a person plays the game with the arrow keys
    if words[0] == "retro-gamer":
        words = CLI + words[1:]
        subcommand = words[len(CLI)]
        if subcommand == "play":
            return run_in_a_terminal(words, folder)
        if subcommand == "train" and expected_exit_status(command) == INTERRUPTED:
            return run_and_press_ctrl_c(words, folder, words[len(CLI) + 1])
        status, output = run(words, folder, stdin_text="y\n" if subcommand == "clean" else "")
        if subcommand == "create":
            shorten_episodes(folder / words[words.index("--output") + 1] / "config.toml")
        return status, output
    if words[0] == "python" and words[1].endswith(".py"):
        return run([sys.executable, *words[1:]], folder)
    if words[0] in ("cat", "head"):
        return run(words, folder)
    raise AssertionError(f"the walkthrough has a command this test does not know how to run: {command.line!r}")


def check_output(command: Command, status: int, output: str) -> None:
    expected = expected_exit_status(command)
    assert status == expected, f"'{command.line}' exited with {status}, not {expected}:\n{output[-3000:]}"
    pasted = [line for line in command.documented if line.strip()]
    if not pasted:
        return
    actual = normalized(output)
    marks = [pasted[0], pasted[-1]] + [line for line in pasted if line.startswith(CTRL_C_SIGN)]
    for line in marks:
        assert normalized(line) in actual, (
            f"'{command.line}' no longer prints a line like\n  {line}\nIt printed:\n{output[-3000:]}")


def test_the_walkthrough_runs_end_to_end(tmp_path):
    folder = copy_of_walkthrough(tmp_path)
    ran = []
    for step in STEPS:
        if isinstance(step, Edit):
            apply_edit(folder, step)
        elif isinstance(step, FileBlock):
            if step not in EXCERPTS:
                (folder / step.path).write_text(step.text)
        else:
            result = execute(step, folder)
            if result is not None:
                check_output(step, *result)
                ran.append(step.line)
    assert sum(line.startswith("retro-gamer ") for line in ran) == sum(
        c.line.startswith("retro-gamer ") for c in COMMANDS)
