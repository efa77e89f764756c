"""Lazy scan of the input files into one normalized, classified row stream (SPEC §1, §5).

Every row gets a ``status``: used, after_as_of, outside_window, or a rejection reason.
Classification order: the timestamp is checked first (null / unparseable rows are rejected),
then rows after as_of or outside the window are counted and set aside *without further
checks*, then in-window rows with a bad customer id or amount are rejected.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from segscore.config import OPTIONAL_COLUMNS, ColumnMap, RunConfig
from segscore.errors import ConfigError, InputError
from segscore.schema import EDGE_DAYS, InputFile

# status codes (UInt8) and their names, in classification order
STATUSES = ("used", "after_as_of", "outside_window", "null_timestamp", "unparseable_timestamp",
            "timestamp_out_of_range", "null_customer_id", "null_amount", "non_finite_amount",
            "amount_out_of_bounds")
#: the instants a row's timestamp may take: Python's datetime range (years 1..9999), in which
#: as_of and every output timestamp must lie
FIRST_INSTANT, LAST_INSTANT = datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)
USED, AFTER_AS_OF, OUTSIDE_WINDOW = 0, 1, 2
FIRST_REJECT = 3
AMOUNT_DIGITS = 4  # amounts are summed exactly as integer 1/10_000 currency units
AMOUNT_SCALE = 10**AMOUNT_DIGITS


@dataclass(frozen=True)
class Roles:
    """Which optional roles exist in any input file, and the dtype of ids."""

    id_dtype: pl.DataType
    order_id_dtype: pl.DataType | None
    channel: bool
    category: bool
    #: some file's amount is a decimal, or an integer of implied decimal places ([columns]
    #: amount_decimals > 0): every row carries ``units`` (see amount_units) and
    #: ``above_bound`` (see above_bound)
    units: bool = False


def resolve_roles(infos: list[InputFile], amount_decimals: int = 0) -> Roles:
    """Common dtypes across the files with rows (a 0-row file decides no type): string if
    any file holds strings, else Int64 (also when every id column is all null).
    ``amount_decimals``: ColumnMap.amount_decimals."""
    def kinds(role: str) -> set[str]:
        return {i.kinds[role] for i in infos if role in i.kinds and i.rows}

    order_kinds = kinds("order_id")
    return Roles(
        id_dtype=pl.String if "string" in kinds("customer_id") else pl.Int64,
        order_id_dtype=None if not order_kinds else (pl.String if "string" in order_kinds else pl.Int64),
        channel=bool(kinds("channel")),
        category=bool(kinds("category")),
        units="decimal" in kinds("amount")
        or (amount_decimals > 0 and "int" in kinds("amount")),
    )


def mixed_amount_types(infos: list[InputFile], columns: ColumnMap) -> list[str]:
    """A warning when the amount column (of the column map ``columns``) is an integer in some
    files with rows and a float or decimal in others, unless ``columns.amount_decimals`` says
    what the integers are: with 0 an integer is read as currency units (SPEC §1's amount), so
    a source that changed between cents and units would count some amounts 100 times over
    (or a hundredth) without any row failing a check."""
    if columns.amount_decimals:
        return []
    column = columns.amount

    def files(kinds: set[str]) -> list[Path]:
        return [i.path for i in infos if i.rows and i.kinds.get("amount") in kinds]

    ints, fractional = files({"int"}), files({"float", "decimal"})
    if not ints or not fractional:
        return []
    return [f"column '{column}' holds integers in {len(ints)} file(s) (e.g. {ints[0]}) and "
            f"floats or decimals in {len(fractional)} (e.g. {fractional[0]}): integers are "
            "read as currency units, so amounts stored in cents would count 100 times; "
            "check that every file has the same unit (set [columns] amount_decimals = 2 "
            "if the integers are cents)"]


def amount_units(col: pl.Expr, kind: str, decimals: int = 0) -> pl.Expr:
    """Int64 1/AMOUNT_SCALE units of the amount column ``col`` (of InputFile kind ``kind``),
    rounded half to even: a decimal's exactly (rescaled as a decimal, never through a float:
    0.00015 is 2 units, 999999999999.9999 is 9999999999999999), an integer's of ``decimals``
    implied places (ColumnMap.amount_decimals > 0) exactly too (a × 10^(4 − decimals): 1999
    cents is 199,900 units), a float's or other integer's as accumulate.prepare does (np.rint
    of the float64 product). Null for NaN / ±inf and where the units leave Int64 (such an
    amount is far beyond any max_abs_amount)."""
    if kind == "int" and decimals:
        factor = 10 ** (AMOUNT_DIGITS - decimals)
        most = (2**63 - 1) // factor
        whole = col.cast(pl.Int64, strict=False)  # a UInt64 beyond Int64: null
        return pl.when((whole >= -most) & (whole <= most)).then(whole * factor)
    if kind == "decimal":  # polars rounds a decimal cast to a smaller scale half to even
        return (col.cast(pl.Decimal(38, AMOUNT_DIGITS), strict=False).to_physical()
                .cast(pl.Int64, strict=False))
    return ((col.cast(pl.Float64) * AMOUNT_SCALE).round(0, mode="half_to_even")
            .cast(pl.Int64, strict=False))


def decimal_bound(max_abs_amount: float) -> Decimal:
    """``max_abs_amount`` as written (its shortest repr: 0.1, not the float64's binary
    expansion), floored to 38 decimal places: a decimal amount has at most 38, so no amount
    is above the one and not the other (polars holds no decimal of more places)."""
    bound = Decimal(repr(max_abs_amount))
    if bound.as_tuple().exponent < -38:  # only a bound below 1e-21 (≤ 17 digits): fits 38
        bound = bound.quantize(Decimal(1).scaleb(-38), rounding=ROUND_FLOOR)
    return bound


def above_bound(col: pl.Expr, kind: str, max_abs_amount: float, decimals: int = 0) -> pl.Expr:
    """|amount| > ``max_abs_amount`` for the amount column ``col`` of InputFile kind ``kind``:
    a decimal's compared exactly, as a decimal, with :func:`decimal_bound` (its float64, or its
    units rounded to 1/10,000, can equal the bound's when the amount is above it:
    1e12 + 0.00004); an integer's of ``decimals`` implied places (> 0) exactly, as the
    integer a / 10^decimals; a float's or other integer's as a float64, as every float-only
    run does."""
    if kind == "int" and decimals:  # a / 10^d > bound ⇔ a > floor(bound × 10^d), a an integer
        most = int((decimal_bound(max_abs_amount).scaleb(decimals)).to_integral_value(ROUND_FLOOR))
        return (col > most) | (col < -most)  # not abs(): abs(-2**63) wraps
    if kind == "decimal":
        return col.abs() > pl.lit(decimal_bound(max_abs_amount))
    return col.cast(pl.Float64).abs() > max_abs_amount


# ISO 8601 forms accepted in string timestamp columns, tried in this order for every value on
# its own (never a format inferred from the first row: that made the result depend on row order
# and silently nulled every value of another form). A space may stand for the ``T``, ``Z`` for
# ``+00:00``; a value with an offset is converted to UTC. Anything else is
# ``unparseable_timestamp``.
_TS_WITH_OFFSET = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z")
_TS_NAIVE = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M")


def parse_iso_timestamps(col: pl.Expr) -> pl.Expr:
    """String → naive-UTC Datetime(us), value by value; null where not ISO 8601. Digits
    beyond the microsecond round up, as typed nanosecond timestamps do (``_timestamp``)."""
    s = (col.str.strip_chars()
         .str.replace(r"^(\d{4}-\d{2}-\d{2})[ tT]", "${1}T")
         .str.replace(r"[zZ]$", "+00:00"))
    tries = [s.str.to_datetime(f, time_unit="us", time_zone="UTC", strict=False)
             .dt.replace_time_zone(None) for f in _TS_WITH_OFFSET]
    tries += [s.str.to_datetime(f, time_unit="us", strict=False) for f in _TS_NAIVE]
    tries.append(s.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")))
    parsed = pl.coalesce(tries)
    # the parse truncates to the microsecond: a non-zero digit after the sixth rounds up
    sub_us = s.str.contains(r"T\d{2}:\d{2}:\d{2}\.\d{6}0*[1-9]")
    return pl.when(sub_us).then(parsed + pl.duration(microseconds=1)).otherwise(parsed)


def _timestamp(col: pl.Expr, kind: str, unit: str = "", clip: bool = False
               ) -> tuple[pl.Expr, pl.Expr]:
    """(parsed naive-UTC microsecond timestamp, raw string value) expressions of the order_ts
    column ``col`` (of InputFile kind ``kind``); the raw value
    is null unless the column holds strings, so it costs nothing for typed timestamps.
    ``unit``, ``clip``: InputFile.order_ts_unit / order_ts_clip.
    Nanosecond timestamps are rounded up to the microsecond: as_of and the window
    start are whole microseconds, so "after as_of" and "at or before the window start" keep
    their truth, and so does every floor of whole days (truncating put a row 900 ns after
    as_of inside it). With ``clip``, dates and millisecond timestamps beyond ``EDGE_DAYS``
    become that edge, with the stored value as the raw value (days or ms since 1970-01-01)."""
    raw = col.cast(pl.String) if kind == "string" else pl.lit(None, pl.String)
    if clip:  # physical days / ms since the epoch (UTC)
        per_day, unit_name = (1, "d") if kind == "date" else (86_400_000, "ms")
        edge = EDGE_DAYS * per_day
        stored = col.to_physical().cast(pl.Int64)
        beyond = (stored < -edge) | (stored > edge)  # not abs(): abs(-2**63) wraps
        col = pl.from_epoch(stored.clip(-edge, edge), time_unit=unit_name)
        raw = pl.when(beyond).then(stored.cast(pl.String) + (
            " days since 1970-01-01" if kind == "date" else " ms since 1970-01-01T00:00:00Z"))
        kind = "timestamp"  # naive UTC now
    if kind == "timestamp_tz":
        ts = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    elif kind == "string":  # a dictionary-encoded column reads as Categorical: strings first
        ts = parse_iso_timestamps(col.cast(pl.String))
    else:
        ts = col
    if unit == "ns" and kind in ("timestamp", "timestamp_tz"):
        us = ts.cast(pl.Datetime("us"))
        ts = pl.when(us.cast(pl.Datetime("ns")) < ts).then(
            us + pl.duration(microseconds=1)).otherwise(us)
    return ts.cast(pl.Datetime("us")), raw


def scan_file(index: int, info: InputFile, config: RunConfig, roles: Roles) -> pl.LazyFrame:
    """One file as a LazyFrame of the normalized columns (projection pushed into the scan),
    its columns mapped by ``config.columns``.

    Columns: file (UInt32), customer_id (Int64|String), order_ts (Datetime us), order_ts_raw
    (String), amount (Float64, currency units: an integer amount divided by
    10^``config.columns.amount_decimals``), order_id / channel / category when any file has
    them, and units (Int64, :func:`amount_units`) and above_bound (Boolean,
    :func:`above_bound` under ``config.max_abs_amount``) when Roles.units.
    A role the file's hive path gives (InputFile.path_values) is that value on every row.
    """
    columns = config.columns

    def source(role: str) -> pl.Expr:
        if role in info.path_values:
            return pl.lit(info.path_values[role], pl.String)
        return pl.col(getattr(columns, role))

    ts, raw = _timestamp(source("order_ts"), info.kinds["order_ts"], info.order_ts_unit,
                         info.order_ts_clip)
    kind, decimals = info.kinds.get("amount", ""), columns.amount_decimals
    amount = pl.col(columns.amount).cast(pl.Float64)
    if kind == "int" and decimals:
        amount = amount / 10**decimals
    exprs = [
        pl.lit(index, pl.UInt32).alias("file"),
        pl.col(columns.customer_id).cast(roles.id_dtype).alias("customer_id"),
        ts.alias("order_ts"),
        raw.alias("order_ts_raw"),
        amount.alias("amount"),
    ]
    wanted = {"order_id": roles.order_id_dtype, "channel": pl.String if roles.channel else None,
              "category": pl.String if roles.category else None}
    for role in OPTIONAL_COLUMNS:
        dtype = wanted[role]
        if dtype is None:
            continue
        expr = source(role).cast(dtype) if role in info.kinds else pl.lit(None, dtype)
        exprs.append(expr.alias(role))
    if roles.units:
        exprs += [amount_units(pl.col(columns.amount), kind, decimals).alias("units"),
                  above_bound(pl.col(columns.amount), kind, config.max_abs_amount, decimals)
                  .alias("above_bound")]
    return pl.scan_parquet(info.path, hive_partitioning=False, glob=False).select(exprs)


def scan_inputs(infos: list[InputFile], config: RunConfig, roles: Roles) -> pl.LazyFrame:
    """All files, concatenated in file order."""
    return pl.concat([scan_file(i, info, config, roles) for i, info in enumerate(infos)],
                     how="vertical")


def _valid_row(max_abs_amount: float, id_is_string: bool, units: bool) -> tuple[pl.Expr, ...]:
    """Conditions (in reason order) that make an in-window row unusable. ``units``: the rows
    have ``units`` and ``above_bound`` columns (Roles.units)."""
    cid = pl.col("customer_id")
    null_id = cid.is_null()
    if id_is_string:
        null_id = null_id | (cid.str.strip_chars() == "")
    amount = pl.col("amount")
    # a decimal a little above the bound can be a float64 at it: scan_file compared it exactly
    too_big = pl.col("above_bound") if units else amount.abs() > max_abs_amount
    return (null_id, amount.is_null(), ~amount.is_finite(), too_big)


def default_as_of(rows: pl.LazyFrame, config: RunConfig, id_is_string: bool,
                  infos: list[InputFile] | None = None, units: bool = False) -> datetime:
    """End of the day of the latest valid transaction (SPEC §1). ``units``: Roles.units.

    This is the first pass over the rows: with ``infos``, a file whose data pages cannot be
    decoded becomes an InputError naming it (see :func:`explain_read_error`)."""
    bad = _valid_row(config.max_abs_amount, id_is_string, units)
    ok = pl.col("order_ts").is_not_null() & ~_out_of_range(pl.col("order_ts"))
    for cond in bad:
        ok = ok & ~cond
    try:
        latest = (rows.filter(ok).select(pl.col("order_ts").max())
                  .collect(engine="streaming").item())
    except (pl.exceptions.ComputeError, OSError) as exc:
        raise explain_read_error(exc, infos) if infos else exc
    if latest is None:
        raise InputError(no_valid_row_message(config))
    return end_of_day(latest)


def no_valid_row_message(config: RunConfig) -> str:
    """Why a run without ``--as-of`` has no as_of: every row is rejected. It names the
    config's amount bound, which rejects every row when set below every amount."""
    return ("no valid transaction in the input: cannot derive as_of (every row has a "
            "null/unparseable timestamp, id or amount, or an |amount| above "
            f"quality.max_abs_amount = {config.max_abs_amount:g})")


