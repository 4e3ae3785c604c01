"""GameEnvironment: a retro-games game as a reinforcement-learning environment.

    obs = env.reset()                        # a new game; the board as it stands
    obs, reward, done = env.step("KEY_UP")   # press a key (None: the no-op), play one turn

A turn's reward is how much ``game.state[metadata.reward]`` changed. The trainer, storing boards as codes
(observation.py), calls reset()'s and step()'s parts: new_episode(), advance(key), compact_observation()."""
import copy
import numbers

import numpy as np

from retro_gamer.errors import ConfigError, GameError, problem_report
from retro_gamer.fast.observation import dense_observation
from retro_gamer.game.description import GameMetadata
from retro_gamer.game.loading import (add_game_path, build_game, describe_factory, game_traceback,
                                      import_game_module, load_game_factory, start_headless)
from retro_gamer.game.observation import ObservationEncoder, occupied_cells, top_character
from retro_gamer.settings import value_problems

NO_CODES = np.zeros(0, dtype=np.uint8)  # the board of an observation without one


class GameEnvironment:
    """Plays games made by ``create_game`` as ``metadata`` describes; ``env.game``: the game being played."""

    def __init__(self, create_game, metadata, observe_state=None, board=None, observe_state_sizes=None,
                 unknown_character_strategy="ignore"):
        given = {"observe_state": observe_state, "board": board, "observe_state_sizes": observe_state_sizes}
        metadata.set({key: copy.copy(value) for key, value in given.items() if value is not None})
        found = metadata.problems() + value_problems("unknown_character_strategy", unknown_character_strategy)
        if found:
            raise ConfigError(problem_report(found, "the game description", "Correct it and try again."))
        self.create_game, self.game_name = create_game, describe_factory(create_game)
        self.metadata, self.encoder = metadata, ObservationEncoder(metadata)
        self.extend_characters = unknown_character_strategy == "extend"
        self.game, self._keys, self._reward_before = None, None, 0.0

    def new_episode(self) -> None:
        """Create and start a new game, without encoding an observation."""
        self.game, self._keys = self.measure_observation()
        self._reward_before = self._reward_now()

    def measure_observation(self):
        """A new started game and its keys; the first measures the board and extras, the rest must agree."""
        game = build_game(self.create_game, self.game_name)
        keys = start_headless(game)
        size, expected = tuple(game.board_size), self.metadata.board_size
        if expected is None:
            self.metadata.board_size = size
            self.encoder.refresh()
        elif tuple(expected) != size:
            raise GameError(
                f"The game made by {self.game_name} has a {size[0]}x{size[1]} board, but the network was "
                f"built for {expected[0]}x{expected[1]}\n(board_size in config.toml). Its input size depends "
                "on the board: train a new run for\nthe new board size (retro-gamer create ...).")
        self.encoder.extras(game)
        return game, keys

    def advance(self, key: str | None) -> tuple[float, bool]:
        """Press ``key`` (None: the no-op) and play one turn -> (reward, done)."""
        game = self.game
        if game is None or not game.playing:
            raise GameError("This episode is over (or has not started): call reset() or new_episode() first.")
        play_turn(game, self._keys, key, self.game_name)
        before, self._reward_before = self._reward_before, self._reward_now()
        return float(self._reward_before - before), not game.playing

    def _reward_now(self) -> float:
        key, state = self.metadata.reward, self.game.state
        if type(value := state.get(key)) in (int, float) or isinstance(value, numbers.Real):
            return value
        found = (f"is {value!r} ({type(value).__name__})" if key in state
                 else f"is missing (its keys: {list(state)})")
        raise GameError(
            f"game.state[{key!r}] {found}, in the game made by {self.game_name}.\nIt is the reward key: "
            "the reward of a turn is how much that number changed, so it must be a\nnumber from the start. "
            f"Set game.state[{key!r}] = 0 in create_game() and keep a number there, such\nas the score, or "
            "set reward in the game's description to another key.")

    def observation(self) -> np.ndarray:
        """The current observation: (obs_size,) float32, the one-hot board, then the extras."""
        return dense_observation(self.encoder, self.game, occupied_cells(self.game))

    def compact_observation(self) -> tuple[np.ndarray, np.ndarray]:
        """The current (codes (H*W,) uint8, extras (E,) float32); codes is empty without a board."""
        extras = self.encoder.extras(self.game)
        return (self.encoder.codes(self.game) if self.metadata.uses_board else NO_CODES), extras

    @property
    def new_characters(self) -> list[str]:
        """Characters seen outside the character set, with unknown_character_strategy "extend"."""
        return self.encoder.new_characters if self.extend_characters else []

    def reset(self) -> np.ndarray:
        """Start a new episode -> the observation of the board as it stands at the start."""
        self.new_episode()
        return self.observation()

    def step(self, action: str | None) -> tuple[np.ndarray, float, bool]:
        """Press ``action`` (a key name, or None for the no-op), play one turn -> (obs, reward, done)."""
        reward, done = self.advance(action)
        return self.observation(), reward, done


def play_turn(game, keys, key: str | None, name: str) -> None:
    """Press ``key`` and play one turn; an error inside the game shows the game's own traceback."""
    keys.press(key)
    try:
        game.step()
    except Exception as error:
        raise GameError(f"The game {name} raised {type(error).__name__} during turn {game.turn_number} (key "
                        f"pressed: {key!r}): {error}\nThis is a bug in the game, not in training: play the "
                        f"game by hand to reproduce it,\nfix it, then train again. The game's traceback:\n"
                        f"{game_traceback(error)}") from error


def discover_characters(create_game, actions: list[str], turns: int, rng: np.random.Generator) -> list[str]:
    """The characters seen, sorted, in ``turns`` turns (a random key from ``rng``, or a new game when one
    ends): the character set of a game that gives none. An agent always hidden is never seen."""
    name, keys = describe_factory(create_game), list(actions) + [None]
    seen, game = set(), None
    for _ in range(turns):
        if game is None or not game.playing:
            game = build_game(create_game, name)
            pressed = start_headless(game)
        else:
            play_turn(game, pressed, keys[rng.integers(len(keys))], name)
        seen |= {top_character(agents, position) for position, agents in occupied_cells(game).items()}
    return sorted(c for c in seen if isinstance(c, str) and len(c) == 1 and c != " ")


def metadata_for_game(game_section: dict) -> GameMetadata:
    """The game's description ([tool.retro-gamer] or built in), checked and measured on one game. A
    factory it names is added to ``game_section``, so that config.toml records it."""
    add_game_path(game_section)
    import_game_module(game_section["module"])  # import problems explained before the pyproject is read
    metadata = GameMetadata.from_pyproject(game_section["module"])
    if metadata.factory and "factory" not in game_section:
        game_section["factory"] = metadata.factory
    GameEnvironment(load_game_factory(game_section), metadata).measure_observation()
    return metadata
