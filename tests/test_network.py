"""The Q-networks: names and shapes, initialisation, whole-network gradients, fast paths, copying."""
import numpy as np
import pytest

from gradcheck import numerical_gradient, relative_error, some_indices
from retro_gamer.errors import CheckpointError, ConfigError, RetroGamerError
from retro_gamer.metadata import GameMetadata
from retro_gamer.network import build_network
from retro_gamer.observation import expand_observations

rng = np.random.default_rng(99)


def metadata(spatial=False, board=True, width=32, height=16, extras=2, characters="@*><^v", **more):
    return GameMetadata(actions=["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"], reward="reward",
                        character_set=list(characters), board_size=(width, height), spatial=spatial,
                        board=board, observe_state=["apple_dx", "apple_dy"][:extras], extras_size=extras, **more)


def boards(meta, batch, empty_rows=()):
    """Board codes with a few occupied cells (rows in empty_rows empty) and random extras."""
    channels, height, width = meta.board_shape
    codes = np.zeros((batch, height * width), np.uint8)
    for b in range(batch):
        if b not in empty_rows:
            codes[b, rng.choice(height * width, 4, replace=False)] = rng.integers(1, channels + 1, 4)
    return codes, rng.uniform(-1, 1, (batch, meta.extras_size)).astype(np.float32)


def test_mlp_has_pytorch_names_shapes_and_float32():
    net, _ = build_network(metadata(), {"hidden_sizes": [128, 64]})
    assert {name: p.shape for name, p in net.params.items()} == {
        "net.0.weight": (128, 3074), "net.0.bias": (128,), "net.2.weight": (64, 128), "net.2.bias": (64,),
        "net.4.weight": (5, 64), "net.4.bias": (5,)}
    assert list(net.params) == list(net.grads)
    assert all(p.dtype == np.float32 for p in net.params.values())


def test_cnn_has_pytorch_names_and_shapes():
    net, _ = build_network(metadata(spatial=True, width=7, height=5), {"n_layers": 1, "layer_size": 32})
    assert {name: p.shape for name, p in net.params.items()} == {
        "conv.0.weight": (32, 6, 3, 3), "conv.0.bias": (32,), "conv.2.weight": (64, 32, 3, 3),
        "conv.2.bias": (64,), "mlp.0.weight": (32, 64 * 5 * 7 + 2), "mlp.0.bias": (32,),
        "mlp.2.weight": (5, 32), "mlp.2.bias": (5,)}


def test_default_hidden_sizes_and_input_without_board():
    net, _ = build_network(metadata(board=False, extras=2), {})
    assert [net.params[f"net.{i}.weight"].shape for i in (0, 2, 4)] == [(128, 2), (128, 128), (5, 128)]


def test_initialisation_is_pytorchs_uniform_in_one_over_sqrt_fan_in():
    net, _ = build_network(metadata(spatial=True, width=8, height=4), {"hidden_sizes": [16]},
                           rng=np.random.default_rng(0))
    fan_ins = {"conv.0": 6 * 9, "conv.2": 32 * 9, "mlp.0": 64 * 32 + 2, "mlp.2": 16}
    for layer, fan_in in fan_ins.items():
        bound = 1 / np.sqrt(fan_in)
        for part in ("weight", "bias"):
            values = net.params[f"{layer}.{part}"]
            assert np.abs(values).max() <= bound
            if values.size >= 30:                                 # spread over the whole range
                assert np.abs(values).max() > 0.8 * bound
        assert abs(net.params[f"{layer}.weight"].mean()) < 0.1 * bound


def test_same_seed_same_weights():
    a, _ = build_network(metadata(), {}, rng=np.random.default_rng(5))
    b, _ = build_network(metadata(), {}, rng=np.random.default_rng(5))
    assert all(np.array_equal(a.params[n], b.params[n]) for n in a.params)


def test_spatial_without_board_is_a_clear_error():
    with pytest.raises(ConfigError, match="spatial = false"):
        build_network(metadata(spatial=True, board=False), {})


