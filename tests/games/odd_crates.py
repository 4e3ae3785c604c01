"""A test game nobody designed for retro-gamer: a warehouse with odd agents.

- a truck that covers 3x2 cells (``size``) and draws a grid of characters with holes;
- a ghost with z = 1 that drifts over crates and is drawn on top of them;
- a state value that is a list (the player's position), set after the Game is built
  because retro-games only accepts immutable values at construction;
- no create_game(): the factory is make_game, named in tests/games/pyproject.toml.
"""
from random import choice, randint

from retro.game import Game

WIDTH, HEIGHT = 12, 8
TURNS = 40
MOVES = {"KEY_RIGHT": (1, 0), "KEY_UP": (0, -1), "KEY_LEFT": (-1, 0), "KEY_DOWN": (0, 1)}


class Player:
    name = "player"
    character = "P"

    def __init__(self, position):
        self.position = position

    def handle_keystroke(self, keystroke, game):
        if keystroke.name in MOVES:
            dx, dy = MOVES[keystroke.name]
            target = (self.position[0] + dx, self.position[1] + dy)
            blockers = [a for a in game.get_agents_by_position().get(target, []) if getattr(a, "z", 0) <= 0]
            if game.on_board(target) and not blockers:
                self.position = target

    def play_turn(self, game):
        game.state["where"] = [self.position[0], self.position[1]]
        if game.turn_number >= TURNS:
            game.end()


class Crate:
    character = "c"

    def __init__(self, position):
        self.position = position


class Ghost:
    """Drifts anywhere, over crates too; with z = 1 it is the one drawn."""
    name = "ghost"
    character = "g"
    z = 1

    def __init__(self, position):
        self.position = position

    def play_turn(self, game):
        dx, dy = choice(list(MOVES.values()))
        target = (self.position[0] + dx, self.position[1] + dy)
        if game.on_board(target):
            self.position = target
            if any(isinstance(a, Crate) for a in game.get_agents_by_position().get(target, [])):
                game.state["score"] += 1


class Truck:
    """A 3x2 agent; its lower row draws wheels with a hole between them."""
    name = "truck"
    size = (3, 2)
    character = ["=#>", "o o"]

    def __init__(self, position):
        self.position = position

    def play_turn(self, game):
        x, y = self.position
        if game.turn_number % 3 == 0:
            self.position = ((x + 1) % (WIDTH - 2), y)


def make_game():
    truck = Truck((0, 0))
    player = Player((WIDTH - 1, HEIGHT - 1))
    crates = [Crate((randint(0, WIDTH - 1), randint(2, HEIGHT - 2))) for _ in range(8)]
    crates = list({c.position: c for c in crates}.values())
    ghost = Ghost(crates[0].position)
    game = Game([truck, player, *crates, ghost], {"score": 0}, board_size=(WIDTH, HEIGHT))
    game.state["where"] = [WIDTH - 1, HEIGHT - 1]
    return game


def observe(game):
    """An observation_function: the player's position as fractions of the board, and the score."""
    x, y = game.get_agent_by_name("player").position
    return [x / WIDTH, y / HEIGHT, game.state["score"]]
