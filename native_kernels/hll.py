"""HyperLogLog registers of 64-bit keys (numba, parallel, nogil).

``segscore.distinct`` is the typed wrapper: it streams a column through ``_hll_update`` and
turns the registers into an estimate. Each key is mixed with splitmix64's finalizer, so ids
with structure (sequential, multiples of a stride) spread evenly; the top ``p`` bits of the
mix pick the register, the rank is 1 + the leading zeros of the remaining 64 − p bits. A
register keeps the maximum rank, so the result does not depend on row order, on how the
rows are split into batches or on the thread count.
"""

import numpy as np
from numba import njit, prange
from numba.cpython.unsafe.numbers import leading_zeros  # llvm's ctlz (64 for 0)

from native_kernels._options import PARALLEL, SERIAL


@njit(**SERIAL)
def _mix(x):
    """splitmix64's finalizer: a bijection of uint64 with good avalanche."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(**PARALLEL)
def _hll_update(keys, regs):
    """regs[t, j] = max(regs[t, j], rank) over the keys of block t that fall in register j.

    keys: IN int64 or uint64 (n,).  regs: INOUT uint8 (T, m), m = 2**p, 4 <= p <= 24; one
    row per block of keys (the caller takes the maximum over axis 0).
    """
    n_blocks, m = regs.shape
    p = np.uint64(0)
    while (np.uint64(1) << p) < np.uint64(m):
        p += np.uint64(1)
    rest = np.uint64(64) - p
    n = keys.shape[0]
    for t in prange(n_blocks):
        lo = n * t // n_blocks
        hi = n * (t + 1) // n_blocks
        for i in range(lo, hi):
            h = _mix(np.uint64(keys[i]))
            j = h >> rest
            rank = np.uint8(min(np.uint64(leading_zeros(h << p)), rest) + np.uint64(1))
            if rank > regs[t, j]:
                regs[t, j] = rank
