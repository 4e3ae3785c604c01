"""Observations: how a game turn becomes the flat float32 vector the network reads.

SKELETON written by the lead: the board-code layout below is shared by the encoder,
the replay memory and the network's one-hot fast path. The games issue owns this file
and adds the encoder that reads a game.

A board is kept compactly as *codes*: one small integer per cell, in row-major (y, x)
order, 0 for an empty cell and k+1 for a cell showing channel k (character k of the
character set, or the off-board channel of an egocentric crop, which is the last one).
One byte per cell instead of C float32 values: this is what lets the replay memory hold
50,000 snake turns in a few tens of megabytes.
"""
from __future__ import annotations

import numpy as np


def onehot_columns(codes: np.ndarray, n_channels: int, spatial: bool) -> tuple[np.ndarray, np.ndarray]:
    """Where the ones of the one-hot board sit in the flat observation.

    codes: (B, H*W) integer codes -> (rows (N,), cols (N,)) int64, one entry per
    occupied cell, sorted by row. Layout as the published package: spatial boards are
    channel-first (C, H, W) then flattened; non-spatial boards are (H, W, C) then flattened.
    """
    rows, cells = np.nonzero(codes)
    channels = codes[rows, cells].astype(np.int64) - 1
    if spatial:
        cols = channels * codes.shape[1] + cells
    else:
        cols = cells * n_channels + channels
    return rows, cols


def expand_observations(codes: np.ndarray, extras: np.ndarray, n_channels: int, spatial: bool) -> np.ndarray:
    """Dense observations from compact ones.

    codes: (B, H*W) integer codes, extras: (B, E) float32 -> (B, n_channels*H*W + E) float32.
    """
    batch, cells = codes.shape
    board_length = n_channels * cells
    obs = np.zeros((batch, board_length + extras.shape[1]), dtype=np.float32)
    rows, cols = onehot_columns(codes, n_channels, spatial)
    obs[rows, cols] = 1.0
    obs[:, board_length:] = extras
    return obs
