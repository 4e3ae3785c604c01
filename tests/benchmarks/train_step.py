"""How long one DQN training step takes on snake, batch 64 (issue 2's speed targets).

One step = the target network's forward on the next states, the online forward and
backward, Huber loss, gradient clipping and one Adam update: exactly what the trainer
does every train_every turns. Two networks:
  (a) MLP: 3074 inputs (6 channels x 16 x 32 board + 2 extras), hidden [128, 128], 5 actions;
  (b) CNN: the same board through conv 6->32->64, then the same head.
Targets: the MLP step in at most 0.75 ms; the CNN step at least 60% of this machine's
float32 matrix-product rate, measured in the same run with a (32768 x 288) @ (288 x 64)
product, the shape of the big convolution's im2col product. That rate is measured with
the dense convolutions (layers.py); the step the trainer takes on these mostly empty
boards computes the convolutions only near the occupied cells (sparse_conv.py) and is
shown beside it, with the dense FLOPs it stands for.

Run: python tests/benchmarks/train_step.py   (the machine is shared, so each time is the
best of 30 rounds, and the median round is shown too; the FLOP count is that of the
mathematical convolution, not of the 3% wrap-around extra that layers.py computes)
"""
from __future__ import annotations

import contextlib
import time

import numpy as np


from retro_gamer import sparse_conv
from retro_gamer.blas import blas_threads
from retro_gamer.losses import huber_loss
from retro_gamer.metadata import GameMetadata
from retro_gamer.network import ConvQNetwork, build_network
from retro_gamer.optim import Adam, clip_grad_norm

BATCH = 64
GAMMA = 0.99
HEIGHT, WIDTH = 16, 32
CHARACTERS = ["@", "*", ">", "<", "^", "v"]     # apple, body, heads: codes 1, 2, 3..6


def snake_metadata(spatial: bool) -> GameMetadata:
    return GameMetadata(actions=["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"], reward="reward",
                        character_set=CHARACTERS, board_size=(WIDTH, HEIGHT), spatial=spatial,
                        observe_state=["apple_dx", "apple_dy"], extras_size=2)


def snake_boards(rng: np.random.Generator, batch: int) -> np.ndarray:
    """(batch, H*W) uint8 codes: a head, a body of 2 to 6 cells behind it, an apple."""
    codes = np.zeros((batch, HEIGHT, WIDTH), np.uint8)
    for board in codes:
        y, x = rng.integers(0, HEIGHT), rng.integers(8, WIDTH)
        board[y, x] = 3 + rng.integers(0, 4)
        board[y, x - 1 - rng.integers(2, 7):x] = 2
        board[rng.integers(0, HEIGHT), rng.integers(0, 8)] = 1
    return codes.reshape(batch, -1)


def matmul_flops(net, batch: int) -> int:
    """Multiply-adds x 2 of one step's matrix products.

    Forward of the online and target networks, and the online backward: the weight
    gradient and the input gradient of every layer, except the first layer's input
    gradient, which nobody needs.
    """
    layer_macs = []                                 # multiply-adds of each layer's forward, in order
    if isinstance(net, ConvQNetwork):
        _, height, width = net.board_shape
        for name in ("conv.0", "conv.2"):
            layer_macs.append(net.params[f"{name}.weight"].size * height * width)
    for name in net.linear_names:
        layer_macs.append(net.params[f"{name}.weight"].size)
    forward = sum(layer_macs)
    backward = 2 * forward - layer_macs[0]
    return 2 * batch * (2 * forward + backward)


@contextlib.contextmanager
def patched(module, name: str, value):
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, saved)


