"""native_kernels.groupby against tests/naive_groupby.py, and the batch-by-batch
CustomerAccumulator against a plain polars group-by of all rows at once (the oracle)."""

import numba
import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive_groupby as naive
import native_kernels.groupby as gb
from segscore.accumulate import Codebook, CustomerAccumulator, IdHashCollision
from segscore.features import ChannelColumns, channel_columns
from segscore.ingest import AMOUNT_SCALE, Roles
from threads import with_threads


def oracle_aggregate(used: pl.LazyFrame, roles: Roles, channels: ChannelColumns) -> pl.LazyFrame:
    """Per-customer raw aggregates with a plain polars group-by (the pre-numba implementation)."""
    units = (pl.col("amount") * AMOUNT_SCALE).round().cast(pl.Int64)
    buy = pl.col("units") > 0
    per_row = [
        units.alias("units"),
    ]
    derived = [
        pl.when(buy).then(pl.col("order_ts")).alias("buy_ts"),
        pl.when(buy).then(pl.col("units")).otherwise(0).alias("buy_units"),
        pl.when(pl.col("units") < 0).then(-pl.col("units")).otherwise(0).alias("return_units"),
        buy.cast(pl.Int64).alias("buy_rows"),
    ]
    aggs = [
        pl.col("buy_ts").min().alias("first_purchase_at"),
        pl.col("buy_ts").max().alias("last_purchase_at"),
        pl.col("units").sum().alias("net_units"),
        pl.col("buy_units").sum().alias("purchase_units"),
        pl.col("return_units").sum().alias("return_units"),
        pl.len().cast(pl.Int64).alias("rows"),
    ]
    if roles.order_id_dtype is not None:
        derived.append(pl.when(buy).then(pl.col("order_id")).alias("buy_order"))
        derived.append((buy & pl.col("order_id").is_null()).cast(pl.Int64).alias("loose_buys"))
        aggs.append((pl.col("buy_order").drop_nulls().n_unique() + pl.col("loose_buys").sum())
                    .cast(pl.Int64).alias("frequency"))
    else:
        aggs.append(pl.col("buy_rows").sum().alias("frequency"))
    if roles.category:
        derived.append(pl.when(buy).then(pl.col("category")).alias("buy_category"))
        aggs.append(pl.col("buy_category").drop_nulls().n_unique().cast(pl.Int32)
                    .alias("distinct_categories"))
    if channels.names:
        code = pl.col("channel").replace_strict(list(channels.values),
                                                list(range(len(channels.values))),
                                                default=None, return_dtype=pl.Int8)
        per_row.append(code.alias("channel_code"))
        for i, name in enumerate(channels.names):
            derived.append(pl.when(buy & (pl.col("channel_code") == i)).then(pl.col("units"))
                           .otherwise(0).alias(f"_{name}"))
            aggs.append(pl.col(f"_{name}").sum())
    return used.with_columns(per_row).with_columns(derived).group_by("customer_id").agg(aggs)


# ---------------------------------------------------------------- kernels vs naive


def split_points(rng, n):
    """Random batch boundaries [0, ..., n] (some batches empty)."""
    cuts = np.sort(rng.integers(0, n + 1, size=int(rng.integers(0, 5))))
    return [0, *cuts.tolist(), n]


