"""The ``retro-gamer`` command line: the parser, and how every command ends.

Only the standard library, errors and settings are imported here, so ``--help`` answers at once.
Every problem a user can cause ends with one ``Error: ...`` paragraph and exit status 1, not a traceback.
"""
import argparse
import contextlib
import errno
import os
import sys
from pathlib import Path

from retro_gamer import __version__
from retro_gamer.errors import RetroGamerError
from retro_gamer.settings import LAYER_DEFAULTS, OLD_NAMES, SETTINGS

PROG = "retro-gamer"
INTERRUPTED = 130      # the shell's exit status for a program stopped by Ctrl-C
DEBUG_VARIABLE = "RETRO_GAMER_DEBUG"  # set it to see the traceback of an unforeseen error

DESCRIPTION = """\
Train a Deep Q-Network (DQN) agent to play a retro-games terminal game, watch it play,
and use it inside your own games.

A typical session:
  retro-gamer create --game retro.examples.snake --output runs/snake/
  retro-gamer train runs/snake/       # Ctrl-C stops; the same command resumes
  retro-gamer play runs/snake/        # watch the latest checkpoint play
  retro-gamer plot runs/snake/        # see whether the agent is learning

Run 'retro-gamer COMMAND --help' to learn more about a command."""

GAME_HELP = ("the game to learn: a module name (retro.examples.snake), a .py file (my_game.py), a package "
             "folder (games/snake/), or module:function for a function other than create_game")


def _hidden_sizes(text: str) -> list[int]:
    """'128,64' -> [128, 64]; each size's bounds are checked with the other settings (settings.py)."""
    with contextlib.suppress(ValueError):
        return [int(part) for part in text.split(",")]
    raise argparse.ArgumentTypeError(f"'{text}' is not a list of layer sizes. Give one whole number per "
                                     "hidden layer, separated by commas, e.g. --hidden-sizes 128,64")


def _above_zero(kind, default: int, what: str) -> dict:
    """An option taking a number of this ``kind`` (int or float) above 0; its default is the example."""
    def parse(text: str):
        with contextlib.suppress(ValueError):
            if kind(text) > 0:
                return kind(text)
        raise argparse.ArgumentTypeError(
            f"'{text}' must be a {'whole number' if kind is int else 'number'} above 0, e.g. {default}")
    return {"type": parse, "default": kind(default), "metavar": "N", "help": f"{what} (default: {default})"}


# How each kind of setting (settings.py) is given on the command line; a "choice" takes one of its choices.
ARGUMENTS = {"number": {"type": float, "metavar": "F"}, "whole": {"type": int, "metavar": "N"},
             "sizes": {"type": _hidden_sizes, "metavar": "SIZES"},
             "switch": {"action": argparse.BooleanOptionalAction}}


def _help_of(setting) -> str:
    """A setting's explanation (settings.py) as help: its `code` marks dropped, its default added."""
    default = setting.default
    if isinstance(default, bool):
        default = "on" if default else "off"
    elif isinstance(default, list):
        default = ",".join(map(str, default))
    elif default is None:
        default = "none, a different run each time"
    return setting.explain.replace("`", "").replace("%", "%%") + f" (default: {default})"


def _add_setting_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hyperparameters", "How the agent learns, written into config.toml "
                                      "(change it there later);\nan option left out gets the default shown.")
    aliases = {new: ["--" + old.replace("_", "-")] for old, new in OLD_NAMES.items()}
    for s in SETTINGS.values():
        if s.option:
            group.add_argument(s.option, *aliases.get(s.name, []), dest=s.name, default=argparse.SUPPRESS,
                               help=_help_of(s), **ARGUMENTS.get(s.kind, {"choices": s.choices}))
    for name, other in zip(LAYER_DEFAULTS, reversed(LAYER_DEFAULTS)):
        group.add_argument("--" + name.replace("_", "-"), dest=name, type=int, metavar="N",
                           default=argparse.SUPPRESS,
                           help="the published package's way to give hidden_sizes: hidden_sizes = "
                                f"[layer_size] * n_layers (alone, the other is {LAYER_DEFAULTS[other]})")


