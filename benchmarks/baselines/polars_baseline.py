"""polars-native baseline: lazy group_by -> qcut -> scikit-learn KMeans(8, n_init=1)."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from .common import CLUSTER_K, DAY_US, Q, cluster_matrix, end_of_day

LABELS = [str(i) for i in range(1, Q + 1)]


def qscore(df: pl.DataFrame, col: str) -> tuple[pl.Series, bool]:
    """(scores 1..Q as Int8, whether the rank("ordinal") fallback was needed)."""
    try:
        s = df.select(pl.col(col).qcut(Q, labels=LABELS).cast(pl.String)).to_series()
        return s.cast(pl.Int8), False
    except Exception:  # duplicate breaks
        s = df.select(pl.col(col).rank("ordinal").qcut(Q, labels=LABELS).cast(pl.String)).to_series()
        return s.cast(pl.Int8), True


def run(src: Path, *, cluster: bool = True, timings: dict | None = None) -> pl.DataFrame:
    t = timings if timings is not None else {}
    df = prepare(src, t)
    return add_clusters(df, t) if cluster else df


def prepare(src: Path, t: dict) -> pl.DataFrame:
    """Lazy scan + group_by, then qcut scores; stage times go into ``t``."""
    t0 = time.perf_counter()
    lf = pl.scan_parquet(Path(src) / "*.parquet").select(
        "customer_id", "order_id", "order_ts", "amount")
    as_of = end_of_day(lf.select(pl.col("order_ts").max()).collect().item())
    buy = pl.col("amount") > 0
    age = lambda c: ((pl.lit(as_of) - pl.col(c)).dt.total_microseconds() // DAY_US)  # noqa: E731
    df = (lf.group_by("customer_id")
          .agg(pl.col("order_ts").filter(buy).min().alias("first"),
               pl.col("order_ts").filter(buy).max().alias("last"),
               pl.col("order_id").filter(buy).n_unique().alias("frequency"),
               pl.col("amount").sum().alias("monetary"))
          .filter(pl.col("frequency") > 0)
          .with_columns(age("last").alias("recency_days"), age("first").alias("tenure_days"))
          .collect())
    t1 = time.perf_counter()
    r, fr = qscore(df, "recency_days")
    f, ff = qscore(df, "frequency")
    m, fm = qscore(df, "monetary")
    df = df.with_columns((Q + 1 - r).alias("r_score"), f.alias("f_score"), m.alias("m_score"))
    t["rank_fallback"] = [s for s, used in zip("rfm", (fr, ff, fm)) if used]
    t2 = time.perf_counter()
    t.update(read_aggregate=t1 - t0, score=t2 - t1)
    return df


def add_clusters(df: pl.DataFrame, t: dict) -> pl.DataFrame:
    """scikit-learn KMeans(n_clusters=8, n_init=1), other parameters default."""
    from sklearn.cluster import KMeans

    t0 = time.perf_counter()
    X = cluster_matrix({c: df[c].to_numpy() for c in
                        ("recency_days", "frequency", "monetary", "tenure_days")})
    ids = KMeans(n_clusters=CLUSTER_K, n_init=1, random_state=0).fit_predict(X)
    df = df.with_columns(pl.Series("cluster", ids))
    t["cluster"] = time.perf_counter() - t0
    return df
