"""The layers of the Q-network, each forward function next to its backward.

A forward takes the layer's input and weights and returns its output. The matching
backward takes dLoss/d(output), plus what the forward saw (its input, or for ReLU its
output), and returns dLoss/d(input) and the gradient of each weight: the chain rule,
one layer at a time. Every backward here is checked against finite differences in
tests/test_layers.py.

Layouts follow PyTorch, so a published checkpoint's weights fit as they are: a Linear
weight is (out, in) and computes x @ weight.T + bias; a 3x3 convolution's weight is
(F, C, 3, 3) for F filters over C input channels.
"""
import numpy as np


# --- Linear: out = x @ weight.T + bias ----------------------------------------------

def linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x: (B, in), weight: (out, in), bias: (out,) -> out: (B, out)."""
    return x @ weight.T + bias


def linear_backward(d_out: np.ndarray, x: np.ndarray, weight: np.ndarray):
    """d_out: (B, out), x: the forward's input (B, in), weight: (out, in)
    -> d_x: (B, in), d_weight: (out, in), d_bias: (out,).

    Every sample of the batch used the same weights, so their gradients are sums over
    the batch: d_weight = d_out.T @ x adds up one outer product per sample.
    """
    return d_out @ weight, d_out.T @ x, d_out.sum(axis=0)


# --- ReLU: out = max(x, 0) -----------------------------------------------------------

def relu_forward(x: np.ndarray) -> np.ndarray:
    """x: any shape -> max(x, 0), same shape."""
    return np.maximum(x, 0)


def relu_backward(d_out: np.ndarray, out: np.ndarray) -> np.ndarray:
    """d_out, out (the forward's result): same shape -> d_x.

    A unit that was active (out > 0) passes its gradient on unchanged; one that was cut
    to zero passes nothing, since a small change of its input changed nothing.
    """
    return d_out * (out > 0)


# --- Convolution, 3x3 filters, stride 1, zero padding 1 -----------------------------
#
# A convolution slides each filter over the board: the output at a cell is the filter's
# weights times the 3x3 neighbourhood of that cell, summed. im2col ("image to columns")
# copies every cell's neighbourhood into one row of a matrix; the whole convolution is
# then a single matrix product, which NumPy hands to its optimised BLAS library.

def im2col(x: np.ndarray) -> np.ndarray:
    """x: (B, C, H, W) -> patches: (B*H*W, C*9), one row per cell in (b, y, x) order
    holding its zero-padded 3x3 neighbourhood, in the (c, i, j) order of a filter's weights."""
    batch, channels, height, width = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    patches = np.empty((batch, height, width, channels, 3, 3), x.dtype)
    for i in range(3):
        for j in range(3):
            # The neighbour at offset (i - 1, j - 1) of every cell at once.
            patches[..., i, j] = padded[:, :, i:i + height, j:j + width].transpose(0, 2, 3, 1)
    return patches.reshape(batch * height * width, channels * 9)


def col2im(d_patches: np.ndarray, x_shape: tuple) -> np.ndarray:
    """The backward of im2col: d_patches (B*H*W, C*9) -> d_x (B, C, H, W).

    im2col copied each input value into the rows of its up to 9 neighbours, so its
    gradient is the sum of the gradients of those copies.
    """
    batch, channels, height, width = x_shape
    d_patches = d_patches.reshape(batch, height, width, channels, 3, 3)
    d_padded = np.zeros((batch, channels, height + 2, width + 2), d_patches.dtype)
    for i in range(3):
        for j in range(3):
            d_padded[:, :, i:i + height, j:j + width] += d_patches[..., i, j].transpose(0, 3, 1, 2)
    return d_padded[:, :, 1:-1, 1:-1]


def conv3x3_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x: (B, C, H, W), weight: (F, C, 3, 3), bias: (F,) -> out: (B, F, H, W)."""
    batch, _, height, width = x.shape
    n_filters = weight.shape[0]
    out = im2col(x) @ weight.reshape(n_filters, -1).T + bias            # (B*H*W, F)
    return out.reshape(batch, height, width, n_filters).transpose(0, 3, 1, 2)


def conv3x3_backward(d_out: np.ndarray, x: np.ndarray, weight: np.ndarray):
    """d_out: (B, F, H, W), x: the forward's input (B, C, H, W), weight: (F, C, 3, 3)
    -> d_x: (B, C, H, W), d_weight: (F, C, 3, 3), d_bias: (F,).

    In im2col form the convolution is a Linear layer applied to every cell's patch, so
    its backward is linear_backward's, then col2im to return to the board.
    """
    n_filters = weight.shape[0]
    d_rows = d_out.transpose(0, 2, 3, 1).reshape(-1, n_filters)        # (B*H*W, F)
    d_patches, d_weight, d_bias = linear_backward(d_rows, im2col(x), weight.reshape(n_filters, -1))
    return col2im(d_patches, x.shape), d_weight.reshape(weight.shape), d_bias
