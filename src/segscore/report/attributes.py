"""Customer attributes (Parquet, one row per customer id) joined onto the profiles.

Per segment: a breakdown by every categorical attribute (string / categorical / enum /
boolean; the top values plus "other" and "missing", so each breakdown sums to the segment
size) and the median of every numeric / date / datetime attribute. Customers present in only
one of the two tables are counted, never dropped silently.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from segscore.errors import InputError

MAX_CATEGORIES = 20  # values shown per categorical attribute; the rest are "other"

_CATEGORICAL = (pl.String, pl.Categorical, pl.Enum, pl.Boolean)


def _kind(dtype: pl.DataType) -> str | None:
    if isinstance(dtype, _CATEGORICAL) or dtype in (pl.String, pl.Boolean):
        return "categorical"
    if dtype.is_numeric():
        return "numeric"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if isinstance(dtype, pl.Duration):
        return "duration"
    return None


def _id_column(schema: pl.Schema, path: Path, config) -> str:
    wanted = [config.columns.customer_id] if config is not None else []
    if "customer_id" not in wanted:
        wanted.append("customer_id")
    for name in wanted:
        if name in schema:
            return name
    raise InputError(f"{path}: customer attributes file has no customer id column "
                     f"(looked for {', '.join(repr(w) for w in wanted)}; "
                     f"columns: {', '.join(schema.names()[:20])})")


def _cast_ids(attr_id: pl.DataType, scored_id: pl.DataType, path: Path, col: str) -> pl.Expr:
    """The expression that turns the attributes' id column into the scored id dtype."""
    e = pl.col(col)
    if attr_id == scored_id:
        return e
    if scored_id.is_integer() and attr_id.is_integer():
        return e.cast(scored_id, strict=True)
    if scored_id == pl.String and (attr_id.is_integer() or isinstance(attr_id, pl.Categorical)):
        return e.cast(pl.String)
    if scored_id.is_integer() and attr_id == pl.String:
        return e.str.strip_chars().cast(scored_id, strict=True)
    raise InputError(f"{path}: customer id column {col!r} has dtype {attr_id}, incompatible "
                     f"with the transactions' customer ids ({scored_id})")


def load_attributes(path, scored_id_dtype: pl.DataType,
                    config=None) -> tuple[pl.DataFrame, str, dict]:
    """(attributes frame with the id renamed to ``customer_id`` in the scored dtype,
    original id column name, load counts). Raises InputError naming file and column."""
    path = Path(path)
    try:
        lf = pl.scan_parquet(path)
        schema = lf.collect_schema()
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"{path}: cannot read customer attributes Parquet: {exc}") from None
    col = _id_column(schema, path, config)
    expr = _cast_ids(schema[col], scored_id_dtype, path, col)
    others = [n for n in schema.names() if n != col and n != "customer_id"]
    try:
        df = lf.select(expr.alias("customer_id"), *others).collect()
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{path}: customer id column {col!r} ({schema[col]}) cannot be "
                         f"converted to the transactions' id type {scored_id_dtype}: "
                         f"{str(exc).splitlines()[0]}") from None
    null_ids = df["customer_id"].null_count()
    if null_ids:
        df = df.filter(pl.col("customer_id").is_not_null())
    if not df["customer_id"].is_sorted():
        df = df.sort("customer_id")  # sorted on both sides, polars joins by merging (fast)
    ids = df["customer_id"]
    if df.height and (ids == ids.shift(1)).any():  # duplicates are adjacent once sorted
        dup = df.group_by("customer_id").len().filter(pl.col("len") > 1)
        ex = dup.sort("customer_id").head(3)["customer_id"].to_list()
        raise InputError(f"{path}: customer id column {col!r} has {dup.height} duplicate "
                         f"id(s) (e.g. {', '.join(map(str, ex))}); expected one row per "
                         "customer")
    return df, col, {"rows": df.height + null_ids, "rows_with_null_id": null_ids}


