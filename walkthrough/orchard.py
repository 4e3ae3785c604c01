"""Orchard: catch the falling apples in your basket.

This is the first walkthrough game, chosen because a DQN agent learns it quickly.
One apple at a time falls from the top of a small orchard. You move the basket ``U``
along the bottom row with the left and right arrow keys. An apple in the basket scores
a point; an apple that hits the ground loses one. The sun sets after 100 turns: watch
``time`` count down under the board.

Why it is easy to learn:

- The board is small (10 x 10) and shows everything that matters: the apple ``@`` and the
  basket ``U``. A plain multilayer perceptron (MLP) looking at the board can work out
  "the apple is to my left, so move left".
- Only three actions: left, right, and the no-op that retro-gamer always adds.
- The reward comes often: every 9 turns an apple lands, and the score goes up or down.
- Every episode ends by itself after 100 turns, so 1000 episodes take about two minutes.

The game's description for retro-gamer (actions, reward, characters) is the
``[tool.retro-gamer]`` section of the ``pyproject.toml`` beside this file.

Play it yourself (from the walkthrough folder)::

    python -m orchard

Train an agent and watch it play (``autoplay()`` below shows how a program can use it)::

    retro-gamer create --game orchard.py --output runs/orchard/
    retro-gamer train runs/orchard/
    retro-gamer play runs/orchard/

Every random choice uses Python's ``random`` module, which the trainer seeds, so a
seeded training run plays exactly the same games every time.
"""
import random
from pathlib import Path

from retro.game import Game

# An apple takes HEIGHT - 1 turns to fall to the basket's row, and in that time the
# basket can cross WIDTH - 1 columns: with a square orchard every apple can be caught.
WIDTH = 10
HEIGHT = 10
TURNS = 100

# Where autoplay() looks for a trained agent: the folder `retro-gamer create --output`
# made, relative to the folder you run from.
RUN_DIR = Path("runs/orchard")


class Basket:
    """The player. It sits on the bottom row and moves left or right, one cell per key."""

    name = "basket"
    character = "U"
    color = "bold_yellow_on_black"

    def __init__(self, x):
        self.position = (x, HEIGHT - 1)

    def handle_keystroke(self, keystroke, game):
        """Move one cell left or right, staying on the board."""
        x, y = self.position
        if keystroke.name == "KEY_LEFT":
            x = max(0, x - 1)
        elif keystroke.name == "KEY_RIGHT":
            x = min(WIDTH - 1, x + 1)
        self.position = (x, y)


class Apple:
    """An apple falling one row per turn. When it reaches the basket's row it is either
    caught (+1 point) or missed (-1 point), and a new apple starts at the top.
    """

    name = "apple"
    character = "@"
    color = "red_on_black"

    def __init__(self):
        self.drop_from_the_top()

    def drop_from_the_top(self):
        """Start a new apple in a random column of the top row."""
        self.position = (random.randrange(WIDTH), 0)

    def play_turn(self, game):
        x, y = self.position
        basket_row = HEIGHT - 1
        if y + 1 < basket_row:
            self.position = (x, y + 1)  # still falling
            return
        # The apple reaches the basket's row this turn. The basket has already moved
        # (the game lets each agent act in the order they were added, and the basket
        # came first), so the catch is decided by where the basket is now.
        basket = game.get_agent_by_name("basket")
        if basket.position[0] == x:
            game.state["caught"] += 1
            game.state["score"] += 1
        else:
            game.state["missed"] += 1
            game.state["score"] -= 1
        self.drop_from_the_top()


class Sunset:
    """An invisible agent (``display = False``) that counts ``time`` down and ends the game.

    A game used for training must end by itself: retro-gamer plays it again and again,
    and an episode that never ends would never teach the agent how its story turns out.
    """

    display = False

    def play_turn(self, game):
        game.state["time"] -= 1
        if game.state["time"] <= 0:
            game.end()


def create_game():
    """Return a new Orchard game, ready to play or to train on.

    retro-gamer calls this once per episode, so each call must build a fresh game.
    """
    basket = Basket(random.randrange(WIDTH))
    apple = Apple()
    # The state is printed under the board, cut to the board's width: short names and
    # small numbers stay readable.
    state = {"score": 0, "caught": 0, "missed": 0, "time": TURNS}
    # The basket is listed first so that it moves before the apple falls each turn.
    return Game([basket, apple, Sunset()], state, board_size=(WIDTH, HEIGHT), framerate=6)


def autoplay():
    """Return an Orchard game that plays itself with the agent trained in runs/orchard/.

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
            f"No trained Orchard agent in {RUN_DIR}/ (looked from {Path.cwd()}).\n"
            "autoplay() needs a training run with at least one checkpoint. Make one from "
            "the walkthrough folder:\n\n"
            f"    retro-gamer create --game orchard.py --output {RUN_DIR}/\n"
            f"    retro-gamer train {RUN_DIR}/\n"
        )
    from retro_gamer import PolicyInput, TrainedPolicy

    ai = TrainedPolicy(RUN_DIR)
    game = create_game()
    game.input_source = PolicyInput(ai, game)
    return game


if __name__ == "__main__":
    create_game().play()
