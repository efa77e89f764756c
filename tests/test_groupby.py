"""native_kernels.groupby against tests/naive_groupby.py, and features.aggregate against the
polars group-by it replaced (kept below as the oracle)."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive_groupby as naive
import native_kernels.groupby as gb
from segscore.features import ChannelColumns, aggregate, channel_columns
from segscore.ingest import AMOUNT_SCALE, Roles


def oracle_aggregate(used: pl.LazyFrame, roles: Roles, channels: ChannelColumns) -> pl.LazyFrame:
    """The polars implementation of features.aggregate before the numba group-by."""
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


def run_kernels(ids, ts, units, chan, cat, n_chan, keys, valid, count_missing):
    n = len(ids)
    codes = np.empty(n, dtype=np.int64)
    uniques = np.empty(n, dtype=np.int64)
    table = np.full(gb.table_size(n), -1, dtype=np.int32)
    k = gb._dense_codes_int64(np.asarray(ids, dtype=np.int64), table, codes, uniques)
    acc = np.empty((k, gb.CHANNEL0 + n_chan), dtype=np.int64)
    gb._scatter_aggregate(codes, np.asarray(ts, dtype=np.int64), np.asarray(units, dtype=np.int64),
                          np.asarray(chan, dtype=np.int8), np.asarray(cat, dtype=np.int8), acc)
    counts = np.zeros(k, dtype=np.int64)
    gb._count_distinct_pairs(codes, np.asarray(units, dtype=np.int64),
                             np.asarray(keys, dtype=np.int64), np.asarray(valid, dtype=np.bool_),
                             count_missing, np.zeros(k + 1, dtype=np.int64),
                             np.empty(n, dtype=np.int64), counts)
    return codes, uniques[:k], acc, counts


def check_against_naive(ids, ts, units, chan, cat, n_chan, keys, valid, count_missing):
    codes, uniques, acc, counts = run_kernels(ids, ts, units, chan, cat, n_chan, keys, valid,
                                              count_missing)
    want_codes, want_uniques = naive.dense_codes(ids)
    assert codes.tolist() == want_codes
    assert uniques.tolist() == want_uniques
    k = len(want_uniques)
    assert acc.tolist() == naive.scatter_aggregate(want_codes, ts, units, chan, cat, k, n_chan)
    assert counts.tolist() == naive.count_distinct_pairs(want_codes, units, keys, valid,
                                                         count_missing, k)


def random_rows(rng, n, n_ids, n_chan, n_cat, id_range=None):
    lo, hi = id_range or (-5, 5)
    pool = rng.integers(lo, hi, size=n_ids, dtype=np.int64)
    ids = rng.choice(pool, size=n)
    ts = rng.integers(0, 5, size=n) * 1_000_000  # heavy ties
    units = rng.choice([-300, -1, 0, 1, 2, 2, 500, 10**12], size=n)
    chan = rng.integers(-1, n_chan, size=n) if n_chan else np.zeros(n, dtype=np.int64)
    cat = rng.integers(-1, n_cat, size=n) if n_cat else np.empty(0, dtype=np.int64)
    keys = rng.integers(0, 6, size=n)
    valid = rng.random(n) < 0.8
    return ids, ts, units, chan, cat, keys, valid


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n_chan,n_cat", [(0, 0), (3, 5), (16, 64)])
@pytest.mark.parametrize("id_range", [(-5, 5), (-2**63, 2**63 - 1)])
def test_kernels_equal_naive_random(seed, n_chan, n_cat, id_range):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 2000))
    ids, ts, units, chan, cat, keys, valid = random_rows(rng, n, int(rng.integers(1, 300)),
                                                         n_chan, n_cat, id_range)
    for count_missing in (True, False):
        check_against_naive(ids, ts, units, chan, cat, n_chan, keys, valid, count_missing)


def test_kernels_empty_and_single_row():
    check_against_naive([], [], [], [], [], 0, [], [], True)
    check_against_naive([7], [5], [3], [0], [63], 1, [9], [True], True)
    check_against_naive([7], [5], [-3], [0], [2], 1, [9], [False], True)


def test_returns_only_group_keeps_sentinel_extremes():
    _, _, acc, counts = run_kernels([1, 2, 1], [10, 20, 30], [-5, 4, -7], [0, 0, 0],
                                    [0, 1, 2], 1, [1, 1, 1], [True] * 3, True)
    assert acc[0].tolist() == [gb.INT64_MAX, gb.INT64_MIN, -12, 0, 12, 2, 0, 0, 0]
    assert counts.tolist() == [0, 1]


def test_colliding_ids_probe_linearly():
    ids = np.arange(0, 64 * 2**58, 2**58, dtype=np.int64)  # same low bits everywhere
    ids = np.concatenate([ids, ids[::-1]])
    n = len(ids)
    check_against_naive(ids, np.arange(n), np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64),
                        np.zeros(n, dtype=np.int64), 1,
                        ids, np.ones(n, dtype=bool), True)


@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(0, 3), st.integers(-2, 2),
                          st.integers(-1, 2), st.integers(-1, 63), st.integers(0, 3),
                          st.booleans()), max_size=40),
       st.booleans())
def test_kernels_property(rows, count_missing):
    cols = list(zip(*rows)) if rows else [[]] * 7
    ids, ts, units, chan, cat, keys, valid = (list(c) for c in cols)
    check_against_naive(ids, ts, units, chan, cat, 3, keys, valid, count_missing)


# ---------------------------------------------------------------- aggregate vs oracle


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
        data["order_id"] = [f"o{v}" for v in oid] if order == "str" else oid
    df = pl.DataFrame(data)
    if nulls:
        null = lambda p: pl.lit(rng.random(n) < p)  # noqa: E731
        df = df.with_columns(pl.when(~null(0.1)).then(pl.col("channel")).alias("channel"),
                             pl.when(~null(0.1)).then(pl.col("category")).alias("category"))
        if order is not None:
            df = df.with_columns(pl.when(~null(0.1)).then(pl.col("order_id")).alias("order_id"))
    return df


def assert_matches_oracle(df, roles):
    channels = channel_columns(df.lazy()) if roles.channel else ChannelColumns()
    want = oracle_aggregate(df.lazy(), roles, channels).collect().sort("customer_id")
    got = aggregate(df, roles, channels).sort("customer_id")
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
    assert_matches_oracle(df, roles)
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
    got = aggregate(df, Roles(pl.Int64, pl.Int64, True, True), ChannelColumns()).sort("customer_id")
    assert got["first_purchase_at"].to_list()[0] is None
    assert got["frequency"].to_list() == [0, 1]


@pytest.mark.parametrize("rows", [2, 32, 33, 500])
def test_distinct_keys_in_one_large_group(rows):
    """Groups longer than 32 keyed rows take the sort path, shorter ones insertion sort."""
    rng = np.random.default_rng(rows)
    keys = rng.integers(-3, 40, size=rows)
    valid = rng.random(rows) < 0.9
    units = rng.integers(-2, 5, size=rows)
    for count_missing in (True, False):
        zeros = np.zeros(rows, dtype=np.int64)
        check_against_naive(np.full(rows, 42), np.arange(rows), units, zeros, zeros,
                            1, keys, valid, count_missing)
