"""The two engines compute the same numbers (DESIGN.md: "Proof, not promise").

retro_gamer.fast is retro_gamer.dqn made faster: one-hot boards as row lookups in the MLP,
convolutions near the occupied cells in the CNN (fast/sparse_conv.py), parameters in one flat
vector that clipping and Adam treat as a whole. Here both engines get the same weights and
the same batches, and their Q-values, every gradient, and the weights and Adam moments after
clipped Adam steps are compared in float32 to a relative error of 1e-5 (gradcheck.relative_error:
the largest difference over the largest value). The boards cover what the fast paths branch
on: empty, a few occupied cells, every cell occupied (the CNN's dense fallback), batches of
one (the MLP's one-board path) and of 64, an egocentric window (an off-board channel), extras
only (board = false). Last, one DQNAgent driven by either engine learns the same weights.
"""
from functools import partial
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
import pytest

import retro_gamer.dqn as plain
import retro_gamer.fast as fast
from gradcheck import assert_network_gradients, relative_error
from retro_gamer.dqn.agent import DQNAgent
from retro_gamer.dqn.loss import huber_loss
from retro_gamer.dqn.network import one_hot
from retro_gamer.fast import optim as fast_optim
from retro_gamer.fast import sparse_conv
from retro_gamer.fast.network import FlatArrays
from retro_gamer.game.description import GameMetadata
from retro_gamer.settings import defaults

TOLERANCE = 1e-5
ACTIONS = ["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"]
HIDDEN = {"hidden_sizes": [16, 8]}


# ---------------------------------------------------------------- games, boards and batches

def game(spatial=False, board=True, width=9, height=6, extras=2, radius=None) -> GameMetadata:
    """A snake-like game with characters @ * > and `extras` observe_state values; radius: an
    egocentric window of (2 radius + 1) cells a side, with the off-board channel last."""
    window = dict(egocentric=True, egocentric_player="Snake head", egocentric_radius=radius) if radius else {}
    return GameMetadata(actions=ACTIONS, reward="reward", character_set=["@", "*", ">"],
                        board_size=(width, height), spatial=spatial, board=board,
                        observe_state=["apple_dx", "apple_dy"][:extras], extras_size=extras, **window)


def egocentric_windows(meta: GameMetadata, batch: int, rng, world=(12, 8)) -> np.ndarray:
    """Windows around a player (code 1) standing anywhere on a 12 x 8 board with 3 other
    characters: cells beyond the board's edge show the off-board channel, the last one."""
    channels, side, _ = meta.board_shape
    radius, (world_width, world_height) = side // 2, world
    codes = np.empty((batch, side, side), np.uint8)
    for k, window in enumerate(codes):
        scene = np.zeros((world_height, world_width), np.uint8)
        scene.flat[rng.choice(scene.size, 3, replace=False)] = rng.integers(2, channels, 3)
        # The first player stands in a corner, so that every batch shows the board's edge.
        px, py = (0, 0) if k == 0 else (rng.integers(world_width), rng.integers(world_height))
        scene[py, px] = 1
        for dy, dx in np.ndindex(side, side):
            y, x = py + dy - radius, px + dx - radius
            window[dy, dx] = scene[y, x] if 0 <= y < world_height and 0 <= x < world_width else channels
    assert (codes[:, radius, radius] == 1).all() and (codes == channels).any()
    return codes.reshape(batch, -1)


def boards(meta: GameMetadata, kind: str, batch: int, rng):
    """(codes (B, cells) uint8, extras (B, E) float32) of one kind:

    empty; sparse: 3 occupied cells a board, board 0 empty, board 2 with its four corners,
    cell 0 occupied in every other board (an input the batch shares); full: every cell;
    egocentric: windows around a player; none: board = false, codes (B, 0)."""
    extras = rng.uniform(-1, 1, (batch, meta.extras_size)).astype(np.float32)
    if kind == "none":
        return np.zeros((batch, 0), np.uint8), extras
    if kind == "egocentric":
        return egocentric_windows(meta, batch, rng), extras
    channels, height, width = meta.board_shape
    codes = np.zeros((batch, height * width), np.uint8)
    if kind == "full":
        codes[:] = rng.integers(1, channels + 1, codes.shape)
    elif kind == "sparse":
        for board in codes[1:] if batch > 1 else codes:
            board[rng.choice(height * width, 3, replace=False)] = rng.integers(1, channels + 1, 3)
        if batch > 2:
            codes[2, [0, width - 1, (height - 1) * width, height * width - 1]] = channels
            codes[1::2, 0] = 1
    return codes, extras


