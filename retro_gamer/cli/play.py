"""`retro-gamer play`: a trained agent plays in the terminal, drawn by retro-games' TerminalView, with
a panel of every action's Q-value beside the board: what the network thinks of each move, and how sure it is.
"""
import argparse
import sys
from time import perf_counter, sleep

from retro_gamer.cli.commands import run_directory
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

    def draw(self, game, q_values) -> None:
        parts = [f"{label} {float(value):+.1f}" for label, value in zip(self.labels, q_values)]
        best = int(q_values.argmax())
        parts[best] = f"[{parts[best]}]"
        self._write(game, q_value_lines(self.labels, q_values, game.turn_number), "Q: " + " ".join(parts))

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


def play(args: argparse.Namespace) -> int:
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
    try:
        view.check_terminal_size(game)
        with terminal.fullscreen(), terminal.hidden_cursor(), terminal.cbreak():
            stopped = _watch(game, policy, terminal, panel, args.framerate)
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
    return 0


def _watch(game, policy, terminal, panel, framerate: float) -> bool:
    """The play loop; True when the user quit, False when the game ended by itself."""
    game.start()
    while game.playing:
        started = perf_counter()
        if terminal.inkey(0).name in QUIT_KEYS:
            return True
        game.step()  # inside it, the PolicyInput presses the key with the highest Q-value
        if game.playing:
            # The values the next move is chosen from, beside the board they were computed from.
            panel.draw(game, policy.q_values(game))
        sleep(max(0.0, 1.0 / framerate - (perf_counter() - started)))
    panel.draw_message(game, f"Game over after {game.turn_number} turns. Enter or Escape quits.")
    while terminal.inkey().name not in QUIT_KEYS:
        pass
    return False
