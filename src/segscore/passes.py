"""Row passes: read, classify and aggregate the input per customer in P customer-hash
partition passes (P = 1 for small inputs), each holding only its share of the rows.

Every row of a customer lands in the same partition, so per-customer aggregates are exact and
the result does not depend on P (the feature table is sorted by customer id afterwards).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from segscore.config import RunConfig
from segscore.features import ChannelColumns, aggregate, channel_columns
from segscore.ingest import (USED, Roles, classify, default_as_of, explain_read_error,
                             rejected_rows, scan_inputs)
from segscore.schema import InputFile

#: seed of the customer-id hash that assigns partitions (any fixed value works)
PARTITION_SEED = 20_261_123


@dataclass
class Gathered:
    """What the row passes produced: counts per (file, status), rejected rows, per-customer
    raw aggregates (one row per customer seen in the used rows), and the as_of / channel
    columns they were computed with."""

    as_of: datetime
    channels: ChannelColumns
    counts: pl.DataFrame
    rejected: pl.DataFrame
    raw: pl.DataFrame
    partitions: int


def count_customers(infos: list[InputFile], config: RunConfig, roles: Roles) -> int:
    """Approximate distinct customer ids (HyperLogLog over one column, streaming)."""
    scan = scan_inputs(infos, config.columns, roles)
    return int(scan.select(pl.col("customer_id").approx_n_unique())
               .collect(engine="streaming").item())


def _read_part(part: pl.LazyFrame, infos: list[InputFile],
               roles: Roles) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(used rows with the aggregation's columns only, rejected rows, counts per (file, status))
    of one partition, from a single streaming read shared by the three queries."""
    keep = ["customer_id", "order_ts", "amount"] + [
        name for name, present in (("order_id", roles.order_id_dtype is not None),
                                   ("channel", roles.channel), ("category", roles.category))
        if present]
    used, rejected, counts = pl.collect_all(
        [part.filter(pl.col("status") == USED).select(keep), rejected_rows(part, infos),
         part.group_by(["file", "status"]).len()], engine="streaming")
    return used, rejected, counts


def gather(infos: list[InputFile], config: RunConfig, roles: Roles, as_of: datetime | None,
           partitions: int) -> Gathered:
    """Run the row passes: one streaming pass for a default as_of, one for the channel list,
    then one per partition keeping only the customers whose id hashes to it. The numba
    aggregation of partition p runs in a worker thread (GIL released) while polars reads
    partition p + 1, so at most two partitions are alive at once."""
    id_is_string = roles.id_dtype == pl.String
    scan = scan_inputs(infos, config.columns, roles)
    counts, rejected, raws = [], [], []
    try:
        as_of = as_of or default_as_of(scan, config, id_is_string, infos)
        classified = classify(scan, as_of, config, id_is_string)
        channels = (channel_columns(classified.filter(pl.col("status") == USED))
                    if roles.channel else ChannelColumns())
        key = pl.col("customer_id").hash(seed=PARTITION_SEED) % partitions
        with ThreadPoolExecutor(max_workers=1) as worker:
            pending = None
            for p in range(partitions):
                part = classified if partitions == 1 else classified.filter(key == p)
                used, rejected_p, counts_p = _read_part(part, infos, roles)
                counts.append(counts_p)
                rejected.append(rejected_p)
                if pending is not None:
                    raws.append(pending.result())
                pending = worker.submit(aggregate, used, roles, channels)
                del used
            raws.append(pending.result())
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise explain_read_error(exc, infos) from None
    counts_all = pl.concat(counts).group_by(["file", "status"]).agg(pl.col("len").sum())
    return Gathered(as_of, channels, counts_all, pl.concat(rejected), pl.concat(raws), partitions)