def elapsed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def gemm_function():
    """The reference matrix product: (32768 x 288) @ (288 x 64), and its FLOP count."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((32768, 288), dtype=np.float32)
    b = rng.standard_normal((288, 64), dtype=np.float32)
    out = np.empty((32768, 64), np.float32)
    return (lambda: np.matmul(a, b, out=out)), 2 * 32768 * 288 * 64


def training_step_function(spatial: bool):
    """A zero-argument function doing one full training step on a fixed snake batch."""
    rng = np.random.default_rng(0)
    metadata = snake_metadata(spatial)
    online, _ = build_network(metadata, {"hidden_sizes": [128, 128]}, rng=rng)
    target, _ = build_network(metadata, {"hidden_sizes": [128, 128]}, rng=rng)
    online.copy_to(target)
    optimizer = Adam(online.params, lr=1e-3)
    codes, next_codes = snake_boards(rng, BATCH), snake_boards(rng, BATCH)
    extras = rng.uniform(-1, 1, (BATCH, 2)).astype(np.float32)
    next_extras = rng.uniform(-1, 1, (BATCH, 2)).astype(np.float32)
    actions = rng.integers(0, metadata.n_actions, BATCH)
    rewards = rng.choice(np.array([-1, 1, 50, -10], np.float32), BATCH)
    dones = (rng.random(BATCH) < 0.05).astype(np.float32)
    taken = np.arange(BATCH)

    def step():
        next_q = target.forward_codes(next_codes, next_extras)
        td_target = rewards + GAMMA * next_q.max(axis=1) * (1.0 - dones)
        q_values = online.forward_codes(codes, extras)
        loss, d_taken = huber_loss(q_values[taken, actions], td_target)
        d_q = np.zeros_like(q_values)
        d_q[taken, actions] = d_taken
        grads = online.backward(d_q)
        clip_grad_norm(grads, 10.0)
        optimizer.step(grads)

    return step, online


def main(rounds: int = 30) -> None:
    gemm, gemm_flops = gemm_function()
    mlp_step, _ = training_step_function(spatial=False)
    cnn_step, cnn = training_step_function(spatial=True)
    cnn_flops = matmul_flops(cnn, BATCH)

    def dense_cnn_step():
        with patched(sparse_conv, "MAX_ACTIVE_SHARE", 0.0):     # every board takes the dense path
            cnn_step()

    # The MLP runs with one BLAS thread, as the trainer runs it (see blas.py).
    with blas_threads(1):
        mlp_step()
        mlp_times = [min(elapsed(mlp_step) for _ in range(20)) for _ in range(rounds)]
    # The machine is shared: the CNN step and the reference product are measured in
    # interleaved rounds, so that a busy moment slows both alike.
    gemm(), cnn_step(), dense_cnn_step()
    gemm_times, cnn_times, sparse_times = [], [], []
    for _ in range(rounds):
        gemm_times.append(elapsed(gemm))
        cnn_times.append(elapsed(dense_cnn_step))
        sparse_times.append(elapsed(cnn_step))

    rate = gemm_flops / min(gemm_times) / 1e9
    cnn_rate = cnn_flops / min(cnn_times) / 1e9
    print(f"float32 matrix product (32768x288 @ 288x64): {rate:.0f} GFLOP/s "
          f"(median round {gemm_flops / np.median(gemm_times) / 1e9:.0f})")
    print(f"MLP step: {min(mlp_times) * 1e3:.2f} ms (median round {np.median(mlp_times) * 1e3:.2f} ms)"
          "   target <= 0.75 ms")
    print(f"CNN step, dense convolutions: {min(cnn_times) * 1e3:.1f} ms (median round "
          f"{np.median(cnn_times) * 1e3:.1f} ms), {cnn_flops / 1e9:.2f} GFLOP of matrix products -> "
          f"{cnn_rate:.0f} GFLOP/s = {100 * cnn_rate / rate:.0f}% of the matrix-product rate   target >= 60%")
    print(f"CNN step as trained, convolutions near the occupied cells only: {min(sparse_times) * 1e3:.1f} ms "
          f"(median round {np.median(sparse_times) * 1e3:.1f} ms), {min(cnn_times) / min(sparse_times):.1f}x "
          "faster than the dense step")


if __name__ == "__main__":
    main()
