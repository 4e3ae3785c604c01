"""What each command of ``retro-gamer`` does. A command's docstring is its help: the first
line the summary in ``retro-gamer --help``, the rest what ``retro-gamer COMMAND --help`` says.
Each imports what it needs when it runs, so that the command line starts at once.
"""
import argparse
import os
import shlex
from pathlib import Path

from retro_gamer.errors import RetroGamerError


def command_line(*words: str) -> str:
    """A command the user can paste (paths with spaces quoted)."""
    return " ".join(["retro-gamer", *(shlex.quote(word) for word in words)])


def run_directory(text: str) -> Path:
    """The run folder named on the command line; it must exist and hold config.toml."""
    run_dir = Path(text)
    if not run_dir.is_dir():
        raise RetroGamerError(f"There is no training run at '{text}': the folder does not exist. Make one "
                              f"with 'retro-gamer create --game GAME --output {text}', or check the path.")
    if not (run_dir / "config.toml").is_file():
        raise RetroGamerError(f"'{text}' is not a training run: it has no config.toml. A run folder is made "
                              f"by 'retro-gamer create --game GAME --output {text}'.")
    return run_dir


def create(args: argparse.Namespace) -> int:
    """make a new training run: a folder with config.toml
Make a training run folder holding config.toml: the game, its description (actions,
reward, characters), how observations are built, the network and the hyperparameters.
The description comes from [tool.retro-gamer] in the game's pyproject.toml (or a built-in
one for retro.examples.snake); the board size is read from the game itself. Edit
config.toml before training to change anything. ('init GAME OUTPUT' is the published
package's older spelling.)

example:
  retro-gamer create --game retro.examples.snake --output runs/snake/ --training-episodes 500
"""
    from retro_gamer.game.environment import metadata_for_game
    from retro_gamer.game.loading import resolve_game
    from retro_gamer.run.config import new_config, write_config
    from retro_gamer.settings import HYPERPARAMETERS, LAYER_DEFAULTS, OLD_NAMES

    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise RetroGamerError(f"'{args.output}' is a file; --output must name a folder for the run.")
    if (output / "training.log").exists() or any((output / "checkpoints").glob("*.npz")):
        raise RetroGamerError(
            f"'{args.output}' already holds a trained run (checkpoints or training.log). Creating it again "
            "would leave checkpoints that do not match the new config. Choose another --output, or edit "
            f"{output / 'config.toml'} and keep training; '{command_line('clean', args.output)}' deletes the "
            "old training first.")
    section = resolve_game(args.game)
    metadata = metadata_for_game(section)
    given = {name: getattr(args, name) for name in (*HYPERPARAMETERS, *OLD_NAMES, *LAYER_DEFAULTS)
             if hasattr(args, name)}
    config = new_config(section, metadata, given)
    replacing = (output / "config.toml").exists()
    write_config(output, config)
    m, training = metadata, config["training"]
    rows = {"game": args.game, "board size": "{} x {}".format(*m.board_size),
            "actions": ", ".join(m.actions) + " (and a no-op)",
            "reward": f"the change of state['{m.reward}'] each turn",
            "characters": " ".join(m.character_set or []) or "found by random play when training starts",
            "observe state": ", ".join(m.observe_state), "observation": m.observation_function,
            "view": m.egocentric and f"radius {m.egocentric_radius} around {m.egocentric_player!r}",
            "network": f"{'CNN' if m.spatial else 'MLP'} (spatial = {str(m.spatial).lower()}), hidden layers "
                       f"{config['model']['hidden_sizes']}",
            "episodes": training["training_episodes"], "engine": training["engine"]}
    print(f"Created a training run in {output}")
    for label, value in rows.items():
        if value:
            print(f"  {label:<14}{value}")
    print(f"\nEvery setting is in {output / 'config.toml'}; edit it to change them. Next:")
    print(f"  {command_line('train', args.output)}")
    if replacing:
        print("(The config.toml that was there before has been replaced.)")
    return 0


