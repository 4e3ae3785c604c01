"""A tiny game for training tests: walk along a row of 7 cells to the goal.

The runner '>' and the goal '@' start on random cells. Each turn costs 1 point;
reaching the goal gives 10 and ends the game; after 12 turns the game ends anyway.
A random walker scores about -4 on average, the best policy about +7: a trained agent
must beat random play by a wide margin within a few hundred short episodes.
"""
import random

from retro.game import Game

WIDTH = 7
TURN_LIMIT = 12


class Goal:
    name = "goal"
    character = "@"

    def __init__(self, x):
        self.position = (x, 0)


class Runner:
    name = "runner"
    character = ">"

    def __init__(self, x):
        self.position = (x, 0)

    def handle_keystroke(self, keystroke, game):
        x, y = self.position
        if keystroke.name == "KEY_LEFT" and x > 0:
            self.position = (x - 1, y)
        elif keystroke.name == "KEY_RIGHT" and x < WIDTH - 1:
            self.position = (x + 1, y)

    def play_turn(self, game):
        game.state["score"] -= 1
        if self.position == game.get_agent_by_name("goal").position:
            game.state["score"] += 10
            game.end()
        elif game.turn_number >= TURN_LIMIT:
            game.end()


def create_game():
    runner_x, goal_x = random.sample(range(WIDTH), 2)
    return Game([Runner(runner_x), Goal(goal_x)], {"score": 0}, board_size=(WIDTH, 1))


class Surprise:
    """Appears on turn 2 as a character outside the character set ('extend' tests)."""
    character = "?"
    display = False

    def __init__(self):
        self.position = (0, 0)

    def play_turn(self, game):
        if game.turn_number == 2:
            self.display = True


def create_game_with_surprise():
    game = create_game()
    game.add_agent(Surprise())
    return game
