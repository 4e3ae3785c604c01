"""What the commands of ``retro-gamer`` do (play's is in cli/play.py); a command's docstring is its help.
Each imports its heavy parts (NumPy, the game, the terminal) when it runs, so ``--help`` answers at once.
"""
import argparse
import random
import shlex
import shutil
from pathlib import Path

from retro_gamer.errors import RetroGamerError
from retro_gamer.run.session import run_lock


def command_line(*words: str) -> str:
    """A command the user can paste (paths with spaces quoted)."""
    return " ".join(["retro-gamer", *(shlex.quote(word) for word in words)])


def run_directory(text: str) -> Path:
    run_dir = Path(text)
    if not (run_dir / "config.toml").is_file():
        why = "the folder has no config.toml" if run_dir.is_dir() else "the folder does not exist"
        raise RetroGamerError(f"There is no training run at '{text}': {why}. Make one with "
                              f"'retro-gamer create --game GAME --output {text}', or check the path.")
    return run_dir


def create(args: argparse.Namespace) -> None:
    """make a new training run: a folder with config.toml
Its config.toml holds the game, its description, the network and the hyperparameters: edit it
before training to change anything. 'init GAME OUTPUT' is the older spelling. For example:
  retro-gamer create --game retro.examples.snake --output runs/snake/ --training-episodes 500
"""
    from retro_gamer.game.environment import metadata_for_game
    from retro_gamer.game.loading import resolve_game
    from retro_gamer.run.config import new_config, write_config
    from retro_gamer.settings import ALL_SPELLINGS

    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise RetroGamerError(f"'{args.output}' is a file; --output must name a folder for the run.")
    if (output / "training.log").exists() or any((output / "checkpoints").glob("*.npz")):
        raise RetroGamerError(
            f"'{args.output}' already holds a trained run (checkpoints or training.log). Creating it again "
            "would leave checkpoints that do not match the new config. Choose another --output, or edit "
            f"{output / 'config.toml'} and keep training; '{command_line('clean', args.output)}' deletes "
            "the old training first.")
    section = resolve_game(args.game)
    m = metadata_for_game(section)
    given = {name: getattr(args, name) for name in ALL_SPELLINGS if hasattr(args, name)}
    config = new_config(section, m, given)
    replacing = (output / "config.toml").exists()
    write_config(output, config)
    rows = {"game": args.game, "board size": "{} x {}".format(*m.board_size),
            "actions": ", ".join(m.actions) + " (and a no-op)",
            "reward": f"the change of state['{m.reward}'] each turn",
            "characters": " ".join(m.character_set or []) or "found by random play when training starts",
            "observe state": ", ".join(m.observe_state), "observation": m.observation_function,
            "view": m.egocentric and f"radius {m.egocentric_radius} around {m.egocentric_player!r}",
            "network": f"{'CNN' if m.spatial else 'MLP'} (spatial = {str(m.spatial).lower()}), hidden "
                       f"layers {config['model']['hidden_sizes']}",
            "episodes": config["training"]["training_episodes"], "engine": config["training"]["engine"]}
    print(f"Created a training run in {output}",
          *(f"  {label:<14}{value}" for label, value in rows.items() if value), sep="\n")
    print(f"\nEvery setting is in {output / 'config.toml'}; edit it to change them. Next:")
    print(f"  {command_line('train', args.output)}")
    if replacing:
        print("(The config.toml that was there before has been replaced.)")


def train(args: argparse.Namespace) -> int | None:
    """train the agent (resumes from the latest checkpoint)
A checkpoint is saved every 100 episodes and at the end. Ctrl-C stops without losing the
finished episodes, and the same command resumes; to train longer, raise training_episodes
in config.toml.
"""
    run_dir = run_directory(args.run_dir)
    from retro_gamer.cli.display import TrainingDisplay
    from retro_gamer.run.records import read_checkpoint_history
    from retro_gamer.run.trainer import DQNTrainer, TrainingInterrupted

    with run_lock(run_dir, "training"):       # before anything reads or writes the run
        trainer = DQNTrainer.from_run_dir(run_dir)
        loaded = trainer.resume(args.resume)
        total = trainer.hp["training_episodes"]
        if trainer.complete:
            print(f"Training already complete ({total} episodes). To keep training, increase "
                  "training_episodes in config.toml.")
            return
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
            return 130      # the shell's exit status for a program stopped by Ctrl-C
        finally:
            display.close()
    print(f"Done: {total} episodes trained. Checkpoints are in {run_dir / 'checkpoints'}/.")
    print(f"Watch the agent:  {command_line('play', args.run_dir)}")


