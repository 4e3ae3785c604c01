"""Central-difference gradients, to check hand-written backward passes (float64 only)."""
from __future__ import annotations

import numpy as np


def numerical_gradient(f, x: np.ndarray, indices=None, h: float = 1e-6) -> np.ndarray:
    """dF/dx of the scalar function f() at the current values of x, by central differences.

    x is changed in place and restored, so f may read it from anywhere (a network's
    parameter, an input array). indices: the entries to check (a list of index tuples),
    all of them when None; the result has one value per index, or x's shape.
    Needs float64: float32 rounding would swamp the differences.
    """
    assert x.dtype == np.float64, "gradient checks need float64"
    chosen = list(np.ndindex(x.shape)) if indices is None else indices
    grad = np.zeros(len(chosen))
    for k, index in enumerate(chosen):
        saved = x[index]
        x[index] = saved + h
        f_plus = f()
        x[index] = saved - h
        f_minus = f()
        x[index] = saved
        grad[k] = (f_plus - f_minus) / (2 * h)
    return grad.reshape(x.shape) if indices is None else grad


def some_indices(shape: tuple, count: int, rng: np.random.Generator) -> list[tuple]:
    """count random index tuples into an array of this shape (all of them if fewer)."""
    every = list(np.ndindex(shape))
    if len(every) <= count:
        return every
    return [every[i] for i in rng.choice(len(every), count, replace=False)]


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| relative to the larger of the two arrays' largest magnitudes."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.abs(a).max(), np.abs(b).max(), 1e-12)
    return float(np.abs(a - b).max() / scale)