def dense(meta: GameMetadata, codes, extras) -> np.ndarray:
    """The flat observations forward() reads."""
    channels = meta.board_shape[0] if meta.board_shape else 0
    return one_hot(codes, extras, channels, meta.spatial)


class Case(NamedTuple):
    meta: GameMetadata
    kind: str                   # of boards()
    cnn_path: str | None        # "sparse" or "dense": the convolutions the CNN must take; None: either
    forced: bool = False        # MAX_ACTIVE_SHARE = 1: the sparse convolutions even where they would not pay


# The CNNs' boards are small. A convolution's bias gradient is a sum over every cell of every
# board, and in float32 a sum of 64 x 80 cells already strays by up to 1e-5 from the exact one
# (in either engine, with different rounding); 64 x 30 stays under it. On boards this small a
# few occupied cells are too many for the sparse convolutions to pay, so they are forced; that
# a short snake on snake's board takes them by itself is in test_sparse_conv.py.
SMALL = dict(spatial=True, width=6, height=5)
CASES = {
    "mlp-empty": Case(game(), "empty", None),
    "mlp-sparse": Case(game(), "sparse", None),
    "mlp-full": Case(game(), "full", None),
    "mlp-egocentric": Case(game(radius=2), "egocentric", None),
    "mlp-egocentric-wide": Case(game(radius=6), "egocentric", None),     # wider and taller than the board
    "mlp-no-board": Case(game(board=False), "none", None),
    "mlp-no-extras": Case(game(extras=0), "sparse", None),
    "cnn-empty": Case(game(**SMALL), "empty", "sparse"),
    "cnn-sparse": Case(game(**SMALL), "sparse", "sparse", forced=True),
    "cnn-full": Case(game(**SMALL), "full", "dense"),
    "cnn-full-forced-sparse": Case(game(**SMALL), "full", "sparse", forced=True),
    "cnn-egocentric": Case(game(spatial=True, radius=2), "egocentric", None),
    "cnn-egocentric-forced-sparse": Case(game(spatial=True, radius=2), "egocentric", "sparse", forced=True),
    "cnn-no-extras": Case(game(**SMALL, extras=0), "sparse", "sparse", forced=True),
}

def cases():
    """The names of CASES, as test parameters."""
    return [pytest.param(name, id=name) for name in CASES]


def twins(meta: GameMetadata, seed: int = 1, dtype=np.float32):
    """A plain and a fast network with the same initial weights (the same rng seed)."""
    plain_net, _ = plain.build_network(meta, HIDDEN, rng=np.random.default_rng(seed), dtype=dtype)
    fast_net, _ = fast.build_network(meta, HIDDEN, rng=np.random.default_rng(seed), dtype=dtype)
    return plain_net, fast_net


GRID = 2.0 ** -8


def convolutions_on_grid(*nets) -> None:
    """Round the convolutions' weights to multiples of 1/256, alike in every network.

    Then, on one-hot boards, every convolution output is a sum of multiples of 2^-16 small
    enough to be exact in float32, whatever order an engine adds in. Otherwise a unit whose
    input is within rounding of zero (about one in ten million: once in a few dozen batches of
    64 boards with 96 channels a cell) is switched on in one engine and off in the other, and
    the gradients differ by that unit's whole share: rounding, not a difference of the engines.
    """
    for net in nets:
        for name, p in net.params.items():
            if name.startswith("conv."):
                p[...] = np.round(p / GRID) * GRID


@pytest.fixture
def setup(request, monkeypatch):
    """(case, plain network, fast network, rng) for the case named by the test's `name`."""
    case = CASES[request.node.callspec.params["name"]]
    if case.forced:
        monkeypatch.setattr(sparse_conv, "MAX_ACTIVE_SHARE", 1.0)
    plain_net, fast_net = twins(case.meta)
    convolutions_on_grid(plain_net, fast_net)
    return case, plain_net, fast_net, np.random.default_rng(0)


