"""Observations: how a game turn becomes the flat float32 vector the network reads.

A board is kept compactly as *codes*: one small integer per cell, in row-major (y, x)
order, 0 for an empty cell and k+1 for a cell showing channel k (character k of the
character set, or the off-board channel of an egocentric crop, which is the last one).
One byte per cell instead of C float32 values: this is what lets the replay memory hold
50,000 snake turns in a few tens of megabytes.

The observation itself (SPEC §5) is the one-hot board followed by the *extras*: the
``observe_state`` values of ``game.state``, flattened, or everything an
``observation_function`` returns. Spatial games lay the board out channel-first
``(C, H, W)``, for the CNN; the others cell by cell ``(H, W, C)``, for the MLP.

``ObservationEncoder`` reads a live game into codes and extras; dqn/network.py's
``one_hot`` turns them into the observation (tests/test_observation.py checks the result
against an obvious encoder that draws the board and visits every cell).
"""
from __future__ import annotations

import numbers

import numpy as np
from retro.views._util import get_agent_character

from retro_gamer.dqn.network import one_hot
from retro_gamer.errors import ConfigError, GameError
from retro_gamer.game.loading import load_function


def _z(agent) -> int:
    return getattr(agent, "z", 0) or 0


def top_character(agents: list, position: tuple[int, int]):
    """The character shown at ``position``: that of the agent with the highest z.

    Ties go to the agent added first, as in retro-games' own views. Multi-cell agents
    (with ``size``) may show a different character in each of their cells.
    """
    top = agents[0] if len(agents) == 1 else max(agents, key=_z)
    character = top.character
    if type(character) is not str:
        character = get_agent_character(top, position)
    return character


def forget_stale_positions(game) -> None:
    """Make ``game.get_agents_by_position()`` look at the agents again.

    retro-games caches the map of occupied cells and refreshes it during ``step()``.
    Before the first step the cache can be out of date: snake's ``create_game`` asks
    for the occupied cells and then moves the apple. Dropping the cache costs one
    recomputation and makes the first observation show the board as it really is.
    """
    if hasattr(game, "_position_cache"):
        game._position_cache = None