def _out_of_range(ts: pl.Expr) -> pl.Expr:
    """A timestamp outside years 1..9999 (polars holds them, Python's datetime cannot)."""
    return (ts < FIRST_INSTANT) | (ts > LAST_INSTANT)


def end_of_day(ts: datetime) -> datetime:
    """The last microsecond of ``ts``'s day."""
    return datetime(ts.year, ts.month, ts.day, 23, 59, 59, 999999)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def find_corrupt_file(paths: list[Path], columns: list[str] | None = None) -> InputError | None:
    """Decode every file's columns (``columns``, default all) row group by row group; an
    InputError naming the first file that cannot be decoded (the footer was fine, a data page
    is not) and the row group, else None."""
    for path in paths:
        g = 0
        try:
            pf = pq.ParquetFile(path)
            for g in range(pf.num_row_groups):
                pf.read_row_group(g, columns=columns)
        except (OSError, pa.ArrowException, ValueError) as exc:
            return InputError(f"{path}: corrupt Parquet data in row group {g} "
                              f"({type(exc).__name__}: {_one_line(exc)})")
    return None


def explain_read_error(exc: BaseException, infos: list[InputFile]) -> BaseException:
    """The error to raise when collecting the scan failed with ``exc``: an InputError naming the
    corrupt file when one is found (exit 2), else ``exc`` itself (an internal error).

    Only called on the failure path, so the extra read costs nothing on good input. A full
    disk or quota (ENOSPC, EDQUOT: the rejected rows' spill, a write) is ``exc`` at once: no
    input is searched, which at scale reads every file again. Use as::

        except (pl.exceptions.ComputeError, OSError) as exc:
            raise explain_read_error(exc, infos) from None
    """
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return exc
    return find_corrupt_file([i.path for i in infos]) or exc


