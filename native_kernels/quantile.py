"""Quantile cut points by selection (or counting, for integers) and parallel bin assignment
(numba).

All kernels are private: they never validate. ``segscore.scoring`` is the typed wrapper.
"""

import numpy as np
from numba import njit, prange

from native_kernels._options import PARALLEL, SERIAL


@njit(**SERIAL)
def _partition3(work, lo, hi, pivot):
    """Three-way partition of work[lo:hi] around ``pivot`` (INOUT work).

    Returns (lt, gt): work[lo:lt] < pivot, work[lt:gt] == pivot, work[gt:hi] > pivot.
    """
    lt = lo
    i = lo
    gt = hi
    while i < gt:
        v = work[i]
        if v < pivot:
            work[i] = work[lt]
            work[lt] = v
            lt += 1
            i += 1
        elif v > pivot:
            gt -= 1
            work[i] = work[gt]
            work[gt] = v
        else:
            i += 1
    return lt, gt


@njit(**SERIAL)
def _select_ranks(work, ranks, out):
    """Order statistics of ``work`` (INOUT, float64, no NaN; reordered in place).

    ranks: IN int64, sorted ascending, unique, each in [0, len(work)).
    out:   OUT float64, same length as ranks: out[j] = sorted(work)[ranks[j]].
    Multi-quickselect with a three-way partition (fast on heavy ties) and a fixed
    xorshift pivot sequence; O(n log len(ranks)) expected, no full sort.
    """
    n_ranks = ranks.shape[0]
    # explicit stack of (lo, hi, first rank index, last rank index + 1)
    stack = np.empty((64 + 2 * n_ranks, 4), dtype=np.int64)
    top = 0
    stack[0, 0] = 0
    stack[0, 1] = work.shape[0]
    stack[0, 2] = 0
    stack[0, 3] = n_ranks
    top = 1
    state = np.uint64(0x9E3779B97F4A7C15)
    while top > 0:
        top -= 1
        lo = stack[top, 0]
        hi = stack[top, 1]
        r0 = stack[top, 2]
        r1 = stack[top, 3]
        if r0 >= r1:
            continue
        state ^= state << np.uint64(13)
        state ^= state >> np.uint64(7)
        state ^= state << np.uint64(17)
        pivot = work[lo + np.int64(state % np.uint64(hi - lo))]
        lt, gt = _partition3(work, lo, hi, pivot)
        j = r0
        while j < r1 and ranks[j] < lt:
            j += 1
        left_end = j
        while j < r1 and ranks[j] < gt:
            out[j] = pivot
            j += 1
        if left_end > r0:
            stack[top, 0] = lo
            stack[top, 1] = lt
            stack[top, 2] = r0
            stack[top, 3] = left_end
            top += 1
        if r1 > j:
            stack[top, 0] = gt
            stack[top, 1] = hi
            stack[top, 2] = j
            stack[top, 3] = r1
            top += 1


@njit(**SERIAL)
def _rank_plan(n, probs):
    """numpy's "linear" method for n values: per prob the ranks (low, high) of the two order
    statistics it interpolates between and the weight g of the high one; plus the distinct
    ranks needed, ascending. h = (n - 1) * p, low = floor(h), high = low + 1 (both n - 1
    when h >= n - 1), g = h - floor(h)."""
    m = probs.shape[0]
    lows = np.empty(m, dtype=np.int64)
    highs = np.empty(m, dtype=np.int64)
    gammas = np.empty(m, dtype=np.float64)
    for j in range(m):
        h = (n - 1) * probs[j]
        lo = np.floor(h)
        gammas[j] = h - lo
        if h >= n - 1:
            lows[j] = n - 1
            highs[j] = n - 1
        else:
            lows[j] = np.int64(lo)
            highs[j] = np.int64(lo) + 1
    return lows, highs, gammas, np.unique(np.concatenate((lows, highs)))


@njit(**SERIAL)
def _interpolate(lows, highs, gammas, ranks, values, out):
    """out[j] from the order statistics ``values`` (one per entry of ``ranks``), as numpy:
    a + (b - a) * g, or b - (b - a) * (1 - g) when g >= 0.5 (a, b at ranks lows[j], highs[j])."""
    for j in range(out.shape[0]):
        a = values[np.searchsorted(ranks, lows[j])]
        b = values[np.searchsorted(ranks, highs[j])]
        diff = b - a
        g = gammas[j]
        if g >= 0.5:
            out[j] = b - diff * (1.0 - g)
        else:
            out[j] = a + diff * g


@njit(**SERIAL)
def _cut_points(work, probs, out):
    """numpy's default ("linear") quantiles of ``work`` at ``probs``, bit for bit.

    work:  INOUT float64 (n > 0, no NaN), reordered in place.
    probs: IN float64 in [0, 1].
    out:   OUT float64, one cut point per prob.
    """
    lows, highs, gammas, ranks = _rank_plan(work.shape[0], probs)
    values = np.empty(ranks.shape[0], dtype=np.float64)
    _select_ranks(work, ranks, values)
    _interpolate(lows, highs, gammas, ranks, values, out)


