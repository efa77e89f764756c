"""pandas baseline: read_parquet -> groupby().agg() -> pd.qcut -> MiniBatchKMeans(8) defaults."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from .common import CLUSTER_K, Q, cluster_matrix, end_of_day

COLUMNS = ["customer_id", "order_id", "order_ts", "amount"]


def qscore(x: pd.Series) -> tuple[np.ndarray, bool]:
    """(scores 1..Q, whether the rank(method="first") fallback was needed)."""
    try:
        return pd.qcut(x, Q, labels=False).to_numpy() + 1, False
    except ValueError:  # "Bin edges must be unique"
        return pd.qcut(x.rank(method="first"), Q, labels=False).to_numpy() + 1, True


def run(src: Path, *, cluster: bool = True, timings: dict | None = None) -> pd.DataFrame:
    """Per-customer features, r/f/m scores and (with ``cluster``) cluster ids."""
    t = timings if timings is not None else {}
    g = prepare(src, t)
    return add_clusters(g, t) if cluster else g


def prepare(src: Path, t: dict) -> pd.DataFrame:
    """Read, aggregate and score; stage times go into ``t``."""
    t0 = time.perf_counter()
    df = pd.read_parquet(src, columns=COLUMNS)
    t1 = time.perf_counter()
    as_of = pd.Timestamp(end_of_day(df["order_ts"].max()))
    buy = df[df["amount"] > 0]
    g = buy.groupby("customer_id").agg(first=("order_ts", "min"), last=("order_ts", "max"),
                                       frequency=("order_id", "nunique"))
    g["monetary"] = df.groupby("customer_id")["amount"].sum()  # aligned on the index
    del df, buy
    g["recency_days"] = (as_of - g["last"]) // pd.Timedelta(days=1)
    g["tenure_days"] = (as_of - g["first"]) // pd.Timedelta(days=1)
    g = g.reset_index()
    t2 = time.perf_counter()
    r, fr = qscore(g["recency_days"])
    f, ff = qscore(g["frequency"])
    m, fm = qscore(g["monetary"])
    g["r_score"], g["f_score"], g["m_score"] = Q + 1 - r, f, m
    t["rank_fallback"] = [s for s, used in zip("rfm", (fr, ff, fm)) if used]
    t3 = time.perf_counter()
    t.update(read=t1 - t0, aggregate=t2 - t1, score=t3 - t2)
    return g


def add_clusters(g: pd.DataFrame, t: dict) -> pd.DataFrame:
    """MiniBatchKMeans(n_clusters=8) with scikit-learn's defaults (random_state fixed)."""
    from sklearn.cluster import MiniBatchKMeans

    t0 = time.perf_counter()
    X = cluster_matrix({c: g[c].to_numpy() for c in g.columns})
    g["cluster"] = MiniBatchKMeans(n_clusters=CLUSTER_K, random_state=0).fit_predict(X)
    t["cluster"] = time.perf_counter() - t0
    return g
