"""The layers of the Q-network, each as a forward function and, right beside it, its backward.

A forward function returns its output. A backward function receives dLoss/d(output),
plus what it needs from the forward (its input, or for ReLU its output), and returns
dLoss/d(input); weight gradients are written into the arrays it is given, so that
they land directly in the network's flat gradient buffer (see network.py).

Layouts follow PyTorch: a Linear weight is (out, in) and computes x @ weight.T + bias;
a Conv2d weight is (F, C, 3, 3) for F filters over C input channels.
Every function works in the dtype of its inputs: float32 in the package, float64 in
the gradient checks.
"""
from __future__ import annotations

import numpy as np


# --- Linear -------------------------------------------------------------------------

def linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x: (B, in), weight: (out, in), bias: (out,) -> (B, out)."""
    return x @ weight.T + bias


def linear_backward(d_out: np.ndarray, x: np.ndarray, weight: np.ndarray,
                    d_weight: np.ndarray, d_bias: np.ndarray | None,
                    need_input_grad: bool = True) -> np.ndarray | None:
    """d_out: (B, out), x: (B, in) -> d_x: (B, in), or None when not needed.

    Writes dLoss/dweight (out, in) into d_weight and dLoss/dbias (out,) into d_bias.
    Both are sums over the batch: every sample used the same weights.
    """
    # d_weight = d_out.T @ x, written as its transpose so that the product lands
    # directly in the (in, out) array that network.py keeps behind d_weight.
    np.matmul(x.T, d_out, out=d_weight.T)
    if d_bias is not None:
        d_out.sum(axis=0, out=d_bias)
    return d_out @ weight if need_input_grad else None


# --- Linear with a one-hot input (the fast path for boards) ---------------------------
#
# A one-hot board is almost all zeros: a snake board has 3072 inputs and about ten
# ones. Multiplying it by a weight matrix just adds up the weight columns of the
# cells that hold a one, so these two functions never build the dense input at all.
# The input is a board given by the positions of its ones, followed by dense extras.

def onehot_linear_forward(rows: np.ndarray, cols: np.ndarray, extras: np.ndarray,
                          weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Same result as linear_forward on [one-hot board | extras].

    rows, cols: (N,) sample and input column of every one, sorted by row;
    extras: (B, E); weight: (out, n_board + E), bias: (out,) -> (B, out).
    """
    batch, n_extras = extras.shape
    n_board = weight.shape[1] - n_extras
    out = extras @ weight[:, n_board:].T + bias
    # Give every sample K slots, K = the most ones any sample has, so that the sums are
    # one vectorised gather and one batched product; spare slots point at column 0 and
    # count 0 in `present`.
    counts = np.bincount(rows, minlength=batch)
    slot = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
    columns = np.zeros((batch, counts.max(initial=0)), np.intp)
    present = np.zeros((batch, 1, columns.shape[1]), weight.dtype)
    columns[rows, slot] = cols
    present[rows, 0, slot] = 1.0
    picked = np.take(weight.T, columns, axis=0)   # (B, K, out): row lookups (network.py stores (in, out))
    out += (present @ picked)[:, 0]  # (B, 1, K) @ (B, K, out): each sample's sum of its picked rows
    return out


def onehot_linear_backward(d_out: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                           extras: np.ndarray, d_weight: np.ndarray, d_bias: np.ndarray,
                           nonzero_cols: np.ndarray | None = None) -> np.ndarray:
    """d_out: (B, out). Writes dLoss/dweight (out, n_board + E) and dLoss/dbias (out,).

    nonzero_cols: the only board columns of d_weight that may hold non-zero values (what
    the previous call returned), or None when unknown. Returns the board columns this
    gradient may have non-zero, sorted: every other board column is all zeros. No input
    gradient: nothing upstream of an observation learns.
    """
    n_board = d_weight.shape[1] - extras.shape[1]
    np.matmul(extras.T, d_out, out=d_weight[:, n_board:].T)
    d_out.sum(axis=0, out=d_bias)
    # The gradient of a board column is d_out summed over the samples where it holds
    # a one; columns with no one anywhere get zero. Most columns hold a one in a single
    # sample of the batch: their gradient is that sample's d_out, a row copy.
    d_weight_board = d_weight[:, :n_board].T                  # (n_board, out), contiguous
    # Clearing only the columns the previous batch wrote, instead of all of them, saves
    # a pass over the largest gradient of the network.
    if nonzero_cols is None:
        d_weight_board[...] = 0.0
    else:
        d_weight_board[nonzero_cols] = 0.0
    d_weight_board[cols] = d_out[rows]
    # The few columns shared by several samples need sums. With hits[k, b] = 1 when
    # sample b has a one in shared column k, they are one small matrix product.
    counts = np.bincount(cols, minlength=n_board)
    is_shared = counts > 1
    shared = np.flatnonzero(is_shared)
    if len(shared):
        in_shared = is_shared[cols]
        hits = np.zeros((len(shared), len(d_out)), d_out.dtype)
        hits[(np.cumsum(is_shared) - 1)[cols[in_shared]], rows[in_shared]] = 1.0
        d_weight_board[shared] = hits @ d_out
    return np.flatnonzero(counts)


