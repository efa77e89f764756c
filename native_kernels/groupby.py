"""Incremental hash group-by for the per-customer aggregation (numba, serial, nogil).

All kernels are private: they never validate; the caller allocates every IN/OUT array.
``segscore.accumulate.CustomerAccumulator`` is the typed wrapper: it feeds the rows batch by
batch, growing the tables between batches. Every aggregate is an integer sum, min, max, count
or bit-or, so results do not depend on row order or on how the rows are split into batches.
"""

import numpy as np
from numba import njit, prange

from native_kernels._options import PARALLEL, SERIAL
from native_kernels._prefetch import prefetch

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
#: rows ahead whose ``acc`` row _scatter_update asks the memory for (measured: 16-32 best)
PREFETCH_ROWS = 16
#: rows ahead in _lookup_or_insert (slots at twice this distance, ids at this distance)
LOOKUP_AHEAD = 32

# columns of the ``acc`` matrix updated by _scatter_update (channels follow at CHANNEL0)
FIRST, LAST, NET, PURCHASE, RETURNS, ROWS, BUYS, CATMASK, KEYLESS, ORDERS, LASTKEY, CHANNEL0 = \
    range(12)


def table_size(n):
    """Smallest power of two >= max(2 * n, 16): the open-addressing table length for n keys."""
    size = 16
    while size < 2 * n:
        size *= 2
    return size


@njit(**SERIAL)
def _shift(table):
    bits = 0
    while (1 << bits) < table.shape[0]:
        bits += 1
    return np.uint64(64 - bits)


@njit(**SERIAL)
def _lookup_or_insert(ids, table, uniques, k, codes, new_rows):
    """Group codes of ``ids``; unseen ids become groups k, k + 1, ... Returns the new group
    count. (A new group's ``acc`` row needs no initialization: every aggregate starts at 0.)

    ids:      IN int64 (n,).
    table:    INOUT int32, a power of two >= 2 * (k + n) (slot -> group, -1 = empty,
              linear probing); holds groups 0..k-1 on entry.
    uniques:  INOUT int64 (>= k + n,): uniques[g] = id of group g.
    k:        groups on entry.
    codes:    OUT int64 (n,): group of each row.
    new_rows: OUT int64 (n,): new_rows[j] = first row of group k + j (for the new groups).
    """
    mask = np.uint64(table.shape[0] - 1)
    shift = _shift(table)
    k0 = k
    n = ids.shape[0]
    for i in range(n):
        # two-stage prefetch: the slot of the row 2 * LOOKUP_AHEAD ahead, then the id of the
        # group in the (by now cached) slot of the row LOOKUP_AHEAD ahead
        if i + 2 * LOOKUP_AHEAD < n:
            prefetch(table, (np.uint64(ids[i + 2 * LOOKUP_AHEAD]) * _GOLDEN) >> shift)
        if i + LOOKUP_AHEAD < n:
            ahead = table[(np.uint64(ids[i + LOOKUP_AHEAD]) * _GOLDEN) >> shift]
            if ahead >= 0:
                prefetch(uniques, ahead)
        v = ids[i]
        slot = (np.uint64(v) * _GOLDEN) >> shift
        while True:
            c = table[slot]
            if c < 0:
                table[slot] = k
                uniques[k] = v
                new_rows[k - k0] = i
                codes[i] = k
                k += 1
                break
            if uniques[c] == v:
                codes[i] = c
                break
            slot = (slot + np.uint64(1)) & mask
    return k


#: rows per parallel work item of _lookup
LOOKUP_CHUNK = 1 << 16


