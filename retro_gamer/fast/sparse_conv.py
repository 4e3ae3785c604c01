"""Replaces the two conv3x3 layers of dqn/network.py's CNN on one-hot boards: faster because a
mostly empty board needs its convolutions only near its occupied cells.

A one-hot board of a small game is mostly empty cells, and an empty cell is all zeros,
exactly like the zero padding around the board. So away from the occupied cells the
convolutions see nothing but zeros, and their outputs are known without computing them:

- the first convolution's output at a cell with no occupied cell among its 3 x 3
  neighbours is its bias b1, so after the ReLU the "background" value relu(b1);
- the second convolution's output at a cell whose 3 x 3 neighbours are all background
  is the same for every board: the second convolution of an image that is relu(b1)
  everywhere (its value differs only along the edges, where the padding is).

Only the cells near an occupied cell need computing: within one cell of one for the
first convolution ("active1"), within two cells for the second ("active2"). On snake's
32 x 16 board with a short snake that is a tenth of the cells, so this file multiplies
about a tenth of what a dense convolution would, and gives the same numbers (the tests
compare it with dqn/layers.py's conv3x3_forward and its backward). The backward pass uses the
same split: a background cell's share of a weight gradient is a sum over the batch
times the background image, one small product for all boards.

Layouts: the active cells' values are rows (n, channels); the second layer's output
comes back channel-first, (B, F2, H, W), as the head of the network reads it.
Patches of 3 x 3 neighbours are gathered as rows of (i, j, channel) values from
channel-last arrays with a border of zeros; the weights are rearranged to match.
"""
from typing import NamedTuple

import numpy as np

# Above this share of active2 cells the dense convolutions are about as fast (many
# occupied cells, or an egocentric view whose off-board cells are all marked): on snake's
# board, forward and backward together break even near 0.6.
MAX_ACTIVE_SHARE = 0.5


class SparseConvCache(NamedTuple):
    """What the backward pass needs from the forward pass."""
    board_shape: tuple            # (C, H, W)
    active1: tuple                # (b, y, x) index arrays of the active1 cells, (n1,) each
    active2: tuple                # the same for the active2 cells, (n2,) each
    patches1: np.ndarray          # (n1, 9 * C) one-hot 3 x 3 patches of the board
    z1: np.ndarray                # (n1, F1) first convolution at the active1 cells, before ReLU
    b1_open: np.ndarray           # (F1,) b1 > 0: where the ReLU lets a background cell's gradient through
    patches2: np.ndarray          # (n2, 9 * F1) 3 x 3 patches of the first layer's output
    a1_background: np.ndarray     # (F1,) the first layer's output away from the occupied cells
    a2: np.ndarray                # (B, F2, H, W) the output, after ReLU


