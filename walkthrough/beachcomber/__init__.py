"""Beachcomber: find buried coins with a metal detector before the tide comes in.

This is the second walkthrough game. It teaches what ``observe_state`` is for: telling
the agent something that the board does not show.

You are the beachcomber ``@`` on a 12 x 8 beach. A coin is buried somewhere in the
sand, so it is not drawn on the board. Your metal detector tells you where it is:

- ``coin_dx``: how many columns east of you the coin is (negative means west);
- ``coin_dy``: how many rows south of you the coin is (negative means north).

Walk onto the coin with the arrow keys to dig it up (+1 coin), and another coin is
buried somewhere else. The tide comes in after 100 turns (``time`` counts them down)
and the game ends.

Why the board alone is not enough:

The network's usual input is the board, one-hot encoded. Here the board shows only
where *you* stand: the coin is invisible, so no network (neither an MLP nor a CNN) can
learn from the board where to walk. Trained on the board alone, an agent finds a coin
only when it happens to step on one, which is rare.

The detector's readings live in ``game.state``, which you see printed under the board
when you play. The ``observe_state = ["coin_dx", "coin_dy"]`` line in this folder's
``pyproject.toml`` appends those two numbers to the network's input, and with them a
default training run learns to walk straight to each coin, finding about fifteen a game.
(Snake's built-in description uses the same trick with ``apple_dx`` and ``apple_dy``:
even when the target *is* on the board, handing a small MLP its relative position
saves it from learning geometry cell by cell.)

Play it yourself (from the walkthrough folder)::

    python -m beachcomber

Train an agent and watch it play (``autoplay()`` below shows how a program can use it)::

    retro-gamer create --game beachcomber --output runs/beachcomber/
    retro-gamer train runs/beachcomber/
    retro-gamer play runs/beachcomber/

Every random choice uses Python's ``random`` module, which the trainer seeds, so a
seeded training run plays exactly the same games every time.
"""
import random
from pathlib import Path

from retro.game import Game

WIDTH = 12
HEIGHT = 8
TURNS = 100

# Where autoplay() looks for a trained agent: the folder `retro-gamer create --output`
# made, relative to the folder you run from.
RUN_DIR = Path("runs/beachcomber")

STEPS = {
    "KEY_LEFT": (-1, 0),
    "KEY_RIGHT": (1, 0),
    "KEY_UP": (0, -1),
    "KEY_DOWN": (0, 1),
}


class Beachcomber:
    """The player: walks one cell per arrow key, digs up the coin by stepping on it."""

    name = "beachcomber"
    character = "@"
    color = "bold_black_on_khaki1"

    def __init__(self, position):
        self.position = position

    def handle_keystroke(self, keystroke, game):
        """Take one step, unless it would leave the beach."""
        if keystroke.name in STEPS:
            x, y = self.position
            dx, dy = STEPS[keystroke.name]
            if game.on_board((x + dx, y + dy)):
                self.position = (x + dx, y + dy)

    def play_turn(self, game):
        """After moving: dig up the coin if standing on it, then read the detector."""
        coin = game.get_agent_by_name("coin")
        if self.position == coin.position:
            game.state["coins"] += 1
            coin.bury(game)
        read_detector(game)


class Coin:
    """The buried coin. ``display = False`` keeps it in the game but off the board:
    the agents can find it with ``game.get_agent_by_name("coin")``, a view cannot draw it.
    """

    name = "coin"
    display = False
    position = (0, 0)

    def bury(self, game):
        """Hide the coin in a random spot of sand, never right under the beachcomber."""
        beachcomber = game.get_agent_by_name("beachcomber")
        while True:
            spot = (random.randrange(WIDTH), random.randrange(HEIGHT))
            if spot != beachcomber.position:
                self.position = spot
                return


def read_detector(game):
    """Write the coin's position relative to the beachcomber into the game state."""
    x, y = game.get_agent_by_name("beachcomber").position
    coin_x, coin_y = game.get_agent_by_name("coin").position
    game.state["coin_dx"] = coin_x - x
    game.state["coin_dy"] = coin_y - y


class Tide:
    """An invisible agent that counts ``time`` down and ends the game when the tide comes in.

    A game used for training must end by itself: retro-gamer plays it again and again,
    and an episode that never ends would never teach the agent how its story turns out.
    """

    display = False

    def play_turn(self, game):
        game.state["time"] -= 1
        if game.state["time"] <= 0:
            game.end()


def create_game():
    """Return a new Beachcomber game, ready to play or to train on.

    retro-gamer calls this once per episode, so each call must build a fresh game.
    """
    beachcomber = Beachcomber((random.randrange(WIDTH), random.randrange(HEIGHT)))
    coin = Coin()
    # The state is printed under the board, cut to the board's width: short names and
    # small numbers stay readable.
    state = {"coins": 0, "coin_dx": 0, "coin_dy": 0, "time": TURNS}
    game = Game(
        [beachcomber, coin, Tide()],
        state,
        board_size=(WIDTH, HEIGHT),
        framerate=8,
        color="black_on_khaki1",
    )
    coin.bury(game)
    # Read the detector once now, so that the very first observation already says
    # where the coin is.
    read_detector(game)
    return game


def autoplay():
    """Return a Beachcomber game that plays itself with the agent trained in
    runs/beachcomber/.

    This follows the "autoplay" convention: the caller starts the game and steps it::

        game = autoplay()
        game.start()
        while game.playing:
            game.step()
    """
    # retro_gamer is imported here, not at the top of the file, so that the game can be
    # played with the keyboard (and trained on) without loading the agent's code.
    from retro_gamer.errors import CheckpointError

    if not any(RUN_DIR.glob("checkpoints/*.npz")):
        raise CheckpointError(
            f"No trained Beachcomber agent in {RUN_DIR}/ (looked from {Path.cwd()}).\n"
            "autoplay() needs a training run with at least one checkpoint. Make one from "
            "the walkthrough folder:\n\n"
            f"    retro-gamer create --game beachcomber --output {RUN_DIR}/\n"
            f"    retro-gamer train {RUN_DIR}/\n"
        )
    from retro_gamer import PolicyInput, TrainedPolicy

    ai = TrainedPolicy(RUN_DIR)
    game = create_game()
    game.input_source = PolicyInput(ai, game)
    return game
