"""`retro-gamer play`: a trained agent plays in the terminal, drawn by retro-games' TerminalView, with
a panel of every action's Q-value beside the board: what the network thinks of each move, and how sure it is.
"""
import argparse
import json
import sys
from functools import partial
from itertools import accumulate
from pathlib import Path
from time import perf_counter, sleep

from retro_gamer.cli.commands import greedy_game, run_directory
from retro_gamer.errors import GameError, RetroGamerError

QUIT_KEYS = ("KEY_ENTER", "KEY_ESCAPE")
BAR_WIDTH = 6


def action_label(key: str | None) -> str:
    """A short name for an action: 'KEY_RIGHT' -> 'right', ' ' -> "' '", None -> 'no-op'."""
    if key is None:
        return "no-op"
    if key.startswith("KEY_"):
        return key[4:].lower()
    return repr(key) if key == " " else key


def q_value_lines(labels: list[str], q_values, turn: int) -> list[str]:
    """The panel: a title, one line per action (its value and a bar from the smallest to the
    largest Q-value, the chosen action marked ▶), then the turn. q_values: (n_actions,)."""
    best, low, high = int(q_values.argmax()), float(q_values.min()), float(q_values.max())
    width = max(len(label) for label in labels)
    lines = ["Q-values, next move"]
    for index, (label, value) in enumerate(zip(labels, q_values)):
        share = (float(value) - low) / (high - low) if high > low else 1.0
        mark = "▶" if index == best else " "
        lines.append(f"{mark} {label:<{width}} {float(value):+7.2f} {'█' * round(share * BAR_WIDTH)}")
    return lines + [f"turn {turn}  Enter/Esc quits"]


class QValuePanel:
    """Draws the Q-value panel where it fits: under the board, else to its right, else as one
    line under the board, else nowhere (the game itself always shows)."""

    def __init__(self, terminal, view, labels: list[str]):
        self.terminal, self.view, self.labels = terminal, view, labels

    def draw(self, game, q_values, legend: str = "") -> None:
        parts = [f"{label} {float(value):+.1f}" for label, value in zip(self.labels, q_values)]
        best = int(q_values.argmax())
        parts[best] = f"[{parts[best]}]"
        lines = q_value_lines(self.labels, q_values, game.turn_number) + ([legend] if legend else [])
        self._write(game, lines, "Q: " + " ".join(parts))

    def draw_message(self, game, message: str) -> None:
        self._write(game, [message], message)

    def _write(self, game, lines: list[str], one_line: str) -> None:
        term, width = self.terminal, max(len(line) for line in lines)
        left, top = self.view.get_view_origin_coords(game)
        view_width, view_height = game.view_size
        state_lines = self.view.state_height(game)
        below = top + view_height + (state_lines + 2 if state_lines else 1)
        if below + len(lines) <= term.height and max(0, left - 1) + width <= term.width:
            x, y = max(0, left - 1), below
        elif left + view_width + 2 + width <= term.width and top - 1 + len(lines) <= term.height:
            x, y = left + view_width + 2, max(0, top - 1)
        elif below < term.height:
            x, y, width = 0, below, term.width - 1
            lines = [one_line[:width]]
        else:
            return
        sys.stdout.write("".join(term.move_xy(x, y + i) + line.ljust(width) for i, line in enumerate(lines)))
        sys.stdout.flush()


class HeatMap:
    """Paints each occupied cell of the board by its influence on the chosen move (policy.explain):
    red argues for the move, blue against it, brighter for more. Drawn over the board, so it
    needs no room of its own; the cells painted last turn are repainted plain first."""
    LEGEND = "red: for this move, blue: against"

    def __init__(self, terminal, view):
        self.terminal, self.view, self.painted = terminal, view, {}

    def draw(self, game, influence: dict) -> None:
        from retro_gamer.game.observation import top_character

        term, (vx, vy), (width, height) = self.terminal, game.view_position, game.view_size
        left, top = self.view.get_view_origin_coords(game)
        strongest = max(map(abs, influence.values()), default=0.0) or 1.0
        cells, out = game.get_agents_by_position(), []
        for x, y in set(self.painted) | set(influence):
            if not (vx <= x < vx + width and vy <= y < vy + height):
                continue
            character = top_character(cells[(x, y)], (x, y)) if (x, y) in cells else " "
            if (x, y) in influence:
                level = int(60 + 195 * abs(influence[(x, y)]) / strongest)
                color = (level, 30, 30) if influence[(x, y)] > 0 else (30, 30, level)
                character = term.on_color_rgb(*color)(character)
            out.append(term.move_xy(left + x - vx, top + y - vy) + character)
        self.painted = influence
        print("".join(out), end="", flush=True)