def check_cnn_path(case: Case, fast_net, codes) -> None:
    """The boards take the convolutions the case is about (sparse ones, or the dense fallback)."""
    if case.meta.spatial and case.cnn_path is not None:
        p = fast_net.params
        cache = sparse_conv.sparse_conv_forward(codes, case.meta.board_shape, p["conv.0.weight"],
                                                p["conv.0.bias"], p["conv.2.weight"], p["conv.2.bias"])
        assert (cache is not None) == (case.cnn_path == "sparse")


def assert_same(plain_arrays: dict, fast_arrays: dict, tolerance: float = TOLERANCE) -> None:
    assert list(fast_arrays) == list(plain_arrays)
    for name, expected in plain_arrays.items():
        assert fast_arrays[name].shape == expected.shape, name
        assert relative_error(fast_arrays[name], expected) <= tolerance, name


# ---------------------------------------------------------------- the networks

@pytest.mark.parametrize("spatial", [False, True])
def test_same_rng_same_initial_weights_in_both_engines(spatial):
    plain_net, fast_net = twins(game(spatial=spatial))
    assert list(fast_net.params) == list(plain_net.params)
    for name, p in plain_net.params.items():
        assert fast_net.params[name].dtype == np.float32, name
        np.testing.assert_array_equal(fast_net.params[name], p, err_msg=name)
    assert fast_net.n_params == plain_net.n_params == fast_net.params.flat.size


@pytest.mark.parametrize("spatial", [False, True])
def test_fast_params_are_views_into_one_flat_vector(spatial):
    # What lets fast Adam and clipping treat the network as one array: writing a parameter
    # writes the flat vector. Linear weights show PyTorch's (out, in) over (in, out) storage.
    _, fast_net = twins(game(spatial=spatial))
    for arrays in (fast_net.params, fast_net.grads):
        assert isinstance(arrays, FlatArrays) and sum(a.size for a in arrays.values()) == arrays.flat.size
        assert all(np.shares_memory(a, arrays.flat) for a in arrays.values())
    names = list(fast_net.params)
    first = "mlp.0.weight" if spatial else "net.0.weight"
    weight = fast_net.params[first]
    assert weight.T.flags.c_contiguous                      # stored (in, out): an input's weights are one row
    before = fast_net.params.flat.copy()
    weight[3, 5] = 7.0                                      # output 3, input 5
    offset = sum(fast_net.params[name].size for name in names[:names.index(first)])
    np.testing.assert_array_equal(np.flatnonzero(fast_net.params.flat != before), [offset + 5 * 16 + 3])


@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("name", cases())
def test_q_values_of_forward_match(name, batch, setup):
    case, plain_net, fast_net, rng = setup
    codes, extras = boards(case.meta, case.kind, batch, rng)
    x = dense(case.meta, codes, extras)
    q = fast_net.forward(x)
    assert q.shape == (batch, case.meta.n_actions) and q.dtype == np.float32
    assert relative_error(q, plain_net.forward(x)) <= TOLERANCE


@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("name", cases())
def test_q_values_of_forward_codes_match(name, batch, setup):
    case, plain_net, fast_net, rng = setup
    codes, extras = boards(case.meta, case.kind, batch, rng)
    check_cnn_path(case, fast_net, codes)
    q = fast_net.forward_codes(codes, extras)
    assert q.shape == (batch, case.meta.n_actions) and q.dtype == np.float32
    assert relative_error(q, plain_net.forward_codes(codes, extras)) <= TOLERANCE


@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("name", cases())
def test_every_gradient_after_forward_codes_matches(name, batch, setup):
    case, plain_net, fast_net, rng = setup
    codes, extras = boards(case.meta, case.kind, batch, rng)
    check_cnn_path(case, fast_net, codes)
    d_q = (rng.standard_normal((batch, case.meta.n_actions)) / batch).astype(np.float32)
    plain_net.forward_codes(codes, extras)
    fast_net.forward_codes(codes, extras)
    assert_same(plain_net.backward(d_q), fast_net.backward(d_q))


@pytest.mark.parametrize("name", ["mlp-sparse", "mlp-no-board", "cnn-sparse", "cnn-full"])
def test_every_gradient_after_forward_matches(name, setup):
    case, plain_net, fast_net, rng = setup
    codes, extras = boards(case.meta, case.kind, 16, rng)
    d_q = rng.standard_normal((16, case.meta.n_actions)).astype(np.float32)
    x = dense(case.meta, codes, extras)
    plain_net.forward(x)
    fast_net.forward(x)
    assert_same(plain_net.backward(d_q), fast_net.backward(d_q))


