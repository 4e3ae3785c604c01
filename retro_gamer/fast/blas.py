"""Runs the matrix products of an MLP's training (dqn/layers.py's Linear, fast/network.py's head)
on one thread: faster because NumPy's OpenBLAS splits every product over all cores and keeps
its threads spinning while they wait for each other. For an MLP's small products (a batch of
64 through 128 x 128 weights) the split costs more than it saves, and on a busy machine a
spinning thread waits for a core: tests/benchmarks/engines.py measured training 8 times slower
under load. The CNN's large convolutions are worth sharing and keep every core.

Python has no standard way to set this once NumPy is loaded, so we ask the OpenBLAS library
that NumPy ships with; where it cannot be found (another BLAS, another platform), nothing changes.
"""
import contextlib
import ctypes
import glob
import os

import numpy as np

THREADS = 1      # for an MLP's training; None leaves NumPy's default (tests/benchmarks/engines.py)


def _openblas():
    """(set_num_threads, get_num_threads) of NumPy's own OpenBLAS, or None."""
    package = os.path.dirname(np.__file__)
    for folder in (os.path.join(package, os.pardir, "numpy.libs"), os.path.join(package, ".libs")):
        for path in glob.glob(os.path.join(folder, "*openblas*")):
            with contextlib.suppress(OSError):
                library = ctypes.CDLL(path)
                for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("openblas", "")):
                    names = (f"{prefix}_set_num_threads{suffix}", f"{prefix}_get_num_threads{suffix}")
                    if all(hasattr(library, name) for name in names):
                        return tuple(getattr(library, name) for name in names)
    return None


_LIBRARY = _openblas()


@contextlib.contextmanager
def training_threads(metadata):
    """Inside the block, an MLP's matrix products run on THREADS threads; a CNN's keep them all."""
    if _LIBRARY is None or THREADS is None or metadata.spatial:
        yield
        return
    set_threads, get_threads = _LIBRARY
    before = get_threads()
    set_threads(THREADS)
    try:
        yield
    finally:
        set_threads(before)
