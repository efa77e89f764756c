"""numba kernels of the report (serial): per-combination sums, exact group medians of float
columns, histograms, id packing, and the merge of two id-sorted customer tables for migration.

Private: they never validate; the callers in profile.py / migration.py pass contiguous arrays
of the documented dtypes and allocate every output.
"""

from __future__ import annotations

import math

import numpy as np
from numba import literal_unroll, njit

from native_kernels._options import SERIAL as _OPTS
_FLIP = np.int64(0x7FFFFFFFFFFFFFFF)


@njit(**_OPTS)
def _scatter_keys(bits, combo, starts, out):
    """Counting-sort float64 values (``bits``: their int64 view) by ``combo`` into ``out``
    as order-preserving int64 keys (magnitude bits flipped for negatives). ``starts[c]`` =
    first slot of combination c (length C + 1)."""
    pos = starts[:-1].copy()
    for i in range(bits.shape[0]):
        b = bits[i]
        c = combo[i]
        out[pos[c]] = b if b >= 0 else b ^ _FLIP
        pos[c] += 1


@njit(**_OPTS)
def _value(key):
    a = np.empty(1, dtype=np.int64)
    a[0] = key if key >= 0 else key ^ _FLIP
    return a.view(np.float64)[0]


@njit(**_OPTS)
def _count_le(keys, starts, combos, m, v):
    total = 0
    for t in range(m):
        c = combos[t]
        total += np.searchsorted(keys[starts[c]:starts[c + 1]], v, side="right")
    return total


@njit(**_OPTS)
def _kth(keys, starts, combos, m, k):
    """The k-th smallest (0-based) key in the union of the sorted slices of ``combos[:m]``
    (bisection on the key: the smallest key with more than k keys ≤ it is a data key)."""
    lo = np.int64(0)
    hi = np.int64(0)
    first = True
    for t in range(m):
        c = combos[t]
        s, e = starts[c], starts[c + 1]
        if e > s:
            if first or keys[s] < lo:
                lo = keys[s]
            if first or keys[e - 1] > hi:
                hi = keys[e - 1]
            first = False
    while lo < hi:
        mid = (lo >> 1) + (hi >> 1) + (lo & hi & 1)  # floor((lo + hi) / 2) without overflow
        if _count_le(keys, starts, combos, m, mid) >= k + 1:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(**_OPTS)