@pytest.mark.parametrize("kind, radius", [("sparse", None), ("egocentric", 2)])
def test_first_layer_gradient_rows_named_in_sparse_rows_are_the_only_nonzero_ones(kind, radius):
    # FastMLP.backward's promise to clipping and Adam: grads.flat[:stop], seen as rows of
    # `width`, is zero except in `rows`, the inputs that held a one somewhere in the batch
    # (a window's off-board cells included, though they are one dense product, not gathered rows).
    meta = game(radius=radius)
    _, net = twins(meta)
    rng = np.random.default_rng(4)
    for batch in (6, 1, 6):
        codes, extras = boards(meta, kind, batch, rng)
        net.forward_codes(codes, extras)
        grads = net.backward(rng.standard_normal((batch, meta.n_actions)).astype(np.float32))
        stop, width, rows = grads.sparse_rows
        channels = meta.board_shape[0]
        assert (stop, width) == (codes.shape[1] * channels * 16, 16)
        held_a_one = np.unique([cell * channels + code - 1
                                for board in codes for cell, code in enumerate(board) if code])
        np.testing.assert_array_equal(rows, held_a_one)
        first_layer = grads.flat[:stop].reshape(-1, width)
        assert not np.delete(first_layer, rows, axis=0).any()
        assert np.abs(first_layer[rows]).sum(axis=1).min() > 0
    net.forward(dense(meta, codes, extras))
    assert net.backward(np.ones((batch, meta.n_actions), np.float32)).sparse_rows is None


def test_a_batch_of_windows_gathers_no_off_board_row():
    """The comparisons above pass either way; here the fast MLP is seen to take the dense
    path for a window's off-board channel: the rows it gathers are the other ones only."""
    meta = game(radius=2)
    codes, extras = boards(meta, "egocentric", 64, np.random.default_rng(5))
    _, net = twins(meta)
    net.forward_codes(codes, extras)
    cols, walls = net._first[2], net._first[4]
    off_board = codes == meta.board_shape[0]
    assert off_board.sum() > 0 and np.array_equal(walls, off_board)
    assert len(cols) == ((codes > 0) & ~off_board).sum()


def test_a_reused_fast_mlp_clears_what_the_previous_batch_wrote():
    # Each backward clears only the rows the previous one wrote: after any sequence of batches
    # (one-hot, dense, a single board), the gradients must equal a fresh plain network's.
    meta = game()
    plain_net, reused = twins(meta)
    rng = np.random.default_rng(5)
    for step, (kind, batch) in enumerate([("sparse", 8), ("sparse", 8), ("full", 4), ("sparse", 1),
                                          ("empty", 3), ("sparse", 8)]):
        codes, extras = boards(meta, kind, batch, rng)
        d_q = rng.standard_normal((batch, meta.n_actions)).astype(np.float32)
        if step == 2:
            reused.forward(dense(meta, codes, extras))
        else:
            reused.forward_codes(codes, extras)
        plain_net.forward_codes(codes, extras)
        assert_same(plain_net.backward(d_q), reused.backward(d_q))


# ---------------------------------------------------------------- clipping and Adam

def huber_batches(meta: GameMetadata, kind: str, batch: int, steps: int, rng):
    """steps batches of (codes, extras, actions, TD targets), targets large enough that the
    Huber loss is linear for some samples and quadratic for others."""
    out = []
    for _ in range(steps):
        codes, extras = boards(meta, kind, batch, rng)
        out.append((codes, extras, rng.integers(0, meta.n_actions, batch),
                    (rng.standard_normal(batch) * 2).astype(np.float32)))
    return out


def gradients_of_a_huber_step(net, batch) -> dict:
    """dqn/agent.py's learning step up to backward: the Huber loss of the actions taken."""
    codes, extras, actions, td_target = batch
    q_values = net.forward_codes(codes, extras)
    rows = np.arange(len(actions))
    _, d_taken = huber_loss(q_values[rows, actions], td_target)
    d_q = np.zeros_like(q_values)
    d_q[rows, actions] = d_taken
    return net.backward(d_q)


