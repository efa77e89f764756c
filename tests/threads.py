"""Run a kernel call on a given number of numba threads (the tests' 1- and 2-thread checks)."""

import numba


def with_threads(threads: int, fn, *args):
    """fn(*args) with numba's thread count set to ``threads`` for the call, then restored."""
    numba.set_num_threads(threads)
    try:
        return fn(*args)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
