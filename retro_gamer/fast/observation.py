"""Replaces game/observation.py's ``encode`` (the board's codes, then dqn/network.py's
one_hot) for the dense observation that GameEnvironment.reset and step return, with the
same numbers.

Faster because it writes the few ones straight into a zeroed vector: the plain way writes a
byte for every cell of the board, frames and crops it for an egocentric window, then builds
the one-hot array of every cell (snake: 512 cells for a few occupied ones). Here only the
occupied cells are visited, and an egocentric window starts from a ready-made empty
observation whose off-board channel already marks where the window reaches past the edges.
Snake's observation costs about a third of the plain one, which is what lets
GameEnvironment.step keep up with the bare game (tests/benchmarks/environment_speed.py).
tests/test_observation.py compares the two on whole boards, windows at every edge, stacked
agents and extras, for the MLP's and the CNN's layouts.
"""
import functools

import numpy as np


def dense_observation(encoder, game, cells: dict) -> np.ndarray:
    """The observation the network reads: (obs_size,) float32, what ``encoder.encode(game)``
    gives: the one-hot board ((C, H, W) for a CNN, (H, W, C) for an MLP), then the extras.
    cells: {(x, y): [agents]} of the occupied cells (game/observation.py's occupied_cells)."""
    m = encoder.metadata
    if not encoder.n_cells:      # no board (the extras alone), or no layout yet (encode explains)
        return encoder.encode(game) if m.uses_board else encoder.extras(game)
    channels, height, width = encoder.board_shape
    left = top = 0                                   # the board cell at the window's corner
    if m.egocentric:
        # (encoder.player explains a missing player; the dict is read directly as it costs less)
        x, y = (game.agents_by_name.get(m.egocentric_player) or encoder.player(game)).position
        left, top = x - m.egocentric_radius, y - m.egocentric_radius
        # How far the window reaches past each edge decides which of its cells are walls.
        board_width, board_height = game.board_size
        right, bottom = left + width - board_width, top + height - board_height
        beyond = (-left if left < 0 else 0, right if right > 0 else 0,
                  -top if top < 0 else 0, bottom if bottom > 0 else 0)
        out = empty_observation(encoder.board_shape, m.spatial, m.extras_size, beyond).copy()
    else:
        out = np.zeros(encoder.board_length + m.extras_size, np.float32)
    for at, value in enumerate(encoder.extra_values(game), encoder.board_length):
        out[at] = value                              # (a few numbers: quicker one by one than a slice)
    # The one of channel k at cell c (c = row * width + column) sits at c * along_cells + k * along_channels.
    along_cells, along_channels = (1, encoder.n_cells) if m.spatial else (channels, 1)
    code_of = encoder.code_of
    for (x, y), agents in cells.items():
        column, row = x - left, y - top
        if 0 <= column < width and 0 <= row < height:
            # Most cells hold one agent showing one character; stacks, grids and new ones: cell_code().
            character = agents[0].character if len(agents) == 1 else None
            code = code_of.get(character) if type(character) is str else None
            if code is None:
                code = encoder.cell_code(agents, (x, y))
            if code:
                out[(row * width + column) * along_cells + (code - 1) * along_channels] = 1.0
    return out


@functools.cache
def empty_observation(board_shape: tuple, spatial: bool, extras_size: int, beyond: tuple) -> np.ndarray:
    """The observation of an egocentric window reaching ``beyond`` = (left, right, top, bottom)
    cells past the board's edges, with nothing on the board: (obs_size,) float32, ones in the
    off-board channel only. A window of radius r meets at most (2r + 1)^2 of them."""
    channels, height, width = board_shape
    walls = np.zeros((height, width), np.float32)
    left, right, top, bottom = beyond
    walls[:top] = walls[height - bottom:] = 1.0
    walls[:, :left] = walls[:, width - right:] = 1.0
    board = np.zeros((channels, height, width) if spatial else (height, width, channels), np.float32)
    if spatial:
        board[-1] = walls
    else:
        board[:, :, -1] = walls
    return np.concatenate([board.ravel(), np.zeros(extras_size, np.float32)])
