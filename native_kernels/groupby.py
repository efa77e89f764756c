"""Hash group-by for the per-customer aggregation (numba, serial).

All kernels are private: they never validate; the caller allocates every IN/OUT array.
``segscore.features.aggregate`` is the typed wrapper. Every aggregate is an integer sum,
min, max, count or bit-or, so results do not depend on row order.
"""

import numpy as np
from numba import njit

from native_kernels._options import SERIAL

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

# columns of the ``acc`` matrix filled by _scatter_aggregate (channels follow at CHANNEL0)
FIRST, LAST, NET, PURCHASE, RETURNS, ROWS, BUYS, CATMASK, CHANNEL0 = range(9)
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def table_size(n):
    """Smallest power of two >= max(2 * n, 16): the open-addressing table length for n keys."""
    size = 16
    while size < 2 * n:
        size *= 2
    return size


@njit(**SERIAL)
def _dense_codes_int64(ids, table, codes, uniques):
    """Dense group codes in first-appearance order; returns the number of groups.

    ids:     IN int64 (n,).
    table:   INOUT int32, length a power of two >= 2 * n, every slot -1 on entry
             (slot -> group code, linear probing).
    codes:   OUT int64 (n,): codes[i] = group of ids[i], 0.. in order of first appearance.
    uniques: OUT int64 (>= n,): uniques[:k] = the id of each group (k = return value).
    """
    mask = np.uint64(table.shape[0] - 1)
    bits = 0
    while (1 << bits) < table.shape[0]:
        bits += 1
    shift = np.uint64(64 - bits)
    k = 0
    for i in range(ids.shape[0]):
        v = ids[i]
        slot = (np.uint64(v) * _GOLDEN) >> shift
        while True:
            c = table[slot]
            if c < 0:
                table[slot] = k
                uniques[k] = v
                codes[i] = k
                k += 1
                break
            if uniques[c] == v:
                codes[i] = c
                break
            slot = (slot + np.uint64(1)) & mask
    return k


@njit(**SERIAL)
def _scatter_aggregate(codes, ts, units, chan, cat, acc):
    """One pass over the rows: per-group sums, extremes and counts into ``acc``.

    codes: IN int64 (n,) group codes in [0, k).
    ts:    IN int64 (n,) order timestamps (microseconds).
    units: IN int64 (n,) amount in 1/10_000 currency units; a row is a purchase if > 0.
    chan:  IN int8 (n,) channel code in [0, n_chan), -1 = other / null (ignored if n_chan = 0).
    cat:   IN int8 (n,) category code in [0, 64), -1 = null; length 0 = no category bitmask.
    acc:   OUT int64 (k, CHANNEL0 + n_chan), fully overwritten:
           FIRST / LAST   min / max ts over purchase rows (INT64_MAX / INT64_MIN if none),
           NET            sum of units,
           PURCHASE       sum of units > 0,
           RETURNS        sum of -units over units < 0,
           ROWS / BUYS    row count / purchase-row count,
           CATMASK        bit c set if some purchase row has category code c (int64 bits),
           CHANNEL0 + j   sum of units of purchase rows with chan == j.
    """
    k = acc.shape[0]
    n_chan = acc.shape[1] - CHANNEL0
    for g in range(k):
        acc[g, FIRST] = INT64_MAX
        acc[g, LAST] = INT64_MIN
        for j in range(NET, acc.shape[1]):
            acc[g, j] = 0
    with_cat = cat.shape[0] > 0
    for i in range(codes.shape[0]):
        g = codes[i]
        u = units[i]
        acc[g, NET] += u
        acc[g, ROWS] += 1
        if u > 0:
            t = ts[i]
            if t < acc[g, FIRST]:
                acc[g, FIRST] = t
            if t > acc[g, LAST]:
                acc[g, LAST] = t
            acc[g, PURCHASE] += u
            acc[g, BUYS] += 1
            if n_chan > 0:
                c = chan[i]
                if c >= 0:
                    acc[g, CHANNEL0 + c] += u
            if with_cat:
                c = cat[i]
                if c >= 0:
                    acc[g, CATMASK] |= np.int64(1) << np.int64(c)
        elif u < 0:
            acc[g, RETURNS] -= u


@njit(**SERIAL)
def _count_distinct_pairs(codes, units, keys, valid, count_missing, offsets, grouped, counts):
    """Per group: distinct keys among purchase rows (+ each purchase row without a key).

    Groups the keyed purchase rows by code with a counting sort, then counts distinct keys in
    each group's (small) slice: no hash table, two sequential passes and one scatter.

    codes:         IN int64 (n,) group codes in [0, k).
    units:         IN int64 (n,); only rows with units > 0 take part.
    keys:          IN int64 (n,) key per row (order id or category code); read where valid.
    valid:         IN bool (n,) False = null key.
    count_missing: IN bool: a purchase row with a null key counts 1 (else it is ignored).
    offsets:       INOUT int64 (k + 1,), zero on entry (scratch).
    grouped:       INOUT int64 (n,) (scratch, any content on entry).
    counts:        OUT int64 (k,), zero on entry.
    """
    n = codes.shape[0]
    k = counts.shape[0]
    for i in range(n):
        if units[i] > 0:
            if valid[i]:
                offsets[codes[i] + 1] += 1
            elif count_missing:
                counts[codes[i]] += 1
    for g in range(k):
        offsets[g + 1] += offsets[g]
    fill = offsets[:k].copy()
    for i in range(n):
        if units[i] > 0 and valid[i]:
            g = codes[i]
            grouped[fill[g]] = keys[i]
            fill[g] += 1
    for g in range(k):
        lo = offsets[g]
        hi = offsets[g + 1]
        if hi - lo <= 1:
            counts[g] += hi - lo
            continue
        part = grouped[lo:hi]
        if hi - lo > 32:
            part.sort()
        else:  # insertion sort: slices are a few orders long
            for a in range(1, hi - lo):
                v = part[a]
                b = a - 1
                while b >= 0 and part[b] > v:
                    part[b + 1] = part[b]
                    b -= 1
                part[b + 1] = v
        distinct = 1
        for a in range(1, hi - lo):
            if part[a] != part[a - 1]:
                distinct += 1
        counts[g] += distinct