# --- ReLU -----------------------------------------------------------------------------

def relu_forward(x: np.ndarray) -> np.ndarray:
    """x: any shape -> max(x, 0), same shape, always a C-contiguous new array."""
    return np.maximum(x, 0, order="C")


def relu_backward(d_out: np.ndarray, out: np.ndarray) -> np.ndarray:
    """d_out, out: same shape (out is relu_forward's result) -> d_x.

    The gradient passes where the unit was active and is zero elsewhere.
    """
    return np.multiply(d_out, out > 0, order="C")


# --- Conv2d, 3x3, stride 1, zero padding 1 --------------------------------------------

def conv3x3_reference(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The definition, one output value at a time; slow, only for the tests.

    x: (B, C, H, W), weight: (F, C, 3, 3), bias: (F,) -> (B, F, H, W).
    out[b, f, y, x] = bias[f] + sum over c, i, j of weight[f, c, i, j] * padded[b, c, y + i, x + j]
    """
    batch, _, height, width = x.shape
    n_filters = weight.shape[0]
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.empty((batch, n_filters, height, width), x.dtype)
    for b in range(batch):
        for f in range(n_filters):
            for y in range(height):
                for x_ in range(width):
                    window = padded[b, :, y:y + 3, x_:x_ + 3]
                    out[b, f, y, x_] = bias[f] + np.sum(weight[f] * window)
    return out


# The fast convolution used in training: im2col turns the convolution into matrix
# products, which NumPy hands to BLAS (the optimised matrix library).
#
# im2col writes, for every output cell, the 3 x 3 x C input values it sees as one
# column; then all outputs are weight (F, 9C) @ columns (9C, cells). Four choices
# make the copies cheap next to the product:
# - Each input channel of an image is stored with a zero border, as rows of W + 1
#   values (one zero column serves as the right edge of a row and the left edge of
#   the next) and H + 3 rows (zero rows above and below, and a spare one), and read
#   as one flat vector. The 3 x 3 neighbours of a cell then sit at the same 9 offsets
#   i * (W + 1) + j, so each of the 9 row-blocks of the columns is ONE slice of that
#   vector: long contiguous copies.
# - That slicing computes an output for every stored column, W + 1 per row; the
#   extra one wraps around the edge and is dropped (3% more arithmetic on a 32-wide
#   board, in exchange for copies that run at memory speed).
# - The batch goes through a few images at a time, so that a group's columns (about
#   4 MB) are still in the CPU cache when the product reads them. The backward pass
#   rebuilds the columns group by group rather than keeping the whole batch's
#   (40 MB for snake's second convolution) from the forward pass.
# - The work arrays are kept from one call to the next (_work_array): writing to a
#   freshly allocated array of megabytes makes the operating system map its memory
#   page by page, which costs more than the copy itself.

_GROUP_BYTES = 4 << 20
_work_arrays: dict[tuple, np.ndarray] = {}


def _work_array(name: str, shape: tuple, dtype) -> np.ndarray:
    """A zero-initialised array reused by every call asking for the same name and shape.

    Only for arrays that never leave the function using them (one computation at a time).
    """
    key = (name, shape, np.dtype(dtype).str)
    if key not in _work_arrays:
        _work_arrays[key] = np.zeros(shape, dtype)
    return _work_arrays[key]


def _image_groups(x: np.ndarray) -> list[slice]:
    """Slices of the batch, each with about _GROUP_BYTES of im2col columns."""
    batch, channels, height, width = x.shape
    per_image = 9 * channels * height * (width + 1) * x.itemsize
    size = max(1, _GROUP_BYTES // per_image)
    return [slice(start, start + size) for start in range(0, batch, size)]


def _im2col(x: np.ndarray) -> np.ndarray:
    """x: (b, C, H, W) -> columns (9C, b * H * (W + 1)), rows ordered (c, i, j) like weight."""
    batch, channels, height, width = x.shape
    row, positions = width + 1, height * (width + 1)
    padded = _work_array("padded", (channels, batch, height + 3, row), x.dtype)
    padded[:, :, 1:height + 1, 1:width + 1] = x.transpose(1, 0, 2, 3)   # the border stays zero
    flat = padded.reshape(channels, batch, -1)
    cols = _work_array("cols", (channels, 3, 3, batch, positions), x.dtype)
    for i in range(3):
        for j in range(3):
            start = i * row + j
            cols[:, i, j] = flat[:, :, start:start + positions]
    return cols.reshape(9 * channels, batch * positions)


def _col2im(d_cols: np.ndarray, x_shape: tuple) -> np.ndarray:
    """The reverse of _im2col for gradients: d_cols (9C, b * H * (W + 1)) -> d_x (b, C, H, W).

    im2col copied each input value to up to 9 columns; its gradient is the sum of
    the gradients of those copies.
    """
    batch, channels, height, width = x_shape
    row, positions = width + 1, height * (width + 1)
    d_cols = d_cols.reshape(channels, 3, 3, batch, positions)
    d_padded = _work_array("d_padded", (channels, batch, (height + 3) * row), d_cols.dtype)
    d_padded[...] = 0.0
    for i in range(3):
        for j in range(3):
            start = i * row + j
            d_padded[:, :, start:start + positions] += d_cols[:, i, j]
    d_padded = d_padded.reshape(channels, batch, height + 3, row)
    return d_padded[:, :, 1:height + 1, 1:width + 1].transpose(1, 0, 2, 3)


def conv3x3_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, relu: bool = False) -> np.ndarray:
    """x: (B, C, H, W), weight: (F, C, 3, 3), bias: (F,) -> (B, F, H, W).

    Same result as conv3x3_reference, or as relu_forward of it with relu=True (the
    ReLU is then applied while the output is copied out of the work array, which
    saves a pass over it). The backward pass needs x again.
    """
    batch, channels, height, width = x.shape
    n_filters = weight.shape[0]
    weight_rows = weight.reshape(n_filters, 9 * channels)
    out = np.empty((batch, n_filters, height, width), x.dtype)
    for group in _image_groups(x):
        cols = _im2col(x[group])
        wide = np.matmul(weight_rows, cols, out=_work_array("wide", (n_filters, cols.shape[1]), x.dtype))
        wide += bias[:, None]
        # Drop the wrap-around columns and put the batch first again.
        result = wide.reshape(n_filters, -1, height, width + 1)[:, :, :, :width].transpose(1, 0, 2, 3)
        if relu:
            np.maximum(result, 0, out=out[group])
        else:
            out[group] = result
    return out


def conv3x3_backward(d_out: np.ndarray, x: np.ndarray, weight: np.ndarray,
                     d_weight: np.ndarray, d_bias: np.ndarray, *, relu_out: np.ndarray | None = None,
                     need_input_grad: bool = True) -> np.ndarray | None:
    """d_out: (B, F, H, W), x: the forward's input (B, C, H, W) -> d_x (B, C, H, W), or None.

    relu_out: the output of a forward with relu=True, whose ReLU this backward then
    includes (d_out passes only where relu_out > 0). Writes dLoss/dweight
    (F, C, 3, 3) into d_weight and dLoss/dbias (F,) into d_bias, summed over the batch.
    """
    batch, channels, height, width = x.shape
    n_filters = weight.shape[0]
    weight_rows = weight.reshape(n_filters, 9 * channels)
    d_weight_rows = np.zeros((n_filters, 9 * channels), weight.dtype)
    d_bias_sum = np.zeros(n_filters, weight.dtype)
    d_x = np.empty_like(x) if need_input_grad else None
    for group in _image_groups(x):
        # The gradient in the forward's wide layout; the dropped columns keep a zero gradient.
        d_wide = _work_array("d_wide", (n_filters, len(x[group]), height, width + 1), d_out.dtype)
        d_group = d_out[group].transpose(1, 0, 2, 3)
        if relu_out is None:
            d_wide[:, :, :, :width] = d_group
        else:
            np.multiply(d_group, relu_out[group].transpose(1, 0, 2, 3) > 0, out=d_wide[:, :, :, :width])
        d_wide = d_wide.reshape(n_filters, -1)
        d_weight_rows += d_wide @ _im2col(x[group]).T
        d_bias_sum += d_wide.sum(axis=1)
        if need_input_grad:
            d_cols = np.matmul(weight_rows.T, d_wide,
                               out=_work_array("d_cols", (9 * channels, d_wide.shape[1]), x.dtype))
            d_x[group] = _col2im(d_cols, x[group].shape)
    d_weight[...] = d_weight_rows.reshape(weight.shape)
    d_bias[...] = d_bias_sum
    return d_x
