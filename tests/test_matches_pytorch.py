"""Both engines against PyTorch, given identical weights and inputs.

The published package's architecture is written here in torch (nn.Sequential, same names)
so that its state_dict loads straight into either engine's params. Compared, to a relative
error of 1e-5: Q-values, every parameter gradient of a Huber-loss step (plain,
importance-weighted, clipped), and the weights and Adam moments after Adam steps; for the
plain engine (retro_gamer.dqn) and the fast one (retro_gamer.fast), MLP and CNN.
"""
import numpy as np
import pytest

import retro_gamer.dqn as plain
import retro_gamer.fast as fast
from gradcheck import relative_error
from retro_gamer.dqn.loss import huber_loss
from retro_gamer.dqn.network import one_hot
from retro_gamer.fast import sparse_conv
from retro_gamer.game.description import GameMetadata

torch = pytest.importorskip("torch")
nn = torch.nn

BATCH = 16
HIDDEN = [32, 16]
ENGINES = [pytest.param(plain, id="plain"), pytest.param(fast, id="fast")]


def snake_like(spatial, board_size=(9, 6)):
    return GameMetadata(actions=["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"], reward="reward",
                        character_set=["@", "*", ">"], board_size=board_size, spatial=spatial,
                        observe_state=["apple_dx", "apple_dy"], extras_size=2)


class TorchMLP(nn.Module):
    def __init__(self, obs_size, n_actions):
        super().__init__()
        sizes = [obs_size, *HIDDEN]
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], n_actions))

    def forward(self, x):
        return self.net(x)


class TorchCNN(nn.Module):
    def __init__(self, board_shape, n_extras, n_actions):
        super().__init__()
        self.board_shape = board_shape
        channels, height, width = board_shape
        self.conv = nn.Sequential(nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(32, 64, 3, padding=1), nn.ReLU())
        sizes = [64 * height * width + n_extras, *HIDDEN]
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.mlp = nn.Sequential(*layers, nn.Linear(sizes[-1], n_actions))

    def forward(self, x):
        n_board = int(np.prod(self.board_shape))
        board = x[:, :n_board].reshape(-1, *self.board_shape)
        return self.mlp(torch.cat([self.conv(board).flatten(1), x[:, n_board:]], dim=1))


def twins(engine, spatial, board_size=(9, 6)):
    """The engine's network and a torch network with the same weights, and one batch:
    (ours, theirs, codes, extras, x = the flat observations)."""
    torch.manual_seed(0)
    meta = snake_like(spatial, board_size)
    width, height = board_size
    ours, _ = engine.build_network(meta, {"hidden_sizes": HIDDEN})
    theirs = (TorchCNN(meta.board_shape, meta.extras_size, meta.n_actions) if spatial
              else TorchMLP(meta.obs_size, meta.n_actions))
    assert list(theirs.state_dict()) == list(ours.params)
    for name, value in theirs.state_dict().items():
        if name.startswith("conv."):
            # Weights on a grid of 1/256: the convolutions of one-hot boards are then exact in
            # float32 in any order of addition, so no unit sits on different sides of zero in
            # torch and here (see test_engines.py, convolutions_on_grid).
            value.copy_(torch.round(value * 256) / 256)
        ours.params[name][...] = value.numpy()
    rng = np.random.default_rng(0)
    codes = np.zeros((BATCH, height * width), np.uint8)
    for board in codes:
        board[rng.choice(height * width, 5, replace=False)] = [3, 2, 2, 2, 1]     # head, body, apple
    extras = rng.uniform(-1, 1, (BATCH, 2)).astype(np.float32)
    return ours, theirs, codes, extras, one_hot(codes, extras, meta.board_shape[0], spatial)


