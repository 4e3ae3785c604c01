"""dqn/network.py: the one-hot input, PyTorch's names, shapes and initialisation, whole-network
gradients against central differences, loading weights, and the [INIT] rationale."""
import numpy as np
import pytest

from gradcheck import assert_network_gradients
from retro_gamer.dqn.layers import conv3x3_forward, relu_forward
from retro_gamer.dqn.network import build_network, one_hot
from retro_gamer.game.description import GameMetadata

rng = np.random.default_rng(99)
ACTIONS = ["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"]


def metadata(spatial=False, board=True, width=32, height=16, extras=2, characters="@*><^v", **more):
    return GameMetadata(actions=ACTIONS, reward="reward", character_set=list(characters),
                        board_size=(width, height), spatial=spatial, board=board,
                        observe_state=["apple_dx", "apple_dy"][:extras], extras_size=extras, **more)


def boards(meta, batch):
    """Board codes with a few occupied cells (board 0 empty) and random extras, float64."""
    channels, height, width = meta.board_shape
    codes = np.zeros((batch, height * width), np.uint8)
    for board in codes[1:]:
        board[rng.choice(height * width, 4, replace=False)] = rng.integers(1, channels + 1, 4)
    return codes, rng.uniform(-1, 1, (batch, meta.extras_size))


# ---------------------------------------------------------------- the one-hot observation

def test_one_hot_code_zero_is_empty_and_code_k_is_channel_k_minus_1():
    codes = np.array([[0, 1, 2, 3]], np.uint8)                  # 4 cells, 3 channels
    x = one_hot(codes, np.zeros((1, 0)), 3, spatial=False)
    # Non-spatial: cell by cell, (H, W, C): cell 0 empty, cell 1 channel 0, cell 2 channel 1, ...
    np.testing.assert_array_equal(x[0].reshape(4, 3), [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])


def test_one_hot_layouts_spatial_channel_first_and_flat_cell_major():
    height, width, channels = 2, 3, 4
    codes = rng.integers(0, channels + 1, (5, height * width)).astype(np.uint8)
    extras = rng.standard_normal((5, 2))
    expected = np.zeros((5, height, width, channels), np.float32)        # (B, H, W, C)
    for b, cell in np.ndindex(5, height * width):
        if codes[b, cell]:
            expected[b, cell // width, cell % width, codes[b, cell] - 1] = 1.0
    flat = one_hot(codes, extras, channels, spatial=False)
    spatial = one_hot(codes, extras, channels, spatial=True)
    assert flat.shape == spatial.shape == (5, channels * height * width + 2)
    assert flat.dtype == spatial.dtype == np.float32
    np.testing.assert_array_equal(flat[:, :-2], expected.reshape(5, -1))
    np.testing.assert_array_equal(spatial[:, :-2], expected.transpose(0, 3, 1, 2).reshape(5, -1))  # C, H, W
    np.testing.assert_array_equal(flat[:, -2:], extras.astype(np.float32))   # the extras come last
    assert one_hot(codes, extras, channels, True, np.float64).dtype == np.float64


def test_forward_codes_is_forward_of_the_one_hot_observation():
    for spatial in (False, True):
        meta = metadata(spatial=spatial, width=6, height=4)
        net, _ = build_network(meta, {"hidden_sizes": [8]}, rng=np.random.default_rng(1))
        codes, extras = boards(meta, 3)
        np.testing.assert_array_equal(net.forward_codes(codes, extras),
                                      net.forward(one_hot(codes, extras, meta.board_shape[0], spatial)))


# ---------------------------------------------------------------- names, shapes, initialisation

def test_mlp_has_pytorch_names_shapes_and_float32():
    net, _ = build_network(metadata(), {"hidden_sizes": [128, 64]})
    assert {name: p.shape for name, p in net.params.items()} == {
        "net.0.weight": (128, 3074), "net.0.bias": (128,), "net.2.weight": (64, 128), "net.2.bias": (64,),
        "net.4.weight": (5, 64), "net.4.bias": (5,)}
    assert list(net.params) == ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias",
                                "net.4.weight", "net.4.bias"]             # PyTorch's state_dict order
    assert all(p.dtype == np.float32 for p in net.params.values())
    assert net.n_params == sum(p.size for p in net.params.values())
    assert net.forward(np.zeros((3, 3074), np.float32)).shape == (3, 5)


def test_cnn_has_pytorch_names_and_shapes():
    net, _ = build_network(metadata(spatial=True, width=7, height=5), {"n_layers": 1, "layer_size": 32})
    assert {name: p.shape for name, p in net.params.items()} == {
        "conv.0.weight": (32, 6, 3, 3), "conv.0.bias": (32,), "conv.2.weight": (64, 32, 3, 3),
        "conv.2.bias": (64,), "mlp.0.weight": (32, 64 * 5 * 7 + 2), "mlp.0.bias": (32,),
        "mlp.2.weight": (5, 32), "mlp.2.bias": (5,)}
    assert list(net.params)[:4] == ["conv.0.weight", "conv.0.bias", "conv.2.weight", "conv.2.bias"]


