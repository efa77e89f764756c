"""DuckDB baseline: SQL aggregation + NTILE(5) scoring, no clustering."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

SQL = """
WITH t AS (
    SELECT customer_id, order_id, order_ts, amount FROM read_parquet('{glob}')
), a AS (
    SELECT date_trunc('day', max(order_ts)) + INTERVAL 1 DAY - INTERVAL 1 MICROSECOND AS as_of
    FROM t
), g AS (
    SELECT customer_id,
           min(order_ts) FILTER (WHERE amount > 0) AS first_ts,
           max(order_ts) FILTER (WHERE amount > 0) AS last_ts,
           count(DISTINCT order_id) FILTER (WHERE amount > 0) AS frequency,
           sum(amount) AS monetary
    FROM t GROUP BY customer_id
), f AS (
    SELECT customer_id,
           (epoch_us(a.as_of) - epoch_us(last_ts)) // 86400000000 AS recency_days,
           (epoch_us(a.as_of) - epoch_us(first_ts)) // 86400000000 AS tenure_days,
           frequency, monetary
    FROM g, a WHERE frequency > 0
)
SELECT *,
       NTILE(5) OVER (ORDER BY recency_days DESC) AS r_score,
       NTILE(5) OVER (ORDER BY frequency) AS f_score,
       NTILE(5) OVER (ORDER BY monetary) AS m_score
FROM f
"""


def prepare(src: Path, t: dict) -> pl.DataFrame:
    return run(src, timings=t)


def run(src: Path, *, cluster: bool = False, timings: dict | None = None) -> pl.DataFrame:
    """Features and NTILE scores, materialized as an Arrow table (returned as polars)."""
    import duckdb

    t = timings if timings is not None else {}
    t0 = time.perf_counter()
    con = duckdb.connect()
    tbl = con.sql(SQL.format(glob=str(Path(src) / "*.parquet"))).to_arrow_table()
    t1 = time.perf_counter()
    t.update(sql=t1 - t0)
    return pl.from_arrow(tbl)
