"""Replaces dqn/network.py's MLP and CNN, with the same interface and the same numbers.

Faster because a one-hot board is almost all zeros: snake's board is 3,072 inputs with a
dozen ones. The MLP's first layer adds up the weight rows of the occupied cells instead of
multiplying the whole board (and its backward writes only those rows), but for the
off-board channel of an egocentric window, dense enough to be one matrix product; the CNN's
convolutions run only near the occupied cells (sparse_conv.py). Linear weights are stored
as (in, out), so that an input's weights are one contiguous row; ``params`` shows them as
PyTorch's (out, in). All parameters are views into one flat vector, and all gradients into
a second one, so that Adam and clipping treat the network as one array (optim.py).
tests/test_engines.py gives both engines the same weights and batches and compares
Q-values and every gradient.
"""
import numpy as np

from retro_gamer.dqn import network as plain
from retro_gamer.dqn.layers import conv3x3_backward, conv3x3_forward, relu_backward, relu_forward
from retro_gamer.fast.sparse_conv import sparse_conv_backward, sparse_conv_forward

ONE_BOARD_PATH = True     # tests/benchmarks/engines.py switches these off to measure what they buy
DENSE_WALLS = True


def onehot_columns(codes: np.ndarray, n_channels: int, spatial: bool):
    """Where the ones of one_hot(codes) sit: codes (B, cells) -> (rows (N,), cols (N,)), one
    entry per occupied cell, sorted by row; the layout is network.one_hot's."""
    n_cells = codes.shape[1]
    # NumPy finds the non-zero entries of a flat boolean array ten times faster than
    # (row, cell) pairs of a 2-D one; each flat index then splits into its row and cell.
    flat = codes.reshape(-1)
    where = np.flatnonzero(flat)
    rows, cells = np.divmod(where, n_cells) if n_cells else (where, where)
    channels = flat[where].astype(np.int64) - 1
    return rows, (channels * n_cells + cells if spatial else cells * n_channels + channels)


class FlatArrays(dict):
    """A dict name -> array whose arrays are views into one vector, ``.flat``; Linear
    weights (out, in) are views of an (in, out) block. ``sparse_rows`` (gradients only):
    see FastMLP.backward."""

    def __init__(self, shapes: dict, dtype):
        super().__init__()
        self.flat = np.zeros(sum(int(np.prod(shape)) for shape in shapes.values()), dtype)
        self.sparse_rows = None
        offset = 0
        for name, shape in shapes.items():
            block = self.flat[offset:offset + int(np.prod(shape))]
            view = block.reshape(shape[::-1]).T if len(shape) == 2 else block.reshape(shape)
            dict.__setitem__(self, name, view)
            offset += block.size

    def __setitem__(self, name, value):
        raise TypeError(f"Replacing the array {name!r} would detach it from the flat vector that Adam "
                        f"updates; copy into it instead: arrays[{name!r}][...] = value")


class FastNetwork:
    """The parameters of a plain network, moved into flat vectors; the head's Linear layers."""

    def __init__(self, net: plain.QNetwork):
        for name in ("head", "board_shape", "n_actions", "obs_size", "spatial", "dtype", "n_params"):
            setattr(self, name, getattr(net, name))
        shapes = {name: p.shape for name, p in net.params.items()}
        self.params, self.grads = FlatArrays(shapes, net.dtype), FlatArrays(shapes, net.dtype)
        self.load_params(net.params)
        # (weight, bias, d_weight, d_bias) of each Linear layer, input to output.
        self.linears = [(self.params[f"{n}.weight"], self.params[f"{n}.bias"],
                         self.grads[f"{n}.weight"], self.grads[f"{n}.bias"]) for n in self.head]

    load_params = plain.QNetwork.load_params

    def _head_after_first(self, z: np.ndarray) -> np.ndarray:
        """z: (B, hidden_sizes[0]) the first Linear's output, or (hidden_sizes[0],) for one board
        -> Q-values (B, n_actions); keeps the activations, (B, width) each."""
        self._hidden = []
        for weight, bias, _, _ in self.linears[1:]:
            h = relu_forward(z)
            self._hidden.append(h if h.ndim == 2 else h[None])
            z = h @ weight.T
            z += bias
        return z if z.ndim == 2 else z[None]

    def _backward_to_first(self, d_q: np.ndarray) -> np.ndarray:
        """d_q: (B, n_actions) -> dLoss/dz of the first Linear's output; writes the rest's grads."""
        d_z = np.asarray(d_q, self.dtype)
        for (weight, _, d_weight, d_bias), h in zip(self.linears[:0:-1], self._hidden[::-1]):
            np.matmul(h.T, d_z, out=d_weight.T)        # straight into the flat gradient vector
            d_z.sum(axis=0, out=d_bias)
            d_z = relu_backward(d_z @ weight, h)
        return d_z