def train(args: argparse.Namespace) -> int:
    """train the agent (resumes from the latest checkpoint)
Train the agent of a run made by 'retro-gamer create'; a checkpoint is saved every 100
episodes and at the end. Ctrl-C stops training without losing the finished episodes, and
the same command resumes. To train longer, raise training_episodes in config.toml.

example:
  retro-gamer train runs/snake/
  retro-gamer train runs/snake/ --resume ep_0300   # go back to an earlier point
"""
    run_dir = run_directory(args.run_dir)
    from retro_gamer.cli.display import TrainingDisplay
    from retro_gamer.run.records import read_checkpoint_history
    from retro_gamer.run.session import run_lock
    from retro_gamer.run.trainer import DQNTrainer, TrainingInterrupted

    with run_lock(run_dir, "training"):       # before anything reads or writes the run
        trainer = DQNTrainer.from_run_dir(run_dir)
        loaded = trainer.resume(args.resume)
        total = trainer.hp["training_episodes"]
        if trainer.complete:
            print(f"Training already complete ({total} episodes). To keep training, increase "
                  "training_episodes in config.toml.")
            return 0
        if loaded is not None:
            print(f"Resuming from {loaded.name}: episode {trainer.episode + 1} of {total}.")
        for notice in trainer.resume_notices:
            print(notice)
        # After --resume from an earlier checkpoint, the log's later lines no longer apply.
        history = [r for r in read_checkpoint_history(run_dir) if r["episode"] <= trainer.episode]
        display = TrainingDisplay(total, trainer.episode + 1, history)
        display.start()
        try:
            trainer.train(on_checkpoint=display.on_checkpoint, on_episode=display.on_episode)
        except TrainingInterrupted as stop:
            display.close()
            print("\nStopped before the first episode finished, so there was nothing to save. Start again "
                  f"with:  {command_line('train', args.run_dir)}" if stop.checkpoint is None else
                  f"\nStopped. Episodes 1-{stop.episode} are kept in checkpoint {stop.checkpoint.name}.\n"
                  f"Resume with:  {command_line('train', args.run_dir)}")
            return 130
        finally:
            display.close()
    print(f"Done: {total} episodes trained. Checkpoints are in {run_dir / 'checkpoints'}/.")
    print(f"Watch the agent:  {command_line('play', args.run_dir)}")
    return 0


def play(args: argparse.Namespace) -> int:
    """watch the trained agent play in the terminal
Watch the agent play the game in this terminal, choosing the action with the highest
Q-value each turn. Beside the board you see the network's Q-value of every action this
turn; the one it picked is marked. Press Enter or Escape to quit.

example:
  retro-gamer play runs/snake/ --checkpoint ep_0100   # an early agent
"""
    run_dir = run_directory(args.run_dir)
    from retro_gamer.cli.play import play as play_in_terminal

    print(play_in_terminal(run_dir, checkpoint=args.checkpoint, framerate=args.framerate))
    return 0


def info(args: argparse.Namespace) -> int:
    """summarise a run: game, settings, recent checkpoints
Print a run's game, description, preprocessing, network and training settings,
the last 5 checkpoint lines of training.log and the list of checkpoints.
"""
    run_dir = run_directory(args.run_dir)
    from retro_gamer.run.checkpoints import list_checkpoints, published_checkpoints
    from retro_gamer.run.config import read_config
    from retro_gamer.run.records import read_checkpoint_history

    raw = read_config(run_dir).raw
    game = raw.get("game", {})
    factory = f"  (factory {game['factory']})" if game.get("factory") else ""
    print(f"{'Game module':<14}: {game.get('module', '?')}{factory}")
    for label in ("Metadata", "Preprocessing", "Model", "Training"):
        print(f"{label:<14}: {raw.get(label.lower(), {})}")
    history = read_checkpoint_history(run_dir)
    print(f"\nLast {min(5, len(history))} checkpoints:" if history else
          f"\nNo checkpoints logged yet. Train with:  {command_line('train', args.run_dir)}")
    for record in history[-5:]:
        print(f"  {record['line']}")
    print(f"\nCheckpoints ({len(list_checkpoints(run_dir))}): {[p.name for p in list_checkpoints(run_dir)]}")
    published = [path.name for path in published_checkpoints(run_dir)]
    if published:
        print(f"Also {len(published)} checkpoint(s) of the published PyTorch retro-gamer, which this edition "
              f"cannot read: {published}. '{command_line('clean', args.run_dir)}' removes them.")
    return 0


def clean(args: argparse.Namespace) -> int:
    """delete checkpoints and logs to start training afresh
Delete a run's checkpoints (and saved replay memory), training.log and episodes.csv,
so that the next 'retro-gamer train' starts from scratch; config.toml is kept. Use it after
a change to config.toml the old checkpoints cannot follow. It lists the files and asks first.
"""
    run_dir = run_directory(args.run_dir)
    from retro_gamer.run.session import run_lock

    with run_lock(run_dir, "cleaning"):
        doomed = files_to_clean(run_dir)
        if not doomed:
            print(f"Nothing to clean in {args.run_dir}: no checkpoints, training.log or episodes.csv.")
            return 0
        n_checkpoints = sum(p.suffix in (".npz", ".pt") and not p.name.startswith("replay_") for p in doomed)
        print(f"Will remove {n_checkpoints} checkpoint(s) and the training records from {args.run_dir}:")
        for path in doomed:
            link = "  (a link: only the link is removed)" if path.is_symlink() else ""
            print(f"  {path.relative_to(run_dir)}{link}")
        print("config.toml is kept.")
        if not args.yes and not _confirm("Proceed? [y/N] "):
            print("Nothing was removed.")
            return 1
        for path in remove_listed(run_dir, doomed):
            print(f"  left alone: {path.relative_to(run_dir)} (its folder changed since it was listed)")
    print(f"Cleaned. Run '{command_line('train', args.run_dir)}' to start fresh.")
    return 0