def build_parser() -> argparse.ArgumentParser:
    from retro_gamer.cli import commands, play

    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__} (NumPy edition)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, run, **arguments) -> argparse.ArgumentParser:
        sub = subparsers.add_parser(name, help=run.__doc__.split("\n")[0], description=run.__doc__.rstrip(),
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.set_defaults(run=run)
        for flags, options in arguments.items():
            sub.add_argument(*flags.split(), **options)
        return sub

    run_dir = {"metavar": "RUN_DIR", "help": "the run folder (holds config.toml)"}
    runs = {"metavar": "RUN_DIR", "nargs": "+", "help": "one or more run folders, to compare them"}
    output = {"metavar": "DIR", "help": "the folder to create for this run, e.g. runs/snake/"}
    checkpoint = {"metavar": "NAME", "help": "which checkpoint plays (default: the latest)"}
    _add_setting_options(command("create", commands.create, **{
        "--game": {"required": True, "metavar": "GAME", "help": GAME_HELP},
        "--output": {"required": True, **output}}))
    _add_setting_options(command("init", commands.create, game={"metavar": "GAME", "help": GAME_HELP},
                                 output={**output, "metavar": "OUTPUT"}))
    command("train", commands.train, run_dir=run_dir, **{"--resume": {
        "metavar": "CHECKPOINT",
        "help": "resume from this checkpoint (ep_0300, ep_0300.npz, final) instead of the latest"}})
    command("play", play.play, run_dir=run_dir, **{
        "--checkpoint": checkpoint,
        "--framerate": _above_zero(float, 12, "turns per second"),
        "--explain": {"action": "store_true",
                      "help": "paint each occupied cell by how much the chosen move depends on it"}})
    command("record", play.record, run_dir=run_dir, **{
        "--checkpoint": checkpoint,
        "--games": _above_zero(int, 1, "games to record"),
        "--output -o": {"metavar": "FILE",
                        "help": "the .cast file to write (default: RUN_DIR/CHECKPOINT.cast)"}})
    command("info", commands.info, run_dir=run_dir)
    command("clean", commands.clean, run_dir=run_dir, **{
        "--yes -y": {"action": "store_true", "help": "do not ask for confirmation"}})
    command("plot", commands.plot, run_dir=runs, **{
        "--output -o": {"metavar": "FILE", "help": "save a figure to FILE (.png, .svg or .pdf)"}})
    command("eval", commands.evaluate, run_dir=runs, **{
        "--checkpoint": {"action": "extend", "nargs": "+", "metavar": "NAME",
                         "help": "checkpoints to compare, e.g. ep_0100 final (default: the latest)"},
        "--episodes": _above_zero(int, 100, "games per checkpoint"),
        "--seed": {"type": int, "default": 0, "metavar": "N",
                   "help": "random seed of the games (default: 0)"}})
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 1 error, 2 usage, 130 Ctrl-C)."""
    from retro_gamer.run.session import ctrl_c_noticed, stop_signals

    noticed: list[int] = []
    try:
        with ctrl_c_noticed(noticed), stop_signals():       # a plain kill stops any command like Ctrl-C
            parser = build_parser()
            try:
                args = parser.parse_args(argv)
            except SystemExit as exit:       # --help, --version and usage errors
                return exit.code if isinstance(exit.code, int) else 0
            if args.command is None:
                parser.print_help()
                return 2
            # Games are usually files in the current folder, which a console script's sys.path lacks.
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            return args.run(args) or 0       # a command that returns nothing succeeded
    except KeyboardInterrupt:       # Ctrl-C at any moment, even while the command line is read
        message = None
    except RetroGamerError as error:
        message = str(error)
    except BrokenPipeError:
        # Our reader left early (info RUN | head): stop quietly, stdout to nowhere for Python's last flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:
        if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EROFS):
            from retro_gamer.run.files import describe_write_error

            message = (f"{describe_write_error(error)} Files are replaced only once they are complete, so "
                       "nothing saved before was damaged; run the command again afterwards.")
        else:
            message = (f"{error.strerror or error}:{f' {error.filename}' if error.filename else ''}. Check "
                       "the path and its permissions, then try again.")
    except MemoryError:
        message = ("There is not enough memory for this run. The replay memory (memory_capacity), the "
                   "network (hidden_sizes) and the learning batch (batch_size) take the most room: make "
                   "them smaller in config.toml (or on the command line) and try again.")
    except Exception as error:
        # A Ctrl-C inside an import can come out as an ImportError: it was still a Ctrl-C.
        if os.environ.get(DEBUG_VARIABLE) and not noticed:
            raise
        import traceback

        last = traceback.extract_tb(error.__traceback__)[-1]       # from main's frame down: never empty
        message = None if noticed else (
            f"something unexpected went wrong: {type(error).__name__}: {error} (at {last.filename}, line "
            f"{last.lineno}). Your files are safe: every file is replaced only once its new version is "
            "complete. This is a bug in retro-gamer or in the game; please report it with the command you "
            f"ran. Run the command again with {DEBUG_VARIABLE}=1 set to see the full traceback.")
    if message is None:
        print("\nStopped.", file=sys.stderr)
        return INTERRUPTED
    sys.stdout.flush()
    print(f"Error: {message}", file=sys.stderr)
    return 1
