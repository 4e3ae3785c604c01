"""The ``retro-gamer`` command line: create, train, play, info, clean, plot and eval.

Only the standard library and retro_gamer.errors are imported at the top of this file, so
``retro-gamer --help`` answers at once; each command imports NumPy, blessed, retro-games
and the trainer when it runs. Every problem a user can cause ends with one ``Error: ...``
paragraph and exit status 1 (argparse's own usage errors exit with 2), never with a
traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

from retro_gamer import __version__
from retro_gamer.errors import RetroGamerError

PROG = "retro-gamer"
INTERRUPTED = 130  # the shell's exit status for a program stopped by Ctrl-C
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

GAME_HELP = """\
the game to learn: a module name (retro.examples.snake), a .py file (my_game.py), a
package folder (games/snake/), or module:function when the game comes from a function
other than create_game (my_game:create_enemy_training_game)"""


# --------------------------------------------------------------------- hyperparameter options
# (flags, dest, type, metavar, help). The help says what the setting does to learning;
# _HelpFormatter adds the default from config.py, where the defaults live.

def _hidden_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.replace(" ", "").split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(size <= 0 for size in sizes):
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a list of layer sizes. Give one positive whole number per hidden "
            f"layer, separated by commas, e.g. --hidden-sizes 128,64"
        )
    return sizes


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be a number above 0, e.g. 12")
    return value


def _positive_integer(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be a whole number above 0, e.g. 100")
    return value


HYPERPARAMETER_OPTIONS = [
    (("--training-episodes",), "training_episodes", int, "N",
     "how many games (episodes) to train for; you can raise it later in config.toml and "
     "train again to keep going"),
    (("--hidden-sizes",), "hidden_sizes", _hidden_sizes, "SIZES",
     "the hidden layers of the network, as comma-separated widths, e.g. 128,64; bigger "
     "networks can learn more but learn more slowly"),
    (("--n-layers",), "n_layers", int, "N",
     "number of hidden layers, all --layer-size wide (another way to give --hidden-sizes)"),
    (("--layer-size",), "layer_size", int, "N",
     "width of each hidden layer when you use --n-layers"),
    (("--learning-rate",), "learning_rate", float, "F",
     "how far Adam moves the weights in one learning step; if the loss keeps growing, "
     "try ten times smaller"),
    (("--learning-rate-decay", "--lr-decay"), "learning_rate_decay", float, "F",
     "the learning rate is multiplied by this after each episode that learned, so late "
     "training makes finer adjustments"),
    (("--gamma",), "gamma", float, "F",
     "discount of future rewards: near 1 the agent plans ahead, near 0 it only wants "
     "the next reward"),
    (("--epsilon",), "epsilon", float, "F",
     "exploration at the start: the chance of a random action instead of the best-looking one"),
    (("--epsilon-decay",), "epsilon_decay", float, "F",
     "epsilon is multiplied by this after each episode; closer to 1 explores for longer"),
    (("--epsilon-min",), "epsilon_min", float, "F",
     "epsilon never falls below this, so the agent keeps trying new things"),
    (("--batch-size",), "batch_size", int, "N",
     "how many remembered turns each learning step learns from"),
    (("--memory-capacity",), "memory_capacity", int, "N",
     "how many turns the replay memory holds; the oldest are forgotten first"),
    (("--target-update-freq",), "target_update_freq", int, "N",
     "learning steps between copies of the network into the target network, which "
     "computes the TD targets; larger is steadier but slower to follow"),
    (("--train-every",), "train_every", int, "N",
     "turns played between learning steps"),
    (("--max-turns-per-episode",), "max_turns_per_episode", int, "N",
     "an episode is cut after this many turns, in case the agent finds a way to never lose"),
    (("--exploration-turns",), "exploration_turns", int, "N",
     "random turns played before training to discover the board's characters, when the "
     "game does not list its character_set"),
    (("--unknown-character-strategy",), "unknown_character_strategy", str, "{ignore,extend}",
     "a character that appears later and is not in the character set is seen as empty "
     "(ignore), or gets its own input channel (extend)"),
    (("--seed",), "seed", int, "N",
     "seed every random choice, so that the same run can be repeated exactly"),
]

BOOLEAN_HYPERPARAMETERS = [
    ("prioritize-experiences", "prioritize_experiences",
     "replay surprising turns (large TD error) more often than the others"),
    ("double-dqn", "double_dqn",
     "Double DQN: the online network picks the next action and the target network values "
     "it, which keeps Q-values from being overestimated"),
]


def _add_hyperparameter_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "hyperparameters",
        "How the agent learns. Each is written into config.toml, where you can change it\n"
        "later; the options you leave out get the default shown.",
    )
    for flags, dest, kind, metavar, text in HYPERPARAMETER_OPTIONS:
        extra = {"choices": ["ignore", "extend"]} if dest == "unknown_character_strategy" else {}
        group.add_argument(*flags, dest=dest, type=kind, metavar=metavar,
                           default=argparse.SUPPRESS, help=text, **extra)
    for name, dest, text in BOOLEAN_HYPERPARAMETERS:
        group.add_argument(f"--{name}", dest=dest, action=argparse.BooleanOptionalAction,
                           default=argparse.SUPPRESS, help=text)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the descriptions' line breaks, and adds each hyperparameter's default to its
    help. The defaults live in config.py, which needs NumPy: reading them only when a
    help text is printed keeps 'retro-gamer --help' and every other command fast."""

    def _get_help_string(self, action):
        text = super()._get_help_string(action)
        # create's hyperparameter options default to "not given" (config.py fills them in),
        # so their help shows config.py's default; eval's own --seed has a real default.
        if (action.dest in _HYPERPARAMETER_DESTS and action.dest not in ("n_layers", "layer_size")
                and action.default in (None, argparse.SUPPRESS)):
            text += f" (default: {_default_of(action.dest)})"
        return text