@pytest.mark.parametrize("hidden", [[0], [128, -1], ["128"], [1.5]])
def test_bad_hidden_sizes_are_a_clear_error(hidden):
    with pytest.raises(ConfigError, match="hidden_sizes"):
        build_network(metadata(), {"hidden_sizes": hidden})
    with pytest.raises(ConfigError, match="hidden_sizes"):
        build_network(metadata(), {"n_layers": 2, "layer_size": hidden[-1]})
    with pytest.raises(ConfigError, match="n_layers"):
        build_network(metadata(), {"n_layers": 1.5})


def test_forward_rejects_observations_of_the_wrong_size():
    net, _ = build_network(metadata(), {})
    with pytest.raises(RetroGamerError, match="3074"):
        net.forward(np.zeros((2, 3000), np.float32))


def whole_network_gradient_check(meta, hyperparams, n_checked=12):
    """backward() of a float64 network against central differences of the Huber-like loss."""
    net, _ = build_network(meta, hyperparams, dtype=np.float64, rng=np.random.default_rng(3))
    codes, extras = boards(meta, 3)
    x = expand_observations(codes, extras, meta.board_shape[0], meta.spatial).astype(np.float64)
    d_q = rng.standard_normal((3, meta.n_actions))              # loss = sum(Q * d_q)
    loss = lambda: float(np.sum(net.forward(x) * d_q))
    net.forward(x)
    grads = {name: g.copy() for name, g in net.backward(d_q).items()}
    for name, param in net.params.items():
        indices = some_indices(param.shape, n_checked, rng)
        # Also check the largest gradients: random picks could all be zeros of dead units.
        largest = np.unravel_index(np.argsort(np.abs(grads[name]), axis=None)[-3:], param.shape)
        indices += list(zip(*largest))
        expected = numerical_gradient(loss, param, indices)
        got = np.array([grads[name][i] for i in indices])
        assert relative_error(got, expected) < 1e-6, name


def test_mlp_gradients_match_central_differences():
    whole_network_gradient_check(metadata(width=4, height=3, characters="@*"), {"hidden_sizes": [6, 5]})


def test_cnn_gradients_match_central_differences():
    # Board and extras both feed the head: the extras' weights are checked too.
    whole_network_gradient_check(metadata(spatial=True, width=4, height=3, characters="@*"),
                                 {"hidden_sizes": [6]})


