"""GameEnvironment: a retro-games game as a reinforcement-learning environment.

The agent's side of the loop is the familiar one::

    obs = env.reset()                        # a new game; the board as it stands
    obs, reward, done = env.step("KEY_UP")   # press a key (None: the no-op), play one turn

The reward of a turn is how much ``game.state[metadata.reward]`` changed during it.

The trainer does not need a full float32 observation every turn: it stores boards as
one-byte codes (observation.py). So reset() and step() are built from smaller pieces
it calls directly: ``new_episode()`` and ``advance(key)`` play without encoding, and
``observation()`` or ``compact_observation()`` encode the current turn on demand.
"""
from __future__ import annotations

import numbers

import numpy as np

from retro_gamer.errors import ConfigError, GameError, problem_report
from retro_gamer.game.description import GameMetadata
from retro_gamer.game.loading import (add_game_path, board_size_of, build_game, describe_factory, game_traceback,
                                      import_game_module, load_game_factory, start_headless, where_raised)
from retro_gamer.game.observation import ObservationEncoder, forget_stale_positions, top_character
from retro_gamer.settings import SETTINGS

NO_CODES = np.zeros(0, dtype=np.uint8)


class GameEnvironment:
    """Plays games made by ``create_game`` for a learner, as ``metadata`` describes.

    observe_state, board and observe_state_sizes, when given, replace those fields of
    ``metadata`` (they are part of it, because they fix the network's input size); None
    keeps what the metadata says. After measure_observation(), or the first
    new_episode() or reset(), ``metadata.board_size``, ``metadata.observe_state_sizes``
    and ``metadata.extras_size`` hold what was measured on the game, so
    ``metadata.obs_size`` is final.

    unknown_character_strategy "extend" makes characters outside the character set
    show up in ``new_characters``, for the trainer to adopt (``adopt_new_characters``);
    with "ignore" they simply count as empty cells.

    ``env.game`` is the game of the current episode.
    """

    def __init__(self, create_game, metadata, observe_state=None, board=None, observe_state_sizes=None,
                 unknown_character_strategy="ignore"):
        if observe_state is not None:
            metadata.observe_state = list(observe_state)
        if board is not None:
            metadata.board = board
        if observe_state_sizes is not None:
            metadata.observe_state_sizes = dict(observe_state_sizes)
        problems = metadata.problems()
        if problems:
            raise ConfigError(problem_report(problems, "the game description", "Correct it and try again."))
        if metadata.uses_board and metadata.character_set is None:
            raise ConfigError(
                "The board cannot be encoded yet: metadata.character_set is not set, so there is\n"
                "no list of characters to one-hot encode. Give it in [tool.retro-gamer], or\n"
                "discover it by playing random turns first:\n"
                "    metadata.character_set = discover_characters(create_game, metadata.actions, 200, rng)"
            )
        if unknown_character_strategy not in SETTINGS["unknown_character_strategy"].choices:
            raise ConfigError(
                f"unknown_character_strategy = {unknown_character_strategy!r}: use \"ignore\" (a character\n"
                'outside the character set is an empty cell) or "extend" (it gets a channel of its own).'
            )
        self.create_game = create_game
        self.metadata = metadata
        self.extend_characters = unknown_character_strategy == "extend"
        self.game_name = describe_factory(create_game)
        self.game = None
        self.encoder = None
        self._keys = None
        self._reward_before = 0.0

    @property
    def n_cells(self) -> int:
        """Cells of the board the network sees (H*W, or the egocentric crop); 0 without a board."""
        shape = self.metadata.board_shape
        return shape[1] * shape[2] if shape else 0

    # -- playing ------------------------------------------------------------------

    def new_episode(self) -> None:
        """Create and start a new game, without encoding an observation."""
        game = build_game(self.create_game, self.game_name)
        self._keys = start_headless(game)
        self.game = game
        self._measure(game)
        self._reward_before = self._reward_now()

    def advance(self, key: str | None) -> tuple[float, bool]:
        """Press ``key`` (None: the no-op) and play one turn -> (reward, done)."""
        game = self.game
        if game is None or not game.playing:
            raise GameError("This episode is over (or has not started): call reset() or new_episode() first.")
        self._keys.press(key)
        try:
            game.step()
        except Exception as error:
            raise GameError(
                f"The game {self.game_name} raised {type(error).__name__} during turn "
                f"{game.turn_number} (key pressed: {key!r}): {error}\n"
                "This is a bug in the game, not in training: play the game by hand to reproduce\n"
                "it, fix it, then train again. The game's traceback:\n"
                f"{game_traceback(error)}"
            ) from error
        reward_now = self._reward_now()
        reward = float(reward_now - self._reward_before)
        self._reward_before = reward_now
        return reward, not game.playing

    def _reward_now(self) -> float:
        key = self.metadata.reward
        value = self.game.state.get(key)
        if type(value) in (int, float):
            return value
        if isinstance(value, numbers.Real):
            return float(value)
        if key not in self.game.state:
            raise GameError(
                f"The reward key {key!r} is not in the state of the game made by {self.game_name}\n"
                f"(its keys are: {list(self.game.state)}).\n"
                "The reward of a turn is the change of that value, so it must be there from the\n"
                f"start: set game.state[{key!r}] = 0 in create_game(), or set reward in the game's\n"
                "description to one of the keys above."
            )
        raise GameError(
            f"game.state[{key!r}] is {value!r} ({type(value).__name__}), in the game made by\n"
            f"{self.game_name}. It is the reward key, so it must be a number: the reward of a turn\n"
            "is how much it changed. Keep a number there, such as the score."
        )

    # -- measuring ------------------------------------------------------------------

    def measure_observation(self) -> None:
        """Measure the board and the extras on one new game, before any episode is played."""
        game = build_game(self.create_game, self.game_name)
        start_headless(game)
        self._measure(game)

    def _measure(self, game) -> None:
        size = tuple(game.board_size)
        if self.metadata.board_size is None:
            self.metadata.board_size = size
        elif tuple(self.metadata.board_size) != size:
            raise GameError(
                f"The game made by {self.game_name} has a {size[0]}x{size[1]} board, but the "
                f"network was built for {self.metadata.board_size[0]}x{self.metadata.board_size[1]} "
                "(board_size in config.toml).\nThe network's input size depends on the board, so "
                "train a new run for the new board size: retro-gamer create ..."
            )
        if self.encoder is None:
            # Built on the first game, which gives the board size; reading the extras
            # once records their sizes in the metadata.
            self.encoder = ObservationEncoder(self.metadata)
            self.encoder.extras(game)

    # -- characters outside the character set -------------------------------------

    @property
    def new_characters(self) -> list[str]:
        """Characters seen outside the character set, with the "extend" strategy."""
        if self.extend_characters and self.encoder is not None:
            return self.encoder.new_characters
        return []

    def adopt_new_characters(self) -> int:
        """Append the new characters to metadata.character_set; return how many were added.

        Each gets the next channel. With an egocentric crop the off-board channel stays
        last, so its code moves up by the number added (see observation.py).
        """
        return len(self.encoder.extend_character_set())

    # -- observing ------------------------------------------------------------------

    def observation(self) -> np.ndarray:
        """The current observation: (obs_size,) float32, the board one-hot then the extras."""
        return self.encoder.encode(self.game)

    def compact_observation(self) -> tuple[np.ndarray, np.ndarray]:
        """The current observation as (codes (H*W,) uint8, extras (E,) float32).

        Without the built-in board (board = false, or an observation_function) codes is
        empty and extras is the whole observation.
        """
        extras = self.encoder.extras(self.game)
        if not self.metadata.uses_board:
            return NO_CODES, extras
        return self.encoder.codes(self.game), extras

    # -- the published interface -------------------------------------------------------

    def reset(self) -> np.ndarray:
        """Start a new episode -> the observation of the board as it stands at the start."""
        self.new_episode()
        return self.observation()

    def step(self, action: str | None) -> tuple[np.ndarray, float, bool]:
        """Press ``action`` (a key name, or None for the no-op), play one turn -> (obs, reward, done)."""
        reward, done = self.advance(action)
        return self.observation(), reward, done


