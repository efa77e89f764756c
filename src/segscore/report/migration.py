"""Night-to-night migration against a previous segscore output directory.

Matrices (segment, value tier, lifecycle stage): rows = previous value plus a final "new"
row (customers scored tonight but not last night), columns = current value plus a final
"disappeared" column (scored last night, not tonight). Row sums over the previous values are
last night's group sizes; column sums over the current values are tonight's.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from segscore.errors import InputError

DIMENSIONS = (("segment", "segments"), ("value_tier", "value_tiers"),
              ("lifecycle_stage", "lifecycle_stages"))


def _check_previous_dir(prev: Path) -> dict:
    """The previous run's manifest; InputError unless ``prev`` is a segscore output."""
    manifest_path = prev / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("producer") != "segscore":
        raise InputError(f"{prev}: --previous is not a segscore output directory "
                         f"(no segscore manifest.json at {manifest_path})")
    cust_dir = prev / "customers"
    if not cust_dir.is_dir() or not any(cust_dir.rglob("*.parquet")):
        raise InputError(f"{prev}: --previous has no customers/ Parquet dataset")
    return manifest


def _read_previous(prev: Path, id_dtype: pl.DataType) -> tuple[pl.DataFrame, dict]:
    manifest = _check_previous_dir(prev)
    cust_dir = prev / "customers"
    try:
        lf = pl.scan_parquet(cust_dir, hive_partitioning=True)
        schema = lf.collect_schema()
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"{cust_dir}: cannot read previous customers: {exc}") from None
    need = ["customer_id", "segment", "value_tier", "lifecycle_stage", "monetary"]
    missing = [c for c in need if c not in schema]
    if missing:
        raise InputError(f"{cust_dir}: previous customers lack column(s) {', '.join(missing)}")
    pid = schema["customer_id"]
    idx = pl.col("customer_id")
    if pid != id_dtype:
        if pid.is_integer() and id_dtype.is_integer():
            idx = idx.cast(id_dtype)
        elif id_dtype == pl.String and pid.is_integer():
            idx = idx.cast(pl.String)
        else:
            raise InputError(f"{cust_dir}: previous customer_id dtype {pid} is incompatible "
                             f"with tonight's ({id_dtype})")
    try:
        df = lf.select(idx, pl.col("segment").cast(pl.String),
                       pl.col("value_tier").cast(pl.String),
                       pl.col("lifecycle_stage").cast(pl.String),
                       pl.col("monetary").cast(pl.Float64)).collect()
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{cust_dir}: cannot read previous customers: "
                         f"{str(exc).splitlines()[0]}") from None
    return df, manifest


def _previous_names(prev: Path) -> dict[str, dict[str, str]]:
    """Display names of the previous run's keys (from its model.json config), if any."""
    out = {"segment": {}, "value_tier": {}, "lifecycle_stage": {}}
    try:
        cfg = json.loads((prev / "model.json").read_text("utf-8")).get("config", {})
        for dim, sec in (("segment", "segments"), ("lifecycle_stage", "lifecycle")):
            for r in (cfg.get(sec) or {}).get("rules", []):
                out[dim][r["key"]] = r.get("name", r["key"])
        for t in (cfg.get("value_tier") or {}).get("tiers", []):
            out["value_tier"][t["key"]] = t.get("name", t["key"])
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        pass
    return out


def _matrix(g: pl.DataFrame, current_order: list[str], names: dict) -> dict:
    cells = {(a, b): (int(n), float(rp or 0.0), float(rc or 0.0)) for a, b, n, rp, rc
             in g.iter_rows()}
    prev_keys = {a for a, _ in cells if a is not None}
    cur_keys = {b for _, b in cells if b is not None}
    order = list(current_order) + sorted((prev_keys | cur_keys) - set(current_order))
    rows = [k for k in order if k in prev_keys or k in current_order] + [None]
    cols = [k for k in order if k in cur_keys or k in current_order] + [None]
    counts = [[cells.get((a, b), (0, 0, 0))[0] for b in cols] for a in rows]
    rev_p = [[cells.get((a, b), (0, 0, 0))[1] for b in cols] for a in rows]
    rev_c = [[cells.get((a, b), (0, 0, 0))[2] for b in cols] for a in rows]
    stayed = sum(cells.get((k, k), (0,))[0] for k in prev_keys & cur_keys)
    new = sum(counts[-1])
    gone = sum(r[-1] for r in counts)
    total = sum(map(sum, counts))
    return {
        "rows": rows, "columns": cols,
        "row_names": [names.get(k, k) if k is not None else "(new)" for k in rows],
        "column_names": [names.get(k, k) if k is not None else "(disappeared)" for k in cols],
        "customers": counts, "revenue_previous": rev_p, "revenue_current": rev_c,
        "previous_sizes": {k: sum(counts[i]) for i, k in enumerate(rows) if k is not None},
        "current_sizes": {k: sum(r[j] for r in counts) for j, k in enumerate(cols)
                          if k is not None},
        "new": new, "disappeared": gone, "stayed": stayed,
        "moved": total - new - gone - stayed,
    }