def bound_units(max_abs_amount: float) -> int:
    """The most 1/10,000 units a used row's amount can have: the units of an amount at the
    bound, a float's (np.rint of the float64 product) or a decimal's (decimal_bound × 10,000
    half to even), whichever is more (they differ by one where the bound has a fifth decimal
    place: 20.98615 is 209,861 units as a float, 209,862 as a decimal)."""
    return max(round(max_abs_amount * AMOUNT_SCALE),
               round(decimal_bound(max_abs_amount) * AMOUNT_SCALE))


def exact_rows_limit(max_abs_amount: float) -> int:
    """The most used rows one customer may have with amounts up to ``max_abs_amount`` while
    its sums stay exact int64 1/10,000 units (``check_exact_sums``)."""
    return (2**63 - 1) // max(1, bound_units(max_abs_amount))


def check_exact_sums(rows: pl.Series, max_abs_amount: float) -> None:
    """InputError when a customer's sums might have left the exact int64 range: ``rows``
    (used rows per customer) × the largest amount's 1/10,000 units reaches 2⁶³. A sound
    bound, not a measurement: with the default max_abs_amount (1e7) it needs 92,233,721 rows for
    one customer; a raised bound lowers that (1e12: 923 rows)."""
    most = int(rows.max() or 0)
    limit = exact_rows_limit(max_abs_amount)
    if most > limit:
        raise InputError(f"a customer has {most:,} used rows: with quality.max_abs_amount = "
                         f"{max_abs_amount:g} their net spend could overflow the exact 1/10,000 "
                         f"units (at most {limit:,} rows of that size); lower "
                         "quality.max_abs_amount to the largest amount the data can hold")


