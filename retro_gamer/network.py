"""The Q-network: from an observation s, one number Q(s, a) per action a.

DQN learns Q(s, a), the total discounted reward the agent can expect after pressing
a in state s; the agent then presses the action with the highest Q-value. Two shapes,
the published package's (SPEC §6):

- MLP (spatial = false): observation -> Linear, ReLU, ..., Linear -> one Q-value per action.
- CNN (spatial = true): board (C, H, W) -> Conv2d 3x3 C->32, ReLU -> Conv2d 3x3 32->64,
  ReLU -> flatten -> concatenate the extras -> the same MLP head.

Parameter names and layouts are those of the published package's PyTorch state_dict
(net.0.weight (out, in), conv.0.weight (32, C, 3, 3), mlp.0.weight, ...): nn.Sequential
numbers its modules, and the ReLUs take the odd numbers. Forward and backward are
written by hand with the layers of layers.py.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from retro_gamer.errors import CheckpointError, ConfigError, RetroGamerError
from retro_gamer.layers import (conv3x3_backward, conv3x3_forward, linear_backward, linear_forward,
                                onehot_linear_backward, onehot_linear_forward, relu_backward, relu_forward)
from retro_gamer.observation import onehot_columns
from retro_gamer.sparse_conv import sparse_conv_backward, sparse_conv_forward

DEFAULT_HIDDEN_SIZES = [128, 128]
CONV_CHANNELS = (32, 64)

# Each parameter starts on a 64-byte boundary of the flat buffer, so every array
# begins where the CPU's vector instructions like it to.
_ALIGNMENT = 16


def build_network(metadata, hyperparams: dict, dtype=np.float32,
                  rng: np.random.Generator | None = None) -> tuple["QNetwork", str]:
    """The Q-network a game's metadata calls for, and the text explaining it.

    metadata: GameMetadata (n_actions, board_shape, extras_size, spatial, obs_size, ...);
    hyperparams: 'hidden_sizes', or 'n_layers' and 'layer_size'; dtype: float32 for
    training, float64 for gradient checks; rng: the initial weights' random source.
    Returns (network, rationale): rationale is the [INIT] text training.log starts with.
    """
    hidden_sizes = hidden_sizes_from(hyperparams)
    board_shape = metadata.board_shape
    if metadata.spatial:
        if board_shape is None:
            raise ConfigError(
                "spatial = true asks for a CNN, but this observation has no board to slide its "
                "filters over (board = false, or an observation_function replaces the board). "
                "Set spatial = false under [preprocessing] to use an MLP.")
        net = ConvQNetwork(board_shape, metadata.extras_size, hidden_sizes, metadata.n_actions, dtype, rng)
    else:
        net = MLPQNetwork(metadata.obs_size, board_shape, hidden_sizes, metadata.n_actions, dtype, rng)
    return net, architecture_rationale(metadata, net)


def hidden_sizes_from(hyperparams: dict) -> list[int]:
    """hidden_sizes, or the reference page's n_layers x layer_size, or the default [128, 128]."""
    if hyperparams.get("hidden_sizes") is not None:
        sizes = list(hyperparams["hidden_sizes"])
    elif "n_layers" in hyperparams or "layer_size" in hyperparams:
        n_layers = hyperparams.get("n_layers", 2)
        if not isinstance(n_layers, int) or isinstance(n_layers, bool) or n_layers < 0:
            raise ConfigError(f"n_layers = {n_layers!r}: the number of hidden layers must be a whole "
                              "number, 0 or more. Try: n_layers = 2")
        sizes = [hyperparams.get("layer_size", 128)] * n_layers
    else:
        sizes = list(DEFAULT_HIDDEN_SIZES)
    if not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes):
        raise ConfigError(
            f"hidden_sizes = {sizes!r}: each entry is the number of units of one hidden layer, "
            "so each must be a whole number above zero. Try: hidden_sizes = [128, 128]")
    return sizes