@njit(**PARALLEL)
def _lookup(ids, table, uniques, codes):
    """Group codes of ``ids`` in a table filled by _lookup_or_insert / _fill_table, without
    inserting (-1: not in the table). Parallel over chunks of LOOKUP_CHUNK rows (each row
    is looked up alone, so the codes do not depend on the threads).

    ids:     IN int64 (n,).
    table:   IN int32 (slot -> group, -1 = empty, linear probing).
    uniques: IN int64: uniques[g] = id of group g.
    codes:   OUT int64 (n,).
    """
    mask = np.uint64(table.shape[0] - 1)
    shift = _shift(table)
    n = ids.shape[0]
    for c in prange((n + LOOKUP_CHUNK - 1) // LOOKUP_CHUNK):
        hi = min(n, (c + 1) * LOOKUP_CHUNK)
        for i in range(c * LOOKUP_CHUNK, hi):
            # the prefetch of _lookup_or_insert, written out again on purpose: as a shared
            # inline="always" helper it made _lookup_or_insert 3.5x slower (39M rows: 1.6 s
            # against 0.46 s)
            if i + 2 * LOOKUP_AHEAD < hi:
                prefetch(table, (np.uint64(ids[i + 2 * LOOKUP_AHEAD]) * _GOLDEN) >> shift)
            if i + LOOKUP_AHEAD < hi:
                ahead = table[(np.uint64(ids[i + LOOKUP_AHEAD]) * _GOLDEN) >> shift]
                if ahead >= 0:
                    prefetch(uniques, ahead)
            v = ids[i]
            slot = (np.uint64(v) * _GOLDEN) >> shift
            while True:
                g = table[slot]
                if g < 0 or uniques[g] == v:
                    codes[i] = g
                    break
                slot = (slot + np.uint64(1)) & mask


@njit(**SERIAL)
def _fill_table(uniques, k, table):
    """Insert groups 0..k-1 (ids ``uniques[:k]``, all distinct) into ``table`` (all -1)."""
    mask = np.uint64(table.shape[0] - 1)
    shift = _shift(table)
    for g in range(k):
        slot = (np.uint64(uniques[g]) * _GOLDEN) >> shift
        while table[slot] >= 0:
            slot = (slot + np.uint64(1)) & mask
        table[slot] = g


@njit(**SERIAL)
def _scatter_update(codes, ts, units, chan, cat, keyless, order_keys, acc):
    """Fold rows into their groups' aggregates.

    codes:   IN int64 (n,) group codes in [0, acc rows).
    ts:      IN int64 (n,) order timestamps (microseconds).
    units:   IN int64 (n,) amount in 1/10_000 currency units; a row is a purchase if > 0.
    chan:    IN int32 (n,) channel code in [0, acc cols - CHANNEL0), -1 = untracked / null;
             length 0 = no channel column.
    cat:     IN int32 (n,) category code in [0, 64), -1 = null; length 0 = no category bitmask.
    keyless: IN bool (n,) True = the row has no order id; length 0 = no order id column.
    order_keys: IN int64 (n,) order key (read where not keyless).
    acc:     INOUT int64 (groups, CHANNEL0 + channels), C order, a new group's row all 0:
             FIRST / LAST   min / max ts over purchase rows (0 while BUYS is 0),
             NET            sum of units,
             PURCHASE       sum of units > 0,
             RETURNS        sum of -units over units < 0,
             ROWS / BUYS    row count / purchase-row count,
             CATMASK        bit c set if some purchase row has category code c (int64 bits),
             KEYLESS        purchase rows without an order id,
             ORDERS         distinct order keys while each key seen is >= the previous one
                            (then a new key is a new order); -1 once a key went down (the
                            count must then come from the (group, key) pairs),
             LASTKEY        the largest order key seen (while ORDERS > 0),
             CHANNEL0 + j   sum of units of purchase rows with chan == j.
    Returns how many groups' ORDERS turned -1 in this call (each group turns at most once).
    """
    went_down = 0
    with_chan = chan.shape[0] > 0
    with_cat = cat.shape[0] > 0
    with_keys = keyless.shape[0] > 0
    n = codes.shape[0]
    width = acc.shape[1]
    flat = acc.reshape(acc.shape[0] * width)  # a view, for the prefetch of a row's two ends
    for i in range(n):
        if i + PREFETCH_ROWS < n:
            ahead = codes[i + PREFETCH_ROWS] * width
            prefetch(flat, ahead)
            prefetch(flat, ahead + width - 1)
        g = codes[i]
        u = units[i]
        acc[g, NET] += u
        acc[g, ROWS] += 1
        if u > 0:
            t = ts[i]
            if acc[g, BUYS] == 0 or t < acc[g, FIRST]:
                acc[g, FIRST] = t
            if acc[g, BUYS] == 0 or t > acc[g, LAST]:
                acc[g, LAST] = t
            acc[g, PURCHASE] += u
            acc[g, BUYS] += 1
            if with_chan:
                c = chan[i]
                if c >= 0:
                    acc[g, CHANNEL0 + c] += u
            if with_cat:
                c = cat[i]
                if c >= 0:
                    acc[g, CATMASK] |= np.int64(1) << np.int64(c)
            if with_keys:
                if keyless[i]:
                    acc[g, KEYLESS] += 1
                else:
                    key = order_keys[i]
                    seen = acc[g, ORDERS]
                    if seen == 0:
                        acc[g, ORDERS] = 1
                        acc[g, LASTKEY] = key
                    elif seen > 0:
                        if key > acc[g, LASTKEY]:
                            acc[g, ORDERS] = seen + 1
                            acc[g, LASTKEY] = key
                        elif key < acc[g, LASTKEY]:
                            acc[g, ORDERS] = -1
                            went_down += 1
        elif u < 0:
            acc[g, RETURNS] -= u
    return went_down


@njit(**SERIAL)
def _keep_pairs(codes, keys, n, keep):
    """Compact the first ``n`` pairs in place to those whose group has ``keep[group]``;
    returns how many remain (their order is kept).

    codes: INOUT int32 (>= n,).  keys: INOUT int64 (>= n,).  keep: IN bool (groups,).
    """
    m = 0
    for i in range(n):
        if keep[codes[i]]:
            codes[m] = codes[i]
            keys[m] = keys[i]
            m += 1
    return m


@njit(**SERIAL)
def _mask_pairs(masks, codes, keys):
    """Expand per-group 64-bit masks into (group, bit) pairs; returns the number written.

    masks: IN int64 (k,).  codes: OUT int32, keys: OUT int64, each >= total set bits long.
    """
    n = 0
    for g in range(masks.shape[0]):
        m = masks[g]
        for b in range(64):
            if (m >> np.int64(b)) & np.int64(1):
                codes[n] = g
                keys[n] = b
                n += 1
    return n


@njit(**PARALLEL)
def _count_distinct(codes, keys, offsets, grouped, counts):
    """Per group: the number of distinct keys among its (group, key) pairs.

    Groups the pairs by code with a counting sort (serial), then counts distinct keys in each
    group's (small) slice, groups in parallel (each writes only its own count).

    codes:   IN int32 (n,) group codes in [0, k).
    keys:    IN int64 (n,).
    offsets: INOUT int64 (k + 1,), zero on entry (scratch).
    grouped: INOUT int64 (n,) (scratch, any content on entry).
    counts:  INOUT int64 (k,): distinct counts are added.
    """
    n = codes.shape[0]
    k = counts.shape[0]
    for i in range(n):
        offsets[codes[i] + 1] += 1
    for g in range(k):
        offsets[g + 1] += offsets[g]
    fill = offsets[:k].copy()
    for i in range(n):
        g = codes[i]
        grouped[fill[g]] = keys[i]
        fill[g] += 1
    for g in prange(k):
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


@njit(**SERIAL)
def _collect_pairs(codes, units, keyless, keys, out_codes, out_keys, n):
    """Append (group, key) of the keyed purchase rows to ``out_*`` from position ``n``,
    skipping a row equal to the previous one appended (the lines of one order). Returns the
    new length.

    codes: IN int64 (m,).  units: IN int64 (m,); rows with units <= 0 are skipped.
    keyless: IN bool (m,) True = no key (skipped).  keys: IN int64 (m,).
    out_codes: INOUT int32, out_keys: INOUT int64, each >= n + m long.
    """
    last_code = -1
    last_key = 0
    for i in range(codes.shape[0]):
        if units[i] <= 0 or keyless[i]:
            continue
        c = codes[i]
        key = keys[i]
        if c == last_code and key == last_key:
            continue
        out_codes[n] = c
        out_keys[n] = key
        n += 1
        last_code = c
        last_key = key
    return n


@njit(**SERIAL)
def _popcount(x):
    """Set bits of a uint64 (SWAR)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(**PARALLEL)
def _gather_columns(acc, order, columns, out, orders, categories):
    """Some columns of ``acc`` in row order ``order``, plus two derived per-group values,
    in one pass over the rows (a row's columns share its cache lines).

    acc:        IN int64 (groups, width).  order: IN int32 or int64 (k,).
    columns:    IN int64 (m,).  out: OUT int64 (m, k): out[j, i] = acc[order[i], columns[j]].
    orders:     OUT int64 (k,) or length 0 (not wanted): ORDERS + KEYLESS of group
                order[i] where ORDERS >= 0, else -1 - KEYLESS (the caller counts those
                groups' orders from pairs and recovers KEYLESS as -1 - value).
    categories: OUT int64 (k,) or length 0 (not wanted): set bits of CATMASK.
    """
    with_orders = orders.shape[0] > 0
    with_categories = categories.shape[0] > 0
    for i in prange(order.shape[0]):
        g = order[i]
        for j in range(columns.shape[0]):
            out[j, i] = acc[g, columns[j]]
        if with_orders:
            running = acc[g, ORDERS]
            orders[i] = running + acc[g, KEYLESS] if running >= 0 else -1 - acc[g, KEYLESS]
        if with_categories:
            categories[i] = _popcount(np.uint64(acc[g, CATMASK]))
