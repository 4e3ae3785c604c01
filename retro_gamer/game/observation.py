"""Observations: how a game turn becomes what the network reads (SPEC §5).

The board is kept as *codes*, one byte per cell, row-major: 0 for an empty cell, k+1 for channel k (character
k; an egocentric crop's off-board channel is last), so 50,000 snake turns of replay memory take a few tens of
megabytes. The *extras* follow: the observe_state values, or the observation_function's. dqn/network.py's
``one_hot`` makes the float32 observation of both; tests/reference_encoder.py checks this encoder."""
import numbers
import reprlib
from itertools import zip_longest

import numpy as np
from retro.views._util import get_agent_character

from retro_gamer.dqn.network import one_hot
from retro_gamer.errors import ConfigError, GameError
from retro_gamer.game.loading import load_function


def occupied_cells(game) -> dict:
    """{(x, y): [agents]} of the occupied cells. retro-games refreshes this cached map in step(), so
    before the first step it is rebuilt (snake's create_game reads it, then moves the apple)."""
    if getattr(game, "turn_number", 1) == 0 and hasattr(game, "_position_cache"):
        game._position_cache = None
    return game.get_agents_by_position()


def top_character(agents: list, position: tuple[int, int]):
    """The character shown at ``position``: the highest z wins, then the first added (as retro-games
    draws it); a multi-cell agent has a grid of characters."""
    top = agents[0] if len(agents) == 1 else max(agents, key=lambda agent: getattr(agent, "z", 0) or 0)
    character = top.character
    return character if type(character) is str else get_agent_character(top, position)


def frame_lines(game, panel: list[str]) -> list[str]:
    """What a player sees, as text: the board in its frame, the game's state under it (as
    retro-games' TerminalView shows it), and ``panel`` to the right."""
    width, height = game.board_size
    rows = [[" "] * width for _ in range(height)]
    for (x, y), agents in occupied_cells(game).items():
        if 0 <= x < width and 0 <= y < height:
            rows[y][x] = top_character(agents, (x, y))
    shown = getattr(game, "show_state", True)
    keys = sorted(game.state) if shown is True else [key for key in shown or [] if key in game.state]
    left = ["┌" + "─" * width + "┐", *("│" + "".join(row) + "│" for row in rows), "└" + "─" * width + "┘"]
    left += [f" {key}: {game.state[key]}"[:width + 2] for key in keys]
    return [f"{line:<{width + 2}}  {text}".rstrip() for line, text in zip_longest(left, panel, fillvalue="")]