class NonzeroRows(NamedTuple):
    """Where a gradient can be non-zero: flat[start:stop], seen as rows of ``width``
    values, is all zeros except in ``rows`` (sorted); the rest of flat is unknown."""
    start: int
    stop: int
    width: int
    rows: np.ndarray


class FlatArrays(dict):
    """A dict name -> array whose arrays are all views into one flat vector, .flat.

    layout: ((name, shape, stored transposed?), offset) per array. The gaps left by
    the alignment stay zero, so the vector can be updated as a whole (optim.py).
    nonzero_rows: for gradients, a NonzeroRows that backward() sets when most of the
    first layer's gradient is known to be zero (a one-hot input), else None. Clipping
    and Adam then skip the zeros (optim.py); whoever writes other values into the
    gradients must set it back to None.
    """

    def __init__(self, flat: np.ndarray, layout: tuple):
        super().__init__()
        self.flat = flat
        self.layout = layout
        self.nonzero_rows: NonzeroRows | None = None
        for (name, shape, transposed), offset in layout:
            block = flat[offset:offset + int(np.prod(shape))]
            dict.__setitem__(self, name, block.reshape(shape[::-1]).T if transposed else block.reshape(shape))

    def __setitem__(self, name, value):
        raise TypeError(f"Replacing the array {name!r} would detach it from the flat vector; "
                        f"copy into it instead: arrays[{name!r}][...] = value")