def migration_report(customers: pl.DataFrame, previous_dir, config) -> tuple[dict, pl.DataFrame]:
    """(report "migration" section, migration table for migration.parquet)."""
    prev = Path(previous_dir)
    previous, manifest = _read_previous(prev, customers.schema["customer_id"])
    from segscore.report.attributes import _sorted_by_id

    cur_src = _sorted_by_id(customers)
    cur_names = {
        "segment": {r.key: r.name for r in config.segments.rules},
        "value_tier": {t.key: t.name for t in config.value_tier.tiers},
        "lifecycle_stage": {r.key: r.name for r in config.lifecycle.rules},
    }
    # Each side's three group keys packed into one small integer (mixed radix over the union
    # of both runs' keys): the join carries an int instead of three strings, and a single
    # group_by over (previous code, current code) yields all three matrices.
    cats, strides, stride = {}, {}, 1
    for dim, _ in DIMENSIONS:
        seen = set(previous[dim].unique().drop_nulls().to_list()) | \
            set(cur_src[dim].cast(pl.String).unique().drop_nulls().to_list())
        cats[dim] = list(cur_names[dim]) + sorted(seen - set(cur_names[dim]))
        strides[dim], stride = stride, stride * len(cats[dim])

    def code() -> pl.Expr:
        return pl.sum_horizontal(
            pl.col(d).cast(pl.String).cast(pl.Enum(cats[d])).to_physical().cast(pl.Int64)
            * strides[d] for d, _ in DIMENSIONS)

    cur = cur_src.select("customer_id", code().alias("cc"),
                         pl.col("monetary").alias("current_monetary"))
    prv = previous.select("customer_id", code().alias("pc"),
                          pl.col("monetary").alias("previous_monetary")).sort("customer_id")
    dup = prv.select((pl.col("customer_id") == pl.col("customer_id").shift(1)).sum()).item()
    if dup:
        raise InputError(f"{prev}: previous output has {dup} duplicate customer_id rows")
    # both sides sorted by id: the lazy engine merges them (the eager join would hash),
    # and the result is in id order
    joined = prv.lazy().with_columns(pl.col("customer_id").set_sorted()).join(
        cur.lazy().with_columns(pl.col("customer_id").set_sorted()), on="customer_id",
        how="full", coalesce=True).collect()
    if not joined["customer_id"].is_sorted():  # pragma: no cover - merge output is ordered
        joined = joined.sort("customer_id")
    pairs = joined.group_by("pc", "cc").agg(
        pl.len().alias("n"), pl.col("previous_monetary").sum().alias("rp"),
        pl.col("current_monetary").sum().alias("rc"))

    def part(col: str, dim: str) -> pl.Expr:
        return (pl.col(col) // strides[dim] % len(cats[dim])).cast(pl.UInt32)

    prev_names = _previous_names(prev)
    section = {
        "previous_dir": str(prev), "previous_run_id": manifest.get("run_id"),
        "previous_as_of": manifest.get("as_of"),
        "previous_customers": previous.height, "current_customers": customers.height,
        "revenue_definition": "net spend (monetary); revenue_previous = last night's, "
                              "revenue_current = tonight's, of the customers in each cell",
        "new_row_and_disappeared_column": "the last row (key null) is new customers, the "
                                          "last column (key null) disappeared customers",
    }
    for dim, plural in DIMENSIONS:
        keys = pl.Series(cats[dim], dtype=pl.String)
        g = pairs.group_by(part("pc", dim).alias("a"), part("cc", dim).alias("b")).agg(
            pl.col("n").sum(), pl.col("rp").sum(), pl.col("rc").sum())
        g = g.select(pl.col("a").map_batches(lambda s, k=keys: k.gather(s)),
                     pl.col("b").map_batches(lambda s, k=keys: k.gather(s)), "n", "rp", "rc")
        section[plural] = _matrix(g, list(cur_names[dim]),
                                  {**prev_names[dim], **cur_names[dim]})
    # group columns as Enum: dictionary-encoded strings in Parquet (half the write time)
    table = joined.select(
        "customer_id",
        *[pl.lit(pl.Series(cats[d], dtype=pl.Enum(cats[d]))).gather(part(f"{w[0]}c", d))
          .alias(f"{w}_{d}") for d, _ in DIMENSIONS for w in ("previous", "current")])
    return section, table
