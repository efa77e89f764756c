"""Per-customer RFM features from the used rows (SPEC §2), as polars lazy aggregations.

Money is summed exactly as integer 1/10_000 currency units, so sums — and everything scored
from them — do not depend on file order, row order or thread count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import polars as pl

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
              .sort(["len", "channel"], descending=[True, False]).collect())
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


def aggregate(used: pl.LazyFrame, roles: Roles, channels: ChannelColumns) -> pl.LazyFrame:
    """One row per customer seen in the used rows: raw sums and extremes (exact integers).

    Conditional values are computed row-wise first (when/then) so that every aggregation is a
    plain min / max / sum / n_unique, which polars runs on its fast group-by path.
    """
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
        # distinct non-null order ids among purchase rows, plus each order-less purchase row
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


def finish(raw: pl.DataFrame, as_of: datetime, channels: ChannelColumns) -> pl.DataFrame:
    """Raw per-customer sums → the feature table, sorted by customer_id.

    Units: days (recency_days, tenure_days, integers ≥ 0), orders (frequency), currency
    (monetary = net spend incl. returns, avg_order_value = gross purchase spend / frequency,
    return_amount ≥ 0), shares in [0, 1] of gross purchase spend.
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
    return raw.select(cols).sort("customer_id")


def split_scored(raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(customers with at least one purchase, customers with none: returns/zero rows only)."""
    has_purchase = pl.col("frequency") > 0
    unscored = (raw.filter(~has_purchase)
                .select(pl.col("customer_id"), pl.col("rows"),
                        (pl.col("net_units") / float(AMOUNT_SCALE)).alias("monetary"),
                        (pl.col("return_units") / float(AMOUNT_SCALE)).alias("return_amount"),
                        pl.lit("no_purchase_in_window").alias("reason"))
                .sort("customer_id"))
    return raw.filter(has_purchase), unscored