# Steps 2, 4 and 5 are clipped, to half the gradient's norm; 1 and 3 are not.
CLIPPED = [False, True, False, True, True]


@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("name", cases())
def test_weights_and_moments_after_clipped_adam_steps_match(name, batch, setup):
    # Each engine computes its gradients on the same batches and clips them with its own
    # clip_grad_norm; they must agree. Then both Adams step with the same gradient values.
    # Why not each with its own: Adam divides every gradient by the root of its running square,
    # so a gradient near its eps (1e-8) moves its weight by an amount that depends on the
    # gradient's last digits, where float32 rounding differs. In the CNN, gradients of 1e-8 are
    # common (a head weight times a feature that is nearly zero), and rounding noise of 1e-10
    # in them, a ten-millionth of the largest gradient, moves weights apart by up to 1e-3 in
    # five steps. The same numbers in, the two Adams must agree to rounding.
    case, plain_net, fast_net, rng = setup
    batches = huber_batches(case.meta, case.kind, batch, len(CLIPPED), rng)
    plain_adam, fast_adam = plain.Adam(plain_net.params, lr=1e-3), fast.Adam(fast_net.params, lr=1e-3)
    for step, (clipped, batch_of_step) in enumerate(zip(CLIPPED, batches)):
        convolutions_on_grid(plain_net, fast_net)        # Adam moved them off it (see that function)
        plain_grads = gradients_of_a_huber_step(plain_net, batch_of_step)
        fast_grads = gradients_of_a_huber_step(fast_net, batch_of_step)
        assert_same(plain_grads, fast_grads)
        max_norm = plain.clip_grad_norm(plain_grads, np.inf) / 2 if clipped else 1e6
        plain_norm = plain.clip_grad_norm(plain_grads, max_norm)
        fast_norm = fast.clip_grad_norm(fast_grads, max_norm)
        assert fast_norm == pytest.approx(plain_norm, rel=TOLERANCE), step
        assert_same(plain_grads, fast_grads)
        if fast_grads.sparse_rows is not None:           # what fast Adam skips is zero in plain's too
            stop, width, rows = fast_grads.sparse_rows
            assert not np.delete(plain_grads["net.0.weight"].T[:stop // width], rows, axis=0).any()
        for name_, g in plain_grads.items():
            fast_grads[name_][...] = g
        plain_adam.step(plain_grads)
        fast_adam.step(fast_grads)
        assert_same(plain_net.params, fast_net.params)
    plain_state, fast_state = plain_adam.state_dict(), fast_adam.state_dict()
    assert (fast_state["steps"], fast_state["lr"]) == (plain_state["steps"], plain_state["lr"]) == (5, 1e-3)
    assert_same(plain_state["m"], fast_state["m"])
    assert_same(plain_state["v"], fast_state["v"])


def fast_gradient_sequence(meta: GameMetadata, steps: int, rng, kind="sparse", batch=8) -> list:
    """Gradients as a fast network's backward writes them, copied (with their sparse_rows):
    the first layer's rows without a gradient change from step to step."""
    _, net = twins(meta, seed=7)
    sequence = []
    for _ in range(steps):
        codes, extras = boards(meta, kind, batch, rng)
        q = net.forward_codes(codes, extras)
        grads = net.backward(rng.standard_normal(q.shape).astype(np.float32))
        copy = FlatArrays({name: g.shape for name, g in grads.items()}, np.float32)
        copy.flat[...] = grads.flat
        copy.sparse_rows = grads.sparse_rows
        sequence.append(copy)
    return sequence


def plain_copy(grads: FlatArrays) -> dict:
    return {name: g.copy() for name, g in grads.items()}


@pytest.fixture(params=["one block", "blocks of 1000"])
def blocks(request, monkeypatch):
    """Fast Adam and clipping work through the flat vector a block at a time; with blocks of
    1000 values, these small networks are cut into many, and the MLP's rows too."""
    if request.param == "blocks of 1000":
        monkeypatch.setattr(fast_optim, "BLOCK", 1000)


@pytest.mark.parametrize("spatial", [False, True])
def test_fast_clipping_matches_plain_and_skips_only_zero_rows(spatial, blocks):
    meta = game(spatial=spatial)
    for grads in fast_gradient_sequence(meta, 3, np.random.default_rng(1)):
        assert (grads.sparse_rows is None) == spatial
        expected = plain_copy(grads)
        for max_norm in (1e6, 1e-2):                     # left alone, then clipped
            plain_norm = plain.clip_grad_norm(expected, max_norm)
            fast_norm = fast.clip_grad_norm(grads, max_norm)
            assert fast_norm == pytest.approx(plain_norm, rel=1e-6)
            assert_same(expected, grads, tolerance=1e-6)
        assert plain_norm > 1e-2


@pytest.mark.parametrize("spatial", [False, True])
def test_fast_adam_matches_plain_over_150_steps_with_a_decaying_learning_rate(spatial, blocks):
    # 150 steps: the fast Adam folds its decay scales into the moments twice (about every 66
    # steps), and first-layer rows go without a gradient for stretches, moving by momentum alone.
    meta = game(**SMALL) if spatial else game()
    plain_net, fast_net = twins(meta, seed=2)
    plain_adam, fast_adam = plain.Adam(plain_net.params, lr=1e-2), fast.Adam(fast_net.params, lr=1e-2)
    first_layer = fast_net.params["mlp.0.weight" if spatial else "net.0.weight"]
    had_a_gradient = set()
    for step, grads in enumerate(fast_gradient_sequence(meta, 150, np.random.default_rng(2))):
        plain_adam.step(plain_copy(grads))
        before = first_layer.copy()
        fast_adam.step(grads)
        if step % 10 == 9:                               # learning_rate_decay, as after an episode
            plain_adam.lr *= 0.9
            fast_adam.lr *= 0.9
        if not spatial and step < 149:
            had_a_gradient.update(grads.sparse_rows[2].tolist())
    if not spatial:                 # inputs without a gradient in the last step moved by their momentum
        idle = np.setdiff1d(sorted(had_a_gradient), grads.sparse_rows[2])
        assert len(idle) > 10 and np.mean(first_layer[:, idle] != before[:, idle]) > 0.5
    assert_same(plain_net.params, fast_net.params)
    plain_state, fast_state = plain_adam.state_dict(), fast_adam.state_dict()
    assert fast_state["lr"] == pytest.approx(plain_state["lr"]) and fast_state["steps"] == 150
    assert_same(plain_state["m"], fast_state["m"])
    assert_same(plain_state["v"], fast_state["v"])


def test_fast_adam_stays_with_plain_over_a_thousand_steps():
    # Without folding its scales back into the moments, the stored m / beta1**t would pass
    # float32's largest number after about 840 steps.
    meta = game(board=False)
    plain_net, fast_net = twins(meta, seed=3)
    plain_adam, fast_adam = plain.Adam(plain_net.params, lr=1e-3), fast.Adam(fast_net.params, lr=1e-3)
    rng = np.random.default_rng(4)
    grads = FlatArrays({name: p.shape for name, p in fast_net.params.items()}, np.float32)
    for _ in range(1000):
        grads.flat[...] = rng.standard_normal(grads.flat.size)
        plain_adam.step(plain_copy(grads))
        fast_adam.step(grads)
    assert np.isfinite(fast_net.params.flat).all()
    assert_same(plain_net.params, fast_net.params)
    assert_same(plain_adam.state_dict()["m"], fast_adam.state_dict()["m"])


@pytest.mark.parametrize("steps_before", [3, 70])         # 70: after the decay scales were folded
def test_fast_adam_resumes_exactly_from_its_own_state(steps_before):
    meta = game()
    sequence = fast_gradient_sequence(meta, steps_before + 80, np.random.default_rng(3))  # 80: through a fold
    (_, saved_net), (_, untouched_net), (_, resumed_net) = twins(meta, 4), twins(meta, 4), twins(meta, 4)
    saved, untouched = fast.Adam(saved_net.params, lr=1e-2), fast.Adam(untouched_net.params, lr=1e-2)
    for grads in sequence[:steps_before]:
        saved.step(grads)
        untouched.step(grads)
    state = saved.state_dict()
    assert state["steps"] == steps_before and set(state["m"]) == set(saved_net.params)
    resumed_net.load_params(saved_net.params)
    resumed = fast.Adam(resumed_net.params, lr=1.0)
    resumed.load_state_dict(state)
    for grads in sequence[steps_before:]:
        for adam in (saved, untouched, resumed):
            adam.step(grads)
    np.testing.assert_array_equal(resumed_net.params.flat, saved_net.params.flat)        # bit for bit
    # state_dict() folds the decay scales into the moments: the run that saved rounds from
    # there on a little differently from one that never saved, within float32 rounding.
    assert relative_error(untouched_net.params.flat, saved_net.params.flat) < 1e-6


@pytest.mark.parametrize("spatial", [False, True])
def test_adam_state_saved_by_one_engine_continues_in_the_other(spatial):
    meta = game(**SMALL) if spatial else game()
    sequence = fast_gradient_sequence(meta, 40, np.random.default_rng(6))
    plain_net, fast_net = twins(meta, seed=5)
    reference_net, _ = twins(meta, seed=5)
    reference = plain.Adam(reference_net.params, lr=1e-2)           # plain from start to end
    plain_adam, fast_adam = plain.Adam(plain_net.params, lr=1e-2), fast.Adam(fast_net.params, lr=1e-2)
    for grads in sequence[:20]:
        reference.step(plain_copy(grads))
        plain_adam.step(plain_copy(grads))
        fast_adam.step(grads)
    # Swap: plain's state into a fast Adam, fast's state into a plain one, with the weights.
    fast_net_2, plain_net_2 = twins(meta, seed=9)[1], twins(meta, seed=9)[0]
    fast_net_2.load_params(plain_net.params)
    plain_net_2.load_params(fast_net.params)
    plain_to_fast, fast_to_plain = fast.Adam(fast_net_2.params, lr=1.0), plain.Adam(plain_net_2.params, lr=1)
    plain_to_fast.load_state_dict(plain_adam.state_dict())
    fast_to_plain.load_state_dict(fast_adam.state_dict())
    for grads in sequence[20:]:
        reference.step(plain_copy(grads))
        plain_to_fast.step(grads)
        fast_to_plain.step(plain_copy(grads))
    assert_same(reference_net.params, fast_net_2.params)
    assert_same(reference_net.params, plain_net_2.params)
    assert_same(reference.state_dict()["v"], plain_to_fast.state_dict()["v"])


def test_fast_adam_refuses_another_networks_state():
    _, small = twins(game(width=4, height=3))
    _, large = twins(game())
    adam = fast.Adam(large.params, lr=1e-3)
    with pytest.raises(ValueError, match="another shape"):
        adam.load_state_dict(fast.Adam(small.params, lr=1e-3).state_dict())
    with pytest.raises(ValueError, match="another shape"):
        adam.load_state_dict(plain.Adam(twins(game(spatial=True))[0].params, lr=1e-3).state_dict())
    assert adam.steps == 0


def test_fast_adam_learning_rate_change_shrinks_the_step():
    _, net = twins(game(board=False))
    grads = fast_gradient_sequence(game(board=False), 1, np.random.default_rng(0), kind="none")[0]
    before = net.params.flat.copy()
    adam = fast.Adam(net.params, lr=0.1)
    adam.lr *= 0.5
    adam.step(grads)
    moved = np.abs(net.params.flat - before)
    np.testing.assert_allclose(moved[grads.flat != 0], 0.05, rtol=1e-4)   # the first step's size is lr


# ---------------------------------------------------------------- float64 gradients of the fast path

def fast_gradient_check(meta: GameMetadata, codes, extras, seed=3):
    """The fast network's backward after forward_codes, in float64, against central differences."""
    _, net = twins(meta, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed)
    extras = extras.astype(np.float64)
    d_q = rng.standard_normal((len(codes), meta.n_actions))      # loss = sum(Q * d_q)
    loss = lambda: float(np.sum(net.forward_codes(codes, extras) * d_q))
    net.forward_codes(codes, extras)
    grads = {name: g.copy() for name, g in net.backward(d_q).items()}
    assert all(g.dtype == np.float64 for g in grads.values())
    assert_network_gradients(loss, net.params, grads, rng)
    return net


@pytest.mark.parametrize("batch", [1, 5])                        # 1: the one-board path
def test_fast_mlp_gradients_match_central_differences(batch):
    meta = game(width=4, height=3)
    codes, extras = boards(meta, "sparse", batch, np.random.default_rng(8))
    fast_gradient_check(meta, codes, extras)


def test_fast_cnn_sparse_gradients_match_central_differences(monkeypatch):
    monkeypatch.setattr(sparse_conv, "MAX_ACTIVE_SHARE", 1.0)
    meta = game(spatial=True, width=6, height=4)
    codes, extras = boards(meta, "sparse", 3, np.random.default_rng(9))
    net = fast_gradient_check(meta, codes, extras)
    assert net.params["conv.0.bias"].min() < 0 < net.params["conv.0.bias"].max()  # background units on, off
    check_cnn_path(Case(meta, "sparse", "sparse"), net, codes)


# ---------------------------------------------------------------- one algorithm, two engines

def agent_hp(prioritized: bool, double_dqn: bool) -> dict:
    return {**defaults(), "hidden_sizes": [16, 8], "batch_size": 16, "memory_capacity": 64,
            "target_update_freq": 2, "learning_rate": 1e-3, "prioritize_experiences": prioritized,
            "double_dqn": double_dqn, "epsilon": 0.0}


def engine_in(engine, dtype):
    """The engine (build_network, Adam, clip_grad_norm: all DQNAgent asks of one), its networks
    of this dtype."""
    if dtype == np.float32:
        return engine
    return SimpleNamespace(build_network=partial(engine.build_network, dtype=dtype), Adam=engine.Adam,
                           clip_grad_norm=engine.clip_grad_norm)


AGENT_GAMES = {
    "mlp": (game(), "sparse", False, False),
    "mlp-no-board-prioritized-double": (game(board=False), "none", True, True),
    "cnn-sparse-prioritized": (game(spatial=True, width=16, height=12), "sparse", True, False),
    "cnn-full-double": (game(spatial=True), "full", False, True),
}


# The CNN agents are compared in float64 only: learn() feeds each engine's own gradients to
# its Adam, and in float32 the CNN's gradients near Adam's eps (see the clipped Adam steps
# test above) part the weights by 1e-5 to 1e-3 after six steps. In float64 the engines agree
# to 1e-12, so what parts them in float32 is rounding, not the algorithm.
@pytest.mark.parametrize("name, dtype", [("mlp", np.float32), ("mlp-no-board-prioritized-double", np.float32)]
                         + [(name, np.float64) for name in AGENT_GAMES])
def test_dqn_agent_learns_the_same_weights_with_either_engine(name, dtype):
    meta, kind, prioritized, double_dqn = AGENT_GAMES[name]
    tolerance = TOLERANCE if dtype == np.float32 else 1e-9
    hp = agent_hp(prioritized, double_dqn)
    agents = [DQNAgent(meta, hp, np.random.default_rng(11), engine=engine_in(engine, dtype))
              for engine in (plain, fast)]
    assert isinstance(agents[1].optimizer, fast.Adam) and not isinstance(agents[0].optimizer, fast.Adam)
    assert agents[1].online.params[next(iter(agents[1].online.params))].dtype == dtype
    rng = np.random.default_rng(12)
    codes, extras = boards(meta, kind, 81, rng)
    for turn in range(80):
        transition = ((codes[turn], extras[turn]), int(rng.integers(meta.n_actions)), float(rng.normal()),
                      (codes[turn + 1], extras[turn + 1]), bool(rng.random() < 0.1))
        for agent in agents:
            agent.remember(*transition)
    # Greedy moves (epsilon 0) read one board at a time: the MLP's one-board path.
    assert [agents[0].act((codes[k], extras[k])) for k in range(10)] == \
           [agents[1].act((codes[k], extras[k])) for k in range(10)]
    initial = {name_: p.copy() for name_, p in agents[0].online.params.items()}
    for _ in range(6):                                  # through three target refreshes
        losses = [agent.learn() for agent in agents]
        assert losses[1] == pytest.approx(losses[0], rel=tolerance)
    assert agents[0].train_steps == agents[1].train_steps == 6
    assert all(not np.array_equal(initial[n], p) for n, p in agents[0].online.params.items())
    assert_same(agents[0].online.params, agents[1].online.params, tolerance)
    assert_same(agents[0].target.params, agents[1].target.params, tolerance)
    if prioritized:
        assert relative_error(agents[1].memory.tree.leaves, agents[0].memory.tree.leaves) <= tolerance
