"""The CNN's convolutions computed only near the occupied cells (sparse_conv.py), against
the dense convolutions of layers.py and against central differences."""
import numpy as np
import pytest

from gradcheck import numerical_gradient, relative_error, some_indices
from retro_gamer import sparse_conv
from retro_gamer.layers import conv3x3_backward, conv3x3_forward
from retro_gamer.network import ConvQNetwork
from retro_gamer.observation import expand_observations, onehot_columns

rng = np.random.default_rng(5)


@pytest.fixture
def always_sparse(monkeypatch):
    """Take the sparse path even on boards too small or too full for it to pay."""
    monkeypatch.setattr(sparse_conv, "MAX_ACTIVE_SHARE", 1.0)


def sparse_boards(batch: int, channels: int, height: int, width: int, ones: int = 2) -> np.ndarray:
    """Codes with a few ones, one board empty, and ones in corners and along edges."""
    codes = np.zeros((batch, height * width), np.uint8)
    for board in codes[1:]:
        board[rng.choice(height * width, ones, replace=False)] = rng.integers(1, channels + 1, ones)
    codes[min(2, batch - 1), [0, width - 1, (height - 1) * width, height * width - 1]] = channels   # corners
    codes[-1, width * (height // 2)] = 1                                                           # left edge
    return codes                                                                                   # board 0: empty


def dense_board(codes: np.ndarray, shape: tuple) -> np.ndarray:
    board = np.zeros((len(codes), int(np.prod(shape))))
    rows, cols = onehot_columns(codes, shape[0], spatial=True)
    board[rows, cols] = 1.0
    return board.reshape(-1, *shape)


@pytest.mark.parametrize("shape, batch", [((3, 5, 7), 4), ((2, 1, 6), 3), ((6, 16, 32), 6)])
def test_sparse_convolutions_match_the_dense_ones(shape, batch, always_sparse):
    codes = sparse_boards(batch, *shape)
    w1, b1 = rng.standard_normal((8, shape[0], 3, 3)), rng.standard_normal(8)
    w2, b2 = rng.standard_normal((5, 8, 3, 3)), rng.standard_normal(5)
    b1[:3] = -np.abs(b1[:3])          # some background units off (ReLU closed), some on
    cache = sparse_conv.sparse_conv_forward(codes, shape, w1, b1, w2, b2)

    board = dense_board(codes, shape)
    a1 = conv3x3_forward(board, w1, b1, relu=True)
    a2 = conv3x3_forward(a1, w2, b2, relu=True)
    np.testing.assert_allclose(cache.a2, a2, rtol=1e-12, atol=1e-12)

    d_a2 = rng.standard_normal(a2.shape)
    sparse = [np.zeros_like(p) for p in (w1, b1, w2, b2)]
    sparse_conv.sparse_conv_backward(d_a2.copy(), cache, w2, *sparse)      # it overwrites d_a2
    dense = [np.zeros_like(p) for p in (w1, b1, w2, b2)]
    d_a1 = conv3x3_backward(d_a2, a1, w2, dense[2], dense[3], relu_out=a2)
    conv3x3_backward(d_a1, board, w1, dense[0], dense[1], relu_out=a1, need_input_grad=False)
    for name, got, expected in zip(("w1", "b1", "w2", "b2"), sparse, dense):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10, err_msg=name)


def test_full_boards_take_the_dense_convolutions():
    codes = np.ones((2, 5 * 7), np.uint8)
    w1, b1, w2, b2 = np.ones((4, 1, 3, 3)), np.ones(4), np.ones((3, 4, 3, 3)), np.ones(3)
    assert sparse_conv.sparse_conv_forward(codes, (1, 5, 7), w1, b1, w2, b2) is None


@pytest.mark.parametrize("sparse_share", [1.0, 0.0])   # the sparse path, and the dense one
def test_cnn_forward_codes_matches_forward_and_central_differences(sparse_share, monkeypatch):
    monkeypatch.setattr(sparse_conv, "MAX_ACTIVE_SHARE", sparse_share)
    shape = (2, 4, 6)
    net = ConvQNetwork(shape, 2, [5], 3, dtype=np.float64, rng=np.random.default_rng(2))
    net.params["conv.0.bias"][:2] = -0.1       # a background unit whose ReLU is closed
    codes = sparse_boards(3, *shape, ones=1)
    extras = rng.standard_normal((3, 2)).astype(np.float32).astype(np.float64)   # as expand_observations keeps them
    dense = expand_observations(codes, extras, shape[0], spatial=True).astype(np.float64)
    np.testing.assert_allclose(net.forward_codes(codes, extras), net.forward(dense), rtol=1e-12, atol=1e-12)

    d_q = rng.standard_normal((3, 3))                            # loss = sum(Q * d_q)
    net.forward_codes(codes, extras)
    grads = {name: g.copy() for name, g in net.backward(d_q).items()}
    loss = lambda: float(np.sum(net.forward_codes(codes, extras) * d_q))
    for name, param in net.params.items():
        indices = some_indices(param.shape, 12, rng)
        largest = np.unravel_index(np.argsort(np.abs(grads[name]), axis=None)[-3:], param.shape)
        indices += list(zip(*largest))
        expected = numerical_gradient(loss, param, indices)
        got = np.array([grads[name][i] for i in indices])
        assert relative_error(got, expected) < 1e-6, name
