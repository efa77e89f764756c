"""Memory planning: how many customer-hash partitions a run needs to stay within a budget.

The row pass streams the input in batches, so rows cost a fixed working set; what grows is
per customer. A run's peak is the larger of the ingest peak and the downstream peak:

    ingest     ≈ baseline + batches + (customers × ACCUMULATOR + pair rows × PAIR) / P
                 + customers × RAW
    downstream ≈ baseline + customers × (PER_CUSTOMER + PER_CHANNEL × channels beyond 4
                                         + id bytes)

batches = BATCHES_ALIVE × ROW_COPIES × (rows of the largest batch) × row_bytes; row_bytes is 8 bytes per
fixed-width column (1 for a decimal run's above_bound flag), 16 per string view plus the
encoded size of the string columns (from the Parquet footer) and ~14 bytes of bookkeeping.
Pair rows (order ids) are the input rows when an order id column exists. The number of
customers is bounded by the row count; when that bound does not fit, the caller counts
distinct ids (HyperLogLog, one column) and plans again.
id bytes = 0 for integer customer ids, else STRING_ID plus the bytes of ids too long to sit
in polars' 16-byte string view (``id_bytes``): before the row pass from the longest min / max
id in the footers' statistics, after it from the ids themselves.
Rejected rows are not counted beyond the batches: the row pass holds at most
SPILL_BUFFER_BYTES (32 MiB) of them besides the batches and spills the rest to disk; at the
end, the batches gone, it reads them back one batch at a time (segscore.spill).
Everything here reads footers only (and, after the row pass, the ids already in memory); the
callers' callbacks read the customer ids (the count) or a first row group (the channels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import polars as pl

from native_kernels.groupby import CHANNEL0

from segscore import address_space
from segscore.address_space import BASELINE
from segscore.errors import InputError
from segscore.features import MAX_CHANNEL_COLUMNS
from segscore.passes import BATCH_ROWS
from segscore.schema import InputFile

#: decoded bytes per row of each normalized column kind (polars/arrow in-memory layout)
_FIXED_WIDTH = 8           # Int64 ids, Datetime(us), Float64 amounts, Int64 order ids
_STRING_VIEW = 16          # polars String is a 16-byte view (+ the bytes of longer strings)
_PER_ROW_OVERHEAD = 4 + 4 + 1 + 1 + 8  # file index u32, row index u32, status u8, validity
#                                        bits, raw-ts view slack
#: working copies of a batch alive at once (read, classified, kernel inputs)
ROW_COPIES = 3.0
#: batches alive at once (one read while the previous one is folded in)
BATCHES_ALIVE = 2
#: accumulator bytes per customer of the partition (aggregate row of up to 16 channels, id,
#: hash slot, and the sorted copy made at the end)
ACCUMULATOR = 2 * 8 * (CHANNEL0 + MAX_CHANNEL_COLUMNS) + 8 + 16
#: bytes per input row for the exact distinct order count (pair + counting-sort scratch)
PAIR = 4 + 8 + 8
#: raw aggregates kept per customer of the finished partitions
RAW = 120
#: per-customer tables alive at the downstream peak (raw aggregates + features while the
#: features are built; later the scores, labels, clusters and the report). Measured at 50M
#: (42.2M customers, 4 channel columns): 239–249 bytes at 2–6 passes (peak in the features
#: stage; the report with --previous and --customers peaked no higher); 200 let a run with
#: a 9.5 GiB budget peak at 10.2 GiB.
PER_CUSTOMER = 260
#: bytes per customer string ids add to the tables after the row pass (beyond PER_CUSTOMER,
#: measured with integer ids), plus their payload when longer than STRING_INLINE bytes. 10M
#: customers, features stage: 229 B per customer with integer ids, 261 with ids of at most
#: 9 bytes (+32), 288 with 36-byte ids (+59, below 32 + 36)
STRING_ID, STRING_INLINE = 32, 12
#: channel columns PER_CUSTOMER covers, and the bytes per customer of each one more (its raw
#: spend and its share column: 4M customers measured 263 B with 4 channels, 459 B with 16)
BASE_CHANNELS, PER_CHANNEL = 4, 16
#: per customer at the report stage: the customer table and the profiles' temporaries (at
#: 10M a process holding the table after the row pass had 1,405–1,580 MiB resident: 122–144 B
#: per customer above a 400 MiB baseline; the two float medians' int64 keys, alive at once
#: since session 9, add 8 B to that)
REPORT_TABLE = 170
#: the migration section's peak (and migration.parquet's) per customer of the previous run
#: (measured at 10M: 89 B when the table held every customer, as it does on a night when
#: everyone moves; kept as the bound), and the attributes section's per attribute row
#: beyond the row's decoded columns (its id sort and lookup; measured at 10M: 55 B for 45 B
#: of columns)
PER_PREVIOUS, ATTRIBUTE_OVERHEAD = 90, 12
#: share of the available memory used when no budget is given
DEFAULT_SHARE = 0.8
MAX_PARTITIONS = 256


@dataclass(frozen=True)
class ReportInputs:
    """Sizes of the report's optional inputs, from Parquet footers:
    attribute rows and the decoded bytes of one such row; customers of the previous run."""

    attribute_rows: int = 0
    attribute_row_bytes: float = 0.0
    previous_customers: int = 0

    def section_bytes(self) -> tuple[int, int]:
        """(attributes section, migration section) peak bytes above the customer table."""
        return (int(self.attribute_rows * (self.attribute_row_bytes + ATTRIBUTE_OVERHEAD)),
                self.previous_customers * PER_PREVIOUS)


@dataclass(frozen=True)
class MemoryPlan:
    """How a run fits its budget: ``partitions`` passes, ``estimate`` peak bytes."""

    partitions: int
    estimate: int
    limit: int | None


def _row_bytes(info: InputFile, units: bool) -> float:
    """Decoded bytes per row of one file's normalized columns (``units``: Roles.units)."""
    # order_ts + amount (+ units and the above_bound flag, a byte at most)
    per_row = _PER_ROW_OVERHEAD + 2 * _FIXED_WIDTH + units * (_FIXED_WIDTH + 1)
    for role in ("customer_id", "order_id", "channel", "category"):
        kind = info.kinds.get(role)
        if kind is None:
            continue
        per_row += _STRING_VIEW if kind in ("string", "bool") or role in ("channel", "category") \
            else _FIXED_WIDTH
    if info.rows:
        per_row += info.string_bytes / info.rows  # payload of the string columns
    return per_row


