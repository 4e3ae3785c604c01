"""The NumPy learning core against PyTorch, given identical weights and inputs.

The published package's architecture is written here in torch (nn.Sequential, same
names) so that its state_dict loads straight into our params. Compared, to a relative
error of 1e-5: Q-values, every parameter gradient of a Huber-loss step (plain,
importance-weighted, clipped), and the weights after Adam steps.
"""
import numpy as np
import pytest

from gradcheck import relative_error
from retro_gamer.losses import huber_loss
from retro_gamer.metadata import GameMetadata
from retro_gamer.network import build_network
from retro_gamer.observation import expand_observations
from retro_gamer.optim import Adam, clip_grad_norm

torch = pytest.importorskip("torch")
nn = torch.nn

BATCH = 16
HIDDEN = [32, 16]


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


def twins(spatial, board_size=(9, 6)):
    """Our network and a torch network with the same weights, plus one batch of observations."""
    torch.manual_seed(0)
    meta = snake_like(spatial, board_size)
    width, height = board_size
    ours, _ = build_network(meta, {"hidden_sizes": HIDDEN})
    theirs = (TorchCNN(meta.board_shape, meta.extras_size, meta.n_actions) if spatial
              else TorchMLP(meta.obs_size, meta.n_actions))
    assert list(theirs.state_dict()) == list(ours.params)
    for name, value in theirs.state_dict().items():
        ours.params[name][...] = value.numpy()
    rng = np.random.default_rng(0)
    codes = np.zeros((BATCH, height * width), np.uint8)
    for board in codes:
        board[rng.choice(height * width, 5, replace=False)] = [3, 2, 2, 2, 1]     # head, body, apple
    extras = rng.uniform(-1, 1, (BATCH, 2)).astype(np.float32)
    x = expand_observations(codes, extras, meta.board_shape[0], spatial)
    return ours, theirs, x, meta


def huber_step(ours, theirs, x, weighted, target_scale):
    """One Huber-loss backward through both networks; returns (our grads, torch grads)."""
    rng = np.random.default_rng(1)
    actions = rng.integers(0, 5, BATCH)
    td_target = (rng.standard_normal(BATCH) * target_scale).astype(np.float32)
    weights = rng.uniform(0.2, 1.0, BATCH).astype(np.float32) if weighted else None

    q_values = ours.forward(x)
    _, d_taken = huber_loss(q_values[np.arange(BATCH), actions], td_target, weights)
    d_q = np.zeros_like(q_values)
    d_q[np.arange(BATCH), actions] = d_taken
    grads = ours.backward(d_q)

    theirs.zero_grad()
    taken = theirs(torch.from_numpy(x)).gather(1, torch.from_numpy(actions)[:, None]).squeeze(1)
    per_sample = nn.functional.huber_loss(taken, torch.from_numpy(td_target), reduction="none", delta=1.0)
    loss = (per_sample * torch.from_numpy(weights)).mean() if weighted else per_sample.mean()
    loss.backward()
    return grads, {name: p.grad for name, p in theirs.named_parameters()}


@pytest.mark.parametrize("spatial", [False, True])
def test_q_values_match(spatial):
    ours, theirs, x, _ = twins(spatial)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    assert relative_error(ours.forward(x), expected) < 1e-5


# (32, 16) is snake's board: there the convolutions go through the batch in several groups.
@pytest.mark.parametrize("spatial, board_size", [(False, (9, 6)), (True, (9, 6)), (True, (32, 16))])
@pytest.mark.parametrize("weighted", [False, True])
def test_huber_step_gradients_match(spatial, board_size, weighted):
    ours, theirs, x, _ = twins(spatial, board_size)
    grads, expected = huber_step(ours, theirs, x, weighted, target_scale=3.0)
    for name in expected:
        assert relative_error(grads[name], expected[name].numpy()) < 1e-5, name


@pytest.mark.parametrize("spatial", [False, True])
def test_clipped_gradients_match(spatial):
    ours, theirs, x, _ = twins(spatial)
    grads, _ = huber_step(ours, theirs, x, weighted=False, target_scale=3.0)
    max_norm = 0.05                     # well below these gradients' norm: clipping happens
    norm = clip_grad_norm(grads, max_norm)
    expected_norm = nn.utils.clip_grad_norm_(theirs.parameters(), max_norm).item()
    assert norm == pytest.approx(expected_norm, rel=1e-5) and norm > max_norm
    for name, p in theirs.named_parameters():
        assert relative_error(grads[name], p.grad.numpy()) < 1e-5, name


@pytest.mark.parametrize("spatial", [False, True])
def test_weights_after_adam_steps_match(spatial):
    ours, theirs, x, _ = twins(spatial)
    adam = Adam(ours.params, lr=1e-3)
    optimizer = torch.optim.Adam(theirs.parameters(), lr=1e-3)
    for step in range(2):
        huber_step(ours, theirs, x, weighted=False, target_scale=3.0)
        # Both optimisers get torch's gradients: Adam divides by sqrt(v), so a gradient
        # near eps = 1e-8 turns float32 rounding differences into visible step
        # differences; feeding the same gradients compares the updates alone.
        for name, p in theirs.named_parameters():
            ours.grads[name][...] = p.grad.numpy()
        adam.step(ours.grads)
        optimizer.step()
        m, v = adam.m, adam.v
        for name, p in theirs.named_parameters():
            assert relative_error(ours.params[name], p.detach().numpy()) < 1e-5, (step, name)
            assert relative_error(m[name], optimizer.state[p]["exp_avg"].numpy()) < 1e-5, name
            assert relative_error(v[name], optimizer.state[p]["exp_avg_sq"].numpy()) < 1e-5, name
