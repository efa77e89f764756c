"""report.json content: profiles per segment / tier / lifecycle stage / cluster, the cut
points, data quality and the run's performance profile. Reads what the pipeline computed;
never recomputes scores."""

from __future__ import annotations

import polars as pl

REPORT_SCHEMA_VERSION = 1


def _profiles(customers: pl.DataFrame, by: str, names: dict[str, str],
              actions: dict[str, str]) -> list[dict]:
    """One profile per value of ``by`` (in ``names`` order, empty groups included)."""
    total_n = customers.height
    total_rev = float(customers["monetary"].sum())
    stats = (customers.group_by(by).agg(
        pl.len().alias("customers"),
        pl.col("monetary").sum().alias("revenue"),
        pl.col("frequency").sum().alias("orders"),
        *[pl.col(c).median().alias(f"median_{c}") for c in
          ("recency_days", "frequency", "monetary", "avg_order_value", "tenure_days")],
        *[pl.col(c).mean().alias(f"mean_{c}") for c in
          ("recency_days", "frequency", "monetary", "avg_order_value", "tenure_days")],
    ))
    rows = {r[by]: r for r in stats.iter_rows(named=True)}
    out = []
    for key, name in names.items():
        r = rows.get(key, {})
        n = r.get("customers", 0)
        rev = float(r.get("revenue") or 0.0)
        entry = {"key": key, "name": name, "action": actions.get(key, ""), "customers": n,
                 "customer_share": n / total_n if total_n else 0.0, "revenue": rev,
                 "revenue_share": rev / total_rev if total_rev else 0.0,
                 "orders": int(r.get("orders") or 0)}
        for k, v in r.items():
            if k.startswith(("median_", "mean_")):
                entry[k] = None if v is None else float(v)
        out.append(entry)
    return out


def build_report(result, config, *, previous_dir=None, attributes_path=None):
    """(report.json dict, migration table or None) of a finished run (a pipeline RunResult).

    previous_dir and attributes_path are not used yet (issue 4).
    """
    c = result.customers
    seg = config.segments.rules
    report = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "as_of": result.manifest["as_of"],
        "customers": result.manifest["customers"],
        "segments": _profiles(c, "segment", {r.key: r.name for r in seg},
                              {r.key: r.action for r in seg}),
        "value_tiers": _profiles(c, "value_tier",
                                 {t.key: t.name for t in config.value_tier.tiers}, {}),
        "lifecycle_stages": _profiles(c, "lifecycle_stage",
                                      {r.key: r.name for r in config.lifecycle.rules},
                                      {r.key: r.action for r in config.lifecycle.rules}),
        "cut_points": result.model["cut_points"],
        "value_tier_bounds": result.model["value_tier_bounds"],
        "data_quality": result.manifest["rows"],
        "performance": {"stages": result.timings, "versions": result.manifest["versions"]},
    }
    if "cluster" in c.columns:
        clusters = result.model["clusters"]
        names = {p["cluster"]: p["label"] for p in clusters["profiles"]}
        report["clusters"] = _profiles(c, "cluster", names, {})
        report["cluster_selection"] = clusters["selection"]
    return report, None
