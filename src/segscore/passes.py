"""Row passes: stream the input in batches, classify every row and fold the used rows into
per-customer aggregates, in P customer-hash partition passes (P = 1 unless the per-customer
tables outgrow the memory budget).

Each batch (a run of whole row groups, about ``BATCH_ROWS`` rows, of one file) is read and
classified by polars in the main thread while a worker thread folds the previous batch into
the :class:`~segscore.accumulate.CustomerAccumulator` (numba, GIL released), so at most two
batches are alive at once. Every row of a customer lands in the same partition, so
per-customer aggregates are exact and the result does not depend on P or on the batches.

Rejected rows are not kept in memory beyond a small buffer: they spill to Parquet files
(segscore.spill) and at the end come back batch by batch, in input order, to be counted by
reason and written as rejected/ parts (or, without an output directory, returned in memory).

The default as_of (SPEC §1: end of the day of the latest valid transaction) is learned in the
same pass: rows are classified without an upper bound, then rejected rows later than the
derived as_of are re-counted as after_as_of (as they are read back). Only a lookback window
without ``--as-of`` needs a pre-pass (the window start depends on as_of), and more than
MAX_TRACKED_CHANNELS channel values a restart with the top channels counted first.

Distinct orders: with integer order ids the pass first counts them on the fly (exact while
each customer's ids rise); the first customer whose ids go down stops it and the pass starts
again collecting (customer, order) pairs, as it always does for string order ids.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

import native_kernels.groupby as gb

from segscore.accumulate import (MAX_TRACKED_CHANNELS, Codebook, CustomerAccumulator,
                                 IdHashCollision, OrderKeysDescend, TooManyValues)
from segscore.config import RunConfig
from segscore.distinct import count_distinct
from segscore.errors import InputError
from segscore.features import (MAX_CHANNEL_COLUMNS, ChannelColumns, channel_column_count,
                               channel_columns)
from segscore.ingest import (AFTER_AS_OF, FIRST_REJECT, STATUSES, USED, Roles, classify,
                             default_as_of, end_of_day, explain_read_error, no_valid_row_message,
                             rejected_rows, scan_file, scan_inputs)
from segscore.output import PartWriter, scan_parts
from segscore.schema import InputFile
from segscore.spill import RejectedSpill

#: seed of the customer-id hash that assigns partitions (any fixed value works)
PARTITION_SEED = 20_261_123
#: seeds tried in turn for string customer-id keys (a collision restarts with the next)
ID_SEEDS = (1, 2, 3)
#: target rows per batch (whole row groups; a larger row group is sliced)
BATCH_ROWS = 2_000_000
#: address space one partition's per-customer table may reserve up front (grows beyond)
CAPACITY_BYTES = 8 * 2**30
#: first status that a derived as_of can turn into after_as_of (the id / amount checks)
_LATE_CHECKED = STATUSES.index("null_customer_id")


@dataclass
class Gathered:
    """What the row passes produced: counts per (file, status), the rejected rows,
    per-customer raw aggregates (one row per customer seen in the used rows), and the as_of /
    channel columns they were computed with. ``rejected`` scans the parts written to the rejected
    directory (``rejected_parts``: their {path, rows}), or holds the rows in memory when no
    directory was given (``rejected_parts`` empty)."""

    as_of: datetime
    channels: ChannelColumns
    counts: pl.DataFrame
    rejected: pl.LazyFrame
    raw: pl.DataFrame
    partitions: int
    rejected_parts: list[dict] = field(default_factory=list)


def count_customers(infos: list[InputFile], config: RunConfig, roles: Roles) -> int:
    """Approximate distinct customer ids (HyperLogLog over one column, streaming; relative
    standard error 0.41 %, see segscore.distinct)."""
    return count_distinct(scan_inputs(infos, config, roles), "customer_id")


def sample_channel_columns(infos: list[InputFile], config: RunConfig, roles: Roles) -> int:
    """The channel columns the run will have, judged from the first row group of every file
    (a lower bound when a channel value first shows up later; the run checks again after
    the row pass): min(distinct values, MAX_CHANNEL_COLUMNS), + 1 for share_other beyond."""
    if not roles.channel:
        return 0
    seen: set = set()
    for i, info in enumerate(infos):
        if "channel" not in info.kinds or not info.rows:
            continue
        rows = pq.ParquetFile(info.path).metadata.row_group(0).num_rows
        values = (scan_file(i, info, config, roles).slice(0, rows).select("channel")
                  .unique().collect()["channel"].drop_nulls())
        seen.update(values.to_list())
    return channel_column_count(len(seen))


def model_channel_columns(channels: ChannelColumns | None, roles: Roles) -> int | None:
    """The channel columns a run applying a model's share columns ``channels`` will have,
    known before the row pass: the model's (share_other when it has one; a channel it lacks
    adds share_other, which the run sees after the row pass), none when no file has a
    channel column. None without a model's columns (the run ranks tonight's channels)."""
    if channels is None:
        return None
    return len(channels.columns) if roles.channel else 0


def batches(info: InputFile) -> list[tuple[int, int]]:
    """(offset, rows) slices of one file: runs of whole row groups of about BATCH_ROWS rows;
    a row group larger than that is cut into equal slices."""
    meta = pq.ParquetFile(info.path).metadata
    sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
    out, start, pending = [], 0, 0
    for size in sizes:
        if pending and pending + size > BATCH_ROWS:
            out.append((start, pending))
            start, pending = start + pending, 0
        if size > BATCH_ROWS:
            pieces = -(-size // BATCH_ROWS)
            cuts = np.linspace(start, start + size, pieces + 1).round().astype(int)
            out += [(int(a), int(b - a)) for a, b in zip(cuts[:-1], cuts[1:])]
            start += size
        else:
            pending += size
    if pending:
        out.append((start, pending))
    return out


def _used_columns(roles: Roles) -> list[str]:
    return ["customer_id", "order_ts", "amount"] + [
        name for name, present in (("order_id", roles.order_id_dtype is not None),
                                   ("channel", roles.channel), ("category", roles.category),
                                   ("units", roles.units))
        if present]


def _status_counts(per_status: np.ndarray, file: int) -> pl.DataFrame:
    """(file, status, len) rows of the non-zero counts ``per_status[s]`` of statuses s."""
    seen = np.flatnonzero(per_status)
    return pl.DataFrame({"file": pl.Series(np.full(len(seen), file), dtype=pl.UInt32),
                         "status": pl.Series(seen, dtype=pl.UInt8),
                         "len": pl.Series(per_status[seen], dtype=pl.UInt32)})


class _Stream:
    """One streaming run over all batches of all partitions (see module docstring)."""

    def __init__(self, infos: list[InputFile], config: RunConfig, roles: Roles,
                 as_of: datetime | None, partitions: int, channels: ChannelColumns | None,
                 id_seed: int, order_pairs: bool, rejected_dir: Path | None):
        self.infos, self.config, self.roles = infos, config, roles
        self.rejected_dir = rejected_dir
        self.as_of, self.partitions, self.id_seed = as_of, partitions, id_seed
        self.order_pairs = order_pairs
        self.fixed_channels = channels
        self.channel_book = (None if not roles.channel else
                             Codebook(channels.values) if channels is not None else
                             Codebook(limit=MAX_TRACKED_CHANNELS))
        self.category_book = Codebook() if roles.category else None
        self.latest: datetime | None = None  # latest used timestamp (for a default as_of)

    def _capacity(self) -> int:
        """Rows a partition's tables reserve (virtual memory only until used): its expected
        share of the input rows, at most CAPACITY_BYTES of address space."""
        rows = sum(i.rows for i in self.infos) * 1.1 / self.partitions
        return int(min(rows, CAPACITY_BYTES / (8 * (gb.CHANNEL0 + MAX_CHANNEL_COLUMNS))))

    def _read(self, i: int, offset: int, rows: int, p: int) -> pl.DataFrame:
        lf = (scan_file(i, self.infos[i], self.config, self.roles).slice(offset, rows)
              .with_row_index("source_row", offset=offset))
        lf = classify(lf, self.as_of, self.config, self.roles.id_dtype == pl.String,
                      self.roles.units)
        if self.partitions > 1:
            key = pl.col("customer_id").hash(seed=PARTITION_SEED) % self.partitions
            lf = lf.filter(key == p)
        return lf.collect()

    def run(self) -> Gathered:
        counts, raws = [], []
        keep = _used_columns(self.roles)
        plan = [(i, offset, rows) for i, info in enumerate(self.infos)  # footers read once
                for offset, rows in batches(info)]
        if self.rejected_dir is not None:
            self.rejected_dir.mkdir(parents=True, exist_ok=True)
        with RejectedSpill(self.rejected_dir) as spill, \
                ThreadPoolExecutor(max_workers=1) as worker:
            for p in range(self.partitions):
                acc = CustomerAccumulator(self.roles, self.channel_book, self.category_book,
                                          self.id_seed, self._capacity(), self.order_pairs)
                pending = None
                for b, (i, offset, rows) in enumerate(plan):
                    df = self._read(i, offset, rows, p)
                    per_status = np.bincount(df["status"].to_numpy(), minlength=len(STATUSES))
                    counts.append(_status_counts(per_status[:FIRST_REJECT], i))
                    if per_status[FIRST_REJECT:].any():
                        spill.add(b, df.filter(pl.col("status") >= FIRST_REJECT))
                    all_used = per_status[USED] == df.height
                    used = (df if all_used else df.filter(pl.col("status") == USED)).select(keep)
                    del df
                    if used.height:
                        latest = used["order_ts"].max()
                        self.latest = latest if self.latest is None else max(self.latest, latest)
                    batch = acc.prepare(used)
                    del used
                    if pending is not None:
                        pending.result()
                    pending = worker.submit(acc.add, batch)
                    del batch
                if pending is not None:
                    pending.result()
                raws.append(acc.raw())
                del acc
            return self._finish(counts, spill, raws)

    def _finish(self, counts: list[pl.DataFrame], spill: RejectedSpill,
                raws: list[pl.DataFrame]) -> Gathered:
        as_of = self.as_of
        if as_of is None:
            if self.latest is None:
                raise InputError(no_valid_row_message(self.config))
            as_of = end_of_day(self.latest)
        channels, raw = self._channel_columns(pl.concat(raws, how="diagonal_relaxed"))
        writer = PartWriter(self.rejected_dir) if self.rejected_dir is not None else None
        kept = []
        for rows in spill.batches():  # in input order, whatever the passes and batches
            if self.as_of is None:
                late = (pl.col("status") >= _LATE_CHECKED) & (pl.col("order_ts") > as_of)
                rows = rows.with_columns(pl.when(late).then(pl.lit(AFTER_AS_OF, pl.UInt8))
                                         .otherwise(pl.col("status")).alias("status"))
            counts.append(rows.group_by("file", "status").len())
            rejected = rejected_rows(rows.lazy(), self.infos).collect()
            del rows
            if writer is not None:
                writer.add(rejected)
            else:
                kept.append(rejected)
        count_cols = ["file", "status", "len"]
        counts_all = (pl.concat([c.select(count_cols) for c in counts], how="vertical_relaxed")
                      .group_by("file", "status").agg(pl.col("len").sum()))
        empty = rejected_rows(self._empty_classified().lazy(), self.infos).collect()
        if writer is None:
            return Gathered(as_of, channels, counts_all, pl.concat(kept or [empty]).lazy(),
                            raw, self.partitions)
        parts = writer.close(empty)
        return Gathered(as_of, channels, counts_all,
                        scan_parts([f["path"] for f in parts]),
                        raw, self.partitions, parts)

    def _empty_classified(self) -> pl.DataFrame:
        lf = (scan_file(0, self.infos[0], self.config, self.roles).head(0)
              .with_row_index("source_row"))
        return classify(lf, self.as_of, self.config, self.roles.id_dtype == pl.String,
                        self.roles.units).collect()

    def _channel_columns(self, raw: pl.DataFrame) -> tuple[ChannelColumns, pl.DataFrame]:
        """The share columns (the given ones, with share_other when a channel they lack had
        used rows; or the MAX_CHANNEL_COLUMNS channels with the most used rows, ties by
        value) and ``raw`` with ``_c<code>`` renamed to ``_<name>``."""
        coded = [c for c in raw.columns if c.startswith("_c")]
        raw = raw.with_columns(pl.col(coded).fill_null(0))
        if self.channel_book is None:
            return ChannelColumns(), raw
        book = self.channel_book
        if self.fixed_channels is not None:
            channels = replace(self.fixed_channels,
                               other=self.fixed_channels.other or book.uncoded)
        else:
            order = sorted((-int(book.rows[c]), book.values[c]) for c in range(len(book.values)))
            channels = ChannelColumns.named([v for _, v in order[:MAX_CHANNEL_COLUMNS]],
                                            other=len(order) > MAX_CHANNEL_COLUMNS)
        code = {v: c for c, v in enumerate(book.values)}
        kept = [(f"_c{code[v]}", f"_{name}") for v, name in zip(channels.values, channels.names)]
        raw = raw.with_columns([(pl.col(src) if src in raw.columns else pl.lit(0, pl.Int64))
                                .alias(dst) for src, dst in kept])
        return channels, raw.drop(coded)


def gather(infos: list[InputFile], config: RunConfig, roles: Roles, as_of: datetime | None,
           partitions: int, channels: ChannelColumns | None = None,
           rejected_dir: Path | None = None) -> Gathered:
    """Run the row passes (see the module docstring). ``channels``: the share columns to
    use (a frozen model's), instead of ranking tonight's channels. ``rejected_dir``: where
    to write the rejected rows as part-NNNNN.parquet files (those beyond the spill buffer
    go meanwhile to a hidden directory in it, removed before returning); None: spill in the
    system's temporary directory and return the rows in memory."""
    try:
        if as_of is None and config.window_days is not None:
            as_of = default_as_of(scan_inputs(infos, config, roles), config,
                                  roles.id_dtype == pl.String, infos, roles.units)
        seeds = list(ID_SEEDS)
        # integer order ids usually rise per customer: count orders on the fly, without pairs
        order_pairs = roles.order_id_dtype == pl.String
        while seeds:
            try:
                return _Stream(infos, config, roles, as_of, partitions, channels, seeds[0],
                               order_pairs, rejected_dir).run()
            except OrderKeysDescend:  # some customer's order ids go down: count from pairs
                order_pairs = True
            except TooManyValues:  # too many channel values to track: rank them first
                scan = scan_inputs(infos, config, roles)
                as_of = as_of or default_as_of(scan, config, roles.id_dtype == pl.String, infos,
                                               roles.units)
                used = classify(scan, as_of, config, roles.id_dtype == pl.String, roles.units)
                channels = channel_columns(used.filter(pl.col("status") == USED))
            except IdHashCollision:
                seeds.pop(0)
        raise RuntimeError(f"customer id hash collisions under every seed {ID_SEEDS}")
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise explain_read_error(exc, infos) from None
