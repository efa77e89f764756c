"""Per-customer RFM features (SPEC §2) from the raw aggregates of ``segscore.accumulate``.

Money arrives summed exactly as integer 1/10_000 currency units, so everything derived here
does not depend on file order, row order or thread count; the currency columns are those
sums correctly rounded to float64 (``money``), so 209.98 is written as 209.98.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from segscore.ingest import AMOUNT_SCALE

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

    @classmethod
    def named(cls, values: list[str], other: bool) -> "ChannelColumns":
        """Columns ``share_<slug>`` for ``values``, in name order (as model.json lists them,
        so a ``--model`` run writes its columns in the order the fitting run did); values
        whose slugs clash get _2, _3, ... in sorted order of the values ("In Store"
        share_in_store, "in-store" share_in_store_2), so a name's channel depends on which
        channels get columns, never on their ranking."""
        taken: dict[str, str] = {}  # value -> name
        for value in sorted(values):
            base = f"share_{slug(value)}"
            name, n = base, 2
            while name in taken.values() or name == "share_other":
                name, n = f"{base}_{n}", n + 1
            taken[value] = name
        ordered = sorted(values, key=taken.__getitem__)
        return cls(tuple(taken[v] for v in ordered), tuple(ordered), other)

    @classmethod
    def from_dict(cls, d: dict) -> "ChannelColumns":
        """The inverse of :meth:`to_dict` (model.json ``channel_columns``); ValueError when
        it is not one: a column name that is no ``share_<slug>`` or is share_other, a value
        twice, more than MAX_CHANNEL_COLUMNS columns."""
        if not isinstance(d, dict) or not isinstance(d.get("columns"), dict) or \
                not isinstance(d.get("other"), bool) or not all(
                    isinstance(v, str) for v in d["columns"].values()):
            raise ValueError("channel_columns must be {\"columns\": {share column: channel "
                             f"value}}, \"other\": true | false}}, got {d!r}"[:300])
        columns, other = d["columns"], d["other"]
        bad = [n for n in columns if not re.fullmatch(r"share_[a-z0-9_]+", n)
               or n == "share_other"]
        if bad or len(set(columns.values())) < len(columns) or \
                len(columns) > MAX_CHANNEL_COLUMNS:
            raise ValueError(f"channel_columns.columns must map at most {MAX_CHANNEL_COLUMNS} "
                             "share_<slug> names (not share_other) to distinct channel values, "
                             f"got {columns!r}"[:300])
        return cls(tuple(columns), tuple(columns.values()), other)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every share column of the feature table, share_other included when present."""
        return self.names + (("share_other",) if self.other else ())

    def to_dict(self) -> dict:
        return {"columns": dict(zip(self.names, self.values)), "other": self.other}


def slug(text: str, max_len: int = 32) -> str:
    """A column-name-safe slug: lowercase ASCII letters, digits and single underscores."""
    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:max_len].strip("_")
    return s or "x"


def channel_column_count(distinct: int) -> int:
    """The share columns ``distinct`` channel values get when tonight's channels are ranked:
    at most MAX_CHANNEL_COLUMNS, + 1 for share_other beyond."""
    return min(distinct, MAX_CHANNEL_COLUMNS) + (distinct > MAX_CHANNEL_COLUMNS)


def channel_columns(used: pl.LazyFrame) -> ChannelColumns:
    """The (up to 16) most frequent non-null channels in the used rows, ties by value."""
    counts = (used.filter(pl.col("channel").is_not_null()).group_by("channel").len()
              .sort(["len", "channel"], descending=[True, False]).collect(engine="streaming"))
    values = counts["channel"].to_list()
    return ChannelColumns.named(values[:MAX_CHANNEL_COLUMNS],
                                other=len(values) > MAX_CHANNEL_COLUMNS)


def currency(units: np.ndarray) -> np.ndarray:
    """Float64 currency of int64 1/AMOUNT_SCALE units, correctly rounded: the nearest double
    to the exact amount. numpy's division is, while the units are exact doubles (|units| ≤
    2**53, ≈ 9.0e11 currency); beyond, Python's int division (numpy's would round twice:
    9,999,999,999,999,999 units gave 1e12, not 999999999999.9999)."""
    out = units / float(AMOUNT_SCALE)
    if len(units) and (units.max() > 2**53 or units.min() < -2**53):
        big = np.flatnonzero((units > 2**53) | (units < -2**53))
        out[big] = [int(u) / AMOUNT_SCALE for u in units[big]]
    return out


def money(units: str) -> pl.Expr:
    """Currency (float64) of an integer column of 1/AMOUNT_SCALE units, correctly rounded
    (:func:`currency`; 209.98, not polars' 209.98000000000002, which multiplies by the
    reciprocal of a literal divisor)."""
    return pl.col(units).map_batches(
        lambda s: pl.Series(s.name, currency(s.to_numpy())), return_dtype=pl.Float64)


def finish(raw: pl.DataFrame, as_of: datetime, channels: ChannelColumns) -> pl.DataFrame:
    """Raw per-customer sums → the feature table of the scored customers (frequency > 0),
    sorted by customer_id (``raw`` flagged sorted by id needs no sort).

    Units: days (recency_days, tenure_days, integers ≥ 0), orders (frequency), currency
    (monetary = net spend incl. returns, avg_order_value = gross purchase spend / frequency,
    return_amount ≥ 0), shares in [0, 1] of gross purchase spend.
    Built four columns at a time through a sort permutation, so the peak is ``raw`` plus the
    result plus four columns (no full-width sorted copy).
    """
    gross = pl.col("purchase_units").cast(pl.Float64)
    age = lambda c: ((pl.lit(as_of) - pl.col(c)).dt.total_microseconds() // DAY_US).cast(pl.Int32)  # noqa: E731
    cols = [
        pl.col("customer_id"),
        age("last_purchase_at").alias("recency_days"),
        age("first_purchase_at").alias("tenure_days"),
        pl.col("frequency"),
        money("net_units").alias("monetary"),
        (money("purchase_units") / pl.col("frequency")).alias("avg_order_value"),
        money("return_units").alias("return_amount"),
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
    ids = raw["customer_id"]
    order = scored if ids.flags["SORTED_ASC"] else scored.gather(ids.gather(scored).arg_sort())
    groups = [cols[i:i + 4] for i in range(0, len(cols), 4)]  # 4 columns per parallel take
    return pl.concat([raw.select(group)[order] for group in groups], how="horizontal")


def unscored_customers(raw: pl.DataFrame) -> pl.DataFrame:
    """Customers with no purchase in the window (returns / zero rows only), sorted by id."""
    return (raw.filter(pl.col("frequency") == 0)
            .select(pl.col("customer_id"), pl.col("rows"),
                    money("net_units").alias("monetary"),
                    money("return_units").alias("return_amount"),
                    pl.lit("no_purchase_in_window").alias("reason"))
            .sort("customer_id"))
