"""Customer attributes as clustering features (SPEC §1: "when asked, as clustering features").

A ``[clustering] features`` entry ``attr:<column>`` names a column of the ``--customers``
attributes file (one row per customer id). Its values join onto the scored customers by id
as float64: numbers as they are, booleans as 0 / 1, dates and datetimes as days since
1970-01-01 (fractional for datetimes), durations as days. A customer the file does not list,
or lists with a null, NaN or ±inf value or one beyond ±``MAX_ABS`` (a sentinel such as
1e300, whose square overflows the scaling's float64), gets null, which the clustering's
scaling turns into z = 0 (the feature's mean); the run counts them per feature (manifest
``cluster_attributes``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from segscore.clusters import ATTRIBUTE_PREFIX, attribute_columns
from segscore.errors import InputError
from segscore.ids import duplicates, id_order
from segscore.report.attributes import string_id_codes
from segscore.report.input_ids import (attributes_schema, id_column, read_attribute_rows,
                                       readable_number)
from segscore.schema import MAX_DECIMAL_DIGITS

_US_PER_DAY = 86_400 * 10**6
#: larger magnitudes count as no value: n · (2 · MAX_ABS)² stays finite in float64
MAX_ABS = 1e100


def _usable(dtype: pl.DataType) -> bool:
    return (readable_number(dtype) or dtype == pl.Boolean or dtype == pl.Date
            or isinstance(dtype, (pl.Datetime, pl.Duration)))


def check_attribute_features(features: tuple[str, ...], attributes_path, where: str) -> None:
    """InputError (before any row is read) unless every ``attr:<column>`` of ``features`` is a
    numeric / boolean / date / datetime / duration column of the attributes file; ``where``
    names the feature list in the message, file and key ("c.toml: clustering.features")."""
    columns = attribute_columns(features)
    if not columns:
        return
    if attributes_path is None:
        raise InputError(f"{where}: {', '.join(ATTRIBUTE_PREFIX + c for c in columns)} "
                         "name(s) a customer attribute, but no attributes file was given "
                         "(--customers)")
    path = Path(attributes_path)
    schema = attributes_schema(path)
    for c in columns:
        if c not in schema:
            raise InputError(f"{where}: {ATTRIBUTE_PREFIX + c!r} names attribute column "
                             f"{c!r}, which the attributes file {path} lacks (columns: "
                             f"{', '.join(schema.names()[:20])})")
        if not _usable(schema[c]):
            raise InputError(f"{where}: {ATTRIBUTE_PREFIX + c!r}: attribute column {c!r} of "
                             f"{path} is {schema[c]}; a clustering feature must be numeric, "
                             f"boolean, a date, a datetime or a duration (a decimal of at "
                             f"most {MAX_DECIMAL_DIGITS} digits)")


def _as_float(name: str, dtype: pl.DataType) -> pl.Expr:
    """Column ``name`` as float64 (see the module docstring); NaN, ±inf and values beyond
    ±MAX_ABS become null (they would make the feature's mean or std, and so every z-score,
    inf or NaN)."""
    col = pl.col(name)
    if dtype == pl.Date:
        e = col.to_physical().cast(pl.Float64)
    elif isinstance(dtype, (pl.Datetime, pl.Duration)):
        unit = {"ns": 1000, "us": 1, "ms": 1 / 1000}[dtype.time_unit]
        e = col.to_physical().cast(pl.Float64) / (_US_PER_DAY * unit)
    else:
        e = col.cast(pl.Float64)
    return pl.when(e.abs() <= MAX_ABS).then(e)


def join_attribute_features(customers: pl.DataFrame, features: tuple[str, ...],
                            attributes_path, config) -> tuple[pl.DataFrame, dict | None]:
    """(``customers`` with one float64 column per ``attr:<column>`` feature, in row order;
    ``{"path", "customers_without_value": {feature: count}}`` or None when no feature names
    an attribute). ``customers`` must be sorted by customer_id (the pipeline's table is).
    InputError naming the file and column for ids that cannot be cast to the customers' or
    that occur twice, and for a column that cannot be decoded."""
    columns = attribute_columns(features)
    if not columns:
        return customers, None
    cur_ids = customers["customer_id"]
    if not cur_ids.is_sorted():
        raise ValueError("join_attribute_features needs the customers sorted by customer_id")
    path = Path(attributes_path)
    schema = attributes_schema(path)
    col = id_column(schema, path, config)
    id_dtype = cur_ids.dtype
    # rows with a null or blank id match no customer
    attrs, _ = read_attribute_rows(
        path, schema, col, id_dtype, list(columns),
        [_as_float(c, schema[c]).alias(ATTRIBUTE_PREFIX + c) for c in columns])
    pos, dup = _positions(attrs["customer_id"], cur_ids)
    if dup.len():
        raise InputError(f"{path}: customer id column {col!r} has {dup.len()} duplicate "
                         f"id(s) (e.g. {', '.join(map(str, dup.head(3).to_list()))}); "
                         "expected one row per customer")
    n = customers.height
    scored = pos < n
    at = pos[scored]
    joined, missing = [], {}
    for c in columns:
        name = ATTRIBUTE_PREFIX + c
        values = np.full(n, np.nan)  # NaN = no value, null in the column
        values[at] = attrs[name].to_numpy()[scored]
        missing[name] = int(np.isnan(values).sum())
        joined.append(pl.Series(name, values, nan_to_null=True))
    return (customers.with_columns(joined),
            {"path": str(path.resolve()), "customers_without_value": missing})


def _positions(ids: pl.Series, cur_ids: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """(int64 per attribute row: its customer's position in ``cur_ids`` — sorted, unique —
    or len(cur_ids) when not scored; the ids occurring more than once). Integer ids: one
    merge of the sorted ids; string ids: coded by hash (``attributes.string_id_codes``)."""
    n = cur_ids.len()
    every = np.arange(n, dtype=np.int64)
    if not ids.dtype.is_integer():
        return string_id_codes(ids, cur_ids, every, n)
    from native_kernels.report import _lookup_sorted

    srt, perm = id_order(ids)
    pos = np.empty(ids.len(), dtype=np.int64)
    _lookup_sorted(srt.to_numpy(), perm if perm is not None else np.empty(0, np.int32),
                   cur_ids.to_numpy(), every, n, pos, np.zeros(n + 1, dtype=np.int64))
    return pos, duplicates(srt)