def _dilate(mask: np.ndarray) -> np.ndarray:
    """(B, H, W) bool -> cells with a True cell among their 3 x 3 neighbours."""
    _, height, width = mask.shape
    padded = np.pad(mask, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros_like(mask)
    for i in range(3):
        for j in range(3):
            out |= padded[:, i:i + height, j:j + width]
    return out


def _patch_rows(b: np.ndarray, y: np.ndarray, x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Row numbers, in a (B * (H + 2) * (W + 2), ...) channel-last array with a border of one
    cell, of the 3 x 3 neighbours of cells (b, y, x) -> (n, 9) in (i, j) order."""
    row = width + 2
    corner = (b * (height + 2) + y) * row + x               # the padded cell up-left of (y, x)
    offsets = np.array([i * row + j for i in range(3) for j in range(3)])
    return corner[:, None] + offsets[None, :]


def _weight_rows(weight: np.ndarray) -> np.ndarray:
    """Conv2d weight (F, C, 3, 3) -> (9 * C, F), rows in the (i, j, c) order of the patches."""
    n_filters = weight.shape[0]
    return weight.transpose(2, 3, 1, 0).reshape(-1, n_filters)


def _windows(height: int, width: int):
    """For each offset (i, j) of a 3 x 3 patch, in (i, j) order: the slices of the cells
    whose neighbour at (i - 1, j - 1) lies on the board (all but one edge row or column)."""
    return [(slice(max(0, 1 - i), height + min(0, 1 - i)), slice(max(0, 1 - j), width + min(0, 1 - j)))
            for i in range(3) for j in range(3)]


def _inside(y: np.ndarray, x: np.ndarray, height: int, width: int) -> np.ndarray:
    """(n, 9) bool: which of the 3 x 3 neighbours of cells (y, x) lie on the board."""
    rows, cols = y[:, None] + np.repeat([-1, 0, 1], 3), x[:, None] + np.tile([-1, 0, 1], 3)
    return (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)


def _background(b1: np.ndarray, w2: np.ndarray, b2: np.ndarray, height: int, width: int):
    """The background: what the two layers output away from the occupied cells.

    Returns (the first layer's output there, relu(b1), (F1,); the second convolution's
    output, before ReLU, on an image that is relu(b1) everywhere, (F2, H, W)). Each
    output cell of that image adds w2[:, :, i, j] @ relu(b1) for each neighbour on the
    board: nine small products, added over nine windows.
    """
    a1 = np.maximum(b1, 0)
    z2 = np.empty((len(b2), height, width), b2.dtype)
    z2[...] = b2[:, None, None]
    for (i, j), window in zip(np.ndindex(3, 3), _windows(height, width)):
        z2[:, window[0], window[1]] += (w2[:, :, i, j] @ a1)[:, None, None]
    return a1, z2


def sparse_conv_forward(codes: np.ndarray, board_shape: tuple, w1, b1, w2, b2) -> SparseConvCache | None:
    """relu(conv(relu(conv(board, w1) + b1), w2) + b2) of one-hot boards given by their codes.

    codes: (B, H * W) uint8, 0 = empty, k = a one in channel k - 1; w1: (F1, C, 3, 3),
    w2: (F2, F1, 3, 3). Returns the cache, whose .a2 is the output (B, F2, H, W); or None
    when the boards are too full for this to pay (use the dense convolutions then).
    """
    channels, height, width = board_shape
    batch = len(codes)
    occupied = codes.reshape(batch, height, width) != 0
    active1_mask = _dilate(occupied)
    active2_mask = _dilate(active1_mask)
    active2 = np.nonzero(active2_mask)
    if len(active2[0]) > MAX_ACTIVE_SHARE * active2_mask.size:
        return None
    active1 = np.nonzero(active1_mask)
    dtype = w1.dtype

    # First convolution at the active1 cells: each cell's one-hot 3 x 3 patch times the weights.
    padded_codes = np.zeros((batch, height + 2, width + 2), np.intp)
    padded_codes[:, 1:-1, 1:-1] = codes.reshape(batch, height, width)
    patch_codes = padded_codes.reshape(-1)[_patch_rows(*active1, height, width)]     # (n1, 9)
    n1 = len(patch_codes)
    onehot = np.zeros((n1 * 9, channels + 1), dtype)
    onehot[np.arange(n1 * 9), patch_codes.reshape(-1)] = 1.0
    patches1 = np.ascontiguousarray(onehot.reshape(n1, 9, channels + 1)[:, :, 1:]).reshape(n1, 9 * channels)
    z1 = patches1 @ _weight_rows(w1) + b1

    # Second convolution at the active2 cells, reading the first layer's output: the
    # background everywhere on the board, zeros around it, the active1 cells written over it.
    a1_background, background_z2 = _background(b1, w2, b2, height, width)
    a1 = np.zeros((batch, height + 2, width + 2, len(b1)), dtype)
    a1[:, 1:-1, 1:-1] = a1_background
    b, y, x = active1
    a1[b, y + 1, x + 1] = np.maximum(z1, 0)
    patches2 = a1.reshape(-1, len(b1))[_patch_rows(*active2, height, width)].reshape(-1, 9 * len(b1))
    z2 = patches2 @ _weight_rows(w2) + b2

    a2 = np.empty((batch, len(b2), height, width), dtype)
    a2[...] = np.maximum(background_z2, 0)
    b, y, x = active2
    a2[b, :, y, x] = np.maximum(z2, 0)
    return SparseConvCache(board_shape, active1, active2, patches1, z1, b1 > 0, patches2, a1_background, a2)


def sparse_conv_backward(d_a2: np.ndarray, cache: SparseConvCache, w2: np.ndarray,
                         d_w1: np.ndarray, d_b1: np.ndarray, d_w2: np.ndarray, d_b2: np.ndarray) -> None:
    """d_a2: (B, F2, H, W) dLoss/d(output), overwritten. Writes the gradients of w1, b1,
    w2, b2 in place. No gradient for the board: nothing upstream of an observation learns.
    """
    _, height, width = cache.board_shape
    n_filters1 = w2.shape[1]
    # Through the second ReLU: the gradient passes where the output is positive.
    d_z2 = np.multiply(d_a2, cache.a2 > 0, out=d_a2)                  # (B, F2, H, W)
    summed = d_z2.sum(axis=0)                                         # (F2, H, W), all boards
    d_b2[...] = summed.sum(axis=(1, 2))

    # Weight gradient of the second convolution: every cell's gradient times its patch.
    # The active2 cells' patches were kept; every other cell's patch is the background's:
    # relu(b1) at the neighbours on the board. For each offset (i, j), those cells add up
    # to relu(b1) times their gradient summed: over the window of cells whose neighbour
    # at (i - 1, j - 1) is on the board, less the active2 cells in it.
    windows = _windows(height, width)
    window_sums = np.stack([summed[:, rows, cols].sum(axis=(1, 2)) for rows, cols in windows])   # (9, F2)
    b, y, x = cache.active2
    d_z2_active = d_z2[b, :, y, x]                                    # (n2, F2)
    active_sums = _inside(y, x, height, width).T.astype(d_z2.dtype) @ d_z2_active              # (9, F2)
    d_w2_rows = (cache.patches2.T @ d_z2_active).reshape(9, n_filters1, -1)                   # (9, F1, F2)
    d_w2_rows += cache.a1_background[None, :, None] * (window_sums - active_sums)[:, None, :]
    d_w2[...] = d_w2_rows.reshape(3, 3, n_filters1, -1).transpose(3, 2, 0, 1)

    # Gradient of the first layer's output, needed at the active1 cells (the weights of
    # the first convolution see nothing elsewhere) and summed over all cells (its bias).
    # d_a1 = conv_transpose(d_z2, w2): at each cell, the mirrored neighbours times w2.
    # The neighbours of an active1 cell are active2 cells, or beyond the board's edge, so
    # they are rows of d_z2_active, or a row of zeros: a table of which row holds which
    # cell, with a border, finds them.
    batch = len(d_z2)
    row_of_cell = np.full((batch, height + 2, width + 2), len(y))   # len(y): the zero row
    row_of_cell[b, y + 1, x + 1] = np.arange(len(y))
    with_zeros = np.concatenate([d_z2_active, np.zeros((1, d_z2_active.shape[1]), d_z2.dtype)])
    mirrored = _patch_rows(*cache.active1, height, width)[:, ::-1]   # offset (i, j) reads (1 - i, 1 - j)
    neighbours = with_zeros[row_of_cell.reshape(-1)[mirrored]]                        # (n1, 9, F2)
    # (an explicit width: a batch of empty boards has no active cell, and -1 cannot size an empty array)
    w2_rows = w2.transpose(2, 3, 0, 1).reshape(-1, n_filters1)
    d_a1_active = neighbours.reshape(len(mirrored), len(w2_rows)) @ w2_rows
    # Summed over all cells: each output cell sends w2[:, :, i, j].T times its gradient to
    # its neighbour at offset (i - 1, j - 1), if that neighbour is on the board. So the sum
    # is, for each (i, j), w2[:, :, i, j].T times the window sum above.
    d_a1_all = np.einsum("fcij,ijf->c", w2, window_sums.reshape(3, 3, -1))

    # Through the first ReLU. A background cell's input is its bias b1, so its gradient
    # passes where b1 > 0.
    d_z1_active = d_a1_active * (cache.z1 > 0)
    d_b1[...] = d_z1_active.sum(axis=0) + cache.b1_open * (d_a1_all - d_a1_active.sum(axis=0))
    d_w1_rows = cache.patches1.T @ d_z1_active                       # (9 * C, F1)
    d_w1[...] = d_w1_rows.reshape(3, 3, -1, n_filters1).transpose(3, 2, 0, 1)