@njit(**SERIAL)
def _cut_points_counted(x, lo, span, probs, out):
    """``_cut_points`` of integer values by counting instead of selection: one pass builds
    the histogram of x - lo over ``span`` bins, the order statistics are read off its
    running sum. Same result bit for bit: the k-th smallest integer converted to float64 is
    the k-th smallest of the float64 values.

    x: IN integer (n > 0,), every value in [lo, lo + span); probs, out: as _cut_points.
    """
    counts = np.zeros(span, dtype=np.int64)
    for i in range(x.shape[0]):
        counts[np.int64(x[i]) - lo] += 1
    lows, highs, gammas, ranks = _rank_plan(x.shape[0], probs)
    values = np.empty(ranks.shape[0], dtype=np.float64)
    seen = 0  # values below the current bin
    j = 0
    for b in range(span):
        seen_after = seen + counts[b]
        while j < ranks.shape[0] and ranks[j] < seen_after:
            values[j] = np.float64(lo + b)
            j += 1
        seen = seen_after
    _interpolate(lows, highs, gammas, ranks, values, out)


@njit(**PARALLEL)
def _assign_bins(x, cuts, out):
    """Bin of every value: 1 + #{k : x[i] > cuts[k]}; 0 for NaN.

    x: IN float64 (n,); cuts: IN float64 ascending (q - 1,); out: OUT int8 (n,).
    Each element is independent, so the result does not depend on the thread count.
    """
    m = cuts.shape[0]
    for i in prange(x.shape[0]):
        v = x[i]
        if np.isnan(v):
            out[i] = 0
        else:
            s = 1
            for k in range(m):
                if v > cuts[k]:
                    s += 1
            out[i] = s


#: radix selection: rows are split into this many fixed chunks (boundaries depend only on n),
#: each with its own histogram of the keys' top RADIX_BITS bits
RADIX_CHUNKS = 8
RADIX_BITS = 16
_SIGN_FLIP = np.int64(0x7FFFFFFFFFFFFFFF)


@njit(**PARALLEL)
def _radix_hist(work, hist):
    """Per chunk c the histogram hist[c, b] of the values' buckets (``_key_bucket``).
    work: IN float64 (n,), no NaN; hist: OUT int64 (RADIX_CHUNKS, 2 ** RADIX_BITS), zeroed
    by the caller."""
    n = work.shape[0]
    size = (n + RADIX_CHUNKS - 1) // RADIX_CHUNKS
    bits = work.view(np.int64)
    for c in prange(RADIX_CHUNKS):
        for i in range(c * size, min(n, (c + 1) * size)):
            hist[c, _key_bucket(bits[i])] += 1


@njit(**SERIAL)
def _key_bucket(b):
    """Radix bucket of the float64 whose bits are the int64 b (no NaN): the top RADIX_BITS
    bits of its order-preserving key (negative floats with all but the sign bit flipped,
    -0.0 as 0.0) as an unsigned index, so buckets ascend with the values."""
    if b == 0 or b == -(2 ** 63):  # 0.0 and -0.0
        return 1 << (RADIX_BITS - 1)
    if b < 0:
        b ^= _SIGN_FLIP
    return (b >> (64 - RADIX_BITS)) + (1 << (RADIX_BITS - 1))


@njit(**PARALLEL)
def _radix_gather(work, wanted, offsets, out):
    """Copy every value whose bucket is wanted (wanted[b] = slot index, -1 otherwise) into
    out, chunk c's values of slot s starting at offsets[c, s] (rows in order within a chunk).
    offsets: INOUT int64 (RADIX_CHUNKS, slots), advanced past what each chunk wrote."""
    n = work.shape[0]
    size = (n + RADIX_CHUNKS - 1) // RADIX_CHUNKS
    bits = work.view(np.int64)
    for c in prange(RADIX_CHUNKS):
        for i in range(c * size, min(n, (c + 1) * size)):
            s = wanted[_key_bucket(bits[i])]
            if s >= 0:
                out[offsets[c, s]] = work[i] + 0.0  # -0.0 + 0.0 = 0.0: one zero
                offsets[c, s] += 1


@njit(**SERIAL)
def _radix_plan(hist, ranks):
    """For the sorted unique ``ranks``: the bucket holding each (rank's position in the
    ascending order of buckets), its rank inside that bucket, and per needed bucket its slot
    index (wanted, -1 for others), each slot's size and each chunk's write offset into one
    candidate array (slots back to back, chunks in order inside a slot)."""
    n_buckets = hist.shape[1]
    total = np.zeros(n_buckets, dtype=np.int64)
    for c in range(hist.shape[0]):
        for b in range(n_buckets):
            total[b] += hist[c, b]
    bucket_of = np.empty(ranks.shape[0], dtype=np.int64)
    inner = np.empty(ranks.shape[0], dtype=np.int64)
    seen = 0
    j = 0
    for b in range(n_buckets):
        after = seen + total[b]
        while j < ranks.shape[0] and ranks[j] < after:
            bucket_of[j] = b
            inner[j] = ranks[j] - seen
            j += 1
        seen = after
    wanted = np.full(n_buckets, -1, dtype=np.int64)
    slots = 0
    for j in range(ranks.shape[0]):
        if wanted[bucket_of[j]] < 0:
            wanted[bucket_of[j]] = slots
            slots += 1
    slot_start = np.zeros(slots + 1, dtype=np.int64)
    for b in range(n_buckets):
        if wanted[b] >= 0:
            slot_start[wanted[b] + 1] = total[b]
    for s in range(slots):
        slot_start[s + 1] += slot_start[s]
    offsets = np.empty((hist.shape[0], slots), dtype=np.int64)
    for b in range(n_buckets):
        s = wanted[b]
        if s >= 0:
            at = slot_start[s]
            for c in range(hist.shape[0]):
                offsets[c, s] = at
                at += hist[c, b]
    return bucket_of, inner, wanted, slot_start, offsets