def run_kernels(ids, ts, units, chan, cat, keyless, keys, n_chan, bounds, rng):
    """Feed the rows batch by batch; between batches the table is rebuilt at a random size
    with _fill_table (as the accumulator does when it grows). Returns codes, uniques, acc,
    the collected pairs and their distinct counts."""
    ids, ts, units = (np.asarray(a, dtype=np.int64) for a in (ids, ts, units))
    chan, cat = (np.asarray(a, dtype=np.int32) for a in (chan, cat))
    keyless, keys = np.asarray(keyless, dtype=np.bool_), np.asarray(keys, dtype=np.int64)
    n = len(ids)
    table = np.full(gb.table_size(n), -1, dtype=np.int32)
    uniques = np.empty(n, dtype=np.int64)
    acc = np.zeros((n, gb.CHANNEL0 + n_chan), dtype=np.int64)
    pair_codes, pair_keys, n_pairs = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int64), 0
    all_codes, k, went_down = [], 0, 0
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        codes, new_rows = np.empty(hi - lo, dtype=np.int64), np.empty(hi - lo, dtype=np.int64)
        k0 = k
        k = gb._lookup_or_insert(ids[lo:hi], table, uniques, k, codes, new_rows)
        for j in range(k - k0):  # new_rows: first row of each new group
            assert codes[new_rows[j]] == k0 + j and (codes[:new_rows[j]] != k0 + j).all()
        sl = slice(lo, hi)
        went_down += gb._scatter_update(codes, ts[sl], units[sl], chan[sl] if n_chan else chan[:0],
                                        cat[sl] if len(cat) else cat[:0],
                                        keyless[sl] if len(keyless) else keyless[:0], keys[sl],
                                        acc)
        n_pairs = gb._collect_pairs(codes, units[sl], keyless[sl] if len(keyless) else
                                    np.zeros(hi - lo, dtype=np.bool_), keys[sl],
                                    pair_codes, pair_keys, n_pairs)
        table = np.full(gb.table_size(n) * int(rng.choice([1, 2, 4])), -1, dtype=np.int32)
        gb._fill_table(uniques, k, table)
        all_codes += codes.tolist()
    counts = np.zeros(k, dtype=np.int64)
    gb._count_distinct(pair_codes[:n_pairs], pair_keys[:n_pairs], np.zeros(k + 1, dtype=np.int64),
                       np.empty(n_pairs, dtype=np.int64), counts)
    pairs = list(zip(pair_codes[:n_pairs].tolist(), pair_keys[:n_pairs].tolist()))
    # ORDERS = -1 is absorbing: the kernel reports each group's turn exactly once
    assert went_down == int((acc[:k, gb.ORDERS] == -1).sum())
    return all_codes, uniques[:k], acc[:k], pairs, counts


def check_against_naive(ids, ts, units, chan, cat, keyless, keys, n_chan, seed=0, threads=None):
    """run_kernels (with ``threads`` numba threads when given) against tests/naive_groupby."""
    rng = np.random.default_rng(seed)
    bounds = split_points(rng, len(ids))
    args = (ids, ts, units, chan, cat, keyless, keys, n_chan, bounds, rng)
    codes, uniques, acc, pairs, counts = (with_threads(threads, run_kernels, *args) if threads
                                          else run_kernels(*args))
    want_codes, want_uniques = naive.dense_codes(ids)
    assert codes == want_codes
    assert uniques.tolist() == want_uniques
    k = len(want_uniques)
    assert acc.tolist() == naive.scatter_aggregate(want_codes, ts, units, chan, cat, keyless,
                                                   keys, k, n_chan)
    no_key = keyless if len(keyless) else [False] * len(ids)
    want_pairs = naive.keyed_purchase_pairs(want_codes, units, no_key, keys)
    assert set(pairs) == set(want_pairs) and len(pairs) <= len(want_pairs)
    assert counts.tolist() == naive.count_distinct([g for g, _ in want_pairs],
                                                   [key for _, key in want_pairs], k)


def random_rows(rng, n, n_ids, n_chan, n_cat, id_range=None):
    lo, hi = id_range or (-5, 5)
    pool = rng.integers(lo, hi, size=n_ids, dtype=np.int64)
    ids = rng.choice(pool, size=n)
    ts = rng.integers(0, 5, size=n) * 1_000_000  # heavy ties
    units = rng.choice([-300, -1, 0, 1, 2, 2, 500, 10**12], size=n)
    chan = rng.integers(-1, n_chan, size=n) if n_chan else np.zeros(n, dtype=np.int64)
    cat = rng.integers(-1, n_cat, size=n) if n_cat else np.empty(0, dtype=np.int64)
    keys = rng.integers(0, 6, size=n)
    keyless = rng.random(n) < 0.2
    return ids, ts, units, chan, cat, keyless, keys


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n_chan,n_cat", [(0, 0), (3, 5), (16, 64)])
@pytest.mark.parametrize("id_range", [(-5, 5), (-2**63, 2**63 - 1)])
def test_kernels_equal_naive_random(seed, n_chan, n_cat, id_range):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 2000))
    ids, ts, units, chan, cat, keyless, keys = random_rows(rng, n, int(rng.integers(1, 300)),
                                                           n_chan, n_cat, id_range)
    check_against_naive(ids, ts, units, chan, cat, keyless, keys, n_chan, seed)
    check_against_naive(ids, ts, units, chan, cat, [], keys, n_chan, seed)  # no order ids


