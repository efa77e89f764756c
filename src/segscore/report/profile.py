"""report.json content: profiles per segment / tier / lifecycle stage / cluster, the cut
points, the R×F grid, revenue concentration, data quality, attribute breakdowns, migration
and the run's performance profile. Reads what the pipeline computed; never recomputes scores.

Everything per customer is done with polars group_bys / numpy vector operations (no Python
loops over rows), so the report stays a small fraction of a run at tens of millions of
customers. The schema is documented in docs/report.md.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import numpy as np
import polars as pl

from segscore.ingest import AMOUNT_SCALE
from segscore.memory import ReportInputs
from segscore.report.perf import performance_profile
from segscore.report.sections import OptionalSections, timed

REPORT_SCHEMA_VERSION = 3
LORENZ_POINTS = 101
TOP_SHARE_PERCENTS = (1, 10, 20)  # concentration.top_shares: the top 1 %, 10 %, 20 %
#: the manifest's row reconciliation in docs/report.md's order (data_quality)
DATA_QUALITY_ROWS = ("read", "used", "after_as_of", "outside_window", "rejected",
                     "rejected_total", "balanced")

_STATS = ("recency_days", "frequency", "monetary", "avg_order_value", "tenure_days")
_DIMS = ("segment", "value_tier", "lifecycle_stage", "cluster")
_HIST_MAX_BINS = 1 << 23  # histogram medians: dimension combinations × value range
#: channel_mix key of the purchase spend in no share column (spend of rows with a null
#: channel when there is no share_other column); every other key is a share column name,
#: ``share_…``, so no channel value can produce it (docs/report.md, profile)
NO_CHANNEL = "no_channel"


def _num(v) -> float | None:
    """JSON-safe float (None for null / NaN / inf)."""
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None


def _gross() -> pl.Expr:
    """Gross purchase spend of a customer (before returns)."""
    return pl.col("avg_order_value") * pl.col("frequency")


def _unassigned_expr(channels: list[str]) -> pl.Expr:
    """Per customer, the purchase spend in none of the share columns ``channels``, in integer
    currency units (polars' version of ``native_kernels.report._unassigned_units``)."""
    g = (_gross() * AMOUNT_SCALE).round(0)
    known = pl.sum_horizontal([(pl.col(c) * g).round(0) for c in channels])
    return (g - known).cast(pl.Int64)


def _sum_query(lf: pl.LazyFrame, dims: list[str], channels: list[str],
               unassigned: bool = False) -> pl.LazyFrame:
    """Sums per combination of all group dimensions (a few hundred rows at most): sums and
    counts compose, so every dimension's totals and means come from this one pass.
    ``unassigned``: also the spend in no channel column (``unassigned_units``)."""
    return lf.group_by(dims).agg(
        pl.len().alias("customers"),
        pl.col("monetary").sum().alias("revenue"),
        _gross().sum().alias("gross"),
        pl.col("return_amount").sum().alias("returns"),
        pl.col("frequency").sum().alias("orders"),
        pl.col("return_rate").sum().alias("sum_return_rate"),
        pl.col("return_rate").count().alias("n_return_rate"),
        *[pl.col(c).cast(pl.Float64).sum().alias(f"sum_{c}") for c in _STATS],
        *[(pl.col(c) * _gross()).sum().alias(f"ch_{c}") for c in channels],
        *([_unassigned_expr(channels).sum().alias("unassigned_units")] if unassigned else []),
    )


def _median_query(lf: pl.LazyFrame, by: str, stats=_STATS) -> pl.LazyFrame:
    # kept apart from the sums: a median in the same group_by disables polars' fast path
    return lf.group_by(by).agg(*[pl.col(c).median().alias(f"median_{c}") for c in stats])


def _group_codes(s: pl.Series) -> tuple[np.ndarray, int, pl.Series] | None:
    """(code per row: an Enum's physical index or the integer value; the lowest code; the
    group value of each code from the lowest on) of an Enum or small-range integer group
    column without nulls; None otherwise."""
    if s.null_count() or not s.len():
        return None
    if isinstance(s.dtype, pl.Enum):
        return (s.to_physical().to_numpy(), 0,
                pl.Series(s.name, s.dtype.categories, dtype=pl.String).cast(s.dtype))
    if s.dtype.is_integer():
        lo, hi = int(s.min()), int(s.max())
        if hi - lo < 4096:
            return s.to_numpy(), lo, pl.Series(s.name, range(lo, hi + 1),
                                               dtype=pl.Int64).cast(s.dtype)
    return None


def _combination_sums(c: pl.DataFrame, dims: list[str], channels: list[str],
                      unassigned: bool = False):
    """(``_sum_query``'s frame: sums per combination of the dimensions' values present;
    combination code per customer (int32, mixed radix, dims[0] varies fastest); each
    dimension's group values by code; customers per combination (int64, every
    combination)) from one numba pass — None when a dimension is not an Enum / small-range
    integer column without nulls or a summed column has nulls (polars does those)."""
    from native_kernels.report import _profile_sums

    groups = [_group_codes(c[d]) for d in dims]
    plain = ["return_amount", "return_rate", *_STATS]
    summed = ["avg_order_value", "frequency", *plain, *channels]
    if not dims or any(g is None for g in groups) or any(c[x].null_count() for x in summed):
        return None
    sizes = [len(g[2]) for g in groups]
    n_combo = int(np.prod(sizes))
    if n_combo >= 2**31:
        return None
    strides = np.cumprod([1] + sizes[:-1]).astype(np.int64)
    combo = np.empty(c.height, dtype=np.int32)
    col = lambda x: c[x].to_numpy()  # noqa: E731
    # numba cannot iterate an empty tuple: without channels, a placeholder column's sum is
    # computed and ignored
    weighted = tuple(col(x) for x in channels) or (col("avg_order_value"),)
    out = np.zeros((n_combo, 2 + len(plain) + len(weighted)))
    _profile_sums(tuple(g[0] for g in groups), np.array([g[1] for g in groups], np.int64),
                  strides, tuple(col(x) for x in plain), weighted, col("avg_order_value"),
                  col("frequency"), combo, out)
    units = np.zeros(n_combo, dtype=np.int64)
    if unassigned and channels:
        from native_kernels.report import _unassigned_units
        _unassigned_units(combo, col("avg_order_value"), col("frequency"),
                          tuple(col(x) for x in channels), float(AMOUNT_SCALE), units)
    counts = out[:, 0].astype(np.int64)
    present = np.flatnonzero(counts)
    member = [pl.Series(present // st % size) for st, size in zip(strides, sizes)]
    sums = {f"sum_{x}" if x in _STATS else x: out[present, 2 + j] for j, x in enumerate(plain)}
    frame = pl.DataFrame([g[2].gather(m) for g, m in zip(groups, member)]).with_columns(
        customers=pl.Series(counts[present]),
        revenue=pl.Series(sums["sum_monetary"]),
        gross=pl.Series(out[present, 1]),
        returns=pl.Series(sums.pop("return_amount")),
        orders=pl.Series(sums["sum_frequency"]).cast(pl.Int64),
        sum_return_rate=pl.Series(sums.pop("return_rate")),
        n_return_rate=pl.Series(counts[present]),
        **{k: pl.Series(v) for k, v in sums.items()},
        **{f"ch_{x}": pl.Series(out[present, 2 + len(plain) + k])
           for k, x in enumerate(channels)},
        **({"unassigned_units": pl.Series(units[present])} if unassigned else {}))
    return frame, combo, [g[2] for g in groups], counts


def _float_medians(values: pl.Series, combo: np.ndarray, starts: np.ndarray,
                   counts: np.ndarray, member: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Exact median per value of every dimension of one float statistic without nulls or
    NaN: shape (dimensions, max(sizes)), row i holding dimension i's values 0..sizes[i]-1.
    The values are counting-sorted by combination (``starts``: first slot of each, length
    combinations + 1), each combination's slice sorted, and a group's k-th value found by
    bisection over its combinations' slices (``member``: each combination's value index per
    dimension). Touches nothing shared, so statistics can run in separate threads."""
    from native_kernels.report import _group_medians, _scatter_keys

    key = np.empty(values.len(), dtype=np.int64)
    _scatter_keys(values.cast(pl.Float64).to_numpy().view(np.int64), combo, starts, key)
    for k in np.flatnonzero(counts > 1):
        key[starts[k]:starts[k + 1]].sort()
    med = np.empty((len(sizes), max(sizes)))
    _group_medians(key, starts, member, np.array(sizes, dtype=np.int64), med)
    return med


def _fast_medians(c: pl.DataFrame, dims: list[str], combo: np.ndarray, values: list[pl.Series],
                  counts: np.ndarray, pool: ThreadPoolExecutor | None = None,
                  ) -> tuple[dict[str, pl.DataFrame], list]:
    """Exact medians of the statistics per value of every dimension without a polars
    group_by median per dimension. ``combo``, ``values``, ``counts``: from
    ``_combination_sums``. Then
    * integer statistics (days, order counts: small value ranges): one histogram over
      (combination, value) per statistic (numba), summed per dimension value;
    * float statistics: ``_float_medians``, each in ``pool`` when given (one int64 key per
      customer each), while the histograms run here.
    Returns ({dim: frame(dim, median_<stat>…)}, the statistics done); statistics it cannot
    handle (nulls, NaN, wide ranges) are left to polars."""
    from native_kernels.report import _combo_hist

    ints = [x for x in _STATS if c.schema[x].is_integer() and not c[x].null_count()]
    floats = [x for x in _STATS if c.schema[x].is_float() and not c[x].null_count()
              and not c[x].is_nan().any()]
    sizes = [len(v) for v in values]
    n_combo = len(counts)
    out = {d: pl.DataFrame([v]) for d, v in zip(dims, values)}
    per_combo = counts.reshape(*reversed(sizes))
    float_jobs = {}
    if floats:
        starts = np.zeros(n_combo + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        every, member, stride = np.arange(n_combo), np.empty((len(dims), n_combo), np.int64), 1
        for i, size in enumerate(sizes):
            member[i] = every // stride % size
            stride *= size
        args = (combo, starts, counts, member, sizes)
        float_jobs = {x: pool.submit(_float_medians, c[x], *args) if pool is not None
                      else None for x in floats}
    done = []
    for x in ints:
        lo, hi = int(c[x].min()), int(c[x].max())
        span = hi - lo + 1
        if n_combo * span > _HIST_MAX_BINS:
            continue
        hist = np.zeros(n_combo * span, dtype=np.int64)
        _combo_hist(combo, c[x].to_numpy(), np.int64(lo), np.int64(span), hist)
        hist = hist.reshape(*reversed(sizes), span)
        for i, d in enumerate(dims):
            axis = len(dims) - 1 - i
            h = hist.sum(axis=tuple(a for a in range(len(dims)) if a != axis))  # (k, span)
            cum = np.cumsum(h, axis=1)
            n = cum[:, -1]
            # the middle value, or polars' interpolation between the two middle values
            low = (cum <= ((n - 1) // 2)[:, None]).sum(axis=1) + lo
            high = (cum <= (n // 2)[:, None]).sum(axis=1) + lo
            med = np.where(n > 0, low + (high - low) * 0.5, np.nan)
            out[d] = out[d].with_columns(pl.Series(f"median_{x}", med))
        done.append(x)
    for x, job in float_jobs.items():
        med = job.result() if job is not None else _float_medians(c[x], *args)
        for i, d in enumerate(dims):
            out[d] = out[d].with_columns(pl.Series(f"median_{x}", med[i, :sizes[i]]))
        done.append(x)
    for i, d in enumerate(dims):  # only the groups present, like a group_by
        axis = len(dims) - 1 - i
        present = per_combo.sum(axis=tuple(a for a in range(len(dims)) if a != axis)) > 0
        out[d] = out[d].filter(pl.Series(present))
    return out, done


def _sums_and_medians(c: pl.DataFrame, dims: list[str], channels: list[str],
                      pool: ThreadPoolExecutor | None = None, unassigned: bool = False,
                      ) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """(sums per combination of the dimensions' values (``_sum_query``'s columns), per
    dimension a frame (dim, median_<stat>…)): numba passes where the columns allow (the
    float medians in ``pool`` when given), polars group_bys for the rest."""
    fast = _combination_sums(c, dims, channels, unassigned)
    hist, done = _fast_medians(c, dims, *fast[1:], pool) if fast is not None else ({}, [])
    rest = [x for x in _STATS if x not in done]
    lf = c.lazy()
    res = pl.collect_all(([] if fast is not None
                          else [_sum_query(lf, dims, channels, unassigned)])
                         + ([_median_query(lf, d, rest) for d in dims] if rest else []))
    sums = fast[0] if fast is not None else res.pop(0)
    if not rest:
        return sums, [hist[d] for d in dims]
    if done:
        return sums, [m.join(hist[d], on=d, how="left") for d, m in zip(dims, res)]
    return sums, res


def _dim_stats(sums: pl.DataFrame, medians: pl.DataFrame, by: str) -> pl.DataFrame:
    """Per-``by`` statistics: the combination sums rolled up, means, and the medians."""
    value_cols = [c for c in sums.columns if c not in _DIMS]
    g = sums.group_by(by).agg(pl.col(value_cols).sum())
    g = g.with_columns(
        *[(pl.col(f"sum_{c}") / pl.col("customers")).alias(f"mean_{c}") for c in _STATS],
        (pl.col("sum_return_rate") / pl.col("n_return_rate")).alias("mean_return_rate"))
    return g.join(medians, on=by, how="left")


def _channel_spend(r: dict, key: str) -> float:
    """A group's gross spend in channel_mix key ``key`` (a share column or NO_CHANNEL)."""
    if key == NO_CHANNEL:
        return int(r.get("unassigned_units") or 0) / AMOUNT_SCALE
    return float(r.get(f"ch_{key}") or 0.0)


def _profiles(stats: pl.DataFrame, by: str, names: dict, actions: dict, total_n: int,
              total_rev: float, channels: list[str]) -> list[dict]:
    """One profile per value of ``by`` in ``names`` order (empty groups included; values
    present in the data but unknown to ``names`` appended, so nothing is dropped)."""
    rows = {r[by]: r for r in stats.iter_rows(named=True)}
    keys = list(names) + [k for k in rows if k not in names]
    out = []
    for key in keys:
        r = rows.get(key, {})
        n = int(r.get("customers") or 0)
        rev = float(r.get("revenue") or 0.0)
        gross = float(r.get("gross") or 0.0)
        entry = {"key": key, "name": names.get(key, str(key)), "action": actions.get(key, ""),
                 "customers": n, "customer_share": n / total_n if total_n else 0.0,
                 "revenue": rev, "revenue_share": rev / total_rev + 0.0 if total_rev else None,
                 "gross_revenue": gross, "return_amount": float(r.get("returns") or 0.0),
                 "orders": int(r.get("orders") or 0),
                 "return_rate": float(r.get("returns") or 0.0) / gross if gross else None,
                 "mean_return_rate": _num(r.get("mean_return_rate"))}
        for c in _STATS:
            entry[f"median_{c}"] = _num(r.get(f"median_{c}"))
            entry[f"mean_{c}"] = _num(r.get(f"mean_{c}"))
        entry["channel_mix"] = {key: _channel_spend(r, key) / gross if gross else None
                                for key in channels}
        out.append(entry)
    return out


def _score_ranges(cuts: list[float], invert: bool) -> list[dict]:
    """What each score means tonight: the value interval (lo, hi] of the metric."""
    q = len(cuts) + 1
    out = []
    for s in range(1, q + 1):  # s = raw (un-inverted) score: x in (c_{s-1}, c_s]
        lo = cuts[s - 2] if s >= 2 else None
        hi = cuts[s - 1] if s <= q - 1 else None
        out.append({"score": q + 1 - s if invert else s, "above": lo, "at_most": hi})
    return sorted(out, key=lambda d: d["score"])


def _rf_grid(c: pl.DataFrame, q: int) -> dict:
    """Customers and mean monetary per (r_score, f_score) cell, scores 1..q (one numba pass;
    the scores and monetary have no nulls in a scored table)."""
    from native_kernels.report import _grid_sums

    n = np.zeros((q, q), dtype=np.int64)
    total = np.zeros((q, q))
    _grid_sums(c["r_score"].to_numpy(), c["f_score"].to_numpy(),
               c["monetary"].cast(pl.Float64).to_numpy(), n, total)
    mean = np.divide(total, n, out=np.full((q, q), np.nan), where=n > 0)
    return {"q": q, "index": "counts[r_score - 1][f_score - 1]", "counts": n.tolist(),
            "mean_monetary": [[_num(v) for v in row] for row in mean]}


def _concentration(monetary: pl.Series) -> dict:
    """Top-share revenue, Pareto (top-down) and Lorenz (bottom-up) curves, Gini."""
    n = monetary.len()
    x = np.sort(monetary.cast(pl.Float64).to_numpy())  # ascending (numpy's SIMD sort)
    non_positive = int(np.searchsorted(x, 0.0, side="right"))
    np.cumsum(x, out=x)  # in place: x[i − 1] = revenue of the i lowest spenders
    total = float(x[-1]) if n else 0.0

    def cum_at(i):  # revenue of the i lowest spenders (array or int index)
        return np.where(i > 0, x[np.maximum(i, 1) - 1], 0.0) if n else np.zeros_like(i, float)

    # point i: customer_share i / 100 exactly, i × n / 100 customers rounded half up, in
    # integers (no float noise deciding a tie)
    pct = np.arange(LORENZ_POINTS, dtype=np.int64)
    idx = (pct * n + 50) // 100
    # a net revenue of 0 has no shares: null, not 0 (or 0/0)
    lorenz = cum_at(idx) / total if total else [None] * LORENZ_POINTS
    top = total - cum_at(n - idx)  # revenue of the top idx customers
    pareto = top / total if total else [None] * LORENZ_POINTS

    def top_share(k):  # revenue share of the top k customers
        return float((total - cum_at(np.int64(n - k))) / total) + 0.0 if total else None

    tops = [(p, -(-p * n // 100)) for p in TOP_SHARE_PERCENTS]  # ⌈p × n / 100⌉, exactly

    # Gini from the Lorenz curve (trapezoids over all customers, exact).
    # (undefined when net revenue is not positive; may exceed 1 with negative net spenders)
    # Σ (cum[i] + cum[i+1]) over i < n = 2 Σ cum − cum[n], cum[0] = 0 (no temporary array)
    gini = (float(1.0 - (2.0 * x.sum() - total) / (n * total)) if total > 0 and n
            else None)
    return {
        "revenue_definition": "net spend (monetary, returns included)",
        "customers": int(n), "revenue": total,
        "gini": gini,
        "customers_with_non_positive_revenue": non_positive,
        "top_shares": [{"customer_share": p / 100, "customers": int(k),
                        "revenue_share": top_share(k)} for p, k in tops],
        "lorenz": [{"customer_share": i / 100, "customers": int(k),
                    "revenue_share": None if b is None else float(b) + 0.0}
                   for i, (k, b) in enumerate(zip(idx, lorenz))],
        "pareto": [{"customer_share": i / 100, "customers": int(k),
                    "revenue_share": None if b is None else float(b) + 0.0}
                   for i, (k, b) in enumerate(zip(idx, pareto))],
    }


def _cluster_profiles(c: pl.DataFrame, stats: pl.DataFrame, model_clusters: dict, total_n,
                      total_rev, channels) -> list[dict]:
    profiles = model_clusters.get("profiles", [])
    names = {p["cluster"]: p["label"] for p in profiles}
    out = _profiles(stats, "cluster", names, {}, total_n, total_rev, channels)
    by_id = {p["cluster"]: p for p in profiles}
    for e in out:
        p = by_id.get(e["key"], {})
        e["centroid"] = p.get("centroid")
        e["centroid_z"] = p.get("centroid_z")
    return out


def _decoded_bytes(dtype: pl.DataType) -> int:
    """Bytes of one decoded value of ``dtype`` in polars (a string is a 16-byte view)."""
    dtype = dtype() if isinstance(dtype, type) else dtype
    if dtype in (pl.String, pl.Binary) or dtype.is_nested() or dtype == pl.Object:
        return 16
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        return 4
    if dtype == pl.Boolean:
        return 1
    for width, kinds in ((1, (pl.Int8, pl.UInt8)), (2, (pl.Int16, pl.UInt16)),
                         (4, (pl.Int32, pl.UInt32, pl.Float32, pl.Date)),
                         (16, (pl.Int128, pl.Decimal))):
        if dtype.base_type() in kinds:
            return width
    return 8


def check_report_inputs(config, *, previous_dir=None, attributes_path=None,
                        id_dtype=None) -> ReportInputs:
    """Cheap up-front checks of the report's extra inputs (metadata only, no data read), so a
    run can refuse a bad ``--previous`` / ``--customers`` before its expensive stages.
    ``id_dtype``: tonight's customer id dtype (the transactions'), when known: the inputs'
    ids must cast to it (their dtype, and what their footers' statistics show).
    Raises InputError naming the path (and column). Returns their sizes for the memory
    budget (attribute rows and decoded row bytes, the previous run's customers: the rows
    of its customers/ footers)."""
    from pathlib import Path

    import pyarrow.parquet as pq

    from segscore.errors import InputError
    from segscore.report.attributes import check_attribute_ids
    from segscore.report.input_ids import attributes_schema, id_column
    from segscore.report.migration import check_previous

    sizes = {}
    if previous_dir is not None:
        sizes["previous_customers"] = check_previous(Path(previous_dir), id_dtype)
    if attributes_path is not None:
        path = Path(attributes_path)
        schema = attributes_schema(path)
        try:
            rows = pq.ParquetFile(path).metadata.num_rows if path.is_file() else 0
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read customer attributes Parquet: {exc}") from None
        col = id_column(schema, path, config)
        if id_dtype is not None:
            check_attribute_ids(path, schema, col, id_dtype)
        sizes["attribute_rows"] = rows
        sizes["attribute_row_bytes"] = float(sum(_decoded_bytes(t) for t in schema.dtypes()))
    return ReportInputs(**sizes)


def build_report(result, config, *, previous_dir=None, attributes_path=None,
                 migration_path=None, sequential=False, sections: OptionalSections | None = None):
    """(report.json dict, migration table or None) of a finished run (a pipeline RunResult).

    ``previous_dir``: last night's output directory → migration matrices and the migration
    table (customer_id, previous_segment, current_segment, … of the customers who moved);
    with ``migration_path`` the table is also written there (migration.parquet), in the
    migration section's thread while the other sections still run. ``attributes_path``:
    Parquet, one row per customer id → per-segment attribute breakdowns. ``sequential``: the sections one after another (the
    memory budget does not hold them side by side), same report. ``sections``: those two
    sections already started (the pipeline starts them before clustering); the four
    arguments before it are then unused.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    c = result.customers
    # The two optional sections read their own inputs and are independent of the profiles:
    # they run in worker threads meanwhile (polars and most numpy work release the GIL, and
    # their single-threaded steps overlap the profiles' parallel group_bys).
    if sections is None:
        sections = OptionalSections(c, config, previous_dir=previous_dir,
                                    attributes_path=attributes_path,
                                    migration_path=migration_path, sequential=sequential)
    try:
        report = timed(sections.times, "profiles", _build, result, config, c)
        report["attributes"], report["migration"], migration = sections.results()
    finally:
        sections.close()
    report["performance"] = performance_profile(result, time.perf_counter() - t0,
                                                time.process_time() - c0, sections.times)
    return report, migration


def _build(result, config, c: pl.DataFrame) -> dict:
    """The report dict up to (without) "attributes", "migration" and "performance"."""
    total_n = c.height
    channel_map = (result.model.get("channel_columns") or {}).get("columns") or {}
    channels = [{"key": col, "kind": "channel", "value": value}
                for col, value in channel_map.items() if col in c.columns]
    if "share_other" in c.columns:  # never a channel's column (features.ChannelColumns)
        channels.append({"key": "share_other", "kind": "other", "value": None})
    share_cols = [ch["key"] for ch in channels]
    # without share_other, spend of rows with a null channel is in no share column
    unassigned = bool(share_cols) and "share_other" not in share_cols
    has_cluster = "cluster" in c.columns

    dims = ["segment", "value_tier", "lifecycle_stage"] + (["cluster"] if has_cluster else [])
    # numpy's sort and cumsum and the numba kernels release the GIL: the concentration and
    # the R×F grid run beside the combination sums, then each float median beside the
    # histograms (independent results, so the report does not depend on the scheduling)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="report-profile") as aside:
        concentration = aside.submit(_concentration, c["monetary"])
        rf_grid = aside.submit(_rf_grid, c, config.bins)
        sums, medians = _sums_and_medians(c, dims, share_cols, aside, unassigned)
        concentration, rf_grid = concentration.result(), rf_grid.result()
    stats = {d: _dim_stats(sums, m, d) for d, m in zip(dims, medians)}
    if unassigned and sums["unassigned_units"].sum() > 0:
        channels.append({"key": NO_CHANNEL, "kind": "none", "value": None})
    mix_keys = [ch["key"] for ch in channels]
    total_rev = float(sums["revenue"].sum())  # the totals: sums of the combinations' sums

    seg, life = config.segments.rules, config.lifecycle.rules
    mk = lambda d, names, actions: _profiles(stats[d], d, names, actions, total_n,  # noqa: E731
                                             total_rev, mix_keys)
    q = config.bins
    cuts = result.model["cut_points"]
    if has_cluster:
        model_clusters = result.model.get("clusters") or {}
        clusters = _cluster_profiles(c, stats["cluster"], model_clusters, total_n, total_rev,
                                     mix_keys)
        cluster_features = model_clusters.get("features", [])
        cluster_selection = model_clusters.get("selection")
    else:  # clustering off: the fields are there, empty / null (docs/report.md)
        clusters, cluster_features, cluster_selection = [], None, None
    rows = result.manifest["rows"]
    # key order = docs/report.md's order (display order; tests/test_report_format.py)
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "generated_at": datetime.now(timezone.utc).isoformat(),
        "run_id": result.manifest.get("run_id"),
        "as_of": result.manifest["as_of"],
        "customers": result.manifest["customers"],
        "totals": {"customers": total_n, "revenue": total_rev,
                   "gross_revenue": float(sums["gross"].sum()),
                   "orders": int(sums["orders"].sum())},
        "channels": channels,
        "segments": mk("segment", {r.key: r.name for r in seg}, {r.key: r.action for r in seg}),
        "value_tiers": mk("value_tier", {t.key: t.name for t in config.value_tier.tiers}, {}),
        "lifecycle_stages": mk("lifecycle_stage", {r.key: r.name for r in life},
                               {r.key: r.action for r in life}),
        "clusters": clusters,
        "cluster_features": cluster_features,
        "cluster_selection": cluster_selection,
        "cut_points": cuts,
        "score_ranges": {
            "bins": q,
            "r": {"metric": "recency_days", "inverted": True,
                  "ranges": _score_ranges(cuts["r"], True)},
            "f": {"metric": "frequency", "inverted": False,
                  "ranges": _score_ranges(cuts["f"], False)},
            "m": {"metric": "monetary", "inverted": False,
                  "ranges": _score_ranges(cuts["m"], False)},
        },
        "value_tier_bounds": result.model["value_tier_bounds"],
        "rf_grid": rf_grid,
        "concentration": concentration,
        "data_quality": {**{k: rows[k] for k in DATA_QUALITY_ROWS if k in rows},
                         **{k: v for k, v in rows.items() if k not in DATA_QUALITY_ROWS},
                         "customers": result.manifest["customers"],
                         "inputs": [{k: f.get(k) for k in ("path", "bytes", "rows_read", "used",
                                                           "after_as_of", "outside_window",
                                                           "rejected")}
                                    for f in result.manifest.get("inputs", [])]},
    }