def info(args: argparse.Namespace) -> None:
    """summarise a run: game, settings, recent checkpoints"""
    run_dir = run_directory(args.run_dir)
    from retro_gamer.run.checkpoints import list_checkpoints
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
          f"\nNo checkpoints logged yet. Train with:  {command_line('train', args.run_dir)}",
          *(f"  {record['line']}" for record in history[-5:]), sep="\n")
    checkpoints = [path.name for path in list_checkpoints(run_dir)]
    print(f"\nCheckpoints ({len(checkpoints)}): {checkpoints}")


def clean(args: argparse.Namespace) -> int | None:
    """delete checkpoints and logs to start training afresh
Delete a run's checkpoints and training records so that the next 'retro-gamer train' starts
from scratch, e.g. after a change to config.toml the old checkpoints cannot follow.
"""
    run_dir = run_directory(args.run_dir)
    with run_lock(run_dir, "cleaning"):
        doomed = files_to_clean(run_dir)
        if not doomed:
            print(f"Nothing to clean in {args.run_dir}: no checkpoints, training.log or episodes.csv.")
            return
        n_checkpoints = sum(p.suffix in (".npz", ".pt") and not p.name.startswith("replay_") for p in doomed)
        print(f"Will remove {n_checkpoints} checkpoint(s) and the training records from {args.run_dir}:")
        for path in doomed:
            link = "  (a link: only the link is removed)" if path.is_symlink() else ""
            print(f"  {path.relative_to(run_dir)}{link}")
        print("config.toml is kept.")
        try:
            answer = "yes" if args.yes else input("Proceed? [y/N] ")
        except EOFError:          # no one to answer (stdin closed): the safe answer is no
            print()
            answer = "no"
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing was removed.")
            return 1
        for path in doomed:       # a link is removed itself, never what it points to
            path.unlink(missing_ok=True)
    print(f"Cleaned. Run '{command_line('train', args.run_dir)}' to start fresh.")


def files_to_clean(run_dir: Path) -> list[Path]:
    """What clean removes. A link is listed as itself, never followed: nothing outside the run is reached."""
    from retro_gamer.run.checkpoints import CHECKPOINT_DIR
    from retro_gamer.run.files import is_temporary
    from retro_gamer.run.records import EPISODES_FILE, LOG_FILE

    listed = [run_dir / LOG_FILE, run_dir / EPISODES_FILE, *sorted(filter(is_temporary, run_dir.iterdir()))]
    folder = run_dir / CHECKPOINT_DIR
    if folder.is_symlink():
        listed.append(folder)
    elif folder.is_dir():
        listed += sorted(path for path in folder.iterdir()
                         if path.suffix in (".npz", ".pt") or is_temporary(path))
    return [path for path in listed if path.is_symlink() or path.is_file()]


def plot(args: argparse.Namespace) -> None:
    """chart reward, steps, loss and epsilon over training
Draw a run's learning curves in the terminal; a rising reward is the sign that the agent is
learning. Given several runs, each chart overlays their curves, one mark per run, to compare
runs that differ in one setting. --output saves a figure instead (pip install
"retro-gamer-numpy[plot]" first).
"""
    runs = [run_directory(text) for text in args.run_dir]
    from retro_gamer.cli import charts

    if len(runs) > len(charts.MARKS):
        raise RetroGamerError(f"plot overlays at most {len(charts.MARKS)} runs, to keep each one's mark "
                              "readable; give fewer run folders.")
    found = [(text.rstrip("/"), *charts.learning_curves(run)) for text, run in zip(args.run_dir, runs)]
    if empty := [text for text, curves, _ in found if not curves]:
        raise RetroGamerError(f"{', '.join(empty)} has no training history to plot yet: neither episodes.csv "
                              "nor checkpoint lines in training.log. They are written at every checkpoint "
                              f"(each 100 episodes) by '{command_line('train', empty[0])}'.")
    if args.output:
        name = runs[0].resolve().name if len(runs) == 1 else "comparison"
        charts.save_figure([(text, curves) for text, curves, _ in found], args.output, f"Training: {name}")
        print(f"Saved the learning curves of {', '.join(args.run_dir)} to {args.output}")
        return
    width = shutil.get_terminal_size().columns - 1
    if len(runs) == 1:
        print(f"Learning curves of {args.run_dir[0]} ({found[0][2]})\n")
        print("\n".join(charts.chart_grid(found[0][1], width, 8, min_width=40)))
        return
    marked = list(zip(charts.MARKS, found))
    print("Learning curves of", *(f"  {mark} {text} ({source})" for mark, (text, _, source) in marked),
          f"  {charts.OVERLAP} where runs meet\n", sep="\n")
    overlays = [(title, [(mark, curves[k][1], curves[k][2]) for mark, (_, curves, _) in marked])
                for k, (title, _, _) in enumerate(found[0][1])]
    print("\n".join(charts.chart_grid(overlays, width, 8, min_width=40, draw=charts.overlay_chart)))


