"""Row passes: read, classify and aggregate the input per customer, either in one pass held in
memory or in P customer-hash partition passes that each hold only their share of the rows.

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


def _one_part(classified: pl.DataFrame, infos: list[InputFile], roles: Roles,
              channels: ChannelColumns) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(counts, rejected rows, raw aggregates) of one in-memory classified partition."""
    lazy = classified.lazy()
    counts = lazy.group_by(["file", "status"]).len().collect()
    rejected = rejected_rows(lazy, infos).collect()
    raw = aggregate(classified.filter(pl.col("status") == USED), roles, channels)
    return counts, rejected, raw


def gather(infos: list[InputFile], config: RunConfig, roles: Roles, as_of: datetime | None,
           partitions: int) -> Gathered:
    """Run the row pass(es). With one partition every file is read once into memory; with P
    partitions each pass reads the files again but keeps only customers whose id hashes to it
    (plus one extra streaming pass for a default as_of and one for the channel list)."""
    id_is_string = roles.id_dtype == pl.String
    scan = scan_inputs(infos, config.columns, roles)
    try:
        if partitions == 1:
            rows = scan.collect(engine="streaming").lazy()
            as_of = as_of or default_as_of(rows, config, id_is_string, infos)
            whole = classify(rows, as_of, config, id_is_string).collect()
            channels = (channel_columns(whole.lazy().filter(pl.col("status") == USED))
                        if roles.channel else ChannelColumns())
            counts, rejected, raw = _one_part(whole, infos, roles, channels)
            return Gathered(as_of, channels, counts, rejected, raw, 1)
        as_of = as_of or default_as_of(scan, config, id_is_string, infos)
        classified = classify(scan, as_of, config, id_is_string)
        channels = (channel_columns(classified.filter(pl.col("status") == USED))
                    if roles.channel else ChannelColumns())
        key = pl.col("customer_id").hash(seed=PARTITION_SEED) % partitions
        pieces = []
        # Two-stage pipeline: the numba aggregation of partition p (GIL released) runs in a
        # worker thread while polars reads partition p + 1, so at most two are alive at once.
        with ThreadPoolExecutor(max_workers=1) as worker:
            pending = None
            for p in range(partitions):
                part = classified.filter(key == p).collect(engine="streaming")
                if pending is not None:
                    pieces.append(pending.result())
                pending = worker.submit(_one_part, part, infos, roles, channels)
                del part
            pieces.append(pending.result())
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise explain_read_error(exc, infos) from None
    counts = (pl.concat([c for c, _, _ in pieces]).group_by(["file", "status"])
              .agg(pl.col("len").sum()))
    rejected = pl.concat([r for _, r, _ in pieces])
    raw = pl.concat([a for _, _, a in pieces])
    return Gathered(as_of, channels, counts, rejected, raw, partitions)