def _default_of(dest: str) -> str:
    from retro_gamer.config import default_hyperparams

    value = default_hyperparams().get(dest)
    if dest == "hidden_sizes":
        return ",".join(str(size) for size in value)
    if dest == "seed" and value is None:
        return "none, a different run each time"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


_HYPERPARAMETER_DESTS = ([option[1] for option in HYPERPARAMETER_OPTIONS]
                         + [option[1] for option in BOOLEAN_HYPERPARAMETERS])


def _hyperparameters_given(args: argparse.Namespace) -> dict:
    return {dest: getattr(args, dest) for dest in _HYPERPARAMETER_DESTS if hasattr(args, dest)}


# --------------------------------------------------------------------- the parser

def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every command, option and help text."""
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version",
                        version=f"{PROG} {__version__} (NumPy edition)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name, summary, description, run):
        sub = commands.add_parser(name, help=summary, description=description,
                                  formatter_class=_HelpFormatter)
        sub.set_defaults(run=run)
        return sub

    create = command(
        "create", "make a new training run: a folder with config.toml",
        "Make a training run folder holding config.toml: the game, its description (actions,\n"
        "reward, characters), how observations are built, the network and the\n"
        "hyperparameters. The description comes from [tool.retro-gamer] in the game's\n"
        "pyproject.toml (or a built-in one for retro.examples.snake); the board size is read\n"
        "from the game itself. Edit config.toml before training to change anything.\n\n"
        "example:\n  retro-gamer create --game retro.examples.snake --output runs/snake/ "
        "--training-episodes 500",
        _run_create,
    )
    create.add_argument("--game", required=True, metavar="GAME", help=GAME_HELP)
    create.add_argument("--output", required=True, metavar="DIR",
                        help="the folder to create for this run, e.g. runs/snake/")
    _add_hyperparameter_options(create)

    init = command(
        "init", "the older spelling of create: init GAME OUTPUT",
        "The same as 'retro-gamer create --game GAME --output OUTPUT', kept for scripts\n"
        "written for the published retro-gamer.",
        _run_create,
    )
    init.add_argument("game", metavar="GAME", help=GAME_HELP)
    init.add_argument("output", metavar="OUTPUT", help="the folder to create for this run")
    _add_hyperparameter_options(init)

    train = command(
        "train", "train the agent (resumes from the latest checkpoint)",
        "Train the agent of a run made by 'retro-gamer create'. A checkpoint is saved every\n"
        "100 episodes and at the end. Ctrl-C stops training without losing the finished\n"
        "episodes; the same command resumes from the latest checkpoint. To train for\n"
        "longer, raise training_episodes in config.toml and train again.\n\n"
        "example:\n  retro-gamer train runs/snake/\n"
        "  retro-gamer train runs/snake/ --resume ep_0300   # go back to an earlier point",
        _run_train,
    )
    train.add_argument("run_dir", metavar="RUN_DIR", help="the run folder (holds config.toml)")
    train.add_argument("--resume", metavar="CHECKPOINT",
                       help="resume from this checkpoint (ep_0300, ep_0300.npz, final) "
                            "instead of the latest one")

    play = command(
        "play", "watch the trained agent play in the terminal",
        "Watch the agent play the game in this terminal, choosing the action with the\n"
        "highest Q-value each turn. Under the board you see the network's Q-value of every\n"
        "action this turn; the one it picked is marked. Press Enter or Escape to quit.\n\n"
        "example:\n  retro-gamer play runs/snake/ --checkpoint ep_0100   # an early agent",
        _run_play,
    )
    play.add_argument("run_dir", metavar="RUN_DIR", help="the run folder")
    play.add_argument("--checkpoint", metavar="NAME",
                      help="which checkpoint plays: ep_0100, final, or a file in "
                           "RUN_DIR/checkpoints/ (default: the latest)")
    play.add_argument("--framerate", type=_positive_number, default=12.0, metavar="N",
                      help="turns per second (default: 12)")

    info = command(
        "info", "summarise a run: game, settings, recent checkpoints",
        "Print a run's game, description, preprocessing, network and training settings,\n"
        "the last 5 checkpoint lines of training.log and the list of checkpoints.",
        _run_info,
    )
    info.add_argument("run_dir", metavar="RUN_DIR", help="the run folder")

    clean = command(
        "clean", "delete checkpoints and logs to start training afresh",
        "Delete a run's checkpoints (with the saved replay memory), training.log and\n"
        "episodes.csv, so the next 'retro-gamer train' starts from scratch. config.toml\n"
        "is kept. Use it after a change to config.toml that the old checkpoints cannot\n"
        "follow (actions, characters, network shape, ...). It lists what it will delete\n"
        "and asks first.",
        _run_clean,
    )
    clean.add_argument("run_dir", metavar="RUN_DIR", help="the run folder")
    clean.add_argument("--yes", "-y", action="store_true",
                       help="do not ask for confirmation")

    plot = command(
        "plot", "chart reward, steps, loss and epsilon over training",
        "Draw the learning curves of a run in the terminal: reward and steps per episode,\n"
        "loss and epsilon. A rising reward is the sign that the agent is learning. With\n"
        "--output the curves are saved as a figure instead (this needs matplotlib:\n"
        "pip install \"retro-gamer-numpy[plot]\").",
        _run_plot,
    )
    plot.add_argument("run_dir", metavar="RUN_DIR", help="the run folder")
    plot.add_argument("--output", "-o", metavar="FILE",
                      help="save a figure to FILE (.png, .svg or .pdf)")

    evaluate = command(
        "eval", "compare checkpoints over many greedy games",
        "Let checkpoints play games without exploring (always the highest Q-value) and print\n"
        "the mean, median and best total reward and length of their games side by side.\n"
        "Every checkpoint plays the same games (the same random seed), so the comparison\n"
        "is fair. Each game is cut at the run's max_turns_per_episode.\n\n"
        "example:\n  retro-gamer eval runs/snake/ --checkpoint ep_0100 --checkpoint final "
        "--episodes 50",
        _run_eval,
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="the run folder")
    evaluate.add_argument("--checkpoint", action="extend", nargs="+", metavar="NAME",
                          help="checkpoints to compare side by side: --checkpoint ep_0100 final, "
                               "or repeat the option (default: the latest)")
    evaluate.add_argument("--episodes", type=_positive_integer, default=100, metavar="N",
                          help="games per checkpoint (default: 100)")
    evaluate.add_argument("--seed", type=int, default=0, metavar="N",
                          help="random seed of the games (default: 0)")
    return parser


# --------------------------------------------------------------------- running a command

def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 1 error, 2 usage, 130 Ctrl-C)."""
    noticed: list[int] = []
    try:
        with _ctrl_c_noticed(noticed):
            return _main(argv)
    except KeyboardInterrupt:
        pass  # Ctrl-C at any moment, even while the command line itself is being read
    except Exception as error:
        # A Ctrl-C inside an import can come out as an ImportError: it was still a Ctrl-C.
        if not noticed:
            if os.environ.get(DEBUG_VARIABLE):
                raise
            _print_error(_describe_unexpected(error))
            return 1
    print("\nStopped.", file=sys.stderr)
    return INTERRUPTED