class FastMLP(FastNetwork):
    """dqn/network.py's MLP; forward_codes and backward skip the empty cells of the board."""

    off_board = False     # build_network: True when the board's last channel marks a window's walls

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (B, obs_size) dense observations -> Q-values (B, n_actions)."""
        weight, bias, _, _ = self.linears[0]
        self._first = ("dense", np.asarray(x, self.dtype))
        return self._head_after_first(self._first[1] @ weight.T + bias)

    def forward_codes(self, codes: np.ndarray, extras: np.ndarray) -> np.ndarray:
        """codes (B, cells) uint8, extras (B, E) -> Q-values (B, n_actions)."""
        weight, bias, _, _ = self.linears[0]
        rows_of_inputs = weight.T                                     # (in, out): row i is input i's weights
        extras = np.asarray(extras, self.dtype)
        n_channels = self.board_shape[0] if self.board_shape else 0
        n_board, walls = codes.shape[1] * n_channels, None
        if len(codes) == 1 and ONE_BOARD_PATH:
            # The agent's greedy move: for one board the batched gather below costs more than
            # its arithmetic, and NumPy's calls cost less on vectors: z is (out,) to the head.
            cells = codes[0].nonzero()[0]
            cols = cells * n_channels
            cols += codes[0, cells]
            cols -= 1
            rows = None                                               # all sample 0: see backward
            z = rows_of_inputs[cols].sum(axis=0)
            z += bias
            z += extras[0] @ rows_of_inputs[n_board:]
        else:
            z = extras @ rows_of_inputs[n_board:] + bias
            if self.off_board and DENSE_WALLS:
                # A window's off-board channel is dense, most of its ones (snake's 17 x 17 window:
                # about 75 of 81), so it is one matrix product, (B, cells) @ (cells, out), instead
                # of a gathered row per wall; the other channels stay sparse.
                walls = codes == n_channels
                codes = np.where(walls, np.uint8(0), codes)
                walls = walls.astype(self.dtype)
                z += walls @ rows_of_inputs[n_channels - 1:n_board:n_channels]
            rows, cols = onehot_columns(codes, n_channels, spatial=False)
            # Every sample gets K slots (K = the most ones any sample has) so that the sums are
            # one gather and one batched product; spare slots read row 0 and count 0.
            counts = np.bincount(rows, minlength=len(codes))
            slot = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
            columns = np.zeros((len(codes), counts.max(initial=0)), np.intp)
            present = np.zeros((len(codes), 1, columns.shape[1]), self.dtype)
            columns[rows, slot], present[rows, 0, slot] = cols, 1.0
            z += (present @ rows_of_inputs[columns])[:, 0]            # (B, 1, K) @ (B, K, out)
        self._first = ("codes", rows, cols, extras, walls)
        return self._head_after_first(z)

    def backward(self, d_q: np.ndarray) -> dict:
        """d_q: (B, n_actions) -> the gradients (self.grads: the next backward overwrites them).

        After forward_codes, grads.sparse_rows = (stop, width, rows) says that grads.flat[:stop],
        seen as rows of ``width`` (the first weight's board inputs, stored (in, out) first in
        the vector), is zero but in ``rows``: the inputs that held a one somewhere in the batch.
        Clipping and Adam skip the others (optim.py).
        """
        d_z = self._backward_to_first(d_q)
        _, _, d_weight, d_bias = self.linears[0]
        d_bias[...] = d_z.sum(axis=0)
        if self._first[0] == "dense":
            np.matmul(self._first[1].T, d_z, out=d_weight.T)
            self.grads.sparse_rows = None
            return self.grads
        _, rows, cols, extras, walls = self._first
        rows = np.zeros(len(cols), np.intp) if rows is None else rows
        d_rows = d_weight.T                                           # (in, out)
        n_board = len(d_rows) - extras.shape[1]
        np.matmul(extras.T, d_z, out=d_rows[n_board:])
        # A board input's gradient is d_z summed over the samples where it holds a one; it is
        # zero elsewhere. Clear the rows the previous batch wrote, then write this batch's:
        # most inputs hold a one in a single sample, whose d_z row is then their gradient.
        before = self.grads.sparse_rows
        d_rows[:n_board][before[2] if before is not None else slice(None)] = 0.0
        d_rows[cols] = d_z[rows]
        # The few inputs shared by several samples need sums: with hits[k, b] = 1 when sample b
        # has a one at shared input k, they are one small matrix product.
        counts = np.bincount(cols, minlength=n_board)
        shared = np.flatnonzero(counts > 1)
        if len(shared):
            in_shared = counts[cols] > 1
            hits = np.zeros((len(shared), len(d_z)), self.dtype)
            hits[np.searchsorted(shared, cols[in_shared]), rows[in_shared]] = 1.0
            d_rows[shared] = hits @ d_z
        touched = np.flatnonzero(counts)
        if walls is not None:                         # the off-board channel's rows, (cells, out)
            n_channels = self.board_shape[0]
            seen = np.flatnonzero(walls.any(axis=0))      # the cells a wall in some sample
            inputs = seen * n_channels + n_channels - 1
            d_rows[inputs] += walls[:, seen].T @ d_z
            touched = np.union1d(touched, inputs)
        self.grads.sparse_rows = (n_board * d_rows.shape[1], d_rows.shape[1], touched)
        return self.grads


class FastCNN(FastNetwork):
    """dqn/network.py's CNN; forward_codes runs the convolutions near occupied cells only."""

    def __init__(self, net: plain.CNN):
        super().__init__(net)
        self.n_features = net.n_features

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (B, obs_size) dense observations -> Q-values (B, n_actions)."""
        x = np.asarray(x, self.dtype)
        n_board = int(np.prod(self.board_shape))
        p = self.params
        board = x[:, :n_board].reshape(-1, *self.board_shape)
        a1 = relu_forward(conv3x3_forward(board, p["conv.0.weight"], p["conv.0.bias"]))
        a2 = relu_forward(conv3x3_forward(a1, p["conv.2.weight"], p["conv.2.bias"]))
        self._convolutions = ("dense", board, a1, a2)
        return self._head(a2, x[:, n_board:])

    def forward_codes(self, codes: np.ndarray, extras: np.ndarray) -> np.ndarray:
        """codes (B, cells) uint8, extras (B, E) -> Q-values (B, n_actions)."""
        p = self.params
        sparse = sparse_conv_forward(codes, self.board_shape, p["conv.0.weight"], p["conv.0.bias"],
                                     p["conv.2.weight"], p["conv.2.bias"])
        if sparse is None:                                            # boards too full for it to pay
            return self.forward(plain.one_hot(codes, extras, self.board_shape[0], True, self.dtype))
        self._convolutions = ("sparse", sparse)
        return self._head(sparse.a2, np.asarray(extras, self.dtype))

    def _head(self, a2: np.ndarray, extras: np.ndarray) -> np.ndarray:
        # The first Linear reads [features | extras]: each block of its weight times its own
        # input gives the same sum without copying the feature map to append the extras.
        weight, bias, _, _ = self.linears[0]
        n = self.n_features
        self._features, self._extras = a2.reshape(len(a2), -1), extras
        return self._head_after_first(self._features @ weight[:, :n].T + extras @ weight[:, n:].T + bias)

    def backward(self, d_q: np.ndarray) -> dict:
        """d_q: (B, n_actions) -> the gradients (self.grads: the next backward overwrites them)."""
        p, g, n = self.params, self.grads, self.n_features
        d_z = self._backward_to_first(d_q)
        weight, _, d_weight, d_bias = self.linears[0]
        np.matmul(self._features.T, d_z, out=d_weight[:, :n].T)
        np.matmul(self._extras.T, d_z, out=d_weight[:, n:].T)
        d_z.sum(axis=0, out=d_bias)
        d_a2 = (d_z @ weight[:, :n]).reshape(-1, *p["conv.2.weight"].shape[:1], *self.board_shape[1:])
        if self._convolutions[0] == "sparse":
            sparse_conv_backward(d_a2, self._convolutions[1], p["conv.2.weight"], g["conv.0.weight"],
                                 g["conv.0.bias"], g["conv.2.weight"], g["conv.2.bias"])
            return self.grads
        _, board, a1, a2 = self._convolutions
        d_a1, g["conv.2.weight"][...], g["conv.2.bias"][...] = conv3x3_backward(
            relu_backward(d_a2, a2), a1, p["conv.2.weight"])
        _, g["conv.0.weight"][...], g["conv.0.bias"][...] = conv3x3_backward(
            relu_backward(d_a1, a1), board, p["conv.0.weight"])
        return self.grads


def build_network(metadata, hyperparams: dict, rng=None, dtype=np.float32):
    """dqn.network.build_network's network, made fast: the same initial weights for the same rng."""
    net, rationale = plain.build_network(metadata, hyperparams, rng, dtype)
    fast = FastCNN(net) if net.spatial else FastMLP(net)
    fast.off_board = bool(metadata.egocentric) and net.board_shape is not None
    return fast, rationale