def batch_bytes(infos: list[InputFile], amount_decimals: int = 0) -> int:
    """Working set of the batches alive at once (independent of the input size).
    ``amount_decimals``: ColumnMap.amount_decimals (with it, integer amounts carry units too,
    as ingest.resolve_roles says)."""
    units = any(i.kinds.get("amount") == "decimal"
                or (amount_decimals > 0 and i.kinds.get("amount") == "int") for i in infos)
    largest = max((min(i.rows, BATCH_ROWS) * _row_bytes(i, units) for i in infos),
                  default=0.0)
    return int(BATCHES_ALIVE * ROW_COPIES * largest)


def partitioned_bytes(infos: list[InputFile], customers: int) -> int:
    """Bytes that P partition passes divide by P: accumulators and order-id pairs."""
    pair_rows = sum(i.rows for i in infos if "order_id" in i.kinds)
    return int(customers * ACCUMULATOR + pair_rows * PAIR)


def id_bytes(string_ids: bool, payload: float = 0.0) -> float:
    """Bytes per customer the customer id adds over an integer id: 0 for integer ids, else
    STRING_ID plus ``payload`` (mean bytes per id stored outside the string view: the whole
    id when it is longer than STRING_INLINE bytes, else 0)."""
    return STRING_ID + payload if string_ids else 0.0


def planned_id_bytes(infos: list[InputFile]) -> float:
    """``id_bytes`` before the row pass: every id taken as long as the longest min / max in
    the footers' statistics (0 payload without statistics; the run checks again with the
    ids themselves after the row pass)."""
    if not any(i.kinds.get("customer_id") == "string" for i in infos):
        return 0.0
    longest = max(i.id_length for i in infos)
    return id_bytes(True, longest if longest > STRING_INLINE else 0)


def id_payload(ids: pl.Expr) -> pl.Expr:
    """``id_bytes``' payload of the string ids ``ids``, one per customer: their mean bytes
    stored outside the string view (0 without ids)."""
    lengths = ids.str.len_bytes()
    return (lengths.filter(lengths > STRING_INLINE).sum() / lengths.len()).fill_nan(0.0)


