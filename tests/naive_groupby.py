"""Plain-Python reference for native_kernels.groupby (slow, obviously correct)."""

INT64_MAX = 2**63 - 1
INT64_MIN = -2**63


def dense_codes(ids):
    """(codes, uniques): group code per row in order of first appearance, and each group's id."""
    seen = {}
    codes = []
    for v in ids:
        codes.append(seen.setdefault(int(v), len(seen)))
    return codes, list(seen)


def scatter_aggregate(codes, ts, units, chan, cat, k, n_chan):
    """Rows of [first, last, net, purchase, returns, rows, buys, catmask, chan_0..]."""
    acc = [[INT64_MAX, INT64_MIN, 0, 0, 0, 0, 0, 0] + [0] * n_chan for _ in range(k)]
    for i, g in enumerate(codes):
        u, row = int(units[i]), acc[g]
        row[2] += u
        row[5] += 1
        if u > 0:
            row[0] = min(row[0], int(ts[i]))
            row[1] = max(row[1], int(ts[i]))
            row[3] += u
            row[6] += 1
            if n_chan and chan[i] >= 0:
                row[8 + chan[i]] += u
            if len(cat) and cat[i] >= 0:
                row[7] |= 1 << int(cat[i])
        elif u < 0:
            row[4] -= u
    for row in acc:  # the kernel stores the mask as int64 bits
        if row[7] >= 2**63:
            row[7] -= 2**64
    return acc


def count_distinct_pairs(codes, units, keys, valid, count_missing, k):
    """Per group: distinct valid keys among rows with units > 0 (+ key-less ones if asked)."""
    pairs, counts = set(), [0] * k
    for i, g in enumerate(codes):
        if units[i] <= 0:
            continue
        if not valid[i]:
            counts[g] += int(count_missing)
        elif (g, int(keys[i])) not in pairs:
            pairs.add((g, int(keys[i])))
            counts[g] += 1
    return counts