@contextlib.contextmanager
def _ctrl_c_noticed(noticed: list):
    """Append to ``noticed`` at every Ctrl-C while the command runs (it still raises
    KeyboardInterrupt as usual)."""

    def interrupt(signum, frame):
        noticed.append(signum)
        raise KeyboardInterrupt

    ours = (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    previous = signal.signal(signal.SIGINT, interrupt) if ours else None
    try:
        yield
    finally:
        if ours:
            signal.signal(signal.SIGINT, previous)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help, --version and usage errors
        return exit.code if isinstance(exit.code, int) else 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        # Games are usually plain files in the folder you run retro-gamer from, but a
        # console script's sys.path starts with the script's folder, not yours.
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        return args.run(args) or 0
    except RetroGamerError as error:
        _print_error(str(error))
    except BrokenPipeError:
        # Whoever read our output stopped early (retro-gamer info RUN | head): stop quietly,
        # and point stdout at nothing so that Python's final flush cannot complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as error:
        _print_error(_describe_os_error(error))
    except MemoryError:
        _print_error(
            "There is not enough memory for this run. The replay memory (memory_capacity), the "
            "network (hidden_sizes) and the learning batch (batch_size) take the most room: make "
            "them smaller in config.toml (or on the command line) and try again."
        )
    return 1


def _print_error(message: str) -> None:
    sys.stdout.flush()
    print(f"Error: {message}", file=sys.stderr)


def _describe_os_error(error: OSError) -> str:
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EROFS):
        from retro_gamer.files import describe_write_error

        return (f"{describe_write_error(error)} Files are replaced only once they are complete, "
                f"so nothing saved before was damaged; run the command again afterwards.")
    where = f" {error.filename}" if error.filename else ""
    reason = error.strerror or str(error)
    return f"{reason}:{where}. Check the path and its permissions, then try again."


