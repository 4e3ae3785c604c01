"""Small games that misbehave, one way each, for the error-message tests."""
from retro.game import Game


class Walker:
    """Walks right one cell per turn; the game ends at the right edge."""
    name = "walker"
    character = "w"

    def __init__(self, crash_on_turn=None):
        self.position = (0, 0)
        self.crash_on_turn = crash_on_turn

    def play_turn(self, game):
        if game.turn_number == self.crash_on_turn:
            raise ZeroDivisionError("the walker divided by zero")
        self.position = (self.position[0] + 1, 0)
        game.state["score"] += 1
        if self.position[0] == game.board_size[0] - 1:
            game.end()


class Rock:
    character = "r"

    def __init__(self, position):
        self.position = position


class Shadow:
    """Always lies under the walker (z = -1), so it is never seen."""
    character = "s"
    z = -1

    def __init__(self, walker):
        self.walker = walker
        self.position = walker.position

    def play_turn(self, game):
        self.position = self.walker.position


def make_walk():
    return Game([Walker(), Rock((3, 1))], {"score": 0}, board_size=(6, 2))


def make_crashing_walk():
    return Game([Walker(crash_on_turn=3)], {"score": 0}, board_size=(6, 2))


def make_walk_without_score():
    return Game([Walker()], {"points": 0}, board_size=(6, 2))


def make_walk_with_text_score():
    game = make_walk()
    game.state["score"] = "high"
    return game


def growing_list_walks():
    """A factory whose every new game's "trail" list is one longer than the last one's."""
    made = 0

    def make_walk_with_growing_list():
        nonlocal made
        made += 1
        game = make_walk()
        game.state["trail"] = [0] * made
        return game
    return make_walk_with_growing_list


def make_walk_with_text_state():
    game = make_walk()
    game.state["mood"] = "cheerful"
    return game


def make_walk_with_shadow():
    walker = Walker()
    return Game([walker, Shadow(walker), Rock((3, 1))], {"score": 0}, board_size=(6, 2))


def make_wider_walk():
    return Game([Walker()], {"score": 0}, board_size=(8, 2))


def broken_factory():
    raise ValueError("the level file is missing")


def not_a_game():
    return 42


def observe_walker(game):
    """A well-behaved observation_function: where the walker is, and the score."""
    return (game.get_agent_by_name("walker").position[0], game.state["score"])


def observe_as_grid(game):
    return [[1, 2], [3, 4]]


def observe_more_each_turn(game):
    return [0.0] * (game.turn_number + 1)


def observe_and_crash(game):
    raise KeyError("walker_speed")