class QNetwork:
    """What the MLP and the CNN share: parameters, gradients, initialisation, copying.

    params: dict name -> array, in the order of PyTorch's state_dict; assigning into
    an array (net.params[name][...] = value) changes the network.
    grads: dict name -> array, same names and shapes, filled by backward().

    All parameters are views into ONE flat vector, and all gradients into a second
    vector of the same layout. Adam and gradient clipping can then treat the whole
    network as one long array, a handful of NumPy calls per step (see optim.py).
    Linear weights are kept in memory as (in, out), and params shows their (out, in)
    transpose: x @ weight.T then reads memory in order, and for a one-hot input the
    product is a lookup of whole rows (layers.onehot_linear_forward).
    """

    def __init__(self, layers: list[tuple[str, tuple[int, ...]]], linear_names: list[str], dtype,
                 rng: np.random.Generator | None):
        """layers: (name, weight shape) per Linear (out, in) or Conv2d (F, C, 3, 3) layer;
        linear_names: the Linear ones, input to output."""
        self.dtype = np.dtype(dtype)
        arrays = []                                     # (name, shape, stored transposed?)
        for name, shape in layers:
            arrays.append((f"{name}.weight", shape, len(shape) == 2))
            arrays.append((f"{name}.bias", shape[:1], False))
        offsets, total = [], 0
        for _, shape, _ in arrays:
            offsets.append(total)
            total += -(-int(np.prod(shape)) // _ALIGNMENT) * _ALIGNMENT
        layout = tuple(zip(arrays, offsets))
        self.params = FlatArrays(np.zeros(total, self.dtype), layout)
        self.grads = FlatArrays(np.zeros(total, self.dtype), layout)
        # PyTorch's default initialisation (nn.Linear and nn.Conv2d): weights and biases
        # uniform in +-1/sqrt(fan_in), fan_in being the inputs one output unit sums over.
        # Small random weights keep the first Q-values near zero and break symmetry.
        rng = np.random.default_rng() if rng is None else rng
        for name, shape in layers:
            bound = 1.0 / np.sqrt(np.prod(shape[1:]))
            self.params[f"{name}.weight"][...] = rng.uniform(-bound, bound, shape)
            self.params[f"{name}.bias"][...] = rng.uniform(-bound, bound, shape[:1])
        self.linear_names = linear_names
        # (weight, bias, d_weight, d_bias) of every Linear layer, looked up once.
        self._linears = [(self.params[f"{name}.weight"], self.params[f"{name}.bias"],
                          self.grads[f"{name}.weight"], self.grads[f"{name}.bias"]) for name in linear_names]

    @property
    def n_params(self) -> int:
        """Number of learned numbers in the network."""
        return sum(p.size for p in self.params.values())

    def load_params(self, params: dict) -> None:
        """Copy weights in from a dict name -> array (a checkpoint, or another network)."""
        problems = [f"{name} is missing" for name in self.params.keys() - params.keys()]
        problems += [f"{name} is not a parameter of this network" for name in params.keys() - self.params.keys()]
        for name in self.params.keys() & params.keys():
            theirs = np.shape(params[name])
            if theirs != self.params[name].shape:
                problems.append(f"{name} is {theirs} there but {self.params[name].shape} here")
        if problems:
            raise CheckpointError(
                "These weights do not fit this network: " + "; ".join(sorted(problems)) + ". "
                "They come from a network of another shape: a different character set, board size, "
                "observe_state, spatial setting or hidden_sizes. Use the config.toml they were "
                "trained with, or start a new run with 'retro-gamer clean' then 'retro-gamer train'.")
        for name, value in params.items():
            self.params[name][...] = value

    def copy_to(self, other: "QNetwork") -> None:
        """Make other (the target network) an exact copy of this one."""
        other.load_params(self.params)

    # --- The Linear layers after the first one, shared by the MLP and the CNN head ---
    # The first Linear layer differs (dense, one-hot or convolution features as input),
    # so each network computes that layer's output z, and these two do the rest.

    def _forward_after_first_linear(self, z: np.ndarray) -> np.ndarray:
        """z: (B, hidden_sizes[0]) -> Q-values (B, n_actions); keeps the activations."""
        self._hidden = []
        for weight, bias, _, _ in self._linears[1:]:
            h = relu_forward(z)
            self._hidden.append(h)
            z = linear_forward(h, weight, bias)
        return z

    def _backward_to_first_linear(self, d_q: np.ndarray) -> np.ndarray:
        """d_q: (B, n_actions) -> dLoss/dz of the first Linear layer's output."""
        d_z = np.asarray(d_q, self.dtype)
        for (weight, _, d_weight, d_bias), h in zip(reversed(self._linears[1:]), reversed(self._hidden)):
            d_z = relu_backward(linear_backward(d_z, h, weight, d_weight, d_bias), h)
        return d_z

    def _check_observations(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, self.dtype)
        if x.ndim != 2 or x.shape[1] != self.obs_size:
            raise RetroGamerError(
                f"The network expects a batch of observations of shape (B, {self.obs_size}) "
                f"but got {x.shape}. The observation's size is fixed by the board, the "
                "character set and observe_state; they must not change after the network is built.")
        return x


class MLPQNetwork(QNetwork):
    """observation (obs_size) -> [Linear, ReLU] per hidden size -> Linear -> n_actions.

    Names net.0, net.2, ... (the ReLUs are net.1, net.3, ...).
    """

    kind = "MLP"

    def __init__(self, obs_size: int, board_shape: tuple[int, int, int] | None,
                 hidden_sizes: list[int], n_actions: int, dtype=np.float32,
                 rng: np.random.Generator | None = None):
        sizes = [obs_size, *hidden_sizes, n_actions]
        names = [f"net.{2 * i}" for i in range(len(sizes) - 1)]
        super().__init__([(name, (n_out, n_in)) for name, n_in, n_out in zip(names, sizes[:-1], sizes[1:])],
                         names, dtype, rng)
        self.obs_size = obs_size
        self.board_shape = board_shape
        self.n_actions = n_actions

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (B, obs_size) observations -> Q-values (B, n_actions)."""
        x = self._check_observations(x)
        weight, bias, _, _ = self._linears[0]
        self._first_input = ("dense", x)
        return self._forward_after_first_linear(linear_forward(x, weight, bias))

    def forward_codes(self, codes: np.ndarray, extras: np.ndarray) -> np.ndarray:
        """Same as forward on the expanded observations, without expanding them.

        codes: (B, H*W) uint8 board codes (observation.py), extras: (B, E) -> (B, n_actions).
        """
        n_channels = self.board_shape[0] if self.board_shape else 0
        rows, cols = onehot_columns(codes, n_channels, spatial=False)
        extras = np.asarray(extras, self.dtype)
        weight, bias, _, _ = self._linears[0]
        self._first_input = ("onehot", rows, cols, extras)
        return self._forward_after_first_linear(onehot_linear_forward(rows, cols, extras, weight, bias))

    def forward_one(self, codes: np.ndarray, extras: np.ndarray) -> np.ndarray:
        """Q-values of one observation, for the agent's greedy move: codes (H*W,) uint8,
        extras (E,) -> (n_actions,). Keeps nothing for backward.

        With a single board, forward_codes' batch bookkeeping costs more than its
        arithmetic: here the first layer is just the sum of the occupied cells' weight rows.
        """
        weight, bias, _, _ = self._linears[0]
        rows = weight.T                                   # (in, out): row i is input i's weights
        n_board = len(codes) * (self.board_shape[0] if self.board_shape else 0)
        cells = codes.nonzero()[0]
        inputs = cells * self.board_shape[0] + codes[cells] - 1 if len(cells) else cells
        z = bias + np.asarray(extras, self.dtype) @ rows[n_board:] + rows[inputs].sum(axis=0)
        for weight, bias, _, _ in self._linears[1:]:
            z = np.maximum(z, 0) @ weight.T + bias
        return z

    def backward(self, d_q: np.ndarray) -> dict[str, np.ndarray]:
        """d_q: (B, n_actions) dLoss/dQ of the last forward -> grads, dict name -> gradient.

        The returned arrays are self.grads: the next backward overwrites them.
        """
        d_z = self._backward_to_first_linear(d_q)
        weight, _, d_weight, d_bias = self._linears[0]
        before = self.grads.nonzero_rows
        self.grads.nonzero_rows = None            # every value may be non-zero now
        if self._first_input[0] == "dense":
            linear_backward(d_z, self._first_input[1], weight, d_weight, d_bias, need_input_grad=False)
        else:
            # Only the board inputs that hold a one somewhere in the batch get a gradient:
            # a hundred or so of snake's 3,072. The stored (in, out) weight has one row per
            # input, so those are whole rows of the flat vector; the next backward needs to
            # clear only them, and Adam can skip the others (optim.py).
            _, rows, cols, extras = self._first_input
            touched = onehot_linear_backward(d_z, rows, cols, extras, d_weight, d_bias,
                                             before.rows if before is not None else None)
            (_, shape, _), start = self.grads.layout[0]      # net.0.weight, stored (in, out)
            self.grads.nonzero_rows = NonzeroRows(start, start + (shape[1] - extras.shape[1]) * shape[0],
                                                  shape[0], touched)
        return self.grads


class ConvQNetwork(QNetwork):
    """board (C, H, W) -> conv 3x3 C->32, ReLU -> conv 3x3 32->64, ReLU -> flatten
    (64*H*W) -> concatenate extras (E) -> [Linear, ReLU] per hidden size -> Linear -> n_actions.

    Names conv.0, conv.2 for the convolutions, mlp.0, mlp.2, ... for the head.
    """

    kind = "CNN"

    def __init__(self, board_shape: tuple[int, int, int], extras_size: int, hidden_sizes: list[int],
                 n_actions: int, dtype=np.float32, rng: np.random.Generator | None = None):
        channels, height, width = board_shape
        self.n_features = CONV_CHANNELS[1] * height * width
        sizes = [self.n_features + extras_size, *hidden_sizes, n_actions]
        names = [f"mlp.{2 * i}" for i in range(len(sizes) - 1)]
        layers = [("conv.0", (CONV_CHANNELS[0], channels, 3, 3)),
                  ("conv.2", (CONV_CHANNELS[1], CONV_CHANNELS[0], 3, 3))]
        layers += [(name, (n_out, n_in)) for name, n_in, n_out in zip(names, sizes[:-1], sizes[1:])]
        super().__init__(layers, names, dtype, rng)
        self.board_shape = board_shape
        self.obs_size = channels * height * width + extras_size
        self.n_actions = n_actions

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (B, obs_size) observations, board channel-first -> Q-values (B, n_actions)."""
        x = self._check_observations(x)
        n_board = int(np.prod(self.board_shape))
        return self._forward_dense(x[:, :n_board].reshape(-1, *self.board_shape), x[:, n_board:])

    def forward_one(self, codes: np.ndarray, extras: np.ndarray) -> np.ndarray:
        """Q-values of one observation: codes (H*W,) uint8, extras (E,) -> (n_actions,)."""
        return self.forward_codes(codes[None], np.asarray(extras)[None])[0]

    def forward_codes(self, codes: np.ndarray, extras: np.ndarray) -> np.ndarray:
        """Same as forward on the expanded observations.

        codes: (B, H*W) uint8 board codes (observation.py), extras: (B, E) -> (B, n_actions).
        A mostly empty board goes through the convolutions only near its occupied cells
        (sparse_conv.py); a fuller one through the dense convolutions, which need the
        dense board: a scatter of the ones builds it cheaply.
        """
        p = self.params
        extras = np.asarray(extras, self.dtype)
        sparse = sparse_conv_forward(codes, self.board_shape, p["conv.0.weight"], p["conv.0.bias"],
                                     p["conv.2.weight"], p["conv.2.bias"])
        if sparse is not None:
            self._cache = ("sparse", sparse, extras)
            return self._forward_head(sparse.a2, extras)
        channels = self.board_shape[0]
        board = np.zeros((len(codes), channels * codes.shape[1]), self.dtype)
        rows, cols = onehot_columns(codes, channels, spatial=True)
        board[rows, cols] = 1.0
        return self._forward_dense(board.reshape(-1, *self.board_shape), extras)

    def _forward_dense(self, board: np.ndarray, extras: np.ndarray) -> np.ndarray:
        p = self.params
        a1 = conv3x3_forward(board, p["conv.0.weight"], p["conv.0.bias"], relu=True)
        a2 = conv3x3_forward(a1, p["conv.2.weight"], p["conv.2.bias"], relu=True)
        self._cache = ("dense", (board, a1, a2), extras)
        return self._forward_head(a2, extras)

    def _forward_head(self, a2: np.ndarray, extras: np.ndarray) -> np.ndarray:
        """a2: (B, 64, H, W) the convolutions' output, extras: (B, E) -> Q-values (B, n_actions)."""
        features = a2.reshape(len(a2), -1)    # channel-major, like torch.flatten of (B, 64, H, W)
        # The head's first layer reads [features | extras]. Multiplying each block of its
        # weight by its own input gives the same sum without copying the feature map
        # to make room for the few extras.
        weight, bias, _, _ = self._linears[0]
        n = self.n_features
        z = linear_forward(features, weight[:, :n], bias) + extras @ weight[:, n:].T
        return self._forward_after_first_linear(z)

    def backward(self, d_q: np.ndarray) -> dict[str, np.ndarray]:
        """d_q: (B, n_actions) dLoss/dQ of the last forward -> grads, dict name -> gradient.

        The returned arrays are self.grads: the next backward overwrites them.
        """
        kind, convolutions, extras = self._cache
        a2 = convolutions.a2 if kind == "sparse" else convolutions[2]
        p, g, n = self.params, self.grads, self.n_features
        d_z = self._backward_to_first_linear(d_q)
        weight, _, d_weight, d_bias = self._linears[0]
        linear_backward(d_z, extras, weight[:, n:], d_weight[:, n:], None, need_input_grad=False)
        d_features = linear_backward(d_z, a2.reshape(len(a2), -1), weight[:, :n], d_weight[:, :n], d_bias)
        d_a2 = d_features.reshape(a2.shape)
        # The board is an observation, not something we learn: no gradient for it.
        if kind == "sparse":
            sparse_conv_backward(d_a2, convolutions, p["conv.2.weight"], g["conv.0.weight"], g["conv.0.bias"],
                                 g["conv.2.weight"], g["conv.2.bias"])
        else:
            board, a1, _ = convolutions
            d_a1 = conv3x3_backward(d_a2, a1, p["conv.2.weight"], g["conv.2.weight"], g["conv.2.bias"],
                                    relu_out=a2)
            conv3x3_backward(d_a1, board, p["conv.0.weight"], g["conv.0.weight"], g["conv.0.bias"],
                             relu_out=a1, need_input_grad=False)
        return self.grads


def architecture_rationale(metadata, net: QNetwork) -> str:
    """The [INIT] lines training.log starts with: what the network is, and why."""
    extras = metadata.extras_size
    if metadata.observation_function:
        lines = [f"Input: {net.obs_size} numbers returned by {metadata.observation_function}"]
    elif metadata.board_shape is None:
        lines = [f"Input: {net.obs_size} numbers of game state, no board (board = false)"]
    else:
        channels, height, width = metadata.board_shape
        lines = [f"Input: {net.obs_size} numbers = board {channels} channel{'' if channels == 1 else 's'} x {height} x {width} cells "
                 f"({channels * height * width}) + {extras} extras",
                 f"  board: one channel per character ({' '.join(metadata.character_set or [])}), 1 where "
                 "that character is shown; empty and unknown cells are all zeros"]
        if metadata.egocentric:
            lines.append(f"  board: the {height} x {width} window around {metadata.egocentric_player!r}, "
                         "with one more channel marking the cells beyond the board's edge")
        else:
            lines.append("  board: the whole board, {} x {} (width x height)".format(*metadata.board_size))
    if extras and metadata.observe_state:
        lines.append(f"  extras: {', '.join(metadata.observe_state)} from the game state")

    if isinstance(net, ConvQNetwork):
        channels, height, width = metadata.board_shape
        first, second = CONV_CHANNELS
        lines.append("Network: CNN (spatial = true)")
        for name, n_in, n_out in (("conv.0", channels, first), ("conv.2", first, second)):
            lines.append(f"  {name}  Conv2d {n_in} -> {n_out} channels, 3x3, padding 1, ReLU "
                         f"-> {n_out} x {height} x {width}")
        lines.append(f"  flatten {second} x {height} x {width} = {net.n_features} features, "
                     f"+ {extras} extras = {net.n_features + extras}")
    else:
        lines.append("Network: MLP (spatial = false)")
    for name in net.linear_names:
        n_out, n_in = net.params[f"{name}.weight"].shape
        role = "one Q-value per action" if name == net.linear_names[-1] else "ReLU"
        lines.append(f"  {name:<7} Linear {n_in} -> {n_out}, {role}")
    lines.append(f"  {net.n_params:,} parameters")
    if isinstance(net, ConvQNetwork):
        lines.append("Why a CNN: spatial = true says the board is a scene where position matters. The same "
                     "3x3 filters slide over every cell, so a pattern learned in one place (a wall next to "
                     "the head) is recognised everywhere, with few weights per pattern.")
    else:
        lines.append("Why an MLP: spatial = false, so the observation is one flat list of numbers; every "
                     "input reaches every hidden unit and the network learns by itself which inputs "
                     "matter. Quick to train, and enough when the positions to recognise are few.")
    lines.append(f"Actions: {net.n_actions} outputs = {', '.join(metadata.actions)}, then the no-op "
                 "(press nothing) last; the agent takes the action with the highest Q-value")
    return "\n".join(f"[INIT] {line}" for line in lines)
