"""Plain-Python reference for native_kernels.groupby (slow, obviously correct)."""

from native_kernels.groupby import CATMASK, KEYLESS, ORDERS  # acc column indices


def dense_codes(ids):
    """(codes, uniques): group code per row in order of first appearance, and each group's id."""
    seen = {}
    codes = []
    for v in ids:
        codes.append(seen.setdefault(int(v), len(seen)))
    return codes, list(seen)


def scatter_aggregate(codes, ts, units, chan, cat, keyless, order_keys, k, n_chan):
    """Rows of [first, last, net, purchase, returns, rows, buys, catmask, keyless, orders,
    lastkey, chan_0..]; first / last: min / max purchase timestamp (0 without a purchase);
    orders / lastkey: the distinct order keys and the last one while every key is >= the
    previous, orders = -1 once a key went down."""
    acc = [[0] * (11 + n_chan) for _ in range(k)]
    keys_seen = [[] for _ in range(k)]
    for i, g in enumerate(codes):
        u, row = int(units[i]), acc[g]
        row[2] += u
        row[5] += 1
        if u > 0:
            row[0] = int(ts[i]) if row[6] == 0 else min(row[0], int(ts[i]))
            row[1] = int(ts[i]) if row[6] == 0 else max(row[1], int(ts[i]))
            row[3] += u
            row[6] += 1
            if n_chan and chan[i] >= 0:
                row[11 + chan[i]] += u
            if len(cat) and cat[i] >= 0:
                row[7] |= 1 << int(cat[i])
            if len(keyless) and keyless[i]:
                row[8] += 1
            elif len(keyless):
                keys_seen[g].append(int(order_keys[i]))
        elif u < 0:
            row[4] -= u
    for row, seen in zip(acc, keys_seen):
        if seen:
            drop = next((j for j in range(1, len(seen)) if seen[j] < seen[j - 1]), None)
            row[9] = len(set(seen)) if drop is None else -1
            row[10] = seen[-1] if drop is None else seen[drop - 1]
    for row in acc:  # the kernel stores the mask as int64 bits
        if row[7] >= 2**63:
            row[7] -= 2**64
    return acc


def count_distinct(codes, keys, k):
    """Per group: the number of distinct keys among its (group, key) pairs."""
    seen = [set() for _ in range(k)]
    for g, key in zip(codes, keys):
        seen[g].add(int(key))
    return [len(s) for s in seen]


def keyed_purchase_pairs(codes, units, keyless, keys):
    """(group, key) of the rows with units > 0 and a key, in row order."""
    return [(g, int(keys[i])) for i, g in enumerate(codes) if units[i] > 0 and not keyless[i]]


def codebook_codes(batches, fixed=None, limit=None):
    """Codes of string batches (lists with None) as a Codebook gives them: a fixed book codes
    its values and -1 for the rest; a growing one gives each batch's new values the next
    codes in sorted order. Returns (codes per batch, values, coded rows per value), or the
    string "too many" once a growing book passes ``limit``."""
    values = list(fixed or [])
    out = []
    for batch in batches:
        if fixed is None:
            values += sorted({v for v in batch if v is not None} - set(values))
            if limit is not None and len(values) > limit:
                return "too many"
        out.append([values.index(v) if v in values else -1 for v in batch])
    rows = [sum(c == i for codes in out for c in codes) for i in range(len(values))]
    return out, values, rows


def keep_pairs(codes, keys, n, keep):
    """The first n (group, key) pairs whose group has keep[group], in order."""
    return [(int(g), int(key)) for g, key in zip(codes[:n], keys[:n]) if keep[g]]


def mask_pairs(masks):
    """(group, bit) for every set bit of every group's 64-bit mask (int64), groups then bits
    in increasing order."""
    return [(g, b) for g, m in enumerate(masks) for b in range(64) if (int(m) % 2**64) >> b & 1]


def gather_columns(acc, order, columns):
    """(out, orders, categories) of _gather_columns in plain Python integers: out[j][i] =
    acc[order[i]][columns[j]]; orders = ORDERS + KEYLESS, or -1 - KEYLESS when ORDERS < 0;
    categories = set bits of CATMASK read as 64 unsigned bits."""
    out = [[acc[g][c] for g in order] for c in columns]
    orders = [acc[g][ORDERS] + acc[g][KEYLESS] if acc[g][ORDERS] >= 0
              else -1 - acc[g][KEYLESS] for g in order]
    categories = [bin(acc[g][CATMASK] % 2**64).count("1") for g in order]
    return out, orders, categories


def string_codes(values, known):
    """(codes, first) of segscore.ids.string_codes (the _fill_table / _lookup_or_insert
    kernels on string hashes) by dict: known strings their index, other strings numbered
    from len(known) on by first row; first = the row where each of those first appears."""
    code = {v: i for i, v in enumerate(known)}
    first = []
    out = []
    for row, v in enumerate(values):
        if v not in code:
            code[v] = len(known) + len(first)
            first.append(row)
        out.append(code[v])
    return out, first