class ObservationEncoder:
    """Reads a live game into codes, extras and observations, as ``metadata`` describes.

    Works on any retro-games Game, whoever created it. Only the occupied cells are
    visited (``game.get_agents_by_position()``, which retro-games has already built
    at the end of each step), instead of drawing the whole board and walking every
    cell: a snake board has 512 cells and typically a dozen agents.

    Characters that are not in the character set are treated as empty, and recorded
    in ``new_characters`` (in order of first sight). With the "extend" strategy the
    trainer calls ``extend_character_set()`` to give them channels of their own.

    The extras' sizes are measured the first time they are read: missing entries of
    ``metadata.observe_state_sizes`` and ``metadata.extras_size`` (0 = not measured)
    are filled in; afterwards, a size that changes stops with a GameError.
    """

    def __init__(self, metadata):
        self.metadata = metadata
        self.new_characters: list[str] = []
        self._observation_function = None
        if metadata.observation_function is not None:
            self._observation_function = load_function(metadata.observation_function, "observation_function")
        self.refresh()

    def refresh(self) -> None:
        """Re-read the character set and board layout from the metadata."""
        m = self.metadata
        self._code_of = {character: k + 1 for k, character in enumerate(m.character_set or [])}
        # Unknown characters already recorded map to 0 (empty), so the lookup stays one dict get.
        for character in self.new_characters:
            self._code_of.setdefault(character, 0)
        # The board's layout is known once the game's characters and size are (the
        # size is not needed for an egocentric crop, which has a size of its own).
        layout_known = m.uses_board and m.character_set is not None and (m.board_size or m.egocentric)
        self.n_channels, self.height, self.width = m.board_shape if layout_known else (0, 0, 0)
        self.n_cells = self.height * self.width
        self.board_length = self.n_channels * self.n_cells
        sizes = m.observe_state_sizes
        if m.observation_function is None and all(key in sizes for key in m.observe_state):
            m.extras_size = sum(sizes[key] for key in m.observe_state)

    def extend_character_set(self) -> list[str]:
        """Give every recorded new character a channel; return the characters added.

        The new channels come after the existing characters, so a network can grow its
        input layer with zero weights for them and keep everything it learned. With an
        egocentric crop the off-board channel stays last: its code grows by
        ``len(added)``, and codes stored earlier must be renumbered
        (``codes[codes == old] = new``).
        """
        added = [c for c in self.new_characters if c not in (self.metadata.character_set or [])]
        if self.metadata.character_set is None:
            self.metadata.character_set = []
        self.metadata.character_set.extend(added)
        self.new_characters = []
        self.refresh()
        return added

    # -- the board ---------------------------------------------------------------

    def codes(self, game, out: np.ndarray | None = None) -> np.ndarray:
        """The board as codes: (H*W,) uint8, or (side*side,) for an egocentric crop."""
        if not self.n_cells:
            raise ConfigError(
                "The board cannot be encoded: the metadata has no character_set or no board_size\n"
                "yet. Read the size from a game (metadata.board_size = game.board_size) and give\n"
                "or discover the characters (environment.discover_characters) first."
            )
        if self.metadata.egocentric:
            board = self._egocentric_codes(game)
        else:
            board = bytearray(self.n_cells)
            width = self.width
            code_of = self._code_of
            for position, agents in self._occupied(game).items():
                # Most cells hold one agent with a one-character string: look that up
                # directly, and leave stacks, grids and new characters to the slow path.
                character = agents[0].character if len(agents) == 1 else None
                code = code_of.get(character) if type(character) is str else None
                if code is None:
                    code = self._code(top_character(agents, position))
                if code:
                    board[position[1] * width + position[0]] = code
        codes = np.frombuffer(board, dtype=np.uint8)
        if out is None:
            return codes
        out[:] = codes
        return out

    def _occupied(self, game) -> dict:
        """{(x, y): [agents]} of the cells with something in them."""
        if getattr(game, "turn_number", 1) == 0:
            # Before the first step the cached map may be out of date (see forget_stale_positions).
            forget_stale_positions(game)
        return game.get_agents_by_position()

    def _code(self, character) -> int:
        if type(character) is not str:
            return 0  # a character grid without a size: retro-games cannot draw it either
        code = self._code_of.get(character)
        if code is None:
            # First sight of a character outside the set: note it, then treat it as empty.
            if len(character) == 1 and character != " ":
                self.new_characters.append(character)
            self._code_of[character] = code = 0
        return code

    def _egocentric_codes(self, game) -> bytearray:
        side = self.width
        radius = self.metadata.egocentric_radius
        center_x, center_y = self._player_position(game)
        left, top = center_x - radius, center_y - radius
        board = bytearray(side * side)
        for position, agents in self._occupied(game).items():
            x, y = position[0] - left, position[1] - top
            if 0 <= x < side and 0 <= y < side:
                code = self._code(top_character(agents, position))
                if code:
                    board[y * side + x] = code
        # Cells beyond the board's edge get the off-board code, so the agent sees walls.
        offboard = self.n_channels
        width, height = game.board_size
        window = np.frombuffer(board, dtype=np.uint8).reshape(side, side)
        window[: max(0, -top), :] = offboard
        window[max(0, height - top):, :] = offboard
        window[:, : max(0, -left)] = offboard
        window[:, max(0, width - left):] = offboard
        return board

    def _player_position(self, game) -> tuple[int, int]:
        name = self.metadata.egocentric_player
        player = game.agents_by_name.get(name) if hasattr(game, "agents_by_name") else None
        if player is None:
            names = sorted(getattr(game, "agents_by_name", {}))
            raise GameError(
                f"The egocentric view follows the agent named {name!r}, but the game has no\n"
                f"agent of that name (named agents: {names}).\n"
                "Set egocentric_player in [preprocessing] of config.toml to the name attribute\n"
                'of the agent the trainer controls, for example: egocentric_player = "player"'
            )
        return player.position

    # -- the extras ----------------------------------------------------------------

    def extras(self, game, out: np.ndarray | None = None) -> np.ndarray:
        """Everything after the board: (E,) float32, E = metadata.extras_size."""
        if self._observation_function is not None:
            values = self._call_observation_function(game)
            self._check_size("the observation_function's output", values.size)
        else:
            values = self._observe_state(game)
        if out is None:
            return values
        out[:] = values
        return out

    def _observe_state(self, game) -> np.ndarray:
        m = self.metadata
        state = game.state
        sizes = m.observe_state_sizes
        values = []
        for key in m.observe_state:
            try:
                value = state[key]
            except KeyError:
                raise GameError(
                    f"observe_state lists {key!r}, but game.state has no such key "
                    f"(it has: {list(state)}).\n"
                    "The network's input size is fixed when training starts, so every value it\n"
                    "reads must exist from the first turn of every episode. Set it in\n"
                    f"create_game(), e.g. game.state[{key!r}] = 0, or remove it from observe_state."
                ) from None
            if type(value) in (float, int, bool):
                values.append(value)
                size = 1
            else:
                flat = _flatten_state_value(key, value)
                values.extend(flat)
                size = len(flat)
            expected = sizes.get(key)
            if expected is None:
                sizes[key] = size
                m.extras_size = sum(sizes.get(k, 0) for k in m.observe_state)
            elif size != expected:
                raise GameError(
                    f"game.state[{key!r}] gave {size} number(s) this turn, but {expected} when it "
                    f"was first measured (observe_state_sizes in config.toml). Its value is now {value!r}.\n"
                    "The network's input has a fixed size, so each observe_state value must keep\n"
                    "its length in every turn of every episode. Keep lists at a fixed length (pad\n"
                    "them), or observe a summary such as their length instead."
                )
        return np.array(values, dtype=np.float32)

    def _call_observation_function(self, game) -> np.ndarray:
        name = self.metadata.observation_function
        try:
            result = self._observation_function(game)
        except Exception as error:
            raise GameError(
                f"The observation_function {name} raised {type(error).__name__}: {error}\n"
                "Fix the function so that it returns the numbers the agent should see."
            ) from error
        try:
            values = np.asarray(result, dtype=np.float32)
        except (TypeError, ValueError):
            values = None
        if values is None or values.ndim != 1:
            raise GameError(
                f"The observation_function {name} returned {type(result).__name__} "
                f"{_short(result)}, but the network reads one flat list of numbers.\n"
                "Return a 1-D list or numpy array, for example: return [player_x, player_y, lives]"
            )
        return values

    def _check_size(self, what: str, size: int) -> None:
        expected = self.metadata.extras_size
        if not expected:
            self.metadata.extras_size = size
        elif size != expected:
            raise GameError(
                f"{what} has {size} numbers now, but {expected} when it was first measured.\n"
                "The network's input has a fixed size: return the same number of values on every turn."
            )

    # -- the whole observation --------------------------------------------------------

    def encode(self, game) -> np.ndarray:
        """The observation the network reads: (obs_size,) float32, board then extras."""
        extras = self.extras(game)
        if not self.metadata.uses_board:
            return extras
        return one_hot(self.codes(game)[None], extras[None], self.n_channels, self.metadata.spatial)[0]


def _flatten_state_value(key: str, value) -> list:
    """A game-state value as a flat list of numbers; lists and tuples are flattened."""
    if isinstance(value, (numbers.Real, np.bool_)) and not isinstance(value, np.ndarray):
        return [float(value)]
    if isinstance(value, (list, tuple, np.ndarray)):
        flat = []
        for item in value:
            flat.extend(_flatten_state_value(key, item))
        return flat
    raise GameError(
        f"game.state[{key!r}] is {_short(value)} ({type(value).__name__}), which the network cannot read.\n"
        "observe_state values must be numbers, true/false, or lists of numbers. Store a number\n"
        f"instead (for example 1 or 0 for a yes/no), or remove {key!r} from observe_state."
    )


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
