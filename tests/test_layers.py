"""dqn/layers.py: each layer's backward against central differences, the convolution against
its definition (a loop over cells), im2col and col2im against each other."""
import numpy as np
import pytest

from gradcheck import numerical_gradient, relative_error
from retro_gamer.dqn.layers import (col2im, conv3x3_backward, conv3x3_forward, im2col, linear_backward,
                                    linear_forward, relu_backward, relu_forward)

rng = np.random.default_rng(1234)


def test_linear_computes_x_times_weight_transposed_plus_bias():
    x, weight, bias = rng.standard_normal((4, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)
    out = linear_forward(x, weight, bias)
    assert out.shape == (4, 3)
    # PyTorch's layout: weight[o, i] links input i to output o.
    expected = [[sum(x[b, i] * weight[o, i] for i in range(5)) + bias[o] for o in range(3)] for b in range(4)]
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_linear_gradients_match_central_differences():
    x, weight, bias = rng.standard_normal((4, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)
    d_out = rng.standard_normal((4, 3))             # loss = sum(out * d_out), so dLoss/dout = d_out
    loss = lambda: np.sum(linear_forward(x, weight, bias) * d_out)
    d_x, d_weight, d_bias = linear_backward(d_out, x, weight)
    assert (d_x.shape, d_weight.shape, d_bias.shape) == (x.shape, weight.shape, bias.shape)
    assert relative_error(d_x, numerical_gradient(loss, x)) < 1e-8
    assert relative_error(d_weight, numerical_gradient(loss, weight)) < 1e-8
    assert relative_error(d_bias, numerical_gradient(loss, bias)) < 1e-8


def test_relu_gradient_matches_central_differences():
    x = rng.standard_normal((3, 7))
    x[np.abs(x) < 1e-3] = 0.5                       # away from the kink at 0
    d_out = rng.standard_normal((3, 7))
    out = relu_forward(x)
    np.testing.assert_array_equal(out, np.where(x > 0, x, 0))
    d_x = relu_backward(d_out, out)
    assert relative_error(d_x, numerical_gradient(lambda: np.sum(relu_forward(x) * d_out), x)) < 1e-8
    assert np.all(d_x[x < 0] == 0) and np.all(d_x[x > 0] == d_out[x > 0])


def convolution_by_definition(x, weight, bias):
    """out[b, f, y, x] = bias[f] + sum over c, i, j of weight[f, c, i, j] * x[b, c, y + i - 1, x + j - 1],
    cells beyond the edge counting as zero: one output cell at a time."""
    batch, channels, height, width = x.shape
    out = np.zeros((batch, len(bias), height, width))
    for b, f, y, x_ in np.ndindex(batch, len(bias), height, width):
        total = bias[f]
        for c, i, j in np.ndindex(channels, 3, 3):
            yy, xx = y + i - 1, x_ + j - 1
            if 0 <= yy < height and 0 <= xx < width:
                total += weight[f, c, i, j] * x[b, c, yy, xx]
        out[b, f, y, x_] = total
    return out


# Boards of one cell, one row, one column, and a square one: every cell on an edge somewhere.
SHAPES = [(2, 3, 5, 7), (1, 1, 1, 1), (3, 2, 1, 6), (2, 2, 4, 1), (1, 4, 3, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_convolution_matches_its_definition(shape):
    x = rng.standard_normal(shape)
    weight, bias = rng.standard_normal((5, shape[1], 3, 3)), rng.standard_normal(5)
    out = conv3x3_forward(x, weight, bias)
    assert out.shape == (shape[0], 5, *shape[2:])
    np.testing.assert_allclose(out, convolution_by_definition(x, weight, bias), rtol=1e-12, atol=1e-12)


def test_convolution_float32_stays_float32():
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    weight, bias = rng.standard_normal((4, 3, 3, 3)).astype(np.float32), np.zeros(4, np.float32)
    assert conv3x3_forward(x, weight, bias).dtype == np.float32
    assert all(g.dtype == np.float32 for g in conv3x3_backward(np.ones((2, 4, 4, 5), np.float32), x, weight))


def test_a_single_one_shows_the_flipped_kernel():
    # One input cell set to 1 at (y, x) = (1, 2): output (y', x') sees it through the weight
    # tap (1 + y - y', 1 + x - x'), so the output shows the flipped kernel around (1, 2).
    x = np.zeros((1, 1, 4, 5))
    x[0, 0, 1, 2] = 1.0
    weight = np.arange(9.0).reshape(1, 1, 3, 3)
    out = conv3x3_forward(x, weight, np.zeros(1))[0, 0]
    np.testing.assert_array_equal(out[0:3, 1:4], weight[0, 0, ::-1, ::-1])
    assert out.sum() == weight.sum()


def test_im2col_rows_are_padded_neighbourhoods_in_filter_order():
    x = rng.standard_normal((2, 3, 4, 5))
    patches = im2col(x)
    assert patches.shape == (2 * 4 * 5, 3 * 9)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for row, (b, y, x_) in enumerate(np.ndindex(2, 4, 5)):
        np.testing.assert_array_equal(patches[row], padded[b, :, y:y + 3, x_:x_ + 3].reshape(-1))


@pytest.mark.parametrize("shape", SHAPES)
def test_col2im_is_the_gradient_of_im2col(shape):
    # loss = sum(im2col(x) * d_patches): its gradient with respect to x is col2im(d_patches).
    x = rng.standard_normal(shape)
    d_patches = rng.standard_normal((shape[0] * shape[2] * shape[3], shape[1] * 9))
    expected = numerical_gradient(lambda: np.sum(im2col(x) * d_patches), x)
    assert relative_error(col2im(d_patches, x.shape), expected) < 1e-8


@pytest.mark.parametrize("shape", SHAPES)
def test_convolution_gradients_match_central_differences(shape):
    x = rng.standard_normal(shape)
    weight, bias = rng.standard_normal((4, shape[1], 3, 3)), rng.standard_normal(4)
    d_out = rng.standard_normal((shape[0], 4, *shape[2:]))
    loss = lambda: np.sum(conv3x3_forward(x, weight, bias) * d_out)
    d_x, d_weight, d_bias = conv3x3_backward(d_out, x, weight)
    assert (d_x.shape, d_weight.shape, d_bias.shape) == (x.shape, weight.shape, bias.shape)
    assert relative_error(d_x, numerical_gradient(loss, x)) < 1e-8
    assert relative_error(d_weight, numerical_gradient(loss, weight)) < 1e-8
    assert relative_error(d_bias, numerical_gradient(loss, bias)) < 1e-8


def test_convolution_then_relu_gradients_match_central_differences():
    # The pair as the CNN uses it: relu_backward with the forward's output, then conv3x3_backward.
    x = rng.standard_normal((3, 2, 4, 6))
    weight, bias = rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4)
    d_out = rng.standard_normal((3, 4, 4, 6))
    loss = lambda: np.sum(relu_forward(conv3x3_forward(x, weight, bias)) * d_out)
    out = relu_forward(conv3x3_forward(x, weight, bias))
    assert 0 < np.mean(out > 0) < 1                     # some units on, some off
    d_x, d_weight, d_bias = conv3x3_backward(relu_backward(d_out, out), x, weight)
    assert relative_error(d_x, numerical_gradient(loss, x)) < 1e-7
    assert relative_error(d_weight, numerical_gradient(loss, weight)) < 1e-7
    assert relative_error(d_bias, numerical_gradient(loss, bias)) < 1e-7
