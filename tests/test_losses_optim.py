"""Huber loss, gradient clipping and Adam, against their textbook definitions."""
import multiprocessing
import os

import numpy as np
import pytest

from gradcheck import numerical_gradient, relative_error
from retro_gamer.errors import CheckpointError
from retro_gamer.losses import huber_loss
from retro_gamer.metadata import GameMetadata
from retro_gamer.network import build_network
from retro_gamer.optim import Adam, clip_grad_norm

rng = np.random.default_rng(7)


def test_huber_is_half_square_inside_one_and_linear_outside():
    q = np.array([0.5, 3.0, -2.0, 1.0], np.float32)
    target = np.zeros(4, np.float32)
    loss, d_q = huber_loss(q, target)
    assert loss == pytest.approx((0.125 + 2.5 + 1.5 + 0.5) / 4)
    np.testing.assert_allclose(d_q, np.array([0.5, 1.0, -1.0, 1.0]) / 4)
    assert d_q.dtype == np.float32


@pytest.mark.parametrize("weighted", [False, True])
def test_huber_gradient_matches_central_differences(weighted):
    # Errors away from the kink at |error| = 1, where the derivative is not smooth.
    q = rng.standard_normal(8) * 2
    target = q + np.array([0.3, -0.7, 2.5, -4.0, 0.05, 1.5, -1.3, 0.9])
    weights = rng.uniform(0.1, 1.0, 8) if weighted else None
    _, d_q = huber_loss(q, target, weights)
    expected = numerical_gradient(lambda: huber_loss(q, target, weights)[0], q)
    assert relative_error(d_q, expected) < 1e-8


def test_huber_weights_scale_each_sample():
    q, target = np.array([0.5, 3.0]), np.zeros(2)
    loss, d_q = huber_loss(q, target, np.array([2.0, 0.0]))
    assert loss == pytest.approx(2 * 0.125 / 2)
    np.testing.assert_allclose(d_q, [2 * 0.5 / 2, 0.0])


def plain_copies(arrays):
    """The same arrays as a plain dict of separate arrays: the optimisers' slow path."""
    return {name: a.copy() for name, a in arrays.items()}


def small_network():
    meta = GameMetadata(actions=["a", "b"], reward="r", character_set=["@", "*"], board_size=(5, 4),
                        spatial=True, extras_size=1)
    net, _ = build_network(meta, {"hidden_sizes": [8]}, rng=np.random.default_rng(0))
    for g in net.grads.values():
        g[...] = rng.standard_normal(g.shape)
    return net


@pytest.mark.parametrize("flat", [True, False])
def test_clipping_scales_to_max_norm_and_keeps_direction(flat):
    net = small_network()
    grads = net.grads if flat else plain_copies(net.grads)
    before = plain_copies(grads)
    norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in before.values()))
    assert clip_grad_norm(grads, max_norm=10.0) == pytest.approx(norm, rel=1e-6)
    factor = 10.0 / (norm + 1e-6)
    for name in grads:
        np.testing.assert_allclose(grads[name], before[name] * factor, rtol=1e-6)
    assert np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads.values())) == pytest.approx(10.0)


def test_clipping_leaves_small_gradients_alone():
    grads = {"w": np.array([3.0, 4.0], np.float32)}
    assert clip_grad_norm(grads, max_norm=10.0) == pytest.approx(5.0)
    np.testing.assert_array_equal(grads["w"], [3.0, 4.0])