class ObservationEncoder:
    """Reads a live game into codes, extras and observations, visiting only the occupied cells (snake: a
    dozen of 512 cells). Characters outside the character set count as empty, kept in ``new_characters``."""

    def __init__(self, metadata):
        self.metadata, self.new_characters = metadata, []
        function = metadata.observation_function
        self._observation_function = load_function(function, "observation_function") if function else None
        self.extra_values = self._call_observation_function if function else self._observe_state
        self.refresh()

    def refresh(self) -> None:
        """Re-read the character set and board layout from the metadata."""
        m = self.metadata
        self.code_of = {character: k + 1 for k, character in enumerate(m.character_set or [])}
        for character in self.new_characters:
            self.code_of.setdefault(character, 0)  # seen already: empty, and not to be recorded again
        layout_known = m.uses_board and m.character_set is not None and (m.board_size or m.egocentric)
        self.board_shape = m.board_shape if layout_known else (0, 0, 0)   # (C, H, W)
        self.n_channels, height, width = self.board_shape
        self.n_cells, self.board_length = height * width, self.n_channels * height * width
        if m.observation_function is None and all(key in m.observe_state_sizes for key in m.observe_state):
            m.extras_size = sum(m.observe_state_sizes[key] for key in m.observe_state)

    def extend_character_set(self) -> list[str]:
        """Give every recorded new character the next channel; return the characters added. The
        off-board channel stays last, so its code grows by len(added): renumber codes stored earlier."""
        known = self.metadata.character_set or []
        added = [c for c in self.new_characters if c not in known]
        self.metadata.character_set, self.new_characters = known + added, []
        self.refresh()
        return added

    def codes(self, game, out: np.ndarray | None = None) -> np.ndarray:
        """The board as codes: (H*W,) uint8, or (side*side,) for an egocentric crop."""
        if not self.n_cells:
            raise ConfigError(
                "The board cannot be encoded: the metadata has no character_set or no board_size yet, so\n"
                "there is no list of channels or no grid to one-hot encode. Read the size from a game\n"
                "(metadata.board_size = game.board_size) and give the characters, or discover them:\n"
                "metadata.character_set = discover_characters(create_game, metadata.actions, 200, rng)")
        width, height = game.board_size
        board = bytearray(width * height)
        code_of = self.code_of
        for position, agents in occupied_cells(game).items():
            # Most cells hold one agent showing one character; stacks, grids and new ones: cell_code().
            character = agents[0].character if len(agents) == 1 else None
            code = code_of.get(character) if type(character) is str else None
            if code is None:
                code = self.cell_code(agents, position)
            board[position[1] * width + position[0]] = code
        codes = np.frombuffer(board, dtype=np.uint8)
        if self.metadata.egocentric:
            codes = self._crop(codes.reshape(height, width), game)
        if out is None:
            return codes
        out[:] = codes
        return out

    def cell_code(self, agents: list, position: tuple[int, int]) -> int:
        """The code of the character ``agents`` show at ``position``: 0 for one outside the character
        set (recorded if new)."""
        character = top_character(agents, position)
        if type(character) is not str:
            return 0  # a character grid without a size: retro-games cannot draw it either
        if (code := self.code_of.get(character)) is None:
            if len(character) == 1 and character != " ":
                self.new_characters.append(character)
            self.code_of[character] = code = 0
        return code

    def _crop(self, board: np.ndarray, game) -> np.ndarray:
        """The (side*side,) window of ``board`` (H, W) around the player; off the board, walls."""
        height, width = board.shape
        radius = self.metadata.egocentric_radius
        framed = np.empty((height + 2 * radius, width + 2 * radius), dtype=np.uint8)
        framed.fill(self.n_channels)  # (np.full is several times slower for small arrays)
        framed[radius:radius + height, radius:radius + width] = board
        x, y = self.player(game).position
        return framed[y:y + 2 * radius + 1, x:x + 2 * radius + 1].ravel()

    def player(self, game):
        """The agent an egocentric window follows: the one named egocentric_player."""
        name = self.metadata.egocentric_player
        player = getattr(game, "agents_by_name", {}).get(name)
        if player is None:
            raise GameError(f"The egocentric view follows the agent named {name!r}, but the game has none "
                            f"(named agents: {sorted(getattr(game, 'agents_by_name', {}))}).\nSet "
                            "egocentric_player in [preprocessing] of config.toml to the name of the agent "
                            'the trainer controls,\nfor example: egocentric_player = "player"')
        return player

    def extras(self, game, out: np.ndarray | None = None) -> np.ndarray:
        """Everything after the board: (E,) float32, E = metadata.extras_size."""
        values = self.extra_values(game)
        if out is None:
            return np.asarray(values, np.float32)
        out[:] = values
        return out

    def _observe_state(self, game) -> list:
        m = self.metadata
        state, sizes, values = game.state, m.observe_state_sizes, []
        for key in m.observe_state:
            value = state.get(key)
            if type(value) in (int, float, bool) and sizes.get(key) == 1:   # the usual case, read quickly
                values.append(value)
                continue
            try:
                value = state[key]
            except KeyError:
                raise GameError(
                    f"observe_state lists {key!r}, but game.state has no such key (it has: {list(state)}).\n"
                    "The network's input size is fixed when training starts, so every value it reads\n"
                    "must exist from the first turn of every episode. Set it in create_game(), e.g.\n"
                    f"game.state[{key!r}] = 0, or remove it from observe_state.") from None
            flat = _flatten_state_value(key, value)
            values.extend(flat)
            expected = sizes.setdefault(key, len(flat))  # the first turn measures, later ones must agree
            if len(flat) != expected:
                raise GameError(
                    f"game.state[{key!r}] gave {len(flat)} number(s) this turn, but {expected} when it was "
                    f"first measured (observe_state_sizes in config.toml). Its value is now {value!r}.\n"
                    "The network's input has a fixed size, so each observe_state value must keep its\n"
                    "length on every turn: pad lists to a fixed length, or observe their length instead.")
        m.extras_size = len(values)
        return values

    def _call_observation_function(self, game) -> np.ndarray:
        name = self.metadata.observation_function
        try:
            result = self._observation_function(game)
        except Exception as error:
            raise GameError(f"The observation_function {name} raised {type(error).__name__}: {error}\nFix "
                            "the function so that it returns the numbers the agent should see.") from error
        try:
            values = np.asarray(result, dtype=np.float32)
        except (TypeError, ValueError):
            values = None
        if values is None or values.ndim != 1:
            raise GameError(
                f"The observation_function {name} returned {type(result).__name__} {reprlib.repr(result)},\n"
                "but the network reads one flat list of numbers. Return a 1-D list or numpy array,\n"
                "for example: return [player_x, player_y, lives]")
        if (expected := self.metadata.extras_size) and values.size != expected:
            raise GameError(f"The output of the observation_function {name} has {values.size} numbers now, "
                            f"but {expected}\nwhen it was first measured. The network's input has a fixed "
                            "size: return the same\nnumber of values on every turn.")
        self.metadata.extras_size = values.size
        return values

    def encode(self, game) -> np.ndarray:
        """The observation the network reads: (obs_size,) float32, the one-hot board, then the extras."""
        extras = self.extras(game)
        if not self.metadata.uses_board:
            return extras
        return one_hot(self.codes(game)[None], extras[None], self.n_channels, self.metadata.spatial)[0]


def _flatten_state_value(key: str, value) -> list:
    if isinstance(value, (numbers.Real, np.bool_)) and not isinstance(value, np.ndarray):
        return [float(value)]
    if isinstance(value, (list, tuple, np.ndarray)):
        return [number for item in value for number in _flatten_state_value(key, item)]
    raise GameError(
        f"game.state[{key!r}] is {reprlib.repr(value)} ({type(value).__name__}), which the network cannot "
        "read.\nobserve_state values must be numbers, true/false, or lists of numbers. Store a number\n"
        f"instead (for example 1 or 0 for a yes/no), or remove {key!r} from observe_state.")
