"""The obvious observation encoder, kept to check the fast one in game/observation.py against.

It draws the board with retro-games' own HeadlessView and visits every cell, as a reader
would write it first: slow, but plainly right.
"""
from __future__ import annotations

import numpy as np
from retro.views import HeadlessView


def encode_cell_by_cell(game, metadata, extras: np.ndarray | None = None) -> np.ndarray:
    """The observation of ``game``: (obs_size,) float32, what ``ObservationEncoder.encode`` returns.

    One-hot encodes the drawn board cell by cell into (H, W, C), crops it around the
    egocentric player (cells beyond the edge get the last, off-board channel), lays it
    out channel-first for spatial games, and appends ``extras`` (by default: the
    observe_state values, flattened).
    """
    view = HeadlessView()
    view.on_game_start(game)
    view.render(game)
    rows = view.board_characters
    characters = list(metadata.character_set)
    width, height = game.board_size
    if metadata.egocentric:
        radius = metadata.egocentric_radius
        side = 2 * radius + 1
        px, py = game.get_agent_by_name(metadata.egocentric_player).position
        board = np.zeros((side, side, len(characters) + 1), dtype=np.float32)
        for y in range(side):
            for x in range(side):
                bx, by = px - radius + x, py - radius + y
                if not (0 <= bx < width and 0 <= by < height):
                    board[y, x, len(characters)] = 1.0
                elif rows[by][bx] in characters:
                    board[y, x, characters.index(rows[by][bx])] = 1.0
    else:
        board = np.zeros((height, width, len(characters)), dtype=np.float32)
        for y in range(height):
            for x in range(width):
                if rows[y][x] in characters:
                    board[y, x, characters.index(rows[y][x])] = 1.0
    if metadata.spatial:
        board = board.transpose(2, 0, 1)
    if extras is None:
        values = [np.ravel(np.asarray(game.state[key], dtype=np.float32)) for key in metadata.observe_state]
        extras = np.concatenate(values) if values else np.zeros(0, dtype=np.float32)
    return np.concatenate([board.ravel(), extras]).astype(np.float32)