def _describe_unexpected(error: Exception) -> str:
    """A one-paragraph report of an error nobody foresaw: what and where, and what to do."""
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename}, line {frames[-1].lineno})" if frames else ""
    return (
        f"something unexpected went wrong: {type(error).__name__}: {error}{where}. "
        f"Your files are safe: every file is replaced only once its new version is complete. "
        f"This is a bug in retro-gamer or in the game; please report it with the command you ran. "
        f"Run the command again with {DEBUG_VARIABLE}=1 set to see the full traceback."
    )


def _run_directory(text: str) -> Path:
    """The run folder named on the command line; it must exist and hold config.toml."""
    run_dir = Path(text)
    if not run_dir.is_dir():
        raise RetroGamerError(
            f"There is no training run at '{text}': the folder does not exist. "
            f"Make one with 'retro-gamer create --game GAME --output {text}', or check the path."
        )
    if not (run_dir / "config.toml").is_file():
        raise RetroGamerError(
            f"'{text}' is not a training run: it has no config.toml. A run folder is made by "
            f"'retro-gamer create --game GAME --output {text}'."
        )
    return run_dir


def _command(*words: str) -> str:
    """A command line the user can paste (paths with spaces are quoted)."""
    return " ".join([PROG, *(shlex.quote(word) for word in words)])


