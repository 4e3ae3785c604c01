"""A test game given as a package folder: a hero with a lantern in a small walled room.

Its description (odd_lantern/pyproject.toml) leaves character_set out, so training must
discover it, and it observes a tuple from game.state. The hero is named "hero", for the
egocentric view.
"""
from random import randint

from retro.game import Game

WIDTH, HEIGHT = 9, 7
TURNS = 30
MOVES = {"w": (0, -1), "a": (-1, 0), "s": (0, 1), "d": (1, 0)}


class Hero:
    name = "hero"
    character = "@"

    def __init__(self, position):
        self.position = position

    def handle_keystroke(self, keystroke, game):
        if keystroke in MOVES:
            dx, dy = MOVES[keystroke]
            target = (self.position[0] + dx, self.position[1] + dy)
            if game.on_board(target):
                for other in game.get_agents_by_position().get(target, []):
                    if isinstance(other, Wall):
                        return
                    if isinstance(other, Coin):
                        game.remove_agent(other)
                        game.state["coins"] += 1
                self.position = target
                game.state["hero_xy"] = target

    def play_turn(self, game):
        if game.turn_number >= TURNS:
            game.end()


class Wall:
    character = "#"

    def __init__(self, position):
        self.position = position


class Coin:
    character = "$"

    def __init__(self, position):
        self.position = position


def create_game(hero_position=None):
    walls = [Wall((x, 3)) for x in range(2, 7)]
    coins = [Coin((randint(0, WIDTH - 1), randint(0, 2))) for _ in range(3)]
    coins = list({c.position: c for c in coins}.values())
    hero = Hero(hero_position or (WIDTH // 2, HEIGHT - 1))
    game = Game([hero, *walls, *coins], {"coins": 0, "lives": 3}, board_size=(WIDTH, HEIGHT))
    game.state["hero_xy"] = hero.position
    return game