# The snake-sized CNN runs its convolutions in several groups of images (layers.py).
@pytest.mark.parametrize("spatial, width, height, batch", [(False, 9, 5, 5), (True, 9, 5, 5), (True, 32, 16, 16)])
def test_forward_codes_matches_forward_on_dense_observations(spatial, width, height, batch):
    meta = metadata(spatial=spatial, width=width, height=height)
    dense, _ = build_network(meta, {"hidden_sizes": [16, 8]}, rng=np.random.default_rng(1))
    compact, _ = build_network(meta, {"hidden_sizes": [16, 8]}, rng=np.random.default_rng(1))
    codes, extras = boards(meta, batch, empty_rows=(1,))
    x = expand_observations(codes, extras, meta.board_shape[0], spatial)
    np.testing.assert_allclose(compact.forward_codes(codes, extras), dense.forward(x), rtol=1e-5, atol=1e-6)
    d_q = rng.standard_normal((batch, meta.n_actions)).astype(np.float32)
    fast, plain = compact.backward(d_q), dense.backward(d_q)
    for name in plain:
        np.testing.assert_allclose(fast[name], plain[name], rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("spatial", [False, True])
def test_forward_one_matches_forward_codes(spatial):
    meta = metadata(spatial=spatial, width=9, height=5)
    net, _ = build_network(meta, {"hidden_sizes": [16, 8]}, rng=np.random.default_rng(3))
    codes, extras = boards(meta, 4, empty_rows=(2,))
    batch = net.forward_codes(codes, extras)
    for row in range(4):
        np.testing.assert_allclose(net.forward_one(codes[row], extras[row]), batch[row], rtol=1e-5, atol=1e-6)


def test_one_hot_backward_clears_what_the_previous_batch_wrote():
    # The fast backward clears only the board columns of the previous batch: after any
    # sequence of batches (one-hot or dense), the gradient must equal a fresh network's.
    meta = metadata(width=9, height=5)
    reused, _ = build_network(meta, {"hidden_sizes": [16]}, rng=np.random.default_rng(1))
    for step in range(4):
        codes, extras = boards(meta, 6, empty_rows=(step % 3,))
        fresh, _ = build_network(meta, {"hidden_sizes": [16]}, rng=np.random.default_rng(1))
        d_q = rng.standard_normal((6, meta.n_actions)).astype(np.float32)
        if step == 2:
            x = expand_observations(codes, extras, meta.board_shape[0], False)
            reused.forward(x)
        else:
            reused.forward_codes(codes, extras)
        fresh.forward_codes(codes, extras)
        got, expected = reused.backward(d_q), fresh.backward(d_q)
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_mlp_over_extras_only_accepts_empty_board_codes():
    net, _ = build_network(metadata(board=False), {"hidden_sizes": [4]})
    extras = rng.standard_normal((3, 2)).astype(np.float32)
    np.testing.assert_allclose(net.forward_codes(np.zeros((3, 0), np.uint8), extras), net.forward(extras),
                               rtol=1e-6)


def test_params_are_writable_views_into_one_flat_buffer():
    net, _ = build_network(metadata(spatial=True, width=5, height=4), {"hidden_sizes": [8]})
    x = np.zeros((1, net.obs_size), np.float32)
    net.params["mlp.2.bias"][...] = [1, 2, 3, 4, 5]
    net.params["mlp.2.weight"][...] = 0.0
    np.testing.assert_array_equal(net.forward(x), [[1, 2, 3, 4, 5]])
    for arrays in (net.params, net.grads):
        assert all(np.shares_memory(a, arrays.flat) for a in arrays.values())
        assert sum(a.size for a in arrays.values()) <= arrays.flat.size
    with pytest.raises(TypeError, match=r"\[\.\.\.\] = value"):
        net.params["mlp.2.bias"] = np.zeros(5, np.float32)


def test_copy_to_makes_an_independent_exact_copy():
    online, _ = build_network(metadata(), {}, rng=np.random.default_rng(1))
    target, _ = build_network(metadata(), {}, rng=np.random.default_rng(2))
    codes, extras = boards(metadata(), 4)
    online.copy_to(target)
    np.testing.assert_array_equal(target.forward_codes(codes, extras), online.forward_codes(codes, extras))
    online.params["net.4.bias"][...] += 1.0                     # the target must not follow
    assert not np.allclose(target.forward_codes(codes, extras), online.forward_codes(codes, extras))


def test_load_params_names_what_does_not_fit():
    net, _ = build_network(metadata(), {})
    other, _ = build_network(metadata(characters="@*"), {"hidden_sizes": [128]})
    with pytest.raises(CheckpointError) as error:
        net.load_params(other.params)
    message = str(error.value)
    assert "net.0.weight is (128, 1026) there but (128, 3074) here" in message
    assert "net.4.weight is missing" in message
    weights = dict(net.params)
    weights["net.9.bias"] = np.zeros(3)
    with pytest.raises(CheckpointError, match="net.9.bias is not a parameter"):
        net.load_params(weights)


@pytest.mark.parametrize("spatial", [False, True])
def test_rationale_explains_input_layers_choice_and_actions(spatial):
    net, text = build_network(metadata(spatial=spatial), {"hidden_sizes": [128, 128]})
    lines = text.splitlines()
    assert all(line.startswith("[INIT] ") for line in lines)
    assert "3074 numbers = board 6 channels x 16 x 32 cells (3072) + 2 extras" in text
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
    assert "5 x 5 window around 'SnakeHead'" in text
    assert "7 channels x 5 x 5" in text