def discover_characters(create_game, actions: list[str], turns: int, rng: np.random.Generator) -> list[str]:
    """The characters seen on the board during ``turns`` turns of random play, sorted.

    Used when a game's description has no character_set: each character found
    becomes one input channel. Random keys (and the no-op) are drawn from ``rng``;
    a game that ends is replaced by a new one. Only what is visible counts: an agent
    hidden under another (lower z) never reaches an observation.
    """
    name = describe_factory(create_game)
    keys = list(actions) + [None]
    seen = set()
    game = None
    for _ in range(turns):
        if game is None or not game.playing:
            game = build_game(create_game, name)
            pressed = start_headless(game)
            forget_stale_positions(game)
            seen |= _visible_characters(game)
        pressed.press(keys[rng.integers(len(keys))])
        try:
            game.step()
        except Exception as error:
            raise GameError(
                f"The game {name} raised {type(error).__name__} while its characters were being "
                f"discovered: {error}\n({where_raised(error)}). Fix the game, then train again."
            ) from error
        seen |= _visible_characters(game)
    return sorted(c for c in seen if isinstance(c, str) and len(c) == 1 and c != " ")


def _visible_characters(game) -> set:
    return {top_character(agents, position) for position, agents in game.get_agents_by_position().items()}


def metadata_for_game(game_section: dict) -> GameMetadata:
    """The game's description, completed and checked against one created game.

    Reads [tool.retro-gamer] (or the built-in description), then creates one game to
    read its board size and measure its observe_state values. When the description
    names a factory and ``game_section`` does not, the section gains it, so that
    config.toml records how to create the game.
    """
    add_game_path(game_section)
    import_game_module(game_section["module"])
    metadata = GameMetadata.from_pyproject(game_section["module"])
    if metadata.factory and "factory" not in game_section:
        game_section["factory"] = metadata.factory
    create_game = load_game_factory(game_section)
    game = build_game(create_game, describe_factory(create_game))
    start_headless(game)
    metadata.board_size = board_size_of(game, describe_factory(create_game))
    ObservationEncoder(metadata).extras(game)
    metadata.validate()
    return metadata