def no_purchase_message(as_of: datetime) -> str:
    """Why a run has nothing to score (``run`` after its row pass, ``validate`` up front)."""
    return ("no customer has a purchase (amount > 0) in the scoring window ending "
            f"{as_of.isoformat()}: nothing to score")


def window_start(as_of: datetime, window_days: int | None) -> datetime | None:
    """Exclusive start of the lookback window (as_of - window, as_of]; None = no window.
    ConfigError when the window would start before the year 1 (a usage error, exit 2)."""
    if window_days is None:
        return None
    try:
        return as_of - timedelta(days=window_days)
    except OverflowError:
        raise ConfigError(f"window_days = {window_days}: a window that long before as_of "
                          f"{as_of.isoformat()} would start before the year 1",
                          key="scoring.window_days") from None


def classify(rows: pl.LazyFrame, as_of: datetime | None, config: RunConfig,
             id_is_string: bool, units: bool = False) -> pl.LazyFrame:
    """Add ``status`` (UInt8 index into STATUSES) to every row. ``as_of`` None: no upper
    bound yet (no row is after_as_of; the caller re-counts once as_of is known). ``units``:
    Roles.units."""
    ts = pl.col("order_ts")
    start = None if as_of is None else window_start(as_of, config.window_days)
    null_id, null_amount, non_finite, too_big = _valid_row(config.max_abs_amount, id_is_string,
                                                           units)
    status = (
        pl.when(ts.is_null() & (pl.col("order_ts_raw").is_null() |
                                (pl.col("order_ts_raw").str.strip_chars() == "")))
        .then(STATUSES.index("null_timestamp"))
        .when(ts.is_null()).then(STATUSES.index("unparseable_timestamp"))
        .when(_out_of_range(ts)).then(STATUSES.index("timestamp_out_of_range"))
    )
    if as_of is not None:
        status = status.when(ts > as_of).then(AFTER_AS_OF)
    if start is not None:
        status = status.when(ts <= start).then(OUTSIDE_WINDOW)
    status = (
        status.when(null_id).then(STATUSES.index("null_customer_id"))
        .when(null_amount).then(STATUSES.index("null_amount"))
        .when(non_finite).then(STATUSES.index("non_finite_amount"))
        .when(too_big).then(STATUSES.index("amount_out_of_bounds"))
        .otherwise(USED)
    )
    return rows.with_columns(status.cast(pl.UInt8).alias("status"))


