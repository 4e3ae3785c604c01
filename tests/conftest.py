"""Settings for the whole test suite.

The networks trained here are tiny (a hidden layer of 16 or 64 units on a 7-cell board), and
on a small machine NumPy's matrix library wastes more time handing such products between
threads than computing them: one thread makes the suite several times faster. Set before
anything imports NumPy; a value given in the environment wins.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