def measured_id_bytes(ids: pl.Series) -> float:
    """``id_bytes`` after the row pass, from the customers' ids themselves."""
    if ids.dtype != pl.String:
        return 0.0
    return id_bytes(True, ids.to_frame().select(id_payload(pl.col(ids.name))).item())


def downstream_bytes(customers: int, channel_columns: int = BASE_CHANNELS,
                     per_id: float = 0.0) -> int:
    """Estimated peak after the row pass: the baseline plus the per-customer tables
    (``per_id``: ``id_bytes``)."""
    extra = PER_CHANNEL * max(0, channel_columns - BASE_CHANNELS)
    return int(BASELINE + customers * (PER_CUSTOMER + extra + per_id))


def report_stage_bytes(customers: int, inputs: ReportInputs, sequential: bool,
                       per_id: float = 0.0) -> int:
    """Estimated peak of the report stage: the optional sections side by side, or one after
    the other (``sequential``)."""
    attributes, migration = inputs.section_bytes()
    sections = max(attributes, migration) if sequential else attributes + migration
    return int(BASELINE + customers * (REPORT_TABLE + per_id) + sections)


def early_sections_fit(customers: int, channel_columns: int, limit_bytes: int | None,
                       report: ReportInputs) -> bool:
    """Whether the report's optional sections can run from the scoring on (during the
    clustering and the writing, whose tables are at most the downstream peak's) within the
    budget. They run there one after the other; both are counted, which is conservative.
    The tables are counted at the features stage's peak with integer ids: string ids' bytes
    (``id_bytes``) are left out, as the clustering and writing stages hold less than that
    peak (50M customers with string ids and both sections started early, side by side:
    13.68 GiB measured against 16.99 GiB by this estimate; with the id bytes 18.25 GiB,
    which would have kept them at the report stage)."""
    return limit_bytes is None or (downstream_bytes(customers, channel_columns)
                                   + sum(report.section_bytes()) <= limit_bytes)


def check_downstream(customers: int, channel_columns: int, limit_bytes: int | None,
                     report: ReportInputs = ReportInputs(), per_id: float = 0.0) -> bool:
    """Whether the report's optional sections must run one after the other to stay within
    ``limit_bytes``, now that the customers and the channel columns are known (the plan
    could only assume 4 channels and does not size the report's inputs). InputError when
    the tables after the row pass, or the report even with its sections one at a time, will
    not fit."""
    if limit_bytes is None:
        return False
    need = downstream_bytes(customers, channel_columns, per_id)
    report_need = report_stage_bytes(customers, report, sequential=True, per_id=per_id)
    if max(need, report_need) > limit_bytes:
        ids = f" and string ids ({per_id:.0f} B per customer)" if per_id else ""
        what = (f"{channel_columns} channel columns{ids} need about {need / 2**30:.2f} GiB "
                f"for the per-customer tables" if need >= report_need else
                f"the report's --customers / --previous inputs need about "
                f"{report_need / 2**30:.2f} GiB at the report stage")
        raise InputError(
            f"memory budget exceeded after the row pass: {customers:,} customers with {what}, "
            + _exceeded(limit_bytes, "raise --memory-limit or run on a bigger machine")
            + " (nothing was written)")
    return report_stage_bytes(customers, report, sequential=False, per_id=per_id) > limit_bytes


def estimate_peak_bytes(infos: list[InputFile], partitions: int = 1,
                        customers: int | None = None,
                        channel_columns: int = BASE_CHANNELS, amount_decimals: int = 0) -> int:
    """Estimated peak resident bytes with ``partitions`` passes and ``customers`` distinct ids
    (default: the row count, an upper bound). ``amount_decimals``: see batch_bytes."""
    n = sum(i.rows for i in infos) if customers is None else customers
    ingest = (batch_bytes(infos, amount_decimals) + partitioned_bytes(infos, n) / partitions
              + n * RAW)
    down = downstream_bytes(n, channel_columns, planned_id_bytes(infos))
    return int(BASELINE + max(ingest, down - BASELINE))