def files_to_clean(run_dir: Path) -> list[Path]:
    """What clean removes: checkpoints and saved replay memories, training.log, episodes.csv and the
    temporary files of interrupted writes. Only files, and a link is listed as itself, never
    looked through: nothing outside the run folder can be reached."""
    from retro_gamer.run.checkpoints import CHECKPOINT_DIR
    from retro_gamer.run.files import is_temporary
    from retro_gamer.run.records import EPISODES_FILE, LOG_FILE

    def removable(path: Path) -> bool:
        return path.is_symlink() or path.is_file()

    doomed = [path for path in (run_dir / LOG_FILE, run_dir / EPISODES_FILE) if removable(path)]
    doomed += sorted(path for path in run_dir.iterdir() if is_temporary(path) and removable(path))
    folder = run_dir / CHECKPOINT_DIR
    if folder.is_symlink():
        return doomed + [folder]
    return doomed + sorted(path for path in (folder.iterdir() if folder.is_dir() else ())
                           if (path.suffix in (".npz", ".pt") or is_temporary(path)) and removable(path))


def remove_listed(run_dir: Path, doomed: list[Path]) -> list[Path]:
    """Remove exactly the files listed; returns those left alone. Each is removed by its name
    inside a folder opened without following links, so that a folder swapped for a link after
    the listing cannot send the removal elsewhere."""
    if os.unlink not in os.supports_dir_fd:      # no such calls (Windows): links are files there
        for path in doomed:
            path.unlink(missing_ok=True)
        return []
    left, directory = [], os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    run_fd = os.open(run_dir, directory)
    try:
        for path in doomed:
            *folders, name = path.relative_to(run_dir).parts
            folder_fd = (os.open(os.path.join(*folders), directory | os.O_NOFOLLOW, dir_fd=run_fd)
                         if folders else run_fd)
            try:
                os.unlink(name, dir_fd=folder_fd)
            except FileNotFoundError:
                pass
            except OSError:
                left.append(path)
            finally:
                if folder_fd != run_fd:
                    os.close(folder_fd)
    except OSError:         # checkpoints/ became a link: O_NOFOLLOW refused it
        left += [path for path in doomed if path not in left and path.exists()]
    finally:
        os.close(run_fd)
    return left


def _confirm(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:          # no one to answer (stdin closed): the safe answer is no
        print()
        return False


def plot(args: argparse.Namespace) -> int:
    """chart reward, steps, loss and epsilon over training
Draw the learning curves of a run in the terminal: reward and steps per episode,
loss and epsilon. A rising reward is the sign that the agent is learning. With
--output the curves are saved as a figure instead (this needs matplotlib:
pip install "retro-gamer-numpy[plot]").
"""
    run_dir = run_directory(args.run_dir)
    import shutil

    from retro_gamer.cli import charts

    curves, source = charts.learning_curves(run_dir)
    if not curves:
        raise RetroGamerError(f"{args.run_dir} has no training history to plot yet: neither episodes.csv nor "
                              "checkpoint lines in training.log. They are written at every checkpoint (each "
                              f"100 episodes) by '{command_line('train', args.run_dir)}'.")
    if args.output:
        charts.save_figure(curves, args.output, title=f"Training: {run_dir.resolve().name}")
        print(f"Saved the learning curves of {args.run_dir} to {args.output}")
        return 0
    print(f"Learning curves of {args.run_dir} ({source})\n")
    print(charts.terminal_plot(curves, shutil.get_terminal_size().columns - 1))
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """compare checkpoints over many greedy games
Let checkpoints play games without exploring (always the highest Q-value) and print
the mean, median and best total reward and length of their games side by side.
Every checkpoint plays the same games (the same random seed), so the comparison
is fair. Each game is cut at the run's max_turns_per_episode.

example:
  retro-gamer eval runs/snake/ --checkpoint ep_0100 --checkpoint final --episodes 50
"""
    run_dir = run_directory(args.run_dir)
    from retro_gamer.cli.evaluate import evaluate_checkpoints, format_table

    results = evaluate_checkpoints(run_dir, args.checkpoint, episodes=args.episodes, seed=args.seed,
                                   progress=print)
    print()
    print(format_table(results))
    return 0
