"""dqn/loss.py and dqn/optim.py: Huber loss, gradient clipping and Adam against their textbook
definitions. (Their fast twins are compared with these in test_engines.py.)"""
import numpy as np
import pytest

from gradcheck import numerical_gradient, relative_error
from retro_gamer.dqn.loss import huber_loss
from retro_gamer.dqn.optim import Adam, clip_grad_norm

rng = np.random.default_rng(7)


# ---------------------------------------------------------------- Huber loss

def test_huber_is_half_square_inside_one_and_linear_outside():
    q = np.array([0.5, 3.0, -2.0, 1.0], np.float32)
    target = np.zeros(4, np.float32)
    loss, d_q = huber_loss(q, target)
    assert loss == pytest.approx((0.125 + 2.5 + 1.5 + 0.5) / 4)
    np.testing.assert_allclose(d_q, np.array([0.5, 1.0, -1.0, 1.0]) / 4)
    assert d_q.dtype == np.float32 and isinstance(loss, float)


def test_huber_error_is_q_minus_target():
    loss, d_q = huber_loss(np.array([1.0, 0.0]), np.array([1.5, -3.0]))
    assert loss == pytest.approx((0.125 + 2.5) / 2)
    np.testing.assert_allclose(d_q, [-0.25, 0.5])                 # q below its target: raise q


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


# ---------------------------------------------------------------- gradient clipping

def random_grads():
    return {"a.weight": rng.standard_normal((6, 4)).astype(np.float32) * 3,
            "a.bias": rng.standard_normal(6).astype(np.float32),
            "b.weight": rng.standard_normal((2, 6)).astype(np.float32)}


def global_norm(grads):
    return np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads.values()))


def test_clipping_scales_to_max_norm_and_keeps_direction():
    grads = random_grads()
    before = {name: g.copy() for name, g in grads.items()}
    norm = global_norm(before)
    assert norm > 2.0
    assert clip_grad_norm(grads, max_norm=2.0) == pytest.approx(norm, rel=1e-6)   # the norm before clipping
    factor = 2.0 / (norm + 1e-6)                                  # torch.nn.utils.clip_grad_norm_'s rule
    for name in grads:
        np.testing.assert_allclose(grads[name], before[name] * factor, rtol=1e-6)
        assert grads[name].dtype == np.float32
    assert global_norm(grads) == pytest.approx(2.0, rel=1e-6)


def test_clipping_leaves_small_gradients_alone():
    grads = {"w": np.array([3.0, 4.0], np.float32), "b": np.zeros(2, np.float32)}
    assert clip_grad_norm(grads, max_norm=10.0) == pytest.approx(5.0)
    np.testing.assert_array_equal(grads["w"], [3.0, 4.0])
    assert clip_grad_norm(grads, max_norm=5.0) == pytest.approx(5.0)     # factor 5 / (5 + 1e-6) < 1
    np.testing.assert_allclose(grads["w"], [3.0, 4.0], rtol=1e-6)
    assert clip_grad_norm(grads, max_norm=4.0) == pytest.approx(5.0)     # a little above: clipped
    np.testing.assert_allclose(grads["w"], [2.4, 3.2], rtol=1e-6)


# ---------------------------------------------------------------- Adam

def textbook_adam(w, gradients, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam as printed in Kingma & Ba (2015) and the torch.optim.Adam documentation, float64."""
    w, m, v = w.astype(np.float64), 0.0, 0.0
    for t, g in enumerate(gradients, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        w = w - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return w, m, v


def test_adam_matches_the_textbook_over_several_steps():
    w = rng.standard_normal(50).astype(np.float32)
    # Gradients of very different sizes, and some weights without a gradient at times.
    gradients = [rng.standard_normal(50).astype(np.float32) * scale * (rng.random(50) < 0.7)
                 for scale in (1.0, 0.1, 3.0, 1e-3, 1.0, 0.5)]
    params = {"w": w.copy()}
    adam = Adam(params, lr=0.01)
    for g in gradients:
        adam.step({"w": g})
    expected_w, expected_m, expected_v = textbook_adam(w, gradients, 0.01)
    np.testing.assert_allclose(params["w"], expected_w, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(adam.m["w"], expected_m, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(adam.v["w"], expected_v, rtol=1e-5, atol=1e-12)
    assert adam.steps == 6 and params["w"].dtype == np.float32


def test_adam_first_step_moves_every_weight_by_lr_against_its_gradient():
    params = {"w": np.zeros(3, np.float32)}
    Adam(params, lr=0.1).step({"w": np.array([2.0, -0.01, 5.0], np.float32)})
    np.testing.assert_allclose(params["w"], [-0.1, 0.1, -0.1], rtol=1e-5)


def test_a_smaller_learning_rate_shrinks_the_step():
    params = {"w": np.zeros(3, np.float32)}
    adam = Adam(params, lr=0.1)
    adam.lr *= 0.5                                      # what learning_rate_decay does after an episode
    adam.step({"w": np.ones(3, np.float32)})
    np.testing.assert_allclose(params["w"], -0.05, rtol=1e-5)     # the first step's size is lr


def test_adam_state_round_trip_continues_exactly():
    params = {"w": rng.standard_normal((4, 3)).astype(np.float32),
              "b": rng.standard_normal(4).astype(np.float32)}
    gradients = [{n: rng.standard_normal(p.shape).astype(np.float32) for n, p in params.items()}
                 for _ in range(20)]
    adam = Adam(params, lr=0.01)
    for g in gradients[:5]:
        adam.step(g)
    state, saved_params = adam.state_dict(), {n: p.copy() for n, p in params.items()}
    assert state["steps"] == 5 and state["lr"] == 0.01 and set(state) == {"steps", "lr", "m", "v"}
    adam.m["w"][...] += 1.0                             # state_dict() returned copies
    assert not np.array_equal(state["m"]["w"], adam.m["w"])
    adam.load_state_dict(state)                          # (undo the change)
    for g in gradients[5:]:
        adam.step(g)

    resumed = Adam(saved_params, lr=1.0)
    resumed.load_state_dict(state)
    assert resumed.lr == 0.01 and resumed.steps == 5
    for g in gradients[5:]:
        resumed.step(g)
    for name in params:
        np.testing.assert_array_equal(saved_params[name], params[name])


def test_adam_state_of_another_network_is_refused():
    adam = Adam({"w": np.zeros(3, np.float32)}, lr=0.1)
    with pytest.raises(ValueError, match="another shape"):
        adam.load_state_dict(Adam({"w": np.zeros(4, np.float32)}, lr=0.1).state_dict())
    with pytest.raises(ValueError, match="another shape"):
        adam.load_state_dict(Adam({"v": np.zeros(3, np.float32)}, lr=0.1).state_dict())
    assert adam.steps == 0 and not adam.m["w"].any()