def test_default_hidden_sizes_and_input_without_board():
    net, _ = build_network(metadata(board=False, extras=2), {})
    assert [net.params[f"net.{i}.weight"].shape for i in (0, 2, 4)] == [(128, 2), (128, 128), (5, 128)]
    net, _ = build_network(metadata(board=False, extras=2), {"n_layers": 3, "layer_size": 7})
    assert [net.params[f"net.{i}.weight"].shape for i in (0, 2, 4, 6)] == [(7, 2), (7, 7), (7, 7), (5, 7)]


def test_backward_returns_a_gradient_for_every_parameter_with_its_shape_and_dtype():
    for spatial in (False, True):
        meta = metadata(spatial=spatial, width=6, height=4)
        net, _ = build_network(meta, {"hidden_sizes": [8, 8]})
        codes, extras = boards(meta, 3)
        q = net.forward_codes(codes, extras)
        grads = net.backward(np.ones_like(q))
        assert list(grads) == list(net.params)
        for name, p in net.params.items():
            assert grads[name].shape == p.shape and grads[name].dtype == np.float32, name


def test_float64_networks_are_float64_throughout():
    meta = metadata(spatial=True, width=5, height=4)
    net, _ = build_network(meta, {"hidden_sizes": [8]}, dtype=np.float64)
    codes, extras = boards(meta, 2)
    q = net.forward_codes(codes, extras)
    assert q.dtype == np.float64 and all(p.dtype == np.float64 for p in net.params.values())
    assert all(g.dtype == np.float64 for g in net.backward(np.ones_like(q)).values())


def test_initialisation_is_pytorchs_uniform_in_one_over_sqrt_fan_in():
    net, _ = build_network(metadata(spatial=True, width=8, height=4), {"hidden_sizes": [16]},
                           rng=np.random.default_rng(0))
    fan_ins = {"conv.0": 6 * 9, "conv.2": 32 * 9, "mlp.0": 64 * 32 + 2, "mlp.2": 16}
    for layer, fan_in in fan_ins.items():
        bound = 1 / np.sqrt(fan_in)
        for part in ("weight", "bias"):
            values = net.params[f"{layer}.{part}"]
            assert np.abs(values).max() <= bound, (layer, part)
            if values.size >= 30:                                 # spread over the whole range
                assert np.abs(values).max() > 0.8 * bound, (layer, part)
        assert abs(net.params[f"{layer}.weight"].mean()) < 0.1 * bound
        assert net.params[f"{layer}.weight"].std() == pytest.approx(bound / np.sqrt(3), rel=0.2)


def test_same_seed_same_weights_other_seed_other_weights():
    a, _ = build_network(metadata(), {}, rng=np.random.default_rng(5))
    b, _ = build_network(metadata(), {}, rng=np.random.default_rng(5))
    c, _ = build_network(metadata(), {}, rng=np.random.default_rng(6))
    assert all(np.array_equal(a.params[n], b.params[n]) for n in a.params)
    assert not any(np.array_equal(a.params[n], c.params[n]) for n in a.params)


def test_spatial_without_board_is_a_clear_error():
    with pytest.raises(ValueError, match="spatial = false"):
        build_network(metadata(spatial=True, board=False), {})


def test_cnn_flattens_channel_major_then_appends_the_extras():
    # As torch.flatten of (B, 64, H, W): feature f * H * W + y * W + x is filter f at cell (y, x),
    # and the extras follow the 64 * H * W features. A head that copies one input shows it.
    meta = metadata(spatial=True, width=5, height=3)
    net, _ = build_network(meta, {"hidden_sizes": [4]}, rng=np.random.default_rng(2), dtype=np.float64)
    codes, extras = boards(meta, 3)
    p = net.params
    board = one_hot(codes, extras, 6, True, np.float64)[:, :6 * 15].reshape(3, 6, 3, 5)
    a1 = relu_forward(conv3x3_forward(board, p["conv.0.weight"], p["conv.0.bias"]))
    a2 = relu_forward(conv3x3_forward(a1, p["conv.2.weight"], p["conv.2.bias"]))
    for column, expected in [(13 * 15 + 2 * 5 + 4, a2[:, 13, 2, 4]), (64 * 15 + 1, extras[:, 1])]:
        p["mlp.0.weight"][...] = 0.0
        p["mlp.0.weight"][0, column] = 1.0
        p["mlp.0.bias"][...] = 0.0
        p["mlp.2.weight"][...] = 0.0
        p["mlp.2.weight"][:, 0] = 1.0
        p["mlp.2.bias"][...] = 0.0
        q = net.forward_codes(codes, extras)
        np.testing.assert_allclose(q[:, 0], np.maximum(expected, 0), rtol=1e-12)


# ---------------------------------------------------------------- whole-network gradients

