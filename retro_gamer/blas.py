"""How many threads NumPy's matrix products may use.

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


def _openblas():
    """(set_num_threads, get_num_threads) of NumPy's OpenBLAS, or None."""
    package = os.path.dirname(np.__file__)
    for folder in (os.path.join(package, os.pardir, "numpy.libs"), os.path.join(package, ".libs")):
        for path in glob.glob(os.path.join(folder, "*openblas*")):
            try:
                library = ctypes.CDLL(path)   # already loaded by NumPy: the same library
            except OSError:
                continue
            for set_name, get_name in _SYMBOLS:
                if hasattr(library, set_name) and hasattr(library, get_name):
                    return getattr(library, set_name), getattr(library, get_name)
    return None


_LIBRARY = _openblas()


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
