"""The Q-network: from an observation s, one number Q(s, a) per action a, the total discounted
reward the agent can expect after pressing a in state s. It has one of two shapes (SPEC §6):

- MLP (spatial = false): observation -> [Linear, ReLU] per hidden size -> Linear -> Q-values.
- CNN (spatial = true): board (C, H, W) -> conv 3x3 C->32, ReLU -> conv 3x3 32->64, ReLU
  -> flatten -> append the extras -> the same MLP head.

Parameter names and layouts are those of the published package's PyTorch state_dict
(net.0.weight (out, in), conv.0.weight (32, C, 3, 3), mlp.0.weight, ...): nn.Sequential
numbers its modules and the ReLUs take the odd numbers. ``params`` is a plain dict
name -> array, and ``backward`` returns a dict of gradients with the same keys.
"""
import numpy as np

from retro_gamer.dqn.layers import (conv3x3_backward, conv3x3_forward, linear_backward, linear_forward,
                                    relu_backward, relu_forward)

CONV_CHANNELS = (32, 64)


def one_hot(codes: np.ndarray, extras: np.ndarray, n_channels: int, spatial: bool, dtype=np.float32):
    """Compact observations -> the flat vectors the network reads (SPEC §5).

    codes: (B, cells) board codes, 0 for an empty cell and k for a cell showing channel
    k - 1 (one byte per cell: this is how the replay memory stores boards); extras: (B, E)
    -> (B, n_channels * cells + E). The board is one-hot: a 1 in the channel of the
    character each cell shows. Spatial boards are laid out channel-first (C, H, W) for
    the convolutions, the others cell by cell (H, W, C).
    """
    batch, cells = codes.shape
    board = np.zeros((batch, cells, n_channels + 1), dtype)
    board[np.arange(batch)[:, None], np.arange(cells), codes] = 1.0
    board = board[:, :, 1:]                            # code 0, the empty cell, has no channel
    if spatial:
        board = board.transpose(0, 2, 1)
    return np.concatenate([board.reshape(batch, -1), np.asarray(extras, dtype)], axis=1)


class QNetwork:
    """What the MLP and the CNN share: params (name -> array, in state_dict order), the head."""

    spatial = False

    def __init__(self, layers: list, head: list[str], board_shape, n_actions: int, rng, dtype):
        """layers: (name, weight shape) per layer, input to output; head: the Linear ones."""
        # PyTorch's default initialisation: weights and biases uniform in +-1/sqrt(fan_in),
        # fan_in being how many inputs one output unit adds up. Small random weights keep
        # the first Q-values near zero and make the units differ from each other.
        rng = np.random.default_rng() if rng is None else rng
        self.params = {}
        for name, shape in layers:
            bound = 1.0 / np.sqrt(np.prod(shape[1:]))
            self.params[f"{name}.weight"] = rng.uniform(-bound, bound, shape).astype(dtype)
            self.params[f"{name}.bias"] = rng.uniform(-bound, bound, shape[:1]).astype(dtype)
        self.head, self.board_shape, self.n_actions = head, board_shape, n_actions
        self.dtype = np.dtype(dtype)

    @property
    def n_params(self) -> int:
        """How many numbers the network learns."""
        return sum(p.size for p in self.params.values())

    def load_params(self, params: dict) -> None:
        """Copy weights in from a dict name -> array (a checkpoint, or the online network)."""
        problems = [f"{name} is missing" for name in self.params.keys() - params.keys()]
        problems += [f"{name} is not a parameter here" for name in params.keys() - self.params.keys()]
        problems += [f"{name} is {np.shape(params[name])}, not {p.shape}" for name, p in self.params.items()
                     if name in params and np.shape(params[name]) != p.shape]
        if problems:
            raise ValueError("these weights do not fit this network: " + "; ".join(sorted(problems)))
        for name, value in params.items():
            self.params[name][...] = value

    def forward_codes(self, codes: np.ndarray, extras: np.ndarray) -> np.ndarray:
        """Q-values of compact observations: codes (B, cells) uint8, extras (B, E) -> (B, n_actions)."""
        channels = self.board_shape[0] if self.board_shape else 0
        return self.forward(one_hot(codes, extras, channels, self.spatial, self.dtype))

    def _head_forward(self, h: np.ndarray) -> np.ndarray:
        """h: (B, head input) -> Q-values (B, n_actions); keeps each layer's input for backward."""
        self._inputs = []
        for k, name in enumerate(self.head):
            self._inputs.append(h)
            h = linear_forward(h, self.params[f"{name}.weight"], self.params[f"{name}.bias"])
            if k < len(self.head) - 1:
                h = relu_forward(h)
        return h

    def _head_backward(self, d_q: np.ndarray, grads: dict) -> np.ndarray:
        """d_q: (B, n_actions) -> dLoss/d(head input); fills grads."""
        d_h = np.asarray(d_q, self.dtype)
        for k in reversed(range(len(self.head))):
            name = self.head[k]
            if k < len(self.head) - 1:
                d_h = relu_backward(d_h, self._inputs[k + 1])   # the next layer's input is this ReLU's output
            d_h, grads[f"{name}.weight"], grads[f"{name}.bias"] = linear_backward(
                d_h, self._inputs[k], self.params[f"{name}.weight"])
        return d_h


