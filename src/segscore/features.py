"""Per-customer RFM features from the used rows (SPEC §2): numba hash group-by + polars.

Money is summed exactly as integer 1/10_000 currency units, so sums — and everything scored
from them — do not depend on file order, row order or thread count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

import native_kernels.groupby as gb

from segscore.ingest import AMOUNT_SCALE, Roles

DAY_US = 86_400_000_000
MAX_CHANNEL_COLUMNS = 16


@dataclass(frozen=True)
class ChannelColumns:
    """Per-channel spend-share columns: ``names[i]`` holds the share of channel ``values[i]``.

    ``other`` is True when more channels exist than columns; their spend goes to share_other.
    """

    names: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    other: bool = False

    def to_dict(self) -> dict:
        return {"columns": dict(zip(self.names, self.values)), "other": self.other}


def slug(text: str, max_len: int = 32) -> str:
    """A column-name-safe slug: lowercase ASCII letters, digits and single underscores."""
    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:max_len].strip("_")
    return s or "x"


def channel_columns(used: pl.LazyFrame) -> ChannelColumns:
    """The (up to 16) most frequent non-null channels in the used rows, ties by value."""
    counts = (used.filter(pl.col("channel").is_not_null()).group_by("channel").len()
              .sort(["len", "channel"], descending=[True, False]).collect(engine="streaming"))
    values = counts["channel"].to_list()
    kept = values[:MAX_CHANNEL_COLUMNS]
    names: list[str] = []
    for value in kept:
        base = f"share_{slug(value)}"
        name, n = base, 2
        while name in names or name == "share_other":
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return ChannelColumns(tuple(names), tuple(kept), other=len(values) > len(kept))


def aggregate(used: pl.DataFrame, roles: Roles, channels: ChannelColumns) -> pl.DataFrame:
    """One row per customer seen in the used rows: raw sums and extremes (exact integers).

    Polars derives contiguous int64 columns (units, microsecond timestamps, small channel /
    category codes); the numba hash group-by in ``native_kernels.groupby`` does the rest in
    one serial pass (plus one pass for distinct order ids). Rows come out in order of first
    appearance; callers sort.
    """
    id_is_string = roles.id_dtype == pl.String
    cols = [
        (pl.col("customer_id").cast(pl.Categorical).to_physical().cast(pl.Int64)
         if id_is_string else pl.col("customer_id")).alias("key"),
        pl.col("order_ts").dt.epoch("us").alias("ts"),
        (pl.col("amount") * AMOUNT_SCALE).round().cast(pl.Int64).alias("units"),
    ]
    if channels.names:
        cols.append(pl.col("channel").replace_strict(
            list(channels.values), list(range(len(channels.values))), default=-1,
            return_dtype=pl.Int8).alias("chan"))
    cat_values = used["category"].drop_nulls().unique().to_list() if roles.category else []
    cat_bitmask = roles.category and len(cat_values) <= 64
    if cat_bitmask:
        cols.append(pl.col("category").replace_strict(
            cat_values, list(range(len(cat_values))), default=-1,
            return_dtype=pl.Int8).alias("cat"))
    elif roles.category:
        cols.append(pl.col("category").cast(pl.Categorical).to_physical().cast(pl.Int64)
                    .fill_null(0).alias("cat_key"))
        cols.append(pl.col("category").is_not_null().alias("cat_valid"))
    if roles.order_id_dtype is not None:
        order = pl.col("order_id")
        if roles.order_id_dtype == pl.String:
            order = order.cast(pl.Categorical).to_physical()
        cols.append(order.cast(pl.Int64).fill_null(0).alias("order_key"))
        cols.append(pl.col("order_id").is_not_null().alias("order_valid"))
    frame = used.select(cols)

    def column(name: str, dtype) -> np.ndarray:
        return np.ascontiguousarray(frame[name].to_numpy(), dtype=dtype)

    n = frame.height
    ids, units = column("key", np.int64), column("units", np.int64)
    codes = np.empty(n, dtype=np.int64)
    uniques = np.empty(n, dtype=np.int64)
    table = np.full(gb.table_size(n), -1, dtype=np.int32)
    k = gb._dense_codes_int64(ids, table, codes, uniques)
    del table
    n_chan = len(channels.names)
    chan = column("chan", np.int8) if n_chan else np.empty(0, dtype=np.int8)
    cat = column("cat", np.int8) if cat_bitmask else np.empty(0, dtype=np.int8)
    acc = np.empty((k, gb.CHANNEL0 + n_chan), dtype=np.int64)
    gb._scatter_aggregate(codes, column("ts", np.int64), units, chan, cat, acc)

    def distinct(keys: np.ndarray, valid: np.ndarray, count_missing: bool) -> np.ndarray:
        counts = np.zeros(k, dtype=np.int64)
        gb._count_distinct_pairs(codes, units, keys, valid, count_missing,
                                 np.zeros(k + 1, dtype=np.int64), np.empty(n, dtype=np.int64),
                                 counts)
        return counts

    if id_is_string:
        first_row = np.empty(k, dtype=np.int64)
        first_row[codes] = np.arange(n, dtype=np.int64)  # any row of the group will do
        customer_id = used["customer_id"].gather(first_row)
    else:
        customer_id = pl.Series(uniques[:k])
    no_buy = np.flatnonzero(acc[:, gb.BUYS] == 0)

    def stamp(j: int) -> pl.Series:  # null where the customer has no purchase row
        ts = pl.Series(np.ascontiguousarray(acc[:, j])).cast(pl.Datetime("us"))
        return ts.scatter(no_buy, None)

    out = {
        "customer_id": customer_id,
        "first_purchase_at": stamp(gb.FIRST),
        "last_purchase_at": stamp(gb.LAST),
        "net_units": acc[:, gb.NET],
        "purchase_units": acc[:, gb.PURCHASE],
        "return_units": acc[:, gb.RETURNS],
        "rows": acc[:, gb.ROWS],
    }
    if roles.order_id_dtype is not None:
        out["frequency"] = distinct(column("order_key", np.int64),
                                    column("order_valid", np.bool_), True)
    else:
        out["frequency"] = acc[:, gb.BUYS]
    if cat_bitmask:
        out["distinct_categories"] = np.bitwise_count(acc[:, gb.CATMASK].view(np.uint64))
    elif roles.category:
        out["distinct_categories"] = distinct(column("cat_key", np.int64),
                                              column("cat_valid", np.bool_), False)
    for j, name in enumerate(channels.names):
        out[f"_{name}"] = acc[:, gb.CHANNEL0 + j]
    raw = pl.DataFrame({name: pl.Series(np.ascontiguousarray(v)) if isinstance(v, np.ndarray)
                        else v for name, v in out.items()})
    if "distinct_categories" in raw.columns:
        raw = raw.with_columns(pl.col("distinct_categories").cast(pl.Int32))
    return raw


def finish(raw: pl.DataFrame, as_of: datetime, channels: ChannelColumns) -> pl.DataFrame:
    """Raw per-customer sums → the feature table of the scored customers (frequency > 0),
    sorted by customer_id.

    Units: days (recency_days, tenure_days, integers ≥ 0), orders (frequency), currency
    (monetary = net spend incl. returns, avg_order_value = gross purchase spend / frequency,
    return_amount ≥ 0), shares in [0, 1] of gross purchase spend.
    Built four columns at a time through a sort permutation, so the peak is ``raw`` plus the
    result plus four columns (no full-width sorted copy).
    """
    gross = pl.col("purchase_units").cast(pl.Float64)
    scale = float(AMOUNT_SCALE)
    age = lambda c: ((pl.lit(as_of) - pl.col(c)).dt.total_microseconds() // DAY_US).cast(pl.Int32)  # noqa: E731
    cols = [
        pl.col("customer_id"),
        age("last_purchase_at").alias("recency_days"),
        age("first_purchase_at").alias("tenure_days"),
        pl.col("frequency"),
        (pl.col("net_units") / scale).alias("monetary"),
        (gross / scale / pl.col("frequency")).alias("avg_order_value"),
        (pl.col("return_units") / scale).alias("return_amount"),
        (pl.col("return_units") / gross).alias("return_rate"),
    ]
    if "distinct_categories" in raw.columns:
        cols.append(pl.col("distinct_categories"))
    known = pl.lit(0, pl.Int64)
    for name in channels.names:
        cols.append((pl.col(f"_{name}") / gross).alias(name))
        known = known + pl.col(f"_{name}")
    if channels.other:
        cols.append(((pl.col("purchase_units") - known) / gross).alias("share_other"))
    cols += [pl.col("first_purchase_at"), pl.col("last_purchase_at"), pl.col("rows")]
    scored = pl.Series(np.flatnonzero(raw["frequency"].to_numpy() > 0).astype(np.uint32))
    order = scored.gather(raw["customer_id"].gather(scored).arg_sort())
    groups = [cols[i:i + 4] for i in range(0, len(cols), 4)]  # 4 columns per parallel take
    return pl.concat([raw.select(group)[order] for group in groups], how="horizontal")


def unscored_customers(raw: pl.DataFrame) -> pl.DataFrame:
    """Customers with no purchase in the window (returns / zero rows only), sorted by id."""
    return (raw.filter(pl.col("frequency") == 0)
            .select(pl.col("customer_id"), pl.col("rows"),
                    (pl.col("net_units") / float(AMOUNT_SCALE)).alias("monetary"),
                    (pl.col("return_units") / float(AMOUNT_SCALE)).alias("return_amount"),
                    pl.lit("no_purchase_in_window").alias("reason"))
            .sort("customer_id"))