def textbook_adam(w, gradients, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam as printed in Kingma & Ba (2015) and the torch.optim.Adam documentation, float64."""
    w, m, v = w.astype(np.float64), 0.0, 0.0
    for t, g in enumerate(gradients, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        w = w - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return w


def test_adam_matches_the_textbook_over_several_steps():
    w = rng.standard_normal(50).astype(np.float32)
    gradients = [rng.standard_normal(50).astype(np.float32) * scale for scale in (1.0, 0.1, 3.0, 1e-3)]
    params = {"w": w.copy()}
    adam = Adam(params, lr=0.01)
    for g in gradients:
        adam.step({"w": g})
    np.testing.assert_allclose(params["w"], textbook_adam(w, gradients, 0.01), rtol=1e-6, atol=1e-7)


def test_adam_matches_the_textbook_over_many_steps_some_without_gradient():
    # 150 steps: the decay scales are folded back into the stored moments twice, and
    # each weight goes without a gradient for stretches, as a first-layer row does.
    w = rng.standard_normal(40).astype(np.float32)
    gradients = [rng.standard_normal(40).astype(np.float32) * (rng.random(40) < 0.3) for _ in range(150)]
    params = {"w": w.copy()}
    adam = Adam(params, lr=0.01)
    for g in gradients:
        adam.step({"w": g})
    np.testing.assert_allclose(params["w"], textbook_adam(w, gradients, 0.01), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("block", [1 << 18, 1000])
def test_flat_adam_matches_adam_array_by_array(block, monkeypatch):
    from retro_gamer import optim
    monkeypatch.setattr(optim, "_BLOCK", block)            # 1000: many blocks per half
    net = small_network()
    plain_params = plain_copies(net.params)
    flat_adam, plain_adam = Adam(net.params, lr=0.01), Adam(plain_params, lr=0.01)
    assert flat_adam._flat_params is not None and plain_adam._flat_params is None
    for _ in range(3):
        for g in net.grads.values():
            g[...] = rng.standard_normal(g.shape)
        flat_adam.step(net.grads)
        plain_adam.step(plain_copies(net.grads))
    for name in plain_params:
        np.testing.assert_allclose(net.params[name], plain_params[name], rtol=1e-6, atol=1e-8, err_msg=name)
        np.testing.assert_allclose(flat_adam.v[name], plain_adam.v[name], rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("max_norm", [100.0, 0.05])        # 0.05: every step is clipped
def test_a_onehot_batch_lets_clipping_and_adam_skip_the_zero_rows(max_norm):
    # The fast path (network.NonzeroRows: most first-layer rows have a zero gradient)
    # against the plain one, array by array, over steps that touch different rows.
    from retro_gamer.network import MLPQNetwork
    net = MLPQNetwork(4 * 5 * 3 + 2, (3, 4, 5), [8, 6], 3, rng=np.random.default_rng(1))
    plain_params = plain_copies(net.params)
    fast_adam, plain_adam = Adam(net.params, lr=0.01), Adam(plain_params, lr=0.01)
    for _ in range(4):
        codes = np.zeros((6, 20), np.uint8)
        for board in codes:
            board[rng.choice(20, 3, replace=False)] = rng.integers(1, 4, 3)
        q = net.forward_codes(codes, rng.standard_normal((6, 2)).astype(np.float32))
        grads = net.backward(rng.standard_normal(q.shape).astype(np.float32))
        assert grads.nonzero_rows is not None and len(grads.nonzero_rows.rows) < 3 * 20
        plain_grads = plain_copies(grads)
        assert clip_grad_norm(grads, max_norm) == pytest.approx(clip_grad_norm(plain_grads, max_norm), rel=1e-6)
        before = net.params["net.0.weight"].copy()
        fast_adam.step(grads)
        plain_adam.step(plain_grads)
    for name in plain_params:
        np.testing.assert_allclose(net.params[name], plain_params[name], rtol=1e-6, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(fast_adam.m[name], plain_adam.m[name], rtol=1e-6, atol=1e-9, err_msg=name)
        np.testing.assert_allclose(fast_adam.v[name], plain_adam.v[name], rtol=1e-5, atol=1e-12, err_msg=name)
    # Inputs without a gradient in the last step still moved: Adam's momentum carries them.
    skipped = np.setdiff1d(np.arange(60), grads.nonzero_rows.rows)
    assert np.any(net.params["net.0.weight"][:, skipped] != before[:, skipped])


@pytest.mark.parametrize("betas", [(0.0, 0.999), (0.9, 1.0), (1.2, 0.999)])
def test_adam_refuses_betas_its_scales_cannot_follow(betas):
    with pytest.raises(ValueError, match="0 < beta1 < 1"):
        Adam({"w": np.zeros(3, np.float32)}, lr=0.1, beta1=betas[0], beta2=betas[1])


def test_learning_rate_decay_shrinks_the_step():
    params = {"w": np.zeros(3, np.float32)}
    adam = Adam(params, lr=0.1)
    adam.decay_learning_rate(0.5)
    adam.step({"w": np.ones(3, np.float32)})
    np.testing.assert_allclose(params["w"], -0.05, rtol=1e-5)     # the first step's size is lr


@pytest.mark.parametrize("steps_before", [1, 70])      # 70: after the decay scales were folded once
def test_adam_state_round_trip_continues_exactly(steps_before):
    net = small_network()
    adam = Adam(net.params, lr=0.01)
    for _ in range(steps_before):
        adam.step(net.grads)
    saved_state, saved_params = adam.state_dict(), plain_copies(net.params)
    for _ in range(80):                                 # through another fold
        adam.step(net.grads)
    expected = plain_copies(net.params)

    net.load_params(saved_params)
    resumed = Adam(net.params, lr=1.0)
    resumed.load_state_dict(saved_state)
    for _ in range(80):
        resumed.step(net.grads)
    for name in expected:
        np.testing.assert_array_equal(net.params[name], expected[name])


def test_adam_state_of_another_network_is_refused():
    adam = Adam({"w": np.zeros(3, np.float32)}, lr=0.1)
    state = Adam({"w": np.zeros(4, np.float32)}, lr=0.1).state_dict()
    with pytest.raises(CheckpointError, match="w"):
        adam.load_state_dict(state)


def _step_in_child(adam, grads, results):
    adam.step(grads)
    results.put("stepped")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_adam_still_works_in_a_forked_process():
    # Adam's helper thread does not survive fork(); the child must start its own, not wait forever.
    net = small_network()
    adam = Adam(net.params, lr=0.01)
    adam.step(net.grads)                                 # the parent's helper thread is running
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_step_in_child, args=(adam, net.grads, results))
    child.start()
    child.join(timeout=30)
    if child.is_alive():
        child.kill()
    assert results.get(timeout=1) == "stepped"


def test_a_ctrl_c_during_adam_waits_for_the_second_half_before_it_stops():
    # Otherwise a checkpoint saved right after the Ctrl-C could catch weights mid-update.
    import threading
    import time

    from retro_gamer import optim

    values = np.zeros(8, np.float32)

    def interrupted():
        raise KeyboardInterrupt

    def second_half():
        time.sleep(0.05)
        values[4:] += 1.0

    with pytest.raises(KeyboardInterrupt):
        optim._on_two_cores(interrupted, second_half)
    assert np.all(values[len(values) // 2:] == 1.0)
    # The second core is free again for the next step.
    optim._on_two_cores(lambda: None, lambda: values[4:].__iadd__(1.0))
    assert np.all(values[len(values) // 2:] == 2.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blas_axpy_matches_numpy(dtype):
    # The one-pass BLAS sum Adam uses, against NumPy's own, on vectors and on the 2-D
    # and strided arrays that take the NumPy path.
    from retro_gamer.blas import _AXPY, axpy
    if not _AXPY:
        pytest.skip("this NumPy has no OpenBLAS: axpy is NumPy's own sum only")

    def random(*shape):
        return rng.standard_normal(shape).astype(dtype)

    for x, y in [(random(1000), random(1000)), (random(30, 20).T, random(30, 20).T),
                 (random(40)[::2], random(40)[::2]), (random(0), random(0))]:
        expected = y + dtype(-0.37) * x
        axpy(-0.37, x, y)
        np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