class MLP(QNetwork):
    """observation (obs_size) -> [Linear, ReLU] per hidden size -> Linear -> (n_actions).

    Names net.0, net.2, ... (PyTorch's ReLUs are net.1, net.3, ...).
    """

    def __init__(self, obs_size: int, board_shape, hidden_sizes: list[int], n_actions: int,
                 rng=None, dtype=np.float32):
        sizes = [obs_size, *hidden_sizes, n_actions]
        names = [f"net.{2 * k}" for k in range(len(sizes) - 1)]
        super().__init__([(name, (n_out, n_in)) for name, n_in, n_out in zip(names, sizes, sizes[1:])],
                         names, board_shape, n_actions, rng, dtype)
        self.obs_size = obs_size

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (B, obs_size) observations -> Q-values (B, n_actions)."""
        return self._head_forward(np.asarray(x, self.dtype))

    def backward(self, d_q: np.ndarray) -> dict:
        """d_q: (B, n_actions) dLoss/dQ of the last forward -> dict name -> gradient."""
        grads = {}
        self._head_backward(d_q, grads)
        return {name: grads[name] for name in self.params}


class CNN(QNetwork):
    """board (C, H, W) -> conv 3x3 C->32, ReLU -> conv 3x3 32->64, ReLU -> flatten (64*H*W)
    -> append the extras (E) -> [Linear, ReLU] per hidden size -> Linear -> (n_actions).

    Names conv.0 and conv.2 for the convolutions, mlp.0, mlp.2, ... for the head.
    """

    spatial = True

    def __init__(self, board_shape: tuple, extras_size: int, hidden_sizes: list[int], n_actions: int,
                 rng=None, dtype=np.float32):
        channels, height, width = board_shape
        self.n_features = CONV_CHANNELS[1] * height * width
        sizes = [self.n_features + extras_size, *hidden_sizes, n_actions]
        names = [f"mlp.{2 * k}" for k in range(len(sizes) - 1)]
        layers = [("conv.0", (CONV_CHANNELS[0], channels, 3, 3)),
                  ("conv.2", (CONV_CHANNELS[1], CONV_CHANNELS[0], 3, 3))]
        layers += [(name, (n_out, n_in)) for name, n_in, n_out in zip(names, sizes, sizes[1:])]
        super().__init__(layers, names, board_shape, n_actions, rng, dtype)
        self.obs_size = channels * height * width + extras_size

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (B, obs_size) observations, board channel-first then extras -> Q-values (B, n_actions)."""
        x = np.asarray(x, self.dtype)
        p, n_board = self.params, int(np.prod(self.board_shape))
        self._board = x[:, :n_board].reshape(-1, *self.board_shape)
        self._a1 = relu_forward(conv3x3_forward(self._board, p["conv.0.weight"], p["conv.0.bias"]))
        self._a2 = relu_forward(conv3x3_forward(self._a1, p["conv.2.weight"], p["conv.2.bias"]))
        # Flatten channel-major, as torch.flatten of (B, 64, H, W), then the extras.
        features = self._a2.reshape(len(x), -1)
        return self._head_forward(np.concatenate([features, x[:, n_board:]], axis=1))

    def backward(self, d_q: np.ndarray) -> dict:
        """d_q: (B, n_actions) dLoss/dQ of the last forward -> dict name -> gradient."""
        p, grads = self.params, {}
        d_head_input = self._head_backward(d_q, grads)
        d_a2 = d_head_input[:, :self.n_features].reshape(self._a2.shape)   # the extras' share goes nowhere
        d_a1, grads["conv.2.weight"], grads["conv.2.bias"] = conv3x3_backward(
            relu_backward(d_a2, self._a2), self._a1, p["conv.2.weight"])
        # The board is an observation, not something we learn: its gradient is thrown away.
        _, grads["conv.0.weight"], grads["conv.0.bias"] = conv3x3_backward(
            relu_backward(d_a1, self._a1), self._board, p["conv.0.weight"])
        return {name: grads[name] for name in self.params}


