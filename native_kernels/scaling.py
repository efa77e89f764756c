"""Feature-scaling kernels (numba): transform, mean / population std, z-score columns.

All kernels are private: they never validate. ``segscore.clusters`` is the typed wrapper.
A column is any numeric 1-D array; NaN means null (skipped by the moments, z = 0 in the
output). The transform is the identity, or log1p of the value clipped at 0 (``log``).

Determinism: rows are split into fixed chunks of ``CHUNK`` rows (boundaries depend only on
n); every chunk writes its partial sums inside ``prange`` and the partials are merged
serially in chunk order, so results are bit-identical whatever the thread count.
"""

import numpy as np
from numba import njit, prange

from native_kernels._options import PARALLEL, SERIAL

CHUNK = 65536


@njit(**SERIAL)
def _transform(v, log):
    """The transformed float64 value of v (NaN stays NaN)."""
    x = np.float64(v)
    if log and x == x:
        return np.log1p(x if x > 0.0 else 0.0)
    return x


@njit(**PARALLEL)
def _transform_moments(column, log, out):
    """out[i] = transform(column[i]) (float64 (n,)); returns (mean, population std, count)
    of the non-NaN transformed values ((0, 0, 0) when there are none). When every such value
    is the same, exactly (that value, 0, count): a summed mean can be an ulp off the value,
    which would give a constant feature a std of ~1e-16 and z-scores of ±1.

    Two passes (sum, then squared deviations from the mean), merged in chunk order.
    """
    n = column.shape[0]
    m = max(1, (n + CHUNK - 1) // CHUNK)
    sums = np.zeros(m)
    counts = np.zeros(m, dtype=np.int64)
    lows = np.full(m, np.inf)
    highs = np.full(m, -np.inf)
    for c in prange(m):
        s = 0.0
        cnt = 0
        lo = np.inf
        hi = -np.inf
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            x = _transform(column[i], log)
            out[i] = x
            if x == x:
                s += x
                cnt += 1
                lo = min(lo, x)
                hi = max(hi, x)
        sums[c] = s
        counts[c] = cnt
        lows[c] = lo
        highs[c] = hi
    total = 0.0
    count = 0
    for c in range(m):
        total += sums[c]
        count += counts[c]
    if count == 0:
        return 0.0, 0.0, 0
    if lows.min() == highs.max():
        return lows.min(), 0.0, count
    mean = total / count
    for c in prange(m):
        s = 0.0
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            x = out[i]
            if x == x:
                s += (x - mean) * (x - mean)
        sums[c] = s
    ss = 0.0
    for c in range(m):
        ss += sums[c]
    return mean, np.sqrt(ss / count), count


@njit(**PARALLEL)
def _transform_zscore_into(column, log, mean, std, X, j):
    """X[i, j] = (transform(column[i]) − mean) / std as float32, 0 where it is NaN.

    column: IN numeric (n,), raw values (or values already transformed, with log False);
    X: OUT float32 (n, d).
    """
    n = column.shape[0]
    for i in prange(n):
        x = _transform(column[i], log)
        X[i, j] = np.float32((x - mean) / std) if x == x else np.float32(0.0)


@njit(**SERIAL)
def _transform_table(lo, log, table):
    """table[k] = transform(lo + k) for k < len(table): the transform of every integer in a
    narrow range, computed once (the same function as per row, so the same float64)."""
    for k in range(table.shape[0]):
        table[k] = _transform(np.int64(lo + k), log)


@njit(**PARALLEL)
def _lookup_into(column, lo, table, out):
    """out[i] = table[column[i] - lo] (float64 (n,)); column: IN integer (n,), every value in
    [lo, lo + len(table))."""
    for i in prange(column.shape[0]):
        out[i] = table[np.int64(column[i]) - lo]
