"""How many threads NumPy's matrix products may use, and one BLAS routine NumPy lacks.

NumPy's wheels multiply matrices with OpenBLAS, which splits every product over all
CPU cores and keeps its threads spinning while it waits for the others. For the small
products of an MLP (a batch of 64 times a 128 x 128 weight) splitting costs more than it
saves, and when the machine is busy with anything else a spinning thread waits for a
core: the same product then takes 100 times longer. So training an MLP uses one thread.
The large products of the CNN's convolutions are worth sharing and keep every core.

Python has no standard way to set this after NumPy is loaded, so we ask the OpenBLAS
library that NumPy ships with directly; if it cannot be found (another BLAS, another
platform), nothing changes.
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import os

import numpy as np

_SYMBOLS = (  # (set, get) in the spellings of NumPy's own OpenBLAS builds
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)


def _numpy_openblas():
    """The OpenBLAS libraries shipped with NumPy (already loaded by it: the same ones)."""
    package = os.path.dirname(np.__file__)
    for folder in (os.path.join(package, os.pardir, "numpy.libs"), os.path.join(package, ".libs")):
        for path in glob.glob(os.path.join(folder, "*openblas*")):
            try:
                yield ctypes.CDLL(path)
            except OSError:
                continue


def _openblas():
    """(set_num_threads, get_num_threads) of NumPy's OpenBLAS, or None."""
    for library in _numpy_openblas():
        for set_name, get_name in _SYMBOLS:
            if hasattr(library, set_name) and hasattr(library, get_name):
                return getattr(library, set_name), getattr(library, get_name)
    return None


_LIBRARY = _openblas()


# --- y += a * x in one pass ------------------------------------------------------------
#
# NumPy computes y += a * x in two passes over memory (a temporary a * x, then the sum);
# BLAS's axpy does it in one. Adam's update is a handful of such passes over every
# weight, so this one function saves a pass each time (see optim.py).

_AXPY_SYMBOLS = (  # (float32, float64, integer type) in the spellings of NumPy's OpenBLAS builds
    ("scipy_cblas_saxpy64_", "scipy_cblas_daxpy64_", ctypes.c_int64),
    ("cblas_saxpy64_", "cblas_daxpy64_", ctypes.c_int64),
    ("cblas_saxpy", "cblas_daxpy", ctypes.c_int),
)


def _axpy_functions() -> dict:
    """dtype -> BLAS axpy(n, a, x, 1, y, 1) of NumPy's OpenBLAS, or {} when not found."""
    for library in _numpy_openblas():
        for single, double, integer in _AXPY_SYMBOLS:
            if hasattr(library, single) and hasattr(library, double):
                functions = {}
                for name, dtype, scalar in ((single, np.float32, ctypes.c_float),
                                            (double, np.float64, ctypes.c_double)):
                    function = getattr(library, name)
                    function.argtypes = [integer, scalar, ctypes.c_void_p, integer, ctypes.c_void_p, integer]
                    function.restype = None
                    functions[np.dtype(dtype)] = function
                return functions
    return {}


_AXPY = _axpy_functions()


def axpy(a: float, x: np.ndarray, y: np.ndarray) -> None:
    """y += a * x, in place. x, y: arrays of one shape and dtype.

    One pass with BLAS when both are contiguous vectors of float32 or float64; otherwise
    (or without NumPy's OpenBLAS) the same sum with NumPy, through a temporary array.
    """
    function = _AXPY.get(y.dtype)
    if (function is not None and x.dtype == y.dtype and x.ndim == y.ndim == 1 and x.shape == y.shape
            and x.flags.c_contiguous and y.flags.c_contiguous and y.flags.writeable):
        function(len(y), a, x.ctypes.data, 1, y.ctypes.data, 1)
    else:
        y += y.dtype.type(a) * x


@contextlib.contextmanager
def blas_threads(count: int | None):
    """Let matrix products use ``count`` threads inside the block (None: leave as is)."""
    if _LIBRARY is None or count is None:
        yield
        return
    set_threads, get_threads = _LIBRARY
    before = get_threads()
    set_threads(count)
    try:
        yield
    finally:
        set_threads(before)