def available_memory_bytes() -> int | None:
    """Memory this process may use: the smaller of the cgroup limit (if any) and MemAvailable;
    None if neither is known."""
    candidates = []
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            candidates.append(int(text))
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                candidates.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return min(candidates) if candidates else None


def default_limit() -> int | None:
    """DEFAULT_SHARE of the available memory (None when unknown)."""
    available = available_memory_bytes()
    return None if available is None else int(available * DEFAULT_SHARE)


def budget(limit_bytes: int | None) -> int | None:
    """A run's budget: ``limit_bytes`` (None: default_limit()), or less when a finite
    address-space limit (``ulimit -v``) holds less (address_space.budget); None when
    neither is known."""
    known = [b for b in (default_limit() if limit_bytes is None else limit_bytes,
                         address_space.budget()) if b is not None]
    return min(known) if known else None


def _exceeded(limit: int, usual: str) -> str:
    """The end of a 'memory budget exceeded' message: the budget, where it comes from when
    the address-space limit sets it, and what to do (``usual`` otherwise)."""
    if address_space.is_binding(limit):
        return (f"but the budget is {limit / 2**30:.2f} GiB, {address_space.source()}; "
                f"{address_space.REMEDY}")
    return f"but the budget is {limit / 2**30:.2f} GiB; {usual}"


def plan_memory(infos: list[InputFile], limit_bytes: int | None,
                customers: int | None = None,
                count_customers: Callable[[], int] | None = None,
                channel_columns: Callable[[], int] | None = None,
                model_channels: int | None = None, amount_decimals: int = 0) -> MemoryPlan:
    """The fewest partitions whose estimated peak fits ``budget(limit_bytes)``.

    Without ``customers`` the row count is the bound; when that bound needs more than one
    pass (or does not fit at all) and ``count_customers`` is given, it is called (a streaming
    HyperLogLog count, +2% for its error) and the plan is made for that count instead.
    The tables after the row pass are planned for ``model_channels`` channel columns when a
    model fixes them (passes.model_channel_columns), else for BASE_CHANNELS; only when
    the most there can be would not fit is ``channel_columns`` (a look at the channel values)
    called and the plan made for its answer (the run checks again after the row pass).
    Raises InputError when even MAX_PARTITIONS passes cannot fit: the per-customer tables
    alone exceed the budget. ``amount_decimals``: see batch_bytes.
    """
    if customers is None and count_customers is not None:
        try:
            plan = plan_memory(infos, limit_bytes, model_channels=model_channels)
            if plan.partitions == 1:
                return plan
        except InputError:
            pass
        customers = int(count_customers() * 1.02) + 1
    limit = budget(limit_bytes)
    n = sum(i.rows for i in infos) if customers is None else customers
    chan = BASE_CHANNELS if model_channels is None else model_channels
    per_id = planned_id_bytes(infos)
    if (model_channels is None and limit is not None and channel_columns is not None
            and downstream_bytes(n, MAX_CHANNEL_COLUMNS + 1, per_id) > limit):
        chan = channel_columns()
    single = estimate_peak_bytes(infos, 1, customers, chan, amount_decimals)
    if limit is None or single <= limit:
        return MemoryPlan(1, single, limit)
    fixed = BASELINE + batch_bytes(infos, amount_decimals) + n * RAW
    room = limit - fixed
    parts = (max(1, math.ceil(partitioned_bytes(infos, n) / room))
             if room > 0 and downstream_bytes(n, chan, per_id) <= limit else MAX_PARTITIONS + 1)
    if parts > MAX_PARTITIONS:
        rows = sum(i.rows for i in infos)
        who = f"{customers:,} customers" if customers is not None else f"up to {rows:,} customers"
        if chan > BASE_CHANNELS:
            who += f" and {chan} channel columns"
        need = max(fixed, downstream_bytes(n, chan, per_id))
        raise InputError(
            f"memory budget exceeded: {rows:,} input rows in {len(infos)} file(s) with {who} "
            f"need at least {need / 2**30:.2f} GiB (the per-customer tables and row batches "
            f"plus the process's fixed {BASELINE / 2**30:.2f} GiB), "
            + _exceeded(limit, "raise --memory-limit, run on a bigger machine, or shorten "
                               "--window-days"))
    return MemoryPlan(parts, estimate_peak_bytes(infos, parts, customers, chan, amount_decimals),
                      limit)