def _sorted_by_id(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with the sorted flag on customer_id (the pipeline's table is sorted by id)."""
    ids = df["customer_id"]
    if ids.flags["SORTED_ASC"]:
        return df
    if ids.is_sorted():
        return df.with_columns(pl.col("customer_id").set_sorted())
    return df.sort("customer_id")


def _median_expr(name: str, kind: str) -> pl.Expr:
    e = pl.col(name)
    if kind == "numeric":
        return e.cast(pl.Float64).median()
    # dates/datetimes/durations: median of the physical integer, cast back
    return e.to_physical().median().round(0)


def _fmt_median(v, kind: str, dtype: pl.DataType):
    if v is None:
        return None
    if kind == "numeric":
        return float(v)
    s = pl.Series([int(v)]).cast(dtype)
    return str(s[0]) if kind == "duration" else s[0].isoformat()


def attribute_breakdowns(customers: pl.DataFrame, path, config) -> dict:
    """The report's "attributes" section (schema in docs/report.md)."""
    attrs, id_col, counts = load_attributes(path, customers.schema["customer_id"], config)
    columns, ignored = [], []
    for name, dtype in attrs.schema.items():
        if name == "customer_id":
            continue
        kind = _kind(dtype)
        if kind is None:
            ignored.append({"name": name, "dtype": str(dtype)})
        else:
            columns.append({"name": name, "dtype": str(dtype), "kind": kind})
    # prefix attribute columns so they cannot clash with feature columns
    ren = {c["name"]: f"a:{c['name']}" for c in columns}
    a = attrs.select(pl.col("customer_id"), *[pl.col(k).alias(v) for k, v in ren.items()],
                     pl.lit(True).alias("a:__present"))
    # both sides sorted by id: the lazy engine merges them (the eager join would hash)
    seg_keys = list(config.segments.keys)
    seg_keys += sorted(set(customers["segment"].unique().drop_nulls().to_list()) - set(seg_keys))
    left = _sorted_by_id(customers.select("customer_id", "segment")).with_columns(
        pl.col("segment").cast(pl.String).cast(pl.Enum(seg_keys)))  # int group keys below
    joined = left.lazy().join(
        a.lazy().with_columns(pl.col("customer_id").set_sorted()), on="customer_id",
        how="left").collect()
    present = pl.col("a:__present").fill_null(False)
    lf = joined.lazy()

    queries = [lf.group_by("segment").agg(pl.len().alias("customers"),
                                          present.sum().alias("with_attributes"))]
    medians = [c for c in columns if c["kind"] != "categorical"]
    if medians:
        queries.append(lf.group_by("segment").agg(
            *[_median_expr(ren[c["name"]], c["kind"]).alias(c["name"]) for c in medians]))
        queries.append(lf.select(
            *[_median_expr(ren[c["name"]], c["kind"]).alias(c["name"]) for c in medians]))
    cats = [c for c in columns if c["kind"] == "categorical"]
    for c in cats:
        queries.append(lf.group_by("segment", pl.col(ren[c["name"]]).cast(pl.String)
                                   .alias("value")).len())
    res = pl.collect_all(queries)

    seg_counts = {r["segment"]: r for r in res[0].iter_rows(named=True)}
    seg_order = list(config.segments.keys) + sorted(k for k in seg_counts
                                                    if k not in config.segments.keys)
    by_segment = {k: {"customers": int(seg_counts.get(k, {}).get("customers") or 0),
                      "without_attributes": int((seg_counts.get(k, {}).get("customers") or 0)
                                                - (seg_counts.get(k, {}).get("with_attributes")
                                                   or 0)),
                      "categorical": {}, "median": {}} for k in seg_order}
    overall = {"customers": customers.height, "categorical": {}, "median": {}}
    pos = 1
    if medians:
        seg_med, all_med = res[1], res[2]
        dtypes = {c["name"]: attrs.schema[c["name"]] for c in medians}
        for r in seg_med.iter_rows(named=True):
            for c in medians:
                by_segment[r["segment"]]["median"][c["name"]] = _fmt_median(
                    r[c["name"]], c["kind"], dtypes[c["name"]])
        for c in medians:
            overall["median"][c["name"]] = _fmt_median(all_med[c["name"]][0], c["kind"],
                                                       dtypes[c["name"]])
        pos = 3
    for c, frame in zip(cats, res[pos:]):
        # the top values overall (by customers), the rest folded into "other"
        tot = frame.group_by("value").agg(pl.col("len").sum()).filter(
            pl.col("value").is_not_null()).sort(["len", "value"], descending=[True, False])
        top = tot.head(MAX_CATEGORIES)["value"].to_list()
        other = tot.height > len(top)
        label = (pl.when(pl.col("value").is_null()).then(pl.lit(None))
                 .when(pl.col("value").is_in(top)).then(pl.col("value"))
                 .otherwise(pl.lit("(other)")))
        folded = frame.with_columns(label.alias("value")).group_by("segment", "value").agg(
            pl.col("len").sum())
        cells = {(s, v): int(n) for s, v, n in folded.iter_rows()}
        order = top + (["(other)"] if other else []) + [None]
        for seg in seg_order:
            n_seg = by_segment[seg]["customers"]
            by_segment[seg]["categorical"][c["name"]] = [
                {"value": v, "customers": cells.get((seg, v), 0),
                 "share": cells.get((seg, v), 0) / n_seg if n_seg else 0.0}
                for v in order if v is not None or cells.get((seg, v), 0)]
        n_all = customers.height
        totals = {}
        for (s, v), n in cells.items():
            totals[v] = totals.get(v, 0) + n
        overall["categorical"][c["name"]] = [
            {"value": v, "customers": totals.get(v, 0),
             "share": totals.get(v, 0) / n_all if n_all else 0.0}
            for v in order if v is not None or totals.get(v, 0)]

    scored_with = sum(v["customers"] - v["without_attributes"] for v in by_segment.values())
    # both tables have unique ids, so the attribute rows not matched are the unscored ones
    not_scored = attrs.height - scored_with
    return {
        "path": str(path), "id_column": id_col, "rows": counts["rows"],
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
