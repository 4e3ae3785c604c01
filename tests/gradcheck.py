"""Central-difference gradients, to check hand-written backward passes (float64 only),
and the relative error the engine tests compare arrays with."""
import numpy as np


def numerical_gradient(f, x: np.ndarray, indices=None, h: float = 1e-6) -> np.ndarray:
    """dF/dx of the scalar function f() at the current values of x, by central differences.

    x is changed in place and restored, so f may read it from anywhere (a network's
    parameter, an input array, a view into a flat vector). indices: the entries to check
    (a list of index tuples), all of them when None; the result has one value per index,
    or x's shape. Needs float64: float32 rounding would swamp the differences.
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
    assert a.shape == b.shape, (a.shape, b.shape)
    if a.size == 0:
        return 0.0
    scale = max(np.abs(a).max(), np.abs(b).max(), 1e-12)
    return float(np.abs(a - b).max() / scale)


def assert_network_gradients(loss, params: dict, grads: dict, rng: np.random.Generator,
                             count: int = 12, tolerance: float = 1e-6) -> None:
    """Every parameter's gradient from backward against central differences of loss().

    For each parameter: ``count`` random entries, and the three largest gradients, since
    random picks could all fall on zeros (a dead unit, an input never set). grads must be
    copies taken right after backward: loss() runs forward again and again.
    """
    for name, param in params.items():
        indices = some_indices(param.shape, count, rng)
        largest = np.unravel_index(np.argsort(np.abs(grads[name]), axis=None)[-3:], param.shape)
        indices += list(zip(*largest))
        expected = numerical_gradient(loss, param, indices)
        got = np.array([grads[name][i] for i in indices])
        assert np.abs(got).max() > 0, f"{name}: every checked gradient is zero, nothing was tested"
        assert relative_error(got, expected) < tolerance, name