def evaluate(args: argparse.Namespace) -> None:
    """compare checkpoints, or runs, over many greedy games
Each checkpoint plays the same games (the same seed) greedily, always taking the highest
Q-value, so the comparison is fair. Given several runs of one game, each run's latest (or
--checkpoint) checkpoint plays. For example:
  retro-gamer eval runs/snake/ --checkpoint ep_0100 final --episodes 50
  retro-gamer eval runs/snake/ runs/snake-cnn/
"""
    runs = [run_directory(text) for text in args.run_dir]
    import numpy as np

    from retro_gamer.game.environment import GameEnvironment
    from retro_gamer.game.loading import load_game_factory
    from retro_gamer.policy import TrainedPolicy

    names = args.checkpoint or [None]
    policies = [(text.rstrip("/"), TrainedPolicy(run, name)) for text, run in zip(args.run_dir, runs)
                for name in names]
    games = {text: p.config.game.get("factory") or p.config.game.get("module") for text, p in policies}
    if len(set(games.values())) > 1:
        listed = "\n".join(f"  {text}: {game}" for text, game in games.items())
        raise RetroGamerError(f"These runs train different games:\n{listed}\neval compares agents on the "
                              "same games, so give it runs of one game (compare runs of different games "
                              "with 'retro-gamer plot').")
    labels = [f"{text}:{p.checkpoint_name}" if len(runs) > 1 else p.checkpoint_name for text, p in policies]
    width = max(12, *map(len, labels))
    # The rewards in training.log mix skill with the luck of exploration (epsilon); here only skill counts.
    first = "run:checkpoint" if len(runs) > 1 else "checkpoint"
    header = (f"{first:<{width}}  {'reward mean':>11}  {'median':>8}  {'max':>8}"
              f"  {'turns mean':>10}  {'median':>7}  {'max':>6}")
    table, cut = [header, "-" * len(header)], []
    for label, (_, policy) in zip(labels, policies):
        environment = GameEnvironment(load_game_factory(policy.config.game), policy.metadata)
        random.seed(args.seed)
        np.random.seed(args.seed)
        played = [greedy_game(policy, environment) for _ in range(args.episodes)]
        rewards, turns, ended = (np.array(column) for column in zip(*played))
        print(f"{label}: played {args.episodes} games")
        table.append(f"{label:<{width}}  {rewards.mean():>+11.1f}  {np.median(rewards):>+8.1f}"
                     f"  {rewards.max():>+8.1f}  {turns.mean():>10.1f}  {np.median(turns):>7.1f}"
                     f"  {turns.max():>6d}")
        if not ended.all():
            cut.append(f"{label} ({(~ended).sum()})")
    print("\n" + "\n".join(table))
    print(f"\n{args.episodes} greedy games per checkpoint (no exploration), the same seed for each.")
    if cut:
        print(f"Games cut at max_turns_per_episode: {', '.join(cut)}. "
              "The agent survived that long; its reward there is not final.")


def greedy_game(policy, environment, on_turn=None) -> tuple[float, int, bool]:
    """Play one game greedily (the highest Q-value each turn, no exploration), cut at max_turns_per_episode
    since a greedy agent may loop forever; ``on_turn(game, q_values, turn)`` sees each move before it is
    made. Returns the total reward, the turns played and whether the game ended by itself."""
    environment.new_episode()
    total, turn, done = 0.0, 0, False
    while not done and turn < policy.config.hyperparams["max_turns_per_episode"]:
        q = policy.q_values(environment.game)
        if on_turn:
            on_turn(environment.game, q, turn)
        reward, done = environment.advance(policy.action_keys[int(q.argmax())])
        total, turn = total + reward, turn + 1
    return total, turn, done