def play(args: argparse.Namespace) -> None:
    """watch the trained agent play in the terminal
The agent chooses the action with the highest Q-value each turn; beside the board, the
network's Q-value of every action, the chosen one marked. Enter or Escape quits.
"""
    run_dir = run_directory(args.run_dir)
    from blessed import Terminal
    from retro.errors import GameError as RetroGameError, TerminalTooSmall
    from retro.views.terminal import TerminalView

    from retro_gamer.game.loading import build_game, load_game_factory
    from retro_gamer.policy import PolicyInput, TrainedPolicy

    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise RetroGamerError(
            "'retro-gamer play' draws the game in a terminal and reads Enter or Escape from the keyboard, "
            "but its input or output is not a terminal (a pipe or a file?). Run it directly in a terminal "
            "window. To measure an agent without watching it, use 'retro-gamer eval RUN_DIR'.")
    policy = TrainedPolicy(run_dir, args.checkpoint)
    game = build_game(load_game_factory(policy.config.game))
    game.input_source = PolicyInput(policy, game)
    terminal = Terminal()
    game.view = view = TerminalView(terminal, color=getattr(game, "color", "white_on_black"),
                                    show_state=getattr(game, "show_state", True))
    panel = QValuePanel(terminal, view, [action_label(key) for key in policy.action_keys])
    heat = HeatMap(terminal, view) if args.explain else None
    try:
        view.check_terminal_size(game)
        with terminal.fullscreen(), terminal.hidden_cursor(), terminal.cbreak():
            stopped = _watch(game, policy, terminal, panel, heat, args.framerate)
    except TerminalTooSmall as error:
        width, height = game.view_size
        raise GameError(
            f"{error} The game needs a terminal of at least {width + view.BORDER_X} columns and "
            f"{height + view.BORDER_Y + view.state_height(game)} lines (the {width}x{height} board, its "
            "border and the game state). Enlarge the window or make the font smaller, then run the "
            "command again.") from None
    except RetroGameError as error:
        raise GameError(
            f"The game stopped with an error on turn {game.turn_number}: {type(error).__name__}: {error}. "
            "This is a problem in the game's code, not in the agent: fix the game, then watch again."
        ) from None
    state = ", ".join(f"{key}={value}" for key, value in sorted(game.state.items()))
    print(f"Checkpoint {policy.checkpoint_name} played {game.turn_number} turns "
          f"({'you stopped it' if stopped else 'the game ended'}). Final state: {state}")


def _watch(game, policy, terminal, panel, heat, framerate: float) -> bool:
    """The play loop; True when the user quit, False when the game ended by itself."""
    game.start()
    while game.playing:
        started = perf_counter()
        if terminal.inkey(0).name in QUIT_KEYS:
            return True
        game.step()  # inside it, the PolicyInput presses the key with the highest Q-value
        if game.playing:
            # The values the next move is chosen from, beside the board they were computed from.
            panel.draw(game, policy.q_values(game), heat.LEGEND if heat else "")
            if heat:
                heat.draw(game, policy.explain(game)["influence"])
        sleep(max(0.0, 1.0 / framerate - (perf_counter() - started)))
    panel.draw_message(game, f"Game over after {game.turn_number} turns. Enter or Escape quits.")
    while terminal.inkey().name not in QUIT_KEYS:
        pass
    return False


def record(args: argparse.Namespace) -> None:
    """record greedy games as an asciicast file, without a terminal
Plays N games greedily and writes each turn as the player would have seen it (the board,
the game's state, every action's Q-value) into an asciicast v2 file, at the game's
framerate. It needs no terminal: it works in a pipe, on a server or in CI. Replay it with
'asciinema play FILE'; docs/reference.md says how to make a GIF or a web page of it.
"""
    run_dir = run_directory(args.run_dir)
    from retro_gamer.game.environment import GameEnvironment
    from retro_gamer.game.loading import load_game_factory
    from retro_gamer.game.observation import frame_lines
    from retro_gamer.policy import TrainedPolicy
    from retro_gamer.run.files import atomic_write_text

    policy = TrainedPolicy(run_dir, args.checkpoint)
    output = Path(args.output or run_dir / f"{policy.checkpoint_name}.cast")
    if output.suffix != ".cast" or output.is_dir():
        raise RetroGamerError(f"'{output}' is not a file name ending in .cast; name the recording "
                              "like --output snake.cast.")
    output.parent.mkdir(parents=True, exist_ok=True)      # before the games: a bad folder fails at once
    environment = GameEnvironment(load_game_factory(policy.config.game), policy.metadata)
    labels = [action_label(key) for key in policy.action_keys]
    frames = []       # (seconds on screen, lines)

    def show(number: int, game, q, turn: int) -> None:
        panel = q_value_lines(labels, q, turn)[:-1] + [f"game {number} of {args.games}, turn {turn}"]
        frames.append((1.0 / getattr(game, "framerate", 12), frame_lines(game, panel)))

    for number in range(1, args.games + 1):
        _, turns, ended = greedy_game(policy, environment, partial(show, number))
        end = f"game {number} of {args.games}: {'over' if ended else 'cut'} after {turns} turns"
        frames.append((1.0, frame_lines(environment.game, [end])))
    header = {"version": 2, "width": max(len(line) for _, lines in frames for line in lines),
              "height": max(len(lines) for _, lines in frames), "env": {"TERM": "xterm-256color"},
              "title": f"retro-gamer: {policy.checkpoint_name} of {run_dir}"}
    # Each event: [seconds, "o", what the terminal prints]; a frame clears the screen, then draws.
    times = accumulate((seconds for seconds, _ in frames), initial=0.0)
    events = [json.dumps([round(time, 3), "o", "\x1b[H\x1b[2J" + "\r\n".join(lines)])
              for time, (_, lines) in zip(times, frames)]
    atomic_write_text(output, "\n".join([json.dumps(header), *events]) + "\n")
    print(f"Recorded {args.games} game(s) of {policy.checkpoint_name}, {len(frames)} frames, in {output}.\n"
          f"Replay it with:  asciinema play {output}")
