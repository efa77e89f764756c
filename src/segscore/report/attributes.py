"""Customer attributes (Parquet, one row per customer id) joined onto the profiles.

Per segment: a breakdown by every categorical attribute (string / categorical / enum /
boolean; the top values plus "other" and "missing", so each breakdown sums to the segment
size) and the median of every numeric / date / datetime attribute. Customers present in only
one of the two tables are counted, never dropped silently.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl

from segscore.errors import InputError
from segscore.ids import (coded_duplicates, duplicates, duplicates_unsorted, id_order,
                          label_codes, recode, string_codes)
from segscore.report.input_ids import (attributes_schema, cast_ids, footer_cast_problem, id_column,
                                       read_attribute_rows, readable_number, sorted_by_id)
from segscore.schema import discover

MAX_CATEGORIES = 20  # values shown per categorical attribute; the rest are "other"
OTHER = "(other)"  # the value shown for the folded rest (its entry's kind is "other")

_CATEGORICAL = (pl.String, pl.Categorical, pl.Enum, pl.Boolean)


def _kind(dtype: pl.DataType) -> str | None:
    if isinstance(dtype, _CATEGORICAL) or dtype in (pl.String, pl.Boolean):
        return "categorical"
    if readable_number(dtype):
        return "numeric"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if isinstance(dtype, pl.Duration):
        return "duration"
    return None


def check_attribute_ids(path: Path, schema: pl.Schema, col: str,
                        id_dtype: pl.DataType) -> None:
    """The up-front part of the id checks of an attributes file (``check_report_inputs``):
    the id column's dtype against tonight's ``id_dtype`` (its schema) and what the footers'
    statistics show about casting it. InputError naming the file and the column."""
    cast_ids(schema[col], id_dtype, path, col)
    problem = footer_cast_problem(discover(path), col, schema[col], id_dtype)
    if problem is not None:
        raise InputError(problem)


def _read_attributes(path, scored_id_dtype: pl.DataType | None, config=None):
    """(attributes frame — ``customer_id`` in the scored dtype (None: unknown, as stored),
    null and blank ids dropped, file order — with only the usable attribute columns; original
    id column name; load counts; usable columns [{name, dtype, kind}]; ignored columns
    [{name, dtype}]). Raises InputError naming file and column."""
    path = Path(path)
    schema = attributes_schema(path)
    col = id_column(schema, path, config)
    if scored_id_dtype is None:
        scored_id_dtype = schema[col]
    cast_ids(schema[col], scored_id_dtype, path, col)  # an incompatible id dtype: refused
    columns, ignored = [], []
    for name, dtype in schema.items():
        if name == col:
            continue
        kind = _kind(dtype)
        # a "customer_id" column beside the configured id column would clash with the ids
        # as read (named customer_id): listed as ignored, not dropped silently
        if kind is None or name == "customer_id":
            ignored.append({"name": name, "dtype": str(dtype)})
        else:
            columns.append({"name": name, "dtype": str(dtype), "kind": kind})
    names = [c["name"] for c in columns]
    df, null_ids = read_attribute_rows(path, schema, col, scored_id_dtype, names, names)
    counts = {"rows": df.height + null_ids, "rows_with_null_id": null_ids}
    return df, col, counts, columns, ignored


def check_attribute_rows(path, id_dtype: pl.DataType | None, config) -> None:
    """The checks a run makes when it reads the attributes file, for ``validate
    --customers``: every usable column decodes, every id casts to tonight's ``id_dtype``
    (None: unknown, the ids are taken as stored), no id occurs twice. InputError naming the
    file and the column."""
    attrs, id_col, *_ = _read_attributes(path, id_dtype, config)
    _refuse_duplicates(duplicates(id_order(attrs["customer_id"])[0]), Path(path), id_col)


def _refuse_duplicates(dup: pl.Series, path: Path, id_col: str) -> None:
    """InputError naming the file, the column and a few of the ``dup`` ids, if any."""
    if dup.len():
        ex = dup.head(3).to_list()
        raise InputError(f"{path}: customer id column {id_col!r} has {dup.len()} duplicate "
                         f"id(s) (e.g. {', '.join(map(str, ex))}); expected one row per "
                         "customer")


def string_id_codes(ids: pl.Series, cur_ids: pl.Series, cur_seg: np.ndarray,
                     n_seg: int) -> tuple[np.ndarray, pl.Series]:
    """(segment code of every attribute row in file order, ``n_seg`` = not scored; the ids
    occurring more than once, ascending) for string ids (``cur_ids``: tonight's, distinct;
    ``cur_seg`` their codes). The rows are coded by hash against tonight's ids
    (``ids.string_codes``): a code below len(cur_ids) is the customer's position, and an id
    listed twice shares its code. polars' sort and distinct count of strings cost several
    times that; its join is the fallback when two ids share a 64-bit hash."""
    coded = string_codes(ids, cur_ids)
    if coded is not None:
        codes, first = coded
        dup = coded_duplicates(codes, first, ids, cur_ids)
        scored = codes < cur_ids.len()
        at = codes[scored]
    else:  # two ids share a hash (birthday bound: about 1 run in 10^5 at 10M): a join
        pos = pl.DataFrame({"customer_id": ids}).lazy().join(
            pl.DataFrame({"customer_id": cur_ids}).with_row_index("pos").lazy(),
            on="customer_id", how="left", maintain_order="left").collect()["pos"]
        scored = pos.is_not_null().to_numpy()
        at = pos.drop_nulls().to_numpy()
        twice = np.flatnonzero(np.bincount(at, minlength=cur_ids.len()) > 1)
        dup = pl.concat([cur_ids.gather(twice),
                         duplicates_unsorted(ids.filter(~scored))]).sort()
    seg = np.full(ids.len(), n_seg, dtype=cur_seg.dtype)
    seg[scored] = cur_seg[at]
    return seg, dup


def _median_expr(name: str, kind: str, where: pl.Expr | None = None) -> pl.Expr:
    if kind == "numeric":  # NaN is no value, as null is (polars would sort it last)
        e = pl.col(name).cast(pl.Float64)
        keep = e.is_not_nan() if where is None else where & e.is_not_nan()
        return e.filter(keep).median()
    e = pl.col(name) if where is None else pl.col(name).filter(where)
    # dates/datetimes/durations: median of the physical integer, cast back
    return e.to_physical().median().round(0)


def _hist_medians(values: pl.Series, seg: np.ndarray, n_seg: int, kind: str):
    """([median per segment code 0..n_seg-1, None when it has no value], median over all
    matched rows) of an integer-valued attribute — as ``_median_expr`` computes them — from
    one histogram over (segment, value); None when the values are not integers or their
    range is too wide or beyond int64. ``seg`` = segment code per row (n_seg = not
    scored). A decimal's stored integers are scaled: decimals are left to polars."""
    v = values if kind == "numeric" else values.to_physical()
    if not v.dtype.is_integer() or not v.len():
        return None
    if v.null_count() == v.len():
        return [None] * n_seg, None
    lo, hi = int(v.min()), int(v.max())
    span = hi - lo + 1
    if span * (n_seg + 2) > 1 << 22 or hi > np.iinfo(np.int64).max:
        return None
    from native_kernels.report import _combo_hist, _count_codes

    hist = np.zeros((n_seg + 1) * span, dtype=np.int64)  # row n_seg: not scored
    _combo_hist(seg, v.fill_null(lo).to_numpy(), np.int64(lo), np.int64(span), hist)
    hist = hist.reshape(n_seg + 1, span)[:n_seg]
    if v.null_count():  # the nulls were counted as value lo: take them out again
        nulls = np.zeros(n_seg + 1, dtype=np.int64)
        _count_codes(seg[v.is_null().to_numpy()], nulls)
        hist[:, 0] -= nulls[:n_seg]
    hist = np.vstack([hist, hist.sum(axis=0)])  # last row: every matched customer
    cum = np.cumsum(hist, axis=1)
    n = cum[:, -1]
    low = (cum <= ((n - 1) // 2)[:, None]).sum(axis=1) + lo
    high = (cum <= (n // 2)[:, None]).sum(axis=1) + lo
    med = pl.Series(np.where(n > 0, low + (high - low) * 0.5, np.nan)).fill_nan(None)
    if kind != "numeric":
        med = med.round(0)
    med = med.to_list()
    return med[:-1], med[-1]


def _fmt_median(v, kind: str, dtype: pl.DataType):
    if v is None:
        return None
    if kind == "numeric":  # ±inf (a median of infinite values) is not JSON: null; a zero is
        # 0.0, never -0.0 (polars' median returns whichever zero the row order puts in the
        # middle, so the report would depend on the attributes file's order)
        return float(v) + 0.0 if math.isfinite(v) else None
    s = pl.Series([int(v)]).cast(dtype)
    # durations as ISO 8601 ("P1DT2H", "-PT1M30S", "PT0.5S"; a day = 24 h), like the dates
    return s.dt.to_string("iso")[0] if kind == "duration" else s[0].isoformat()


def attribute_breakdowns(customers: pl.DataFrame, path, config) -> dict:
    """The report's "attributes" section (schema in docs/report.md)."""
    path = Path(path)
    attrs, id_col, counts, columns, ignored = _read_attributes(
        path, customers.schema["customer_id"], config)
    ids, perm = attrs["customer_id"], None
    if ids.dtype.is_integer():  # sorted for the merge below (string ids: checked there)
        ids, perm = id_order(ids)
        _refuse_duplicates(duplicates(ids), path, id_col)

    # segment code of every scored customer: config keys first, then any others found
    cur = sorted_by_id(customers.select("customer_id", "segment"))
    codes, labels, label_n = label_codes(cur["segment"])
    seg_order = list(config.segments.keys)
    seg_order += sorted({k for k, n in zip(labels, label_n) if n} - set(seg_order))
    n_seg = len(seg_order)  # code n_seg = not scored (or no segment)
    seg_dtype = pl.UInt8 if n_seg < 255 else pl.UInt32
    cur_seg = pl.Series("seg", recode(codes, labels, seg_order, n_seg)).cast(seg_dtype)
    seg_sizes = np.bincount(cur_seg.to_numpy(), minlength=n_seg + 1)[:n_seg]

    # the segment of every attribute row in file order (n_seg = not scored): integer ids by
    # a merge of the sorted ids with tonight's (sorted), scattered back to file order;
    # string ids coded by hash against tonight's
    if ids.dtype.is_integer():
        from native_kernels.report import _lookup_sorted

        seg = np.empty(ids.len(), dtype=cur_seg.to_numpy().dtype)
        found = np.zeros(n_seg + 1, dtype=np.int64)
        _lookup_sorted(ids.to_numpy(), perm if perm is not None else np.empty(0, np.int32),
                       cur["customer_id"].to_numpy(), cur_seg.to_numpy(), n_seg, seg, found)
        with_attrs = found[:n_seg]
    else:
        seg, dup = string_id_codes(ids, cur["customer_id"], cur_seg.to_numpy(), n_seg)
        _refuse_duplicates(dup, path, id_col)
        with_attrs = np.bincount(seg, minlength=n_seg + 1)[:n_seg]

    # prefix attribute columns so they cannot clash with the segment code column
    ren = {c["name"]: f"a:{c['name']}" for c in columns}
    lf = attrs.select(*[pl.col(k).alias(v) for k, v in ren.items()],
                      pl.Series("seg", seg, dtype=seg_dtype)).lazy()  # even with no column
    matched = pl.col("seg") < n_seg
    queries = []
    medians = [c for c in columns if c["kind"] != "categorical"]
    # integer-valued attributes with a small range (dates, counts): medians per segment from
    # one histogram each; the others by polars
    hist_med = {c["name"]: r for c in medians
                if (r := _hist_medians(attrs[c["name"]], seg, n_seg, c["kind"])) is not None}
    poly_med = [c for c in medians if c["name"] not in hist_med]
    if poly_med:
        queries.append(lf.group_by("seg").agg(
            *[_median_expr(ren[c["name"]], c["kind"]).alias(c["name"]) for c in poly_med]))
        queries.append(lf.select(
            *[_median_expr(ren[c["name"]], c["kind"], matched).alias(c["name"])
              for c in poly_med]))
    cats = [c for c in columns if c["kind"] == "categorical"]
    # one group_by over the segment and every categorical attribute (on the columns as
    # stored, no per-row cast; labels become strings afterwards): each attribute's counts
    # are sums over the (usually few) combinations
    if cats:
        queries.append(lf.group_by("seg", *[ren[c["name"]] for c in cats]).len())
    res = pl.collect_all(queries)
    cat_frames = []
    if cats:
        combos = res[-1]
        res = res[:-1]
        cat_frames = [combos.lazy().group_by("seg", pl.col(ren[c["name"]]).alias("value"))
                      .agg(pl.col("len").sum()) for c in cats]
        cat_frames = pl.collect_all(cat_frames) if len(cats) > 1 else [
            combos.rename({ren[cats[0]["name"]]: "value"})]

    by_segment = {k: {"customers": int(n), "without_attributes": int(n - w),
                      "categorical": {}, "median": {}}
                  for k, n, w in zip(seg_order, seg_sizes, with_attrs)}
    overall = {"customers": customers.height, "categorical": {}, "median": {}}
    if medians:
        dtypes = {c["name"]: attrs.schema[c["name"]] for c in medians}
        for entry in by_segment.values():  # null where a segment has no value (or is empty)
            entry["median"] = {c["name"]: None for c in medians}
        if poly_med:
            seg_med, all_med = res[0], res[1]
            for r in seg_med.filter(pl.col("seg") < n_seg).iter_rows(named=True):
                for c in poly_med:
                    by_segment[seg_order[r["seg"]]]["median"][c["name"]] = _fmt_median(
                        r[c["name"]], c["kind"], dtypes[c["name"]])
        for c in medians:
            name = c["name"]
            if name in hist_med:
                per_seg, whole = hist_med[name]
                for k, v in zip(seg_order, per_seg):
                    if v is not None:
                        by_segment[k]["median"][name] = _fmt_median(v, c["kind"], dtypes[name])
            else:
                whole = all_med[name][0]
            overall["median"][name] = _fmt_median(whole, c["kind"], dtypes[name])
    seg_names = pl.Series(seg_order, dtype=pl.String)
    missing = pl.DataFrame({"segment": seg_names, "value": pl.Series([None] * n_seg,
                                                                     dtype=pl.String),
                            "len": (seg_sizes - with_attrs).astype(np.int64)})
    for c, frame in zip(cats, cat_frames):
        frame = pl.concat([
            frame.filter(pl.col("seg") < n_seg).select(
                pl.lit(seg_names).gather(pl.col("seg").cast(pl.UInt32)).alias("segment"),
                pl.col("value").cast(pl.String), pl.col("len").cast(pl.Int64)),
            missing.filter(pl.col("len") > 0)])
        # the top values overall (by customers), the rest folded into "other"
        tot = frame.group_by("value").agg(pl.col("len").sum()).filter(
            pl.col("value").is_not_null()).sort(["len", "value"], descending=[True, False])
        top = tot.head(MAX_CATEGORIES)["value"].to_list()
        other = tot.height > len(top)
        # the folded values by a flag, not by a label: a real value may be "(other)" too
        folding = pl.col("value").is_not_null() & ~pl.col("value").is_in(top)
        folded = frame.with_columns(
            pl.when(folding).then(pl.lit(OTHER)).otherwise(pl.col("value")).alias("value"),
            folding.alias("folded")).group_by("segment", "value", "folded").agg(
            pl.col("len").sum())
        cells = {(s, v, f): int(n) for s, v, f, n in folded.iter_rows()}
        order = ([(v, False, "value") for v in top] + ([(OTHER, True, "other")] if other else [])
                 + [(None, False, "missing")])
        for seg_key in seg_order:
            n_s = by_segment[seg_key]["customers"]
            by_segment[seg_key]["categorical"][c["name"]] = [
                {"value": v, "kind": kind, "customers": cells.get((seg_key, v, f), 0),
                 "share": cells.get((seg_key, v, f), 0) / n_s if n_s else None}
                for v, f, kind in order if v is not None or cells.get((seg_key, v, f), 0)]
        n_all = customers.height
        totals = {}
        for (_, v, f), n in cells.items():
            totals[v, f] = totals.get((v, f), 0) + n
        overall["categorical"][c["name"]] = [
            {"value": v, "kind": kind, "customers": totals.get((v, f), 0),
             "share": totals.get((v, f), 0) / n_all if n_all else None}
            for v, f, kind in order if v is not None or totals.get((v, f), 0)]

    scored_with = int(with_attrs.sum())
    # both tables have unique ids, so the attribute rows not matched are the unscored ones
    not_scored = attrs.height - scored_with
    return {
        "path": str(path.resolve()), "id_column": id_col, "rows": counts["rows"],
        "rows_with_null_id": counts["rows_with_null_id"],
        "scored_customers": customers.height,
        "matched": scored_with,
        "scored_without_attributes": customers.height - scored_with,
        "attributes_not_scored": not_scored,
        "columns": columns, "ignored_columns": ignored,
        "max_categories": MAX_CATEGORIES,
        "missing_value": "value null = attribute missing or customer not in the attributes file",
        "overall": overall, "by_segment": by_segment,
    }