@pytest.mark.parametrize("threads", [1, 2])
def test_kernels_empty_and_single_row(threads):
    check_against_naive([], [], [], [], [], [], [], 0, threads=threads)
    check_against_naive([7], [5], [3], [0], [63], [False], [9], 1, threads=threads)
    check_against_naive([7], [5], [-3], [0], [2], [True], [9], 1, threads=threads)


def test_returns_only_group_has_no_purchase_and_zero_extremes():
    rng = np.random.default_rng(0)
    _, _, acc, _, counts = run_kernels([1, 2, 1], [10, 20, 30], [-5, 4, -7], [0, 0, 0],
                                       [0, 1, 2], [False] * 3, [1, 1, 1], 1, [0, 3], rng)
    assert acc[0].tolist() == [0, 0, -12, 0, 12, 2, 0, 0, 0, 0, 0, 0]
    assert counts.tolist() == [0, 1]


def test_colliding_ids_probe_linearly():
    ids = np.arange(0, 64 * 2**58, 2**58, dtype=np.int64)  # same low bits everywhere
    ids = np.concatenate([ids, ids[::-1]])
    n = len(ids)
    check_against_naive(ids, np.arange(n), np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64),
                        np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool), ids, 1)


def check_lookup(inserted, asked):
    """_lookup of ``asked`` in a table holding ``inserted`` = a dict lookup (-1: absent)."""
    inserted = np.asarray(inserted, dtype=np.int64)
    asked = np.asarray(asked, dtype=np.int64)
    table = np.full(gb.table_size(len(inserted)), -1, dtype=np.int32)
    uniques = np.empty(len(inserted), dtype=np.int64)
    k = gb._lookup_or_insert(inserted, table, uniques, 0, np.empty(len(inserted), np.int64),
                             np.empty(len(inserted), np.int64))
    codes = np.empty(len(asked), dtype=np.int64)
    gb._lookup(asked, table, uniques, codes)
    _, groups = naive.dense_codes(inserted.tolist())
    assert k == len(groups)
    code_of = {v: g for g, v in enumerate(groups)}
    assert codes.tolist() == [code_of.get(v, -1) for v in asked.tolist()]


@given(st.lists(st.integers(-4, 4), max_size=30), st.lists(st.integers(-6, 6), max_size=30))
def test_lookup_equals_a_dict(inserted, asked):
    check_lookup(inserted, asked)


@pytest.mark.parametrize("threads", [1, 2])
def test_lookup_empty_single_colliding_and_chunked(threads):
    numba.set_num_threads(threads)
    try:
        check_lookup([], [])
        check_lookup([], [3])
        check_lookup([3], [3, 4])
        ids = np.arange(0, 64 * 2**58, 2**58, dtype=np.int64)  # same slot, linear probing
        check_lookup(ids, np.concatenate([ids[::-1], ids + 1]))
        rng = np.random.default_rng(threads)  # several chunks of LOOKUP_CHUNK rows
        pool = rng.integers(-2**63, 2**63 - 1, size=3000, dtype=np.int64)
        check_lookup(pool, rng.choice(np.concatenate([pool, pool + 1]),
                                      size=2 * gb.LOOKUP_CHUNK + 17))
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(0, 3), st.integers(-2, 2),
                          st.integers(-1, 2), st.integers(-1, 63), st.booleans(),
                          st.integers(0, 3)), max_size=40),
       st.integers(0, 2**32), st.sampled_from([1, 2]))
def test_kernels_property(rows, seed, threads):
    """Rows with repeated ids, timestamps and keys (ties), empty and single-row inputs, in
    random batches, 1 or 2 numba threads: every kernel of the row pass equals the naive one."""
    cols = list(zip(*rows)) if rows else [[]] * 7
    ids, ts, units, chan, cat, keyless, keys = (list(c) for c in cols)
    check_against_naive(ids, ts, units, chan, cat, keyless, keys, 3, seed, threads)


