"""The customer ids of the report's own inputs (``--customers``, ``--previous``) against
tonight's: the cast that turns them into tonight's id dtype, what the Parquet footers already
show about that cast, the attributes file's schema and id column (and which of its columns
cannot be read), and tonight's table flagged sorted by id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from segscore.errors import InputError
from segscore.regular import not_regular
from segscore.schema import (MAX_DECIMAL_DIGITS, read_footer, reader_schema, uint64_max,
                             zone_problems)


def id_column(schema: pl.Schema, path: Path, config) -> str:
    """The attributes file's customer id column: the configured transactions' name, else
    "customer_id"; InputError naming the file when it has neither."""
    wanted = [config.columns.customer_id] if config is not None else []
    if "customer_id" not in wanted:
        wanted.append("customer_id")
    for name in wanted:
        if name in schema:
            return name
    raise InputError(f"{path}: customer attributes file has no customer id column "
                     f"(looked for {', '.join(repr(w) for w in wanted)}; "
                     f"columns: {', '.join(schema.names()[:20])})")


def attributes_schema(path: Path) -> pl.Schema:
    """The attributes file's schema (footer only); InputError naming the file when it cannot
    be read (a FIFO or device: before it is opened, which would block), or has a timestamp
    column in a zone polars cannot read (its reader panics)."""
    if problem := not_regular(path):
        raise InputError(f"{path}: cannot read customer attributes Parquet: {problem}")
    try:
        zones = zone_problems(path, reader_schema(pq.read_metadata(path)))
        if zones:
            raise InputError(zones[0])
        return pl.scan_parquet(path, glob=False).collect_schema()
    except (OSError, pl.exceptions.PolarsError, pa.ArrowException) as exc:
        raise InputError(f"{path}: cannot read customer attributes Parquet: "
                         f"{str(exc).splitlines()[0]}") from None


#: how the messages name the two files whose ids are cast to tonight's
ATTRIBUTE_IDS = ("customer id column", "the transactions' customer ids")


def cast_ids(attr_id: pl.DataType, scored_id: pl.DataType, path: Path, col: str,
             names: tuple[str, str] = ATTRIBUTE_IDS) -> pl.Expr:
    """The expression that turns the attributes' id column into the scored id dtype (also
    used for the previous run's ids; ``names``: how the message names the column and the
    ids it is cast to). InputError when no cast is allowed (docs/report.md, attributes)."""
    e = pl.col(col)
    if attr_id == scored_id:
        return e
    if scored_id.is_integer() and attr_id.is_integer():
        return e.cast(scored_id, strict=True)
    labels = isinstance(attr_id, (pl.Categorical, pl.Enum))
    if scored_id == pl.String and (attr_id.is_integer() or labels):
        return e.cast(pl.String)
    if scored_id.is_integer() and attr_id == pl.String:
        return e.str.strip_chars().cast(scored_id, strict=True)
    # an Enum's dtype lists every category (millions of ids): name only its kind
    shown = type(attr_id).__name__ if isinstance(attr_id, pl.Enum) else attr_id
    raise InputError(f"{path}: {names[0]} {col!r} has dtype {shown}, incompatible "
                     f"with {names[1]} ({scored_id})")


def null_blank_ids(ids: pl.Series) -> pl.Series:
    """String ids with the blank ones ("" or whitespace only) made null, as the row pass
    treats blank transaction ids; other ids (and non-string ids) unchanged. The strip pass
    is skipped when the column's min and max show that every id starts with a printable
    ASCII character (then none can be blank: whitespace is at most a space in ASCII, and
    Unicode whitespace starts with a byte above 0x7F)."""
    if ids.dtype != pl.String or ids.null_count() == ids.len():
        return ids
    lo, hi = ids.min(), ids.max()
    if lo >= "!" and hi < "\x7f":
        return ids
    return ids.set(ids.str.strip_chars() == "", None)


def read_attribute_rows(path: Path, schema: pl.Schema, col: str, id_dtype: pl.DataType,
                        names: list[str], exprs: list[pl.Expr]) -> tuple[pl.DataFrame, int]:
    """(the attributes file's rows with an id — ``customer_id`` (from ``col``) cast to
    ``id_dtype``, then ``exprs``, which read the columns ``names`` — in file order; the
    number of rows dropped for a null or blank id, as the row pass treats blank transaction
    ids). InputError naming the file and the column that cannot be read or cast."""
    lf = pl.scan_parquet(path, glob=False)
    try:
        df = lf.select(cast_ids(schema[col], id_dtype, path, col).alias("customer_id"),
                       *exprs).collect()
    except pl.exceptions.PolarsError as exc:
        raise InputError(
            _unreadable_column(path, [col, *names])
            or uncast_ids_problem(lf, col, schema[col], id_dtype, path)
            or f"{path}: customer id column {col!r} ({schema[col]}) cannot be converted to "
               f"the transactions' id type {id_dtype}: {str(exc).splitlines()[0]}") from None
    ids = null_blank_ids(df["customer_id"])
    dropped = ids.null_count()
    return (df.filter(ids.is_not_null()) if dropped else df), dropped


def _starts_no_integer(v: str, upper_bound: bool) -> bool:
    """Whether a string statistic shows a value that is not an integer once stripped. A
    minimum is an actual value or a prefix of one (writers truncate long statistics); a
    maximum is an actual value or an upper bound whose last kept character was rounded up, so
    ':' (after '9') does not count."""
    if v == "":
        return True  # a minimum or maximum "": the value "" is there
    rest = v.lstrip()
    if not rest:
        return False  # whitespace only: a prefix of something else
    c = rest[0]
    if "0" <= c <= "9" or c in "+-" or (upper_bound and c == ":"):
        return False
    return True


def footer_cast_problem(files: list[Path], col: str, src: pl.DataType, target: pl.DataType,
                        names: tuple[str, str] = ATTRIBUTE_IDS) -> str | None:
    """What the Parquet footers of ``files`` already show about casting the id column ``col``
    from ``src`` to ``target`` (a message naming the file and column), or None. Only the
    column statistics are read: string → integer, a row group whose minimum or maximum is a
    string no integer can be read from ("C17", ""); integer → integer, a minimum or maximum
    out of the target's range (uint64 ids: their largest value, read from the column where a
    row group has no statistics). None does not mean every value casts: the rows are checked
    when they are read."""
    if src == target or not target.is_integer() or not (src == pl.String
                                                         or src.is_integer()):
        return None
    if src.is_integer():
        try:
            info = np.iinfo(np.dtype(str(target).lower()))
        except TypeError:  # Int128: no numpy type, and every 64-bit id fits
            return None
    for f in files:
        md = read_footer(f)
        columns = md.schema.names
        if col not in columns:
            continue
        i = columns.index(col)
        if src == pl.UInt64:  # statistics or, where a row group has none, the column itself
            top = uint64_max(f, md, col)
            if top > info.max:
                return (f"{f}: {names[0]} {col!r} ({src}) holds ids out of the range of "
                        f"{names[1]} ({target}; largest {top})")
            continue
        for g in range(md.num_row_groups):
            st = md.row_group(g).column(i).statistics
            if st is None or not st.has_min_max:
                continue
            lo, hi = st.min, st.max
            if src == pl.String:
                lo, hi = (x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)
                          for x in (lo, hi))
                if _starts_no_integer(lo, False) or _starts_no_integer(hi, True):
                    return (f"{f}: {names[0]} {col!r} ({src}) holds ids that are not integers "
                            f"(row group {g} statistics: min {lo!r}, max {hi!r}), so they "
                            f"cannot be cast to {names[1]} ({target})")
            elif lo < info.min or hi > info.max:
                return (f"{f}: {names[0]} {col!r} ({src}) holds ids out of the range of "
                        f"{names[1]} ({target}; row group {g} statistics: min {lo}, "
                        f"max {hi})")
    return None


def sorted_by_id(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with the sorted flag on customer_id (the pipeline's table is sorted by id)."""
    ids = df["customer_id"]
    if ids.flags["SORTED_ASC"]:
        return df
    if ids.is_sorted():
        return df.with_columns(pl.col("customer_id").set_sorted())
    return df.sort("customer_id")