# --------------------------------------------------------------------- the commands

def _run_create(args: argparse.Namespace) -> int:
    from retro_gamer.config import new_config, write_config
    from retro_gamer.games import metadata_for_game, resolve_game

    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise RetroGamerError(f"'{args.output}' is a file; --output must name a folder for the run.")
    if (output / "training.log").exists() or any((output / "checkpoints").glob("*.npz")):
        raise RetroGamerError(
            f"'{args.output}' already holds a trained run (checkpoints or training.log). "
            f"Creating it again would leave checkpoints that do not match the new config. "
            f"Choose another --output, or edit {output / 'config.toml'} and keep training; "
            f"'{_command('clean', args.output)}' deletes the old training first."
        )
    section = resolve_game(args.game)
    metadata = metadata_for_game(section)
    config = new_config(section, metadata, _hyperparameters_given(args))
    replacing = (output / "config.toml").exists()
    write_config(output, config)
    _print_create_summary(args, output, metadata, config)
    if replacing:
        print("(The config.toml that was there before has been replaced.)")
    return 0


def _print_create_summary(args, output: Path, metadata, config: dict) -> None:
    width, height = metadata.board_size
    kind = "CNN (spatial = true)" if metadata.spatial else "MLP (spatial = false)"
    characters = (" ".join(metadata.character_set) if metadata.character_set
                  else "not listed: found by random play when training starts")
    rows = [
        ("game", args.game),
        ("board size", f"{width} x {height}"),
        ("actions", ", ".join(metadata.actions) + " (and a no-op)"),
        ("reward", f"the change of state['{metadata.reward}'] each turn"),
        ("characters", characters),
    ]
    if metadata.observe_state:
        rows.append(("observe state", ", ".join(metadata.observe_state)))
    if metadata.observation_function:
        rows.append(("observation", f"{metadata.observation_function} (your function)"))
    rows.append(("network", f"{kind}, hidden layers {config['model']['hidden_sizes']}"))
    rows.append(("episodes", str(config["training"]["training_episodes"])))
    print(f"Created a training run in {output}")
    for label, value in rows:
        print(f"  {label:<14}{value}")
    print(f"\nEvery setting is in {output / 'config.toml'}; edit it to change them. Next:")
    print(f"  {_command('train', args.output)}")


def _run_train(args: argparse.Namespace) -> int:
    with _stop_signals_like_ctrl_c():
        return _train(args)


def _train(args: argparse.Namespace) -> int:
    run_dir = _run_directory(args.run_dir)
    from retro_gamer.checkpoints import CHECKPOINT_DIR
    from retro_gamer.display import TrainingDisplay
    from retro_gamer.files import remove_temporaries
    from retro_gamer.runlog import read_checkpoint_history
    from retro_gamer.trainer import DQNTrainer, TrainingInterrupted

    # Before anything reads the run: what a killed write left behind is never a file to load.
    for folder in (run_dir, run_dir / CHECKPOINT_DIR):
        remove_temporaries(folder)
    trainer = DQNTrainer.from_run_dir(run_dir)
    loaded = trainer.resume(args.resume)
    total = trainer.hp["training_episodes"]
    if trainer.complete:
        print(f"Training already complete ({total} episodes). To keep training, "
              f"increase training_episodes in config.toml.")
        return 0
    if loaded is not None:
        print(f"Resuming from {loaded.name}: episode {trainer.start_episode} of {total}.")
        for notice in trainer.resume_notices:
            print(notice)
    # After --resume from an earlier checkpoint, the log's later lines no longer apply.
    history = [record for record in read_checkpoint_history(run_dir)
               if record["episode"] <= trainer.start_episode - 1]
    display = TrainingDisplay(total, trainer.start_episode, history)
    display.start()
    try:
        trainer.train(on_checkpoint=display.on_checkpoint, on_episode=display.on_episode)
    except TrainingInterrupted as stop:
        display.close()
        print(_stopped_message(stop, args.run_dir))
        return INTERRUPTED
    finally:
        display.close()
    print(f"Done: {total} episodes trained. Checkpoints are in {run_dir / 'checkpoints'}/.")
    print(f"Watch the agent:  {_command('play', args.run_dir)}")
    return 0