@pytest.mark.parametrize("threads", [1, 2])
def test_count_distinct_with_one_and_two_threads(threads):
    rng = np.random.default_rng(threads)
    codes = rng.integers(0, 300, size=5000).astype(np.int32)
    keys = rng.integers(0, 40, size=5000)
    counts = np.zeros(300, dtype=np.int64)
    numba.set_num_threads(threads)
    try:
        gb._count_distinct(codes, keys, np.zeros(301, dtype=np.int64),
                           np.empty(5000, dtype=np.int64), counts)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert counts.tolist() == naive.count_distinct(codes.tolist(), keys.tolist(), 300)


@pytest.mark.parametrize("rows", [2, 32, 33, 500])
def test_distinct_keys_in_one_large_group(rows):
    """Groups longer than 32 pairs take the sort path, shorter ones insertion sort."""
    rng = np.random.default_rng(rows)
    keys = rng.integers(-3, 40, size=rows)
    zeros = np.zeros(rows, dtype=np.int64)
    check_against_naive(np.full(rows, 42), np.arange(rows), rng.integers(-2, 5, size=rows),
                        zeros, zeros, rng.random(rows) < 0.1, keys, 1, rows)


def test_keep_pairs_compacts_in_place_in_order():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 50, size=400).astype(np.int32)
    keys = rng.integers(-9, 9, size=400)
    keep = rng.random(50) < 0.3
    want = [(c, k) for c, k in zip(codes[:350].tolist(), keys[:350].tolist()) if keep[c]]
    m = gb._keep_pairs(codes, keys, 350, keep)
    assert list(zip(codes[:m].tolist(), keys[:m].tolist())) == want


def test_mask_pairs_lists_every_set_bit():
    masks = np.array([0, 1, -1, 2**62 + 5, -2**63], dtype=np.int64)
    total = int(np.bitwise_count(masks.view(np.uint64)).sum())
    codes, keys = np.empty(total, dtype=np.int32), np.empty(total, dtype=np.int64)
    assert gb._mask_pairs(masks, codes, keys) == total
    want = [(g, b) for g, m in enumerate(masks.view(np.uint64).tolist()) for b in range(64)
            if m >> b & 1]
    assert list(zip(codes.tolist(), keys.tolist())) == want


def check_keep_pairs(codes, keys, n, keep, threads=1):
    """_keep_pairs against naive.keep_pairs: the kept pairs in order, and the pairs from n on
    untouched."""
    codes, keys = np.array(codes, dtype=np.int32), np.array(keys, dtype=np.int64)
    keep = np.array(keep, dtype=np.bool_)
    want = naive.keep_pairs(codes.tolist(), keys.tolist(), n, keep.tolist())
    tail = codes[n:].tolist(), keys[n:].tolist()
    numba.set_num_threads(threads)
    try:
        m = gb._keep_pairs(codes, keys, n, keep)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert m == len(want)
    assert list(zip(codes[:m].tolist(), keys[:m].tolist())) == want
    assert (codes[n:].tolist(), keys[n:].tolist()) == tail


def check_mask_pairs(masks, threads=1):
    masks = np.array(masks, dtype=np.int64)
    want = naive.mask_pairs(masks.tolist())
    codes = np.full(len(want) + 2, -5, dtype=np.int32)  # two spare slots stay untouched
    keys = np.full(len(want) + 2, -5, dtype=np.int64)
    numba.set_num_threads(threads)
    try:
        n = gb._mask_pairs(masks, codes, keys)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert n == len(want)
    assert list(zip(codes[:n].tolist(), keys[:n].tolist())) == want
    assert codes[n:].tolist() == [-5, -5] and keys[n:].tolist() == [-5, -5]


