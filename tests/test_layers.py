"""Each layer's backward against central differences, and each fast path against the plain version."""
import numpy as np
import pytest

from retro_gamer import layers
from gradcheck import numerical_gradient, relative_error
from retro_gamer.layers import (conv3x3_backward, conv3x3_forward, conv3x3_reference, linear_backward,
                                linear_forward, onehot_linear_backward, onehot_linear_forward,
                                relu_backward, relu_forward)
from retro_gamer.observation import expand_observations, onehot_columns

rng = np.random.default_rng(1234)


def test_linear_gradients_match_central_differences():
    x, weight, bias = rng.standard_normal((4, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)
    d_out = rng.standard_normal((4, 3))             # loss = sum(out * d_out), so dLoss/dout = d_out
    loss = lambda: np.sum(linear_forward(x, weight, bias) * d_out)
    d_weight, d_bias = np.zeros_like(weight), np.zeros_like(bias)
    d_x = linear_backward(d_out, x, weight, d_weight, d_bias)
    assert relative_error(d_x, numerical_gradient(loss, x)) < 1e-8
    assert relative_error(d_weight, numerical_gradient(loss, weight)) < 1e-8
    assert relative_error(d_bias, numerical_gradient(loss, bias)) < 1e-8
    assert linear_backward(d_out, x, weight, d_weight, d_bias, need_input_grad=False) is None


def test_relu_gradient_matches_central_differences():
    x = rng.standard_normal((3, 7))
    d_out = rng.standard_normal((3, 7))
    d_x = relu_backward(d_out, relu_forward(x))
    assert relative_error(d_x, numerical_gradient(lambda: np.sum(relu_forward(x) * d_out), x)) < 1e-8
    assert np.all(d_x[x < 0] == 0)


def sparse_boards(batch, cells, n_channels, empty_rows=()):
    """Random board codes with a few occupied cells, some rows completely empty."""
    codes = np.zeros((batch, cells), np.uint8)
    for b in range(batch):
        if b not in empty_rows:
            where = rng.choice(cells, 3, replace=False)
            codes[b, where] = rng.integers(1, n_channels + 1, 3)
    codes[:, 0] = np.where(np.isin(np.arange(batch), empty_rows), 0, 1)   # a cell many samples share
    return codes


@pytest.mark.parametrize("batch, empty_rows", [(6, ()), (6, (0,)), (6, (2, 5)), (1, ())])
def test_onehot_linear_matches_dense_linear(batch, empty_rows):
    # Column 0 holds a one in every non-empty sample: a column shared across the batch.
    cells, n_channels, n_extras, n_out = 12, 3, 2, 4
    codes = sparse_boards(batch, cells, n_channels, empty_rows)
    extras = rng.standard_normal((batch, n_extras)).astype(np.float32)
    dense = expand_observations(codes, extras, n_channels, spatial=False)
    # Stored as (in, out), used through the (out, in) view, as network.py does.
    weight = rng.standard_normal((dense.shape[1], n_out)).astype(np.float32).T
    bias = rng.standard_normal(n_out).astype(np.float32)
    rows, cols = onehot_columns(codes, n_channels, spatial=False)

    out = onehot_linear_forward(rows, cols, extras, weight, bias)
    np.testing.assert_allclose(out, linear_forward(dense, weight, bias), rtol=1e-5, atol=1e-5)

    d_out = rng.standard_normal((batch, n_out)).astype(np.float32)
    d_weight, d_bias = np.full_like(weight.T, 7.0).T, np.zeros_like(bias)   # stale values must go
    touched = onehot_linear_backward(d_out, rows, cols, extras, d_weight, d_bias)
    np.testing.assert_array_equal(touched, np.unique(cols))      # the columns that may be non-zero
    assert not d_weight[:, :cells * n_channels][:, np.setdiff1d(np.arange(cells * n_channels), touched)].any()
    dense_d_weight, dense_d_bias = np.zeros_like(weight), np.zeros_like(bias)
    linear_backward(d_out, dense, weight, dense_d_weight, dense_d_bias, need_input_grad=False)
    np.testing.assert_allclose(d_weight, dense_d_weight, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(d_bias, dense_d_bias, rtol=1e-5, atol=1e-5)


@pytest.fixture(params=["whole batch", "one image at a time"])
def image_groups(request, monkeypatch):
    """Run a test with the batch in one group, then with one image per group."""
    if request.param == "one image at a time":
        monkeypatch.setattr(layers, "_GROUP_BYTES", 1)


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 1, 1, 1), (3, 2, 4, 1), (2, 4, 3, 3)])
def test_fast_convolution_matches_reference(shape, image_groups):
    batch, channels, height, width = shape
    x = rng.standard_normal(shape).astype(np.float32)
    weight = rng.standard_normal((5, channels, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    expected = conv3x3_reference(x, weight, bias)
    for _ in range(2):                      # the second call reuses the work arrays
        out = conv3x3_forward(x, weight, bias)
        assert out.shape == (batch, 5, height, width)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(conv3x3_forward(x, weight, bias, relu=True), relu_forward(expected),
                               rtol=1e-5, atol=1e-5)


def test_reference_convolution_is_the_definition():
    # One input cell set to 1 at (y, x) = (1, 2): output (y', x') sees it through the weight
    # tap (1 + y - y', 1 + x - x'), so the output shows the flipped kernel around (1, 2).
    x = np.zeros((1, 1, 4, 5))
    x[0, 0, 1, 2] = 1.0
    weight = np.arange(9.0).reshape(1, 1, 3, 3)
    out = conv3x3_reference(x, weight, np.zeros(1))[0, 0]
    np.testing.assert_array_equal(out[0:3, 1:4], weight[0, 0, ::-1, ::-1])
    assert out.sum() == weight.sum()


def test_convolution_gradients_match_central_differences(image_groups):
    x = rng.standard_normal((2, 3, 4, 5))
    weight = rng.standard_normal((4, 3, 3, 3))
    bias = rng.standard_normal(4)
    d_out = rng.standard_normal((2, 4, 4, 5))
    loss = lambda: np.sum(conv3x3_forward(x, weight, bias) * d_out)
    d_weight, d_bias = np.zeros_like(weight), np.zeros_like(bias)
    d_x = conv3x3_backward(d_out, x, weight, d_weight, d_bias)
    assert relative_error(d_x, numerical_gradient(loss, x)) < 1e-8
    assert relative_error(d_weight, numerical_gradient(loss, weight)) < 1e-8
    assert relative_error(d_bias, numerical_gradient(loss, bias)) < 1e-8

    again_weight, again_bias = np.zeros_like(weight), np.zeros_like(bias)
    assert conv3x3_backward(d_out, x, weight, again_weight, again_bias, need_input_grad=False) is None
    np.testing.assert_array_equal(again_weight, d_weight)
    np.testing.assert_array_equal(again_bias, d_bias)


def test_convolution_backward_through_its_relu(image_groups):
    x = rng.standard_normal((3, 2, 4, 6))
    weight, bias = rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4)
    d_out = rng.standard_normal((3, 4, 4, 6))
    out = conv3x3_forward(x, weight, bias, relu=True)
    d_weight, d_bias = np.zeros_like(weight), np.zeros_like(bias)
    d_x = conv3x3_backward(d_out, x, weight, d_weight, d_bias, relu_out=out)
    plain_weight, plain_bias = np.zeros_like(weight), np.zeros_like(bias)
    plain_x = conv3x3_backward(relu_backward(d_out, out), x, weight, plain_weight, plain_bias)
    np.testing.assert_allclose(d_x, plain_x, rtol=1e-12)
    np.testing.assert_allclose(d_weight, plain_weight, rtol=1e-12)
    np.testing.assert_allclose(d_bias, plain_bias, rtol=1e-12)