def _group_medians(keys, starts, member, n_groups, out):
    """``out[d, g]`` = median (polars' rule: the middle value(s) lower and upper, the value
    itself when they are identical, else lower + (upper − lower) × 0.5) of the values of
    the combinations c with ``member[d, c] == g`` (NaN for an empty group). ``keys`` holds
    every combination's values sorted, as order-preserving int64 keys."""
    n_dims, n_combo = member.shape
    combos = np.empty(n_combo, dtype=np.int64)
    for d in range(n_dims):
        for g in range(n_groups[d]):
            m = 0
            n = 0
            for c in range(n_combo):
                if member[d, c] == g:
                    combos[m] = c
                    m += 1
                    n += starts[c + 1] - starts[c]
            if n == 0:
                out[d, g] = np.nan
                continue
            lower = _value(_kth(keys, starts, combos, m, (n - 1) // 2))
            upper = lower if n % 2 else _value(_kth(keys, starts, combos, m, n // 2))
            # identical middles are the value itself, as in polars (±inf, -0.0 stay)
            same = lower == upper and math.copysign(1.0, lower) == math.copysign(1.0, upper)
            out[d, g] = lower if same else lower + (upper - lower) * 0.5


@njit(**_OPTS)
def _merge_union(p_ids, p_perm, p_code, p_m, c_ids, c_code, c_m, n_codes, u_ids, u_p, u_c,
                 cell_n, cell_rp, cell_rc):
    """Full merge of two id-sorted, duplicate-free tables (previous, current): accumulates,
    per cell ``previous code × (n_codes + 1) + current code`` over the union, the customers
    and each side's spend (summed in id order), and writes the movers (the union's rows whose
    two codes differ; ``n_codes`` = absent from that side) in id order: their ids to
    ``u_ids``, their codes to ``u_p`` / ``u_c``. The previous side's i-th id belongs to row
    ``p_perm[i]`` of ``p_code`` / ``p_m`` (row i when ``p_perm`` is empty). Returns the
    number of movers."""
    side = n_codes + 1
    permuted = p_perm.shape[0] > 0
    i = 0
    j = 0
    k = 0
    n_p = p_ids.shape[0]
    n_c = c_ids.shape[0]
    while i < n_p or j < n_c:
        row = (p_perm[i] if permuted else i) if i < n_p else 0
        if j >= n_c or (i < n_p and p_ids[i] < c_ids[j]):
            pc, cc = p_code[row], n_codes
            uid = p_ids[i]
            cell = pc * side + cc
            cell_rp[cell] += p_m[row]
            i += 1
        elif i >= n_p or c_ids[j] < p_ids[i]:
            pc, cc = n_codes, c_code[j]
            uid = c_ids[j]
            cell = pc * side + cc
            cell_rc[cell] += c_m[j]
            j += 1
        else:
            pc, cc = p_code[row], c_code[j]
            uid = c_ids[j]
            cell = pc * side + cc
            cell_rp[cell] += p_m[row]
            cell_rc[cell] += c_m[j]
            i += 1
            j += 1
        cell_n[cell] += 1
        if pc != cc:
            u_ids[k] = uid
            u_p[k] = pc
            u_c[k] = cc
            k += 1
    return k


@njit(**_OPTS)
def _count_codes(codes, counts):
    """counts[v] += number of rows with code v (codes < len(counts))."""
    for i in range(codes.shape[0]):
        counts[codes[i]] += 1


@njit(**_OPTS)
def _pack_codes(a, b, c, lut_a, lut_b, lut_c, out):
    """out[i] = lut_a[a[i]] + lut_b[b[i]] + lut_c[c[i]] (mixed-radix code of three labels)."""
    for i in range(out.shape[0]):
        out[i] = lut_a[a[i]] + lut_b[b[i]] + lut_c[c[i]]


@njit(**_OPTS)
def _lookup_sorted(ids, perm, cur_ids, cur_code, missing, out, found):
    """For each of the sorted ``ids`` the code of the equal id in ``cur_ids`` (sorted,
    unique) or ``missing``, written to ``out[perm[i]]`` (``out[i]`` when ``perm`` is empty);
    ``found[code]`` counts the matches per code."""
    j = 0
    n_c = cur_ids.shape[0]
    scatter = perm.shape[0] > 0
    for i in range(ids.shape[0]):
        v = ids[i]
        while j < n_c and cur_ids[j] < v:
            j += 1
        code = missing
        if j < n_c and cur_ids[j] == v:
            code = cur_code[j]
            found[code] += 1
        if scatter:
            out[perm[i]] = code
        else:
            out[i] = code


@njit(**_OPTS)
def _pack_ids(ids, lo, bits, out):
    """out[i] = (ids[i] − lo) << bits | i (the caller checked that it fits in an int64)."""
    for i in range(ids.shape[0]):
        out[i] = ((np.int64(ids[i]) - lo) << bits) | i


@njit(**_OPTS)
def _unpack_ids(packed, lo, bits, perm):
    """Inverse of _pack_ids after sorting: perm[i] = row, packed[i] = id (in place)."""
    mask = (np.int64(1) << bits) - 1
    for i in range(packed.shape[0]):
        p = packed[i]
        perm[i] = p & mask
        packed[i] = (p >> bits) + lo


@njit(**_OPTS)
def _combo_hist(combo, values, lo, span, out):
    """out[combo[i] * span + values[i] − lo] += 1 (the caller checked the bounds)."""
    for i in range(combo.shape[0]):
        out[combo[i] * span + (values[i] - lo)] += 1


@njit(**_OPTS)
def _profile_sums(dims, lows, strides, plain, weighted, aov, freq, combo, out):
    """One pass over the customers: ``combo[i]`` = Σ_d (dims[d][i] − lows[d]) · strides[d]
    (the customer's combination of group values) and, per combination c (row of ``out``,
    float64, shape (C, 2 + len(plain) + len(weighted)), zeroed by the caller):
    out[c, 0] = customers, out[c, 1] = Σ gross (aov · freq), then Σ plain[j], then
    Σ weighted[k] · gross (channel shares → channel spend); summed in row order.
    ``weighted`` must not be empty (numba cannot iterate an empty tuple)."""
    for i in range(combo.shape[0]):
        c = 0
        d = 0
        for a in literal_unroll(dims):
            c += (np.int64(a[i]) - lows[d]) * strides[d]
            d += 1
        combo[i] = c
        g = aov[i] * freq[i]
        out[c, 0] += 1.0
        out[c, 1] += g
        j = 2
        for v in literal_unroll(plain):
            out[c, j] += v[i]
            j += 1
        for w in literal_unroll(weighted):
            out[c, j] += w[i] * g
            j += 1


@njit(**_OPTS)
def _unassigned_units(combo, aov, freq, shares, scale, out):
    """Per combination (``out``: int64 (C,), zeroed by the caller), the purchase spend in no
    share column, in integer 1/``scale`` currency units: per customer G − Σ_k rint(shares[k]
    · G) with G = rint(aov · freq · scale). The share columns are correctly rounded
    quotients of integer unit sums by G, so each term recovers its integer exactly (for G
    below ~2^50 units); 0 exactly for a customer whose spend is all in the share columns.
    ``shares`` must not be empty."""
    for i in range(combo.shape[0]):
        g = np.rint(aov[i] * freq[i] * scale)
        known = 0.0
        for w in literal_unroll(shares):
            known += np.rint(w[i] * g)
        out[combo[i]] += np.int64(g - known)


@njit(**_OPTS)
def _split_codes(codes, luts, out):
    """out[d, i] = luts[d, codes[i]]: each dimension's value index of a packed code
    (``luts``: (D, number of codes), ``out``: (D, len(codes)))."""
    for i in range(codes.shape[0]):
        c = codes[i]
        for d in range(luts.shape[0]):
            out[d, i] = luts[d, c]


@njit(**_OPTS)
def _grid_sums(r, f, m, counts, sums):
    """For rows with 1 ≤ r[i] ≤ q and 1 ≤ f[i] ≤ q (``counts``, ``sums``: (q, q), zeroed by the
    caller): counts[r − 1, f − 1] += 1 and sums[r − 1, f − 1] += m[i], in row order."""
    q = counts.shape[0]
    for i in range(r.shape[0]):
        a = np.int64(r[i]) - 1
        b = np.int64(f[i]) - 1
        if 0 <= a < q and 0 <= b < q:
            counts[a, b] += 1
            sums[a, b] += m[i]