@pytest.mark.parametrize("threads", [1, 2])
def test_keep_pairs_empty_and_single(threads):
    check_keep_pairs([], [], 0, [], threads)                  # no pairs, no groups
    check_keep_pairs([], [], 0, [True, False], threads)       # no pairs
    check_keep_pairs([1, 0], [7, 8], 0, [True, True], threads)  # n = 0: nothing compacted
    check_keep_pairs([0], [-3], 1, [True], threads)           # single pair kept
    check_keep_pairs([0], [-3], 1, [False], threads)          # single pair dropped
    check_keep_pairs([1, 1], [4, 4], 2, [False, True], threads)  # duplicate pairs kept
    check_keep_pairs([1, 0, 1], [-2**63, 0, 2**63 - 1], 3, [False, True], threads)
    check_keep_pairs([1, 0, 1], [5, 6, 7], 2, [True, True], threads)  # pair 2 beyond n


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(-2**63, 2**63 - 1)), max_size=40),
       st.lists(st.booleans(), min_size=5, max_size=5), st.data())
def test_keep_pairs_property(pairs, keep, data):
    n = data.draw(st.integers(0, len(pairs)))
    codes, keys = [p[0] for p in pairs], [p[1] for p in pairs]
    check_keep_pairs(codes, keys, n, keep)


@pytest.mark.parametrize("threads", [1, 2])
def test_mask_pairs_empty_and_single(threads):
    check_mask_pairs([], threads)          # no groups
    check_mask_pairs([0], threads)         # single group, no bit
    check_mask_pairs([1], threads)         # single group, lowest bit
    check_mask_pairs([-2**63], threads)    # single group, only the top (sign) bit
    check_mask_pairs([-1], threads)        # single group, every bit
    check_mask_pairs([0, 0, 0], threads)   # no bit anywhere


@given(st.lists(st.one_of(st.integers(-2**63, 2**63 - 1),
                          st.sets(st.integers(0, 63), max_size=4).map(
                              lambda bits: sum(1 << b for b in bits) - (2**64 if 63 in bits else 0))),
                max_size=12))
def test_mask_pairs_property(masks):
    check_mask_pairs(masks)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("k", [0, 1, 1000])
def test_gather_columns_equals_fancy_indexing(threads, k):
    rng = np.random.default_rng(k)
    acc = rng.integers(-2**63, 2**63 - 1, size=(k + 3, 11), dtype=np.int64)
    acc[:, gb.ORDERS] = rng.choice([-1, 0, 1, 7], size=k + 3)  # -1: keys went down
    acc[:, gb.KEYLESS] = rng.integers(0, 5, size=k + 3)
    acc[:2, gb.CATMASK] = [-1, -2**63]  # every bit / only the top bit
    order = rng.permutation(k + 3)[:k].astype(np.int64)
    columns = np.array([3, 0, 10, 3], dtype=np.int64)
    numba.set_num_threads(threads)
    try:
        for want_derived in (False, True):
            out = np.empty((4, k), dtype=np.int64)
            orders, cats = (np.empty(k if want_derived else 0, dtype=np.int64) for _ in "oc")
            gb._gather_columns(acc, order, columns, out, orders, cats)
            assert np.array_equal(out, acc[order][:, columns].T)
            if want_derived:
                running, keyless = acc[order, gb.ORDERS], acc[order, gb.KEYLESS]
                assert orders.tolist() == [r + n if r >= 0 else -1 - n
                                           for r, n in zip(running.tolist(), keyless.tolist())]
                masks = acc[order, gb.CATMASK].view(np.uint64).tolist()
                assert cats.tolist() == [bin(m).count("1") for m in masks]
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


# ---------------------------------------------------------------- accumulator vs oracle