@contextlib.contextmanager
def _stop_signals_like_ctrl_c():
    """While training, a plain `kill` (SIGTERM) or a closed terminal (SIGHUP) stops it as
    Ctrl-C does: the finished episodes are saved first. A signal the process was told to
    ignore (nohup) stays ignored."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    numbers = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {number: signal.signal(number, interrupt) for number in numbers
                    if signal.getsignal(number) == signal.SIG_DFL}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _stopped_message(stop, run_dir: str) -> str:
    if stop.checkpoint is None:
        return ("\nStopped before the first episode finished, so there was nothing to save. "
                f"Start again with:  {_command('train', run_dir)}")
    return (f"\nStopped. Episodes 1-{stop.episode} are kept in checkpoint "
            f"{stop.checkpoint.name}.\nResume with:  {_command('train', run_dir)}")


def _run_play(args: argparse.Namespace) -> int:
    run_dir = _run_directory(args.run_dir)
    from retro_gamer.play import play

    summary = play(run_dir, checkpoint=args.checkpoint, framerate=args.framerate)
    print(summary)
    return 0


def _run_info(args: argparse.Namespace) -> int:
    run_dir = _run_directory(args.run_dir)
    from retro_gamer.checkpoints import list_checkpoints, published_checkpoints
    from retro_gamer.config import read_config
    from retro_gamer.runlog import read_checkpoint_history

    config = read_config(run_dir)
    raw = config.raw
    game = raw.get("game", {})
    rows = [
        ("Game module", game.get("module", "?") + (f"  (factory {game['factory']})"
                                                   if game.get("factory") else "")),
        ("Metadata", raw.get("metadata", {})),
        ("Preprocessing", raw.get("preprocessing", {})),
        ("Model", raw.get("model", {})),
        ("Training", raw.get("training", {})),
    ]
    for label, value in rows:
        print(f"{label:<14}: {value}")
    history = read_checkpoint_history(run_dir)
    if history:
        print(f"\nLast {min(5, len(history))} checkpoints:")
        for record in history[-5:]:
            print(f"  {record['line']}")
    else:
        print(f"\nNo checkpoints logged yet. Train with:  {_command('train', args.run_dir)}")
    files = [path.name for path in list_checkpoints(run_dir)]
    print(f"\nCheckpoints ({len(files)}): {files}")
    published = [path.name for path in published_checkpoints(run_dir)]
    if published:
        print(f"Also {len(published)} checkpoint(s) of the published PyTorch retro-gamer, which this "
              f"edition cannot read: {published}. '{_command('clean', args.run_dir)}' removes them.")
    return 0


def _run_clean(args: argparse.Namespace) -> int:
    run_dir = _run_directory(args.run_dir)
    doomed = files_to_clean(run_dir)
    if not doomed:
        print(f"Nothing to clean in {args.run_dir}: no checkpoints, training.log or episodes.csv.")
        return 0
    n_checkpoints = sum(1 for path in doomed if path.suffix in (".npz", ".pt")
                        and path.name != "replay_memory.npz")
    print(f"Will remove {n_checkpoints} checkpoint(s) and the training records from {args.run_dir}:")
    for path in doomed:
        note = "  (a link: only the link is removed)" if path.is_symlink() else ""
        print(f"  {path.relative_to(run_dir)}{note}")
    print("config.toml is kept.")
    if not args.yes and not _confirm("Proceed? [y/N] "):
        print("Nothing was removed.")
        return 1
    left = remove_listed(run_dir, doomed)
    for path in left:
        print(f"  left alone: {path.relative_to(run_dir)} (its folder changed since it was listed)")
    print(f"Cleaned. Run '{_command('train', args.run_dir)}' to start fresh.")
    return 0


def remove_listed(run_dir: Path, doomed: list[Path]) -> list[Path]:
    """Remove exactly the files listed by files_to_clean; return those left alone.

    Each file is removed by its name inside a folder opened without following links, so
    a folder swapped for a link after the listing cannot send the removal elsewhere.
    """
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
    if os.unlink not in os.supports_dir_fd:  # no such calls here (Windows): links are files there
        for path in doomed:
            path.unlink(missing_ok=True)
        return []
    left = []
    run_fd = os.open(run_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        for path in doomed:
            *folders, name = path.relative_to(run_dir).parts
            folder_fd = run_fd
            try:
                if folders:  # checkpoints/: O_NOFOLLOW refuses it if it became a link
                    folder_fd = os.open(os.path.join(*folders), flags, dir_fd=run_fd)
                os.unlink(name, dir_fd=folder_fd)
            except FileNotFoundError:
                pass
            except OSError:
                left.append(path)
            finally:
                if folder_fd != run_fd:
                    os.close(folder_fd)
    finally:
        os.close(run_fd)
    return left


def files_to_clean(run_dir: Path) -> list[Path]:
    """What 'clean' removes: the checkpoints (and the replay memory saved beside them),
    training.log, episodes.csv and temporary files left by an interrupted write.

    Nothing outside the run folder can be reached: a symbolic link is listed as itself
    (removing it leaves what it points to alone) and never looked through, and only
    files are listed, so no folder is ever emptied.
    """
    from retro_gamer.checkpoints import CHECKPOINT_DIR
    from retro_gamer.files import is_temporary
    from retro_gamer.runlog import EPISODES_FILE, LOG_FILE

    def removable(path: Path) -> bool:
        return path.is_symlink() or path.is_file()

    doomed = [path for path in (run_dir / LOG_FILE, run_dir / EPISODES_FILE) if removable(path)]
    doomed += sorted(path for path in run_dir.iterdir() if is_temporary(path) and removable(path))
    folder = run_dir / CHECKPOINT_DIR
    if folder.is_symlink():
        doomed.append(folder)
    elif folder.is_dir():
        doomed += sorted(
            path for path in folder.iterdir()
            if (path.suffix in (".npz", ".pt") or is_temporary(path)) and removable(path)
        )
    return doomed


def _confirm(question: str) -> bool:
    try:
        answer = input(question)
    except EOFError:  # no one to answer (stdin closed): the safe answer is no
        print()
        return False
    return answer.strip().lower() in ("y", "yes")


def _run_plot(args: argparse.Namespace) -> int:
    run_dir = _run_directory(args.run_dir)
    import shutil

    from retro_gamer import plotting

    curves, source = plotting.learning_curves(run_dir)
    if not curves:
        raise RetroGamerError(
            f"{args.run_dir} has no training history to plot yet: neither episodes.csv nor "
            f"checkpoint lines in training.log. They are written at every checkpoint (each "
            f"100 episodes) by '{_command('train', args.run_dir)}'."
        )
    if args.output:
        plotting.save_figure(curves, args.output, title=f"Training: {run_dir.resolve().name}")
        print(f"Saved the learning curves of {args.run_dir} to {args.output}")
        return 0
    width = shutil.get_terminal_size().columns - 1
    print(f"Learning curves of {args.run_dir} ({source})\n")
    print(plotting.terminal_plot(curves, width))
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    run_dir = _run_directory(args.run_dir)
    from retro_gamer.evaluate import evaluate_checkpoints, format_table

    results = evaluate_checkpoints(run_dir, args.checkpoint, episodes=args.episodes,
                                   seed=args.seed, progress=print)
    print()
    print(format_table(results))
    return 0