def huber_step(ours, theirs, codes, extras, x, weighted, target_scale=3.0):
    """One Huber-loss backward through both networks (ours through forward_codes, as in
    training); returns (our gradients, torch's as arrays)."""
    rng = np.random.default_rng(1)
    actions = rng.integers(0, 5, BATCH)
    td_target = (rng.standard_normal(BATCH) * target_scale).astype(np.float32)
    weights = rng.uniform(0.2, 1.0, BATCH).astype(np.float32) if weighted else None

    q_values = ours.forward_codes(codes, extras)
    _, d_taken = huber_loss(q_values[np.arange(BATCH), actions], td_target, weights)
    d_q = np.zeros_like(q_values)
    d_q[np.arange(BATCH), actions] = d_taken
    grads = ours.backward(d_q)

    theirs.zero_grad()
    taken = theirs(torch.from_numpy(x)).gather(1, torch.from_numpy(actions)[:, None]).squeeze(1)
    per_sample = nn.functional.huber_loss(taken, torch.from_numpy(td_target), reduction="none", delta=1.0)
    loss = (per_sample * torch.from_numpy(weights)).mean() if weighted else per_sample.mean()
    loss.backward()
    return grads, {name: p.grad.numpy() for name, p in theirs.named_parameters()}


# (24, 12): enough empty cells that the fast CNN takes its sparse convolutions; on (9, 6) it
# falls back to the dense ones.
BOARDS = [(False, (9, 6)), (True, (9, 6)), (True, (24, 12))]


def takes_sparse_convolutions(net, codes, meta_board_shape) -> bool:
    p = net.params
    return sparse_conv.sparse_conv_forward(codes, meta_board_shape, p["conv.0.weight"], p["conv.0.bias"],
                                           p["conv.2.weight"], p["conv.2.bias"]) is not None


def test_the_boards_take_both_paths_of_the_fast_cnn():
    for board_size, sparse in [((9, 6), False), ((24, 12), True)]:
        ours, _, codes, _, _ = twins(fast, True, board_size)
        assert takes_sparse_convolutions(ours, codes, ours.board_shape) == sparse


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("spatial, board_size", BOARDS)
def test_q_values_match(engine, spatial, board_size):
    ours, theirs, codes, extras, x = twins(engine, spatial, board_size)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    assert relative_error(ours.forward(x), expected) < 1e-5
    assert relative_error(ours.forward_codes(codes, extras), expected) < 1e-5


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("spatial, board_size", BOARDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_huber_step_gradients_match(engine, spatial, board_size, weighted):
    ours, theirs, codes, extras, x = twins(engine, spatial, board_size)
    grads, expected = huber_step(ours, theirs, codes, extras, x, weighted)
    assert list(grads) == list(expected)
    for name in expected:
        assert relative_error(grads[name], expected[name]) < 1e-5, name


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("spatial, board_size", BOARDS)
def test_clipped_gradients_match(engine, spatial, board_size):
    ours, theirs, codes, extras, x = twins(engine, spatial, board_size)
    grads, _ = huber_step(ours, theirs, codes, extras, x, weighted=False)
    max_norm = 0.05                     # well below these gradients' norm: clipping happens
    norm = engine.clip_grad_norm(grads, max_norm)
    expected_norm = nn.utils.clip_grad_norm_(theirs.parameters(), max_norm).item()
    assert norm == pytest.approx(expected_norm, rel=1e-5) and norm > max_norm
    for name, p in theirs.named_parameters():
        assert relative_error(grads[name], p.grad.numpy()) < 1e-5, name


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("spatial", [False, True])
def test_weights_after_adam_steps_match(engine, spatial):
    ours, theirs, codes, extras, x = twins(engine, spatial)
    adam = engine.Adam(ours.params, lr=1e-3)
    optimizer = torch.optim.Adam(theirs.parameters(), lr=1e-3)
    for step in range(3):
        grads, expected = huber_step(ours, theirs, codes, extras, x, weighted=False)
        # Both optimisers get torch's gradients: Adam divides by sqrt(v), so a gradient
        # near eps = 1e-8 turns float32 rounding differences into visible step
        # differences; feeding the same gradients compares the updates alone. (The fast
        # engine's gradients keep their sparse_rows: torch's are zero there too.)
        for name, g in expected.items():
            grads[name][...] = g
        adam.step(grads)
        optimizer.step()
        state = adam.state_dict()
        for name, p in theirs.named_parameters():
            moments = optimizer.state[p]
            assert relative_error(ours.params[name], p.detach().numpy()) < 1e-5, (step, name)
            assert relative_error(state["m"][name], moments["exp_avg"].numpy()) < 1e-5, (step, name)
            assert relative_error(state["v"][name], moments["exp_avg_sq"].numpy()) < 1e-5, (step, name)