def used_frame(rng, n, n_customers, string_ids=False, order="int", n_channels=4,
               n_categories=6, nulls=True):
    ids = rng.integers(-10**12, 10**12, size=n_customers)[rng.integers(0, n_customers, size=n)]
    amount = np.round(rng.choice([-1.0, 1.0, 1.0, 1.0], size=n) * rng.random(n) * 200, 2)
    amount[rng.random(n) < 0.05] = 0.0
    data = {
        "customer_id": [f"c{v}" for v in ids] if string_ids else ids,
        "order_ts": (rng.integers(0, 1000, size=n) * 60_000_000).astype("datetime64[us]"),
        "amount": amount,
        "channel": [f"ch{v}" for v in rng.integers(0, n_channels, size=n)],
        "category": [f"cat {v}" for v in rng.integers(0, n_categories, size=n)],
    }
    if order is not None:
        oid = rng.integers(0, max(2, n // 3), size=n)
        if order in ("rising", "falling"):  # order lines in key order: running counts exact
            oid = np.sort(oid)[::1 if order == "rising" else -1].copy()
        data["order_id"] = [f"o{v}" for v in oid] if order == "str" else oid
    df = pl.DataFrame(data).with_columns(pl.col("customer_id").cast(pl.String if string_ids
                                                                    else pl.Int64))
    if nulls:
        null = lambda p: pl.lit(rng.random(n) < p)  # noqa: E731
        df = df.with_columns(pl.when(~null(0.1)).then(pl.col("channel")).alias("channel"),
                             pl.when(~null(0.1)).then(pl.col("category")).alias("category"))
        if order is not None:
            df = df.with_columns(pl.when(~null(0.1)).then(pl.col("order_id")).alias("order_id"))
    return df


def accumulate(df: pl.DataFrame, roles: Roles, channels: ChannelColumns, bounds: list[int],
               capacity: int = 0, seed: int = 1) -> pl.DataFrame:
    """Feed ``df`` to a CustomerAccumulator in the batches ``bounds``; channel columns renamed
    from ``_c<code>`` to the oracle's ``_<name>``."""
    acc = CustomerAccumulator(roles, Codebook(channels.values) if roles.channel else None,
                              Codebook() if roles.category else None, seed, capacity)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        acc.add(acc.prepare(df.slice(lo, hi - lo)))
    raw = acc.raw()
    return raw.rename({f"_c{i}": f"_{name}" for i, name in enumerate(channels.names)})


def assert_matches_oracle(df, roles, seed=0):
    channels = channel_columns(df.lazy()) if roles.channel else ChannelColumns()
    want = oracle_aggregate(df.lazy(), roles, channels).collect().sort("customer_id")
    rng = np.random.default_rng(seed)
    for bounds in ([0, df.height], split_points(rng, df.height),
                   list(range(0, df.height, 7)) + [df.height]):
        got = accumulate(df, roles, channels, bounds, capacity=int(rng.integers(0, 50)))
        assert got["customer_id"].flags["SORTED_ASC"]
        assert got.schema == want.schema
        assert got.equals(want)


CASES = {
    "int": dict(),
    "str_ids": dict(string_ids=True),
    "str_orders": dict(order="str"),
    "no_orders": dict(order=None),
    "many_channels": dict(n_channels=25),
    "many_categories": dict(n_categories=300),
    "no_nulls": dict(nulls=False),
    "rising_orders": dict(order="rising"),
    "falling_orders": dict(order="falling"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("seed", range(3))
def test_aggregate_equals_polars_oracle(case, seed):
    rng = np.random.default_rng(seed)
    kw = CASES[case]
    df = used_frame(rng, 3000, 400, **kw)
    order = kw.get("order", "int")
    roles = Roles(id_dtype=pl.String if kw.get("string_ids") else pl.Int64,
                  order_id_dtype=None if order is None else (pl.String if order == "str"
                                                             else pl.Int64),
                  channel=True, category=True)
    assert_matches_oracle(df, roles, seed)
    assert_matches_oracle(df.drop("channel", "category"),
                          Roles(roles.id_dtype, roles.order_id_dtype, False, False))


@pytest.mark.parametrize("string_ids", [False, True])
@pytest.mark.parametrize("n", [0, 1])
def test_aggregate_empty_and_single_row(string_ids, n):
    df = used_frame(np.random.default_rng(1), n, 1, string_ids=string_ids)
    assert_matches_oracle(df, Roles(pl.String if string_ids else pl.Int64, pl.Int64, True, True))


def test_aggregate_returns_only_customer_has_null_purchase_times():
    df = pl.DataFrame({"customer_id": [1, 2, 2], "order_ts": [0, 5, 9], "amount": [-3.5, 2.0, 0.0],
                       "order_id": [None, 1, 1], "channel": ["a", None, "b"],
                       "category": [None, "x", "y"]}).with_columns(
        pl.col("order_ts").cast(pl.Datetime("us")))
    assert_matches_oracle(df, Roles(pl.Int64, pl.Int64, True, True))
    got = accumulate(df, Roles(pl.Int64, pl.Int64, True, True), ChannelColumns(), [0, 3])
    assert got["first_purchase_at"].to_list()[0] is None
    assert got["frequency"].to_list() == [0, 1]


def test_categories_outgrow_the_mask_mid_stream():
    """More than 64 categories: the first batches use the 64-bit mask, later ones switch to
    (customer, category) pairs; the counts stay exact."""
    df = used_frame(np.random.default_rng(5), 4000, 300, n_categories=200)
    roles = Roles(pl.Int64, pl.Int64, True, True)
    channels = channel_columns(df.lazy())
    want = oracle_aggregate(df.lazy(), roles, channels).collect().sort("customer_id")
    got = accumulate(df, roles, channels, [0, 40, 1000, 4000])
    assert got.equals(want)


def batch_of(acc, ids, keys):
    """A prepared batch of string ids ``ids`` whose group keys are forced to ``keys`` (so a
    test can make an id's hash land on another customer's group)."""
    df = pl.DataFrame({"customer_id": ids, "order_ts": list(range(len(ids))),
                       "amount": [1.0] * len(ids)}
                      ).with_columns(pl.col("order_ts").cast(pl.Datetime("us")))
    b = acc.prepare(df)
    b.keys = np.array(keys, dtype=np.int64)
    return b


def test_string_id_hash_collision_is_detected_across_batches():
    """A later batch's id colliding with a group of an earlier batch is caught, whether that
    group's id sits in the merged chunk or among the newest batches' ids."""
    def fresh():
        acc = CustomerAccumulator(Roles(pl.String, None, False, False), None, None, 1)
        acc.add(batch_of(acc, [f"a{i}" for i in range(100)], range(100)))  # merged
        acc.add(batch_of(acc, [f"b{i}" for i in range(10)], range(100, 110)))  # newest
        assert acc.id_reps.len() == 100 and sum(r.len() for r in acc.recent_reps) == 10
        return acc

    acc = fresh()  # the same ids again, and new ones: no collision
    acc.add(batch_of(acc, ["a5", "b3", "c0"], [5, 103, 200]))
    assert acc.k == 111
    for colliding_key in (7, 104):  # with a merged group, with a newest group
        acc = fresh()
        with pytest.raises(IdHashCollision):
            acc.add(batch_of(acc, ["a1", "zz"], [1, colliding_key]))


def test_string_id_hash_collision_is_detected():
    df = pl.DataFrame({"customer_id": ["a", "b"], "order_ts": [0, 1], "amount": [1.0, 2.0]}
                      ).with_columns(pl.col("order_ts").cast(pl.Datetime("us")))
    acc = CustomerAccumulator(Roles(pl.String, None, False, False), None, None, 1)
    batch = acc.prepare(df)
    batch.keys = np.full(2, 99, dtype=np.int64)  # two ids, one key: a collision
    with pytest.raises(IdHashCollision):
        acc.add(batch)


_INT64 = st.integers(-2**63, 2**63 - 1)


@given(st.integers(1, 6).flatmap(lambda groups: st.tuples(
           st.lists(st.lists(_INT64, min_size=11 + 2, max_size=11 + 2),
                    min_size=groups, max_size=groups),
           st.lists(st.tuples(st.sampled_from([-1, 0, 1, 7, 2**40]), st.integers(0, 2**40),
                              st.one_of(_INT64, st.sampled_from([0, -1, -2**63, 1]))),
                    min_size=groups, max_size=groups),
           st.lists(st.integers(0, groups - 1), max_size=20))),
       st.lists(st.integers(0, 11 + 2 - 1), min_size=1, max_size=5),
       st.sampled_from([np.int32, np.int64]), st.booleans(), st.booleans())
def test_gather_columns_property(tables, columns, order_dtype, want_orders, want_categories):
    """Any acc (full int64 values; ORDERS a count or -1, KEYLESS a count, CATMASK any 64
    bits incl. 0, -1 and only the sign bit), any row order (empty, single, repeated groups),
    any columns (repeated), int32 or int64 order, each derived output wanted or not: equal to
    plain-Python indexing exactly, with 1 and 2 numba threads (the kernel is prange)."""
    rows, derived, order = tables
    acc = np.array(rows, dtype=np.int64).reshape(len(rows), 13)
    for g, (running, keyless, mask) in enumerate(derived):
        acc[g, gb.ORDERS], acc[g, gb.KEYLESS], acc[g, gb.CATMASK] = running, keyless, mask
    order_a = np.array(order, dtype=order_dtype)
    columns_a = np.array(columns, dtype=np.int64)
    k = len(order)
    want_out, want_orders_l, want_cats = naive.gather_columns(acc.tolist(), order, columns)
    for threads in (1, 2):
        out = np.full((len(columns), k), -7, dtype=np.int64)
        orders = np.full(k if want_orders else 0, -7, dtype=np.int64)
        cats = np.full(k if want_categories else 0, -7, dtype=np.int64)
        with_threads(threads, gb._gather_columns, acc, order_a, columns_a, out, orders, cats)
        assert out.tolist() == want_out, threads
        assert orders.tolist() == (want_orders_l if want_orders else []), threads
        assert cats.tolist() == (want_cats if want_categories else []), threads


@pytest.mark.parametrize("n_categories", [64, 65])
def test_categories_at_the_mask_width_are_exact(n_categories):
    """64 category codes fit the 64-bit mask; with 65 values (code 64) the counts must move
    to (customer, category) pairs, as an int64 has no bit 64. Exact at that boundary,
    whether the 65th value arrives in the first batch or in a later one."""
    df = used_frame(np.random.default_rng(11), 3000, 300, n_categories=n_categories)
    roles = Roles(pl.Int64, pl.Int64, True, True)
    channels = channel_columns(df.lazy())
    want = oracle_aggregate(df.lazy(), roles, channels).collect().sort("customer_id")
    assert df["category"].n_unique() == n_categories + 1  # and null
    for bounds in ([0, df.height], [0, 30, 1000, df.height]):
        assert accumulate(df, roles, channels, bounds).equals(want)


def test_string_id_hash_collision_is_detected_in_a_batch_of_only_recent_groups():
    """A batch whose rows all fall in groups of the newest batches (none in the merged chunk
    of ids) is checked against those groups' ids too: a new id whose hash equals such a
    group's is a collision, not a repeat of that customer."""
    acc = CustomerAccumulator(Roles(pl.String, None, False, False), None, None, 1)
    acc.add(batch_of(acc, [f"a{i}" for i in range(100)], range(100)))  # merged
    acc.add(batch_of(acc, [f"b{i}" for i in range(10)], range(100, 110)))  # newest
    acc.add(batch_of(acc, ["b3", "b4"], [103, 104]))  # repeats of newest groups: fine
    assert acc.k == 110 and acc.id_reps.len() == 100
    with pytest.raises(IdHashCollision):
        acc.add(batch_of(acc, ["zz"], [104]))


def test_float_amounts_round_half_to_even_units():
    """docs/decisions.md: a float amount is np.rint(amount × 10,000) units, half to even.
    0.00005 × 10,000 is exactly 0.5: 0 units, a used row that is neither purchase nor return;
    0.00025 and 0.00045 are 2.5 and 4.5: 2 and 4 units; 0.00035 is 3.5: 4 units."""
    df = pl.DataFrame({"customer_id": [1, 2, 2, 3, 3, 3],
                       "order_ts": [0, 1, 2, 3, 4, 5],
                       "amount": [0.00005, 0.00025, 0.00045, 0.00035, -0.00025, -0.00005]}
                      ).with_columns(pl.col("order_ts").cast(pl.Datetime("us")))
    roles = Roles(pl.Int64, None, False, False)
    got = accumulate(df, roles, ChannelColumns(), [0, df.height])
    assert got.select("customer_id", "net_units", "purchase_units", "return_units", "rows",
                      "frequency").rows() == [(1, 0, 0, 0, 1, 0), (2, 6, 6, 0, 2, 2),
                                              (3, 2, 4, 2, 3, 1)]
    assert got["first_purchase_at"][0] is None