def rejected_rows(classified: pl.LazyFrame, infos: list[InputFile]) -> pl.LazyFrame:
    """Unusable rows with ``reason``, ``source_file`` and ``source_row`` (0-based row of that
    file) last (ids as strings, raw timestamp kept, no units nor above_bound)."""
    return (
        classified.filter(pl.col("status") >= FIRST_REJECT)
        .with_columns(
            pl.col("status").replace_strict(list(range(len(STATUSES))), list(STATUSES),
                                            return_dtype=pl.String).alias("reason"),
            pl.col("file").replace_strict(list(range(len(infos))),
                                          [str(Path(i.path).resolve()) for i in infos],
                                          return_dtype=pl.String).alias("source_file"),
            pl.col("customer_id").cast(pl.String),
        )
        .drop("status", "file", "units", "above_bound", strict=False)
        .select(pl.exclude("source_row"), pl.col("source_row"))
    )


def reconcile(counts: pl.DataFrame, infos: list[InputFile]) -> tuple[dict, list[dict]]:
    """read = used + after_as_of + outside_window + rejected (by reason), per file and total."""
    per_file = []
    for i, info in enumerate(infos):
        sub = counts.filter(pl.col("file") == i)
        by = dict(zip(sub["status"].to_list(), sub["len"].to_list()))
        entry = {"path": str(Path(info.path).resolve()), "bytes": info.bytes,
                 "rows_read": info.rows,
                 "used": by.get(USED, 0), "after_as_of": by.get(1, 0),
                 "outside_window": by.get(2, 0),
                 "rejected": {STATUSES[s]: n for s, n in sorted(by.items()) if s >= FIRST_REJECT}}
        entry["balanced"] = info.rows == (entry["used"] + entry["after_as_of"] +
                                          entry["outside_window"] + sum(entry["rejected"].values()))
        per_file.append(entry)
    total = {k: sum(f[k] for f in per_file) for k in ("used", "after_as_of", "outside_window")}
    total["read"] = sum(f["rows_read"] for f in per_file)
    # reasons in STATUSES order, as in each file's entry: not in the order the files show
    # them, which would make report.json depend on which file holds which bad row
    counts = {r: sum(f["rejected"].get(r, 0) for f in per_file) for r in STATUSES}
    total["rejected"] = {r: n for r, n in counts.items() if n}
    total["rejected_total"] = sum(total["rejected"].values())
    total["balanced"] = total["read"] == (total["used"] + total["after_as_of"] +
                                          total["outside_window"] + total["rejected_total"])
    return total, per_file