def build_network(metadata, hyperparams: dict, rng=None, dtype=np.float32):
    """The Q-network a game's description calls for, and the text explaining it.

    metadata: a GameMetadata (spatial, board_shape, extras_size, obs_size, n_actions, ...);
    hyperparams: hidden_sizes (or the published n_layers x layer_size); rng: where the initial
    weights come from; dtype: float32 to train, float64 for gradient checks.
    Returns (network, the [INIT] text of training.log).
    """
    sizes = list(hyperparams.get("hidden_sizes")
                 or [hyperparams.get("layer_size", 128)] * hyperparams.get("n_layers", 2))
    if not metadata.spatial:
        net = MLP(metadata.obs_size, metadata.board_shape, sizes, metadata.n_actions, rng, dtype)
    elif metadata.board_shape is None:
        raise ValueError("spatial = true asks for a CNN, but this observation has no board to slide its "
                         "filters over. Set spatial = false under [preprocessing] to use an MLP.")
    else:
        net = CNN(metadata.board_shape, metadata.extras_size, sizes, metadata.n_actions, rng, dtype)
    return net, rationale(metadata, net)


def rationale(metadata, net: QNetwork) -> str:
    """The [INIT] lines training.log starts with: what the network is, and why."""
    m, extras = metadata, metadata.extras_size
    if m.observation_function:
        lines = [f"Input: {net.obs_size} numbers returned by {m.observation_function}"]
    elif m.board_shape is None:
        lines = [f"Input: {net.obs_size} numbers of game state, no board (board = false)"]
    else:
        channels, height, width = m.board_shape
        lines = [f"Input: {net.obs_size} numbers = board {channels} channel{'s' * (channels != 1)} x "
                 f"{height} x {width} cells ({channels * height * width}) + {extras} extras",
                 f"  board: one channel per character ({' '.join(m.character_set or [])}), 1 where that "
                 "character is shown; empty and unknown cells are all zeros",
                 f"  board: the {height} x {width} window around {m.egocentric_player!r}, with one more "
                 "channel marking the cells beyond the board's edge" if m.egocentric else
                 "  board: the whole board, {} x {} (width x height)".format(*m.board_size)]
    if extras and m.observe_state:
        lines.append(f"  extras: {', '.join(m.observe_state)} from the game state")
    if net.spatial:
        channels, height, width = m.board_shape
        lines.append("Network: CNN (spatial = true)")
        for name, n_in, n_out in (("conv.0", channels, CONV_CHANNELS[0]), ("conv.2", *CONV_CHANNELS)):
            lines.append(f"  {name}  Conv2d {n_in} -> {n_out} channels, 3x3, padding 1, ReLU "
                         f"-> {n_out} x {height} x {width}")
        lines.append(f"  flatten {CONV_CHANNELS[1]} x {height} x {width} = {net.n_features} features, "
                     f"+ {extras} extras = {net.n_features + extras}")
    else:
        lines.append("Network: MLP (spatial = false)")
    for name in net.head:
        n_out, n_in = net.params[f"{name}.weight"].shape
        role = "one Q-value per action" if name == net.head[-1] else "ReLU"
        lines.append(f"  {name:<7} Linear {n_in} -> {n_out}, {role}")
    lines.append(f"  {net.n_params:,} parameters")
    lines.append("Why a CNN: spatial = true says the board is a scene where position matters. The same 3x3 "
                 "filters slide over every cell, so a pattern learned in one place (a wall next to the head) "
                 "is recognised everywhere, with few weights per pattern." if net.spatial else
                 "Why an MLP: spatial = false, so the observation is one flat list of numbers; every input "
                 "reaches every hidden unit and the network learns by itself which inputs matter. Quick to "
                 "train, and enough when the positions to recognise are few.")
    lines.append(f"Actions: {net.n_actions} outputs = {', '.join(m.actions)}, then the no-op (press nothing) "
                 "last; the agent takes the action with the highest Q-value")
    return "\n".join(f"[INIT] {line}" for line in lines)
