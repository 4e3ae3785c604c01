"""fast/sparse_conv.py: the CNN's two convolutions computed only near the occupied cells,
against dqn/layers.py's dense conv3x3 (forward, and the gradients of all four weights) in float64."""
import numpy as np
import pytest

from retro_gamer.dqn.layers import conv3x3_backward, conv3x3_forward, relu_backward, relu_forward
from retro_gamer.dqn.network import one_hot
from retro_gamer.fast import sparse_conv

rng = np.random.default_rng(5)


@pytest.fixture
def always_sparse(monkeypatch):
    """Take the sparse path even on boards too small or too full for it to pay."""
    monkeypatch.setattr(sparse_conv, "MAX_ACTIVE_SHARE", 1.0)


def sparse_boards(batch: int, channels: int, height: int, width: int, ones: int = 2) -> np.ndarray:
    """Codes with a few ones: board 0 empty, board 2 with its four corners, the last one on
    its left edge."""
    codes = np.zeros((batch, height * width), np.uint8)
    for board in codes[1:]:
        board[rng.choice(height * width, ones, replace=False)] = rng.integers(1, channels + 1, ones)
    codes[min(2, batch - 1), [0, width - 1, (height - 1) * width, height * width - 1]] = channels   # corners
    codes[-1, width * (height // 2)] = 1                                                           # left edge
    return codes


def random_weights(channels: int):
    w1, b1 = rng.standard_normal((8, channels, 3, 3)), rng.standard_normal(8)
    w2, b2 = rng.standard_normal((5, 8, 3, 3)), rng.standard_normal(5)
    b1[:3], b1[3:6] = -np.abs(b1[:3]), np.abs(b1[3:6])   # background units off (ReLU closed) and on
    return w1, b1, w2, b2


def dense_twin(codes, shape, w1, b1, w2, b2, d_a2):
    """dqn/layers.py's two convolutions on the one-hot boards: (a2, [d_w1, d_b1, d_w2, d_b2])."""
    board = one_hot(codes, np.zeros((len(codes), 0)), shape[0], True, np.float64).reshape(-1, *shape)
    a1 = relu_forward(conv3x3_forward(board, w1, b1))
    a2 = relu_forward(conv3x3_forward(a1, w2, b2))
    d_a1, d_w2, d_b2 = conv3x3_backward(relu_backward(d_a2, a2), a1, w2)
    _, d_w1, d_b1 = conv3x3_backward(relu_backward(d_a1, a1), board, w1)
    return a2, [d_w1, d_b1, d_w2, d_b2]


def sparse_gradients(d_a2, cache, w1, b1, w2, b2):
    grads = [np.full_like(p, np.nan) for p in (w1, b1, w2, b2)]   # every entry must be written
    sparse_conv.sparse_conv_backward(d_a2.copy(), cache, w2, *grads)    # (it overwrites d_a2)
    return grads


# (C, H, W), batch: a small board, one row, one column, snake's board.
@pytest.mark.parametrize("shape, batch", [((3, 5, 7), 4), ((2, 1, 6), 3), ((2, 6, 1), 3), ((6, 16, 32), 6)])
def test_sparse_convolutions_match_the_dense_ones(shape, batch, always_sparse):
    codes = sparse_boards(batch, *shape)
    weights = random_weights(shape[0])
    cache = sparse_conv.sparse_conv_forward(codes, shape, *weights)
    d_a2 = rng.standard_normal((batch, 5, *shape[1:]))
    a2, dense = dense_twin(codes, shape, *weights, d_a2)
    np.testing.assert_allclose(cache.a2, a2, rtol=1e-10, atol=1e-10)
    for name, got, expected in zip(("w1", "b1", "w2", "b2"), sparse_gradients(d_a2, cache, *weights), dense):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10, err_msg=name)


def test_snake_board_with_a_short_snake_takes_the_sparse_path():
    # No monkeypatching: a few occupied cells on a 32 x 16 board are well under MAX_ACTIVE_SHARE.
    codes = sparse_boards(8, 6, 16, 32)
    weights = random_weights(6)
    cache = sparse_conv.sparse_conv_forward(codes, (6, 16, 32), *weights)
    assert cache is not None
    d_a2 = rng.standard_normal((8, 5, 16, 32))
    a2, dense = dense_twin(codes, (6, 16, 32), *weights, d_a2)
    np.testing.assert_allclose(cache.a2, a2, rtol=1e-10, atol=1e-10)
    for name, got, expected in zip(("w1", "b1", "w2", "b2"), sparse_gradients(d_a2, cache, *weights), dense):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10, err_msg=name)


def test_full_boards_take_the_dense_convolutions():
    codes = np.ones((2, 5 * 7), np.uint8)
    assert sparse_conv.sparse_conv_forward(codes, (1, 5, 7), *random_weights(1)) is None
    # The share of cells within two cells of an occupied one decides: a corner's 9 of 35 are
    # few enough, the centre's 25 of 35 too many (MAX_ACTIVE_SHARE = 0.5).
    corner, centre = np.zeros((2, 35), np.uint8), np.zeros((2, 35), np.uint8)
    corner[:, 0], centre[:, 17] = 1, 1
    assert sparse_conv.sparse_conv_forward(corner, (1, 5, 7), *random_weights(1)) is not None
    assert sparse_conv.sparse_conv_forward(centre, (1, 5, 7), *random_weights(1)) is None


def test_full_boards_forced_sparse_match_the_dense_convolutions(always_sparse):
    shape = (3, 4, 5)
    codes = rng.integers(1, 4, (3, 20)).astype(np.uint8)
    weights = random_weights(3)
    cache = sparse_conv.sparse_conv_forward(codes, shape, *weights)
    d_a2 = rng.standard_normal((3, 5, 4, 5))
    a2, dense = dense_twin(codes, shape, *weights, d_a2)
    np.testing.assert_allclose(cache.a2, a2, rtol=1e-10, atol=1e-10)
    for name, got, expected in zip(("w1", "b1", "w2", "b2"), sparse_gradients(d_a2, cache, *weights), dense):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10, err_msg=name)


def test_empty_boards_are_the_background_everywhere():
    shape = (2, 4, 6)
    codes = np.zeros((3, 24), np.uint8)
    weights = random_weights(2)
    cache = sparse_conv.sparse_conv_forward(codes, shape, *weights)
    a2, _ = dense_twin(codes, shape, *weights, np.zeros((3, 5, 4, 6)))
    np.testing.assert_allclose(cache.a2, a2, rtol=1e-10, atol=1e-10)


def test_gradients_of_a_batch_of_empty_boards_match_the_dense_ones():
    shape = (2, 4, 6)
    codes = np.zeros((3, 24), np.uint8)
    weights = random_weights(2)
    cache = sparse_conv.sparse_conv_forward(codes, shape, *weights)
    d_a2 = rng.standard_normal((3, 5, 4, 6))
    _, dense = dense_twin(codes, shape, *weights, d_a2)
    for name, got, expected in zip(("w1", "b1", "w2", "b2"), sparse_gradients(d_a2, cache, *weights), dense):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10, err_msg=name)