def whole_network_gradient_check(meta, hyperparams):
    """backward() of a float64 network against central differences of sum(Q * d_q)."""
    net, _ = build_network(meta, hyperparams, dtype=np.float64, rng=np.random.default_rng(3))
    codes, extras = boards(meta, 3)
    d_q = rng.standard_normal((3, meta.n_actions))              # loss = sum(Q * d_q): dLoss/dQ = d_q
    loss = lambda: float(np.sum(net.forward_codes(codes, extras) * d_q))
    net.forward_codes(codes, extras)
    grads = {name: g.copy() for name, g in net.backward(d_q).items()}
    assert_network_gradients(loss, net.params, grads, rng)


def test_mlp_gradients_match_central_differences():
    whole_network_gradient_check(metadata(width=4, height=3, characters="@*"), {"hidden_sizes": [6, 5]})


def test_mlp_over_extras_only_gradients_match_central_differences():
    meta = metadata(board=False)
    net, _ = build_network(meta, {"hidden_sizes": [6]}, dtype=np.float64, rng=np.random.default_rng(3))
    codes, extras = np.zeros((4, 0), np.uint8), rng.standard_normal((4, 2))
    d_q = rng.standard_normal((4, meta.n_actions))
    loss = lambda: float(np.sum(net.forward_codes(codes, extras) * d_q))
    net.forward_codes(codes, extras)
    assert_network_gradients(loss, net.params, {n: g.copy() for n, g in net.backward(d_q).items()}, rng)


def test_cnn_gradients_match_central_differences():
    # Board and extras both feed the head: the extras' weights are checked too.
    whole_network_gradient_check(metadata(spatial=True, width=4, height=3, characters="@*"),
                                 {"hidden_sizes": [6]})


# ---------------------------------------------------------------- loading weights

def test_load_params_makes_an_independent_exact_copy():
    online, _ = build_network(metadata(), {}, rng=np.random.default_rng(1))
    target, _ = build_network(metadata(), {}, rng=np.random.default_rng(2))
    codes, extras = boards(metadata(), 4)
    target.load_params(online.params)
    np.testing.assert_array_equal(target.forward_codes(codes, extras), online.forward_codes(codes, extras))
    online.params["net.4.bias"][...] += 1.0                     # the target must not follow
    assert not np.allclose(target.forward_codes(codes, extras), online.forward_codes(codes, extras))


def test_load_params_names_what_does_not_fit():
    net, _ = build_network(metadata(), {})
    other, _ = build_network(metadata(characters="@*"), {"hidden_sizes": [128]})
    before = {name: p.copy() for name, p in net.params.items()}
    with pytest.raises(ValueError) as error:
        net.load_params(other.params)
    message = str(error.value)
    assert "net.0.weight is (128, 1026), not (128, 3074)" in message
    assert "net.4.weight is missing" in message
    assert all(np.array_equal(net.params[n], before[n]) for n in before)      # nothing half-loaded
    weights = dict(net.params)
    weights["net.9.bias"] = np.zeros(3)
    with pytest.raises(ValueError, match="net.9.bias is not a parameter"):
        net.load_params(weights)


# ---------------------------------------------------------------- the [INIT] rationale

@pytest.mark.parametrize("spatial", [False, True])
def test_rationale_explains_input_layers_choice_and_actions(spatial):
    net, text = build_network(metadata(spatial=spatial), {"hidden_sizes": [128, 128]})
    lines = text.splitlines()
    assert all(line.startswith("[INIT] ") for line in lines)
    assert "3074 numbers = board 6 channels x 16 x 32 cells (3072) + 2 extras" in text
    assert "(@ * > < ^ v)" in text and "the whole board, 32 x 16" in text
    assert "apple_dx, apple_dy" in text
    assert "KEY_RIGHT, KEY_UP, KEY_LEFT, KEY_DOWN, then the no-op" in text
    if spatial:
        assert "Why a CNN" in text and "Conv2d 6 -> 32" in text and "Conv2d 32 -> 64" in text
        assert "32768 features, + 2 extras = 32770" in text and "Linear 32770 -> 128" in text
    else:
        assert "Why an MLP" in text and "Linear 3074 -> 128" in text
    assert "Linear 128 -> 5, one Q-value per action" in text
    assert f"{net.n_params:,} parameters" in text


def test_rationale_of_an_egocentric_board_mentions_the_window():
    meta = metadata(egocentric=True, egocentric_player="SnakeHead", egocentric_radius=2)
    _, text = build_network(meta, {})
    assert "5 x 5 window around 'SnakeHead'" in text and "beyond the board's edge" in text
    assert "7 channels x 5 x 5" in text


def test_rationale_without_board_and_with_an_observation_function():
    _, text = build_network(metadata(board=False), {"hidden_sizes": [8]})
    assert "2 numbers of game state, no board (board = false)" in text and "Linear 2 -> 8" in text
    meta = GameMetadata(actions=["a"], reward="r", observation_function="mygame:observe", extras_size=7)
    _, text = build_network(meta, {"hidden_sizes": [8]})
    assert "7 numbers returned by mygame:observe" in text and "2 outputs = a, then the no-op" in text
