"""Shared definitions of the baselines and score agreement with segscore."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

Q = 5
CLUSTER_K = 8
CLUSTER_FEATURES = ("recency_days", "frequency", "monetary", "tenure_days")
LOG_FEATURES = ("recency_days", "frequency", "monetary")
DAY_US = 86_400_000_000


def end_of_day(ts) -> datetime:
    """SPEC §1 default as_of: 23:59:59.999999 of the day of ``ts``."""
    return datetime(ts.year, ts.month, ts.day) + timedelta(days=1) - timedelta(microseconds=1)


def cluster_matrix(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Standardized (population std) float64 (n, 4) matrix of the cluster features."""
    out = []
    for name in CLUSTER_FEATURES:
        x = np.asarray(cols[name], dtype=np.float64)
        if name in LOG_FEATURES:
            x = np.log1p(np.clip(x, 0.0, None))
        sd = x.std()
        out.append((x - x.mean()) / (sd if sd > 0 else 1.0))
    return np.column_stack(out)


def agreement(seg: pl.DataFrame, other: pl.DataFrame) -> dict:
    """Share of customers whose r/f/m scores equal segscore's (inner join on customer_id).

    Both frames need customer_id, r_score, f_score, m_score. Returns rates in [0, 1] plus
    the customer counts (a mismatch there means the feature definitions differ).
    """
    cols = ["customer_id", "r_score", "f_score", "m_score"]
    a = seg.select(cols).with_columns(pl.col(c).cast(pl.Int8) for c in cols[1:])
    b = other.select(cols).with_columns(pl.col(c).cast(pl.Int8) for c in cols[1:])
    j = a.join(b, on="customer_id", suffix="_b")
    n = j.height
    res = {"customers_segscore": a.height, "customers_baseline": b.height, "joined": n}
    for s in ("r", "f", "m"):
        res[s] = (j[f"{s}_score"] == j[f"{s}_score_b"]).sum() / n if n else float("nan")
    allm = ((j["r_score"] == j["r_score_b"]) & (j["f_score"] == j["f_score_b"])
            & (j["m_score"] == j["m_score_b"]))
    res["rfm"] = allm.sum() / n if n else float("nan")
    return res


def feature_agreement(seg: pl.DataFrame, other: pl.DataFrame) -> dict:
    """Share of customers with identical recency_days and frequency, and monetary within 1e-6."""
    cols = ["customer_id", "recency_days", "frequency", "monetary"]
    j = seg.select(cols).join(other.select(cols), on="customer_id", suffix="_b")
    n = j.height
    if not n:
        return {"recency_days": float("nan"), "frequency": float("nan"), "monetary": float("nan")}
    return {
        "recency_days": (j["recency_days"].cast(pl.Int64) == j["recency_days_b"].cast(pl.Int64)).sum() / n,
        "frequency": (j["frequency"].cast(pl.Int64) == j["frequency_b"].cast(pl.Int64)).sum() / n,
        "monetary": ((j["monetary"] - j["monetary_b"]).abs() <= 1e-6).sum() / n,
    }
