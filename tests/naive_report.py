"""Plain-Python references for native_kernels.report (slow, obviously correct).

Each function restates a kernel's docstring contract one row at a time with Python lists,
dicts and integers. Float sums add the values in the order the kernel documents (row or id
order), so the kernels' results can be compared with them bit for bit.
"""

from __future__ import annotations

import math


def naive_median(values):
    """polars' median rule over the sorted values: the middle value(s) lower, upper; the value
    itself when they are identical (bits), else lower + (upper - lower) * 0.5. NaN when
    there are no values."""
    v = sorted(values)
    if not v:
        return float("nan")
    lower, upper = v[(len(v) - 1) // 2], v[len(v) // 2]
    if lower == upper and math.copysign(1.0, lower) == math.copysign(1.0, upper):
        return lower  # identical middles: the value itself, as polars
    return lower + (upper - lower) * 0.5


def total_order_median(values):
    """naive_median over the kernel's order (its order-preserving int64 keys: -0.0 sorts
    before 0.0), so the result's bits, sign of zero included, are determined."""
    v = sorted(values, key=lambda x: (x, math.copysign(1.0, x)))
    if not v:
        return float("nan")
    lower, upper = v[(len(v) - 1) // 2], v[len(v) // 2]
    if lower == upper and math.copysign(1.0, lower) == math.copysign(1.0, upper):
        return lower
    return lower + (upper - lower) * 0.5


def naive_merge(p_ids, p_code, p_m, c_ids, c_code, c_m, n_codes):
    """(the movers: union rows (id, previous code, current code) whose codes differ, in id
    order; {cell: (customers, Σ previous spend, Σ current spend)} over the whole union);
    each cell's sums start at 0.0 and add the customers' spend one by one in id order, as
    the kernel documents (so the sums are bit-equal). ``n_codes`` = absent from that side."""
    prev = {i: (c, m) for i, c, m in zip(p_ids, p_code, p_m)}
    cur = {i: (c, m) for i, c, m in zip(c_ids, c_code, c_m)}
    side = n_codes + 1
    cells = {}
    union = sorted(set(prev) | set(cur))
    rows = []
    for i in union:
        pc, pm = prev.get(i, (n_codes, 0.0))
        cc, cm = cur.get(i, (n_codes, 0.0))
        n, rp, rc = cells.get(pc * side + cc, (0, 0.0, 0.0))
        cells[pc * side + cc] = (n + 1, rp + pm if i in prev else rp, rc + cm if i in cur else rc)
        if pc != cc:
            rows.append((i, pc, cc))
    return rows, cells


def naive_lookup(ids, perm, cur_ids, cur_code, missing):
    """(out, found) of ``_lookup_sorted`` with a dict: out[perm[i]] (out[i] without perm) =
    the code of ids[i] in the current table or ``missing``; found[code] = matches per code
    (length missing + 1, found[missing] = 0)."""
    table = dict(zip(cur_ids, cur_code))
    codes = [table.get(v, missing) for v in ids]
    out = [0] * len(ids)
    for i, c in enumerate(codes):
        out[perm[i] if len(perm) else i] = c
    found = [sum(c == code for c in codes) for code in range(missing + 1)]
    found[missing] = 0
    return out, found


def naive_profile_sums(dims, lows, strides, plain, weighted, aov, freq, n_combo):
    """(combo, out) of ``_profile_sums``: combo[i] = Σ_d (dims[d][i] − lows[d]) · strides[d];
    per combination c, out[c] = [customers, Σ aov · freq, Σ plain[j]..., Σ weighted[k] ·
    aov · freq...], every sum in row order (Python floats)."""
    combo = [sum((int(a[i]) - lo) * st for a, lo, st in zip(dims, lows, strides))
             for i in range(len(aov))]
    out = [[0.0] * (2 + len(plain) + len(weighted)) for _ in range(n_combo)]
    for i, c in enumerate(combo):  # row order, like the kernel: bit-identical sums
        g = float(aov[i]) * float(freq[i])
        row = out[c]
        row[0] += 1.0
        row[1] += g
        for j, v in enumerate(plain):
            row[2 + j] += float(v[i])
        for k, w in enumerate(weighted):
            row[2 + len(plain) + k] += float(w[i]) * g
    return combo, out


def naive_unassigned(combo, aov, freq, shares, scale, n_combo):
    """Per combination, Σ over its customers of G − Σ_k round(share_k · G) with G =
    round(aov · freq · scale), in Python integers (round: half to even, as np.rint)."""
    out = [0] * n_combo
    for i, c in enumerate(combo):
        g = round(float(aov[i]) * float(freq[i]) * scale)
        out[c] += g - sum(round(float(w[i]) * g) for w in shares)
    return out


def naive_grid_sums(r, f, m, q):
    """(counts, sums) of the rows whose scores are both in 1..q, summed in row order."""
    counts = [[0] * q for _ in range(q)]
    sums = [[0.0] * q for _ in range(q)]
    for a, b, v in zip(r, f, m):
        if 1 <= a <= q and 1 <= b <= q:
            counts[a - 1][b - 1] += 1
            sums[a - 1][b - 1] += v
    return counts, sums


def naive_count_codes(codes, start):
    """``_count_codes``: ``start`` (the counts already there) plus the rows of each code."""
    out = list(start)
    for c in codes:
        out[c] += 1
    return out


def naive_pack_codes(a, b, c, lut_a, lut_b, lut_c):
    """``_pack_codes``: lut_a[a[i]] + lut_b[b[i]] + lut_c[c[i]] per row."""
    return [lut_a[x] + lut_b[y] + lut_c[z] for x, y, z in zip(a, b, c)]


def naive_combo_hist(combo, values, lo, span, start):
    """``_combo_hist``: ``start`` plus 1 at combo[i] · span + values[i] − lo per row."""
    out = list(start)
    for c, v in zip(combo, values):
        out[c * span + v - lo] += 1
    return out


def naive_split_codes(codes, luts):
    """``_split_codes``: out[d][i] = luts[d][codes[i]]."""
    return [[lut[c] for c in codes] for lut in luts]


def naive_id_order(ids):
    """``_pack_ids`` → sort → ``_unpack_ids``: (rows in stable id order, the sorted ids)."""
    perm = sorted(range(len(ids)), key=lambda i: (ids[i], i))
    return perm, [ids[i] for i in perm]
