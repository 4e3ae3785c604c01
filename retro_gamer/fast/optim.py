"""Replaces dqn/optim.py's clip_grad_norm and Adam, with the same interface and the same numbers.

Faster because the fast network keeps every parameter in one flat vector (network.py):
the update is a dozen NumPy calls over that vector, done in place and a cache-sized block
at a time, instead of a dozen calls per parameter array, each allocating temporaries of
the array's size. tests/test_engines.py checks the weights after several steps against
the plain Adam.
"""
from __future__ import annotations

import math

import numpy as np

from retro_gamer.dqn import optim as plain

# 2**16 values: the five vectors' blocks (weights, gradient, m, v, scratch) together fit
# in the CPU's cache, so the twelve passes over a block read memory only once.
BLOCK = 1 << 16


def clip_grad_norm(grads, max_norm: float = 10.0) -> float:
    """dqn/optim.py's clip_grad_norm on the flat gradient vector (grads.flat)."""
    flat = grads.flat
    # Squares summed a block at a time in float32, the blocks in a Python float (64-bit):
    # no float64 copy of the vector, and rounding stays near 1e-7 even over millions of values.
    norm = math.sqrt(sum(float(np.dot(flat[k:k + BLOCK], flat[k:k + BLOCK])) for k in range(0, len(flat), BLOCK)))
    factor = max_norm / (norm + 1e-6)
    if factor < 1.0:
        flat *= flat.dtype.type(factor)
    return norm


class Adam(plain.Adam):
    """dqn/optim.py's Adam on the flat vectors: params.flat, and m and v laid out alike."""

    def __init__(self, params, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(params, lr, beta1, beta2, eps)
        self.m_flat, self.v_flat = np.zeros_like(params.flat), np.zeros_like(params.flat)
        self.m, self.v = _same_views(params, self.m_flat), _same_views(params, self.v_flat)
        self._scratch = np.empty(BLOCK, params.flat.dtype)

    def step(self, grads) -> None:
        self.steps += 1
        b1, b2, t = self.beta1, self.beta2, self.steps
        # lr * m_hat / (sqrt(v_hat) + eps) = step_size * m / (sqrt(v) + eps_hat), with the bias
        # corrections moved into two scalars.
        root_correction2 = math.sqrt(1 - b2 ** t)
        step_size = self.lr * root_correction2 / (1 - b1 ** t)
        eps_hat = self.eps * root_correction2
        w_all, g_all, m_all, v_all = self.params.flat, grads.flat, self.m_flat, self.v_flat
        for k in range(0, len(w_all), BLOCK):
            w, g, m, v = (a[k:k + BLOCK] for a in (w_all, g_all, m_all, v_all))
            s = self._scratch[:len(w)]
            m *= b1
            np.multiply(g, 1 - b1, out=s)
            m += s                                   # m = b1 * m + (1 - b1) * g
            v *= b2
            np.multiply(g, g, out=s)
            s *= 1 - b2
            v += s                                   # v = b2 * v + (1 - b2) * g * g
            np.sqrt(v, out=s)
            s += eps_hat
            np.divide(m, s, out=s)
            s *= -step_size
            w += s                                   # w -= step_size * m / (sqrt(v) + eps_hat)


def _same_views(params, flat: np.ndarray) -> dict:
    """Views of ``flat`` laid out as params' arrays are in params.flat."""
    base = params.flat.__array_interface__["data"][0]
    return {name: np.ndarray(p.shape, p.dtype, buffer=flat, offset=p.__array_interface__["data"][0] - base,
                             strides=p.strides) for name, p in params.items()}