def uncast_ids_problem(lf: pl.LazyFrame, col: str, src: pl.DataType, target: pl.DataType,
                       where: Path, names: tuple[str, str] = ATTRIBUTE_IDS) -> str | None:
    """The message naming how many ids of column ``col`` (dtype ``src``) of ``lf`` the strict
    cast of ``cast_ids`` cannot turn into ``target`` (with up to 3 of them), or None when
    they all cast (or cannot be read). Called after a read failed, to say why."""
    c = pl.col(col)
    safe = (c.str.strip_chars() if src == pl.String else c).cast(target, strict=False)
    try:
        bad = lf.select(c).filter(c.is_not_null() & safe.is_null()).collect()[col]
    except (OSError, pl.exceptions.PolarsError):
        return None
    if not bad.len():
        return None
    ex = ", ".join(repr(v) for v in bad.head(3).to_list())
    return (f"{where}: {names[0]} {col!r} ({src}) has {bad.len()} id(s) that cannot be cast "
            f"to {names[1]} ({target}) (e.g. {ex}), so they cannot be matched")


def _unreadable_column(path: Path, names: list[str]) -> str | None:
    """The message naming the first column of ``names`` the attributes file ``path`` cannot
    decode (a corrupt page, a type polars cannot read), or None when each reads; called only
    after a read failed."""
    for name in dict.fromkeys(names):
        try:
            pl.read_parquet(path, columns=[name], glob=False)
        except (OSError, pl.exceptions.PolarsError) as exc:
            return (f"{path}: cannot read customer attribute column {name!r}: "
                    f"{str(exc).splitlines()[0]}")
    return None


def readable_number(dtype: pl.DataType) -> bool:
    """Whether ``dtype`` is a numeric type polars can read (a decimal of at most
    MAX_DECIMAL_DIGITS digits; Parquet's wider decimal256 reads as an error)."""
    return dtype.is_numeric() and not (isinstance(dtype, pl.Decimal)
                                       and (dtype.precision or 0) > MAX_DECIMAL_DIGITS)
