"""End-to-end pipeline against tests/naive.py: features, scores, segments, tiers, lifecycle."""

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest

import naive
import segscore
from segscore.config import build_config

AS_OF = datetime(2026, 6, 30, 23, 59, 59, 999999)


def make_rows(seed: int, customers: int = 300, with_order_id: bool = False) -> list[dict]:
    """Messy-but-valid rows: heavy ties (whole-day timestamps, few amounts), returns-only
    customers, one-row customers, rows exactly on as_of and after it, and on the edge of a
    365-day window."""
    rng = np.random.default_rng(seed)
    rows = []
    amounts = [5.0, 10.0, 10.0, 25.5, 99.99, 100.0]
    for c in range(customers):
        cid = int(rng.integers(1, 10**9))
        n = int(rng.integers(1, 6))
        only_returns = rng.random() < 0.05
        for j in range(n):
            day = int(rng.integers(0, 800))
            ts = AS_OF.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=day)
            if rng.random() < 0.05:
                ts = AS_OF  # exactly on as_of
            elif rng.random() < 0.05:  # exactly on the 365-day window's exclusive start, or 1 µs in
                ts = AS_OF - timedelta(days=365) + timedelta(microseconds=int(rng.integers(0, 2)))
            amount = float(rng.choice(amounts))
            if only_returns or rng.random() < 0.1:
                amount = -amount
            rows.append({"customer_id": cid, "order_ts": ts, "amount": amount,
                         "order_id": c * 10 + j // 2})
        if rng.random() < 0.05:
            rows.append({"customer_id": cid, "order_ts": AS_OF + timedelta(microseconds=1),
                         "amount": 50.0, "order_id": c * 10 + 9})
    return rows


def write(rows: list[dict], path, with_order_id: bool = False):
    df = pl.DataFrame(rows)
    if not with_order_id:
        df = df.drop("order_id")
    df.write_parquet(path)
    return path


@pytest.mark.parametrize("with_order_id", [False, True])
@pytest.mark.parametrize("window_days", [None, 365])
def test_features_scores_and_labels_match_naive(tmp_path, with_order_id, window_days):
    rows = make_rows(seed=11, with_order_id=with_order_id)
    src = write(rows, tmp_path / "tx.parquet", with_order_id)
    config = build_config({"scoring": {"window_days": window_days}} if window_days else {})
    result = segscore.run(src, config=config, as_of="2026-06-30")
    want = naive.customer_features(rows, AS_OF, window_days, has_order_id=with_order_id)
    got = {r["customer_id"]: r for r in result.customers.iter_rows(named=True)}
    scored = {c: f for c, f in want.items() if f["scored"]}
    assert set(got) == set(scored)
    assert set(result.unscored["customer_id"]) == {c for c, f in want.items() if not f["scored"]}
    for cid, f in scored.items():
        g = got[cid]
        for k in ("recency_days", "tenure_days", "frequency"):
            assert g[k] == f[k], (cid, k)
        for k in ("monetary", "avg_order_value", "return_amount", "return_rate"):
            assert g[k] == f[k], (cid, k)  # money is summed exactly, in 1/10,000 units
    ids = sorted(scored)
    for metric, col, invert in (("recency_days", "r_score", True), ("frequency", "f_score", False),
                                ("monetary", "m_score", False)):
        x = [scored[c][metric] for c in ids]
        s, _ = naive.quantile_scores(x, 5)
        if invert:
            s = [6 - v for v in s]
        assert [got[c][col] for c in ids] == s, col
    rules = [{f: (lo or 1, hi or 5) for f, lo, hi in r.ranges} for r in config.segments.rules]
    for c in ids:
        g = got[c]
        idx = naive.first_match(rules, {"r": g["r_score"], "f": g["f_score"], "m": g["m_score"]})
        assert g["segment"] == config.segments.rules[idx].key
        assert g["rfm_code"] == f"{g['r_score']}{g['f_score']}{g['m_score']}"
    life = [{f: (lo if lo is not None else 0, hi if hi is not None else 10**9)
             for f, lo, hi in r.ranges} for r in config.lifecycle.rules]
    for c in ids:
        g = got[c]
        idx = naive.first_match(life, g)
        assert g["lifecycle_stage"] == config.lifecycle.rules[idx].key


def test_scores_equal_pandas_qcut_where_edges_unique(tmp_path):
    rng = np.random.default_rng(5)
    n = 2000
    rows = pl.DataFrame({"customer_id": np.arange(n), "order_ts": [AS_OF - timedelta(days=1)] * n,
                         "amount": np.round(rng.lognormal(4, 1, n), 2)})
    rows.write_parquet(tmp_path / "t.parquet")
    result = segscore.run(tmp_path / "t.parquet", config=build_config({"clustering": {"enabled": False}}))
    m = result.customers["monetary"].to_numpy()
    assert np.array_equal(result.customers["m_score"].to_numpy(), pd.qcut(m, 5, labels=False) + 1)


def test_value_tiers_by_rank_and_thresholds(tmp_path):
    n = 100
    pl.DataFrame({"customer_id": np.arange(n), "order_ts": [AS_OF] * n,
                  "amount": np.arange(1, n + 1) * 100.0}).write_parquet(tmp_path / "t.parquet")
    off = {"clustering": {"enabled": False}}
    rank = segscore.run(tmp_path / "t.parquet", config=build_config(off)).customers
    # label columns are polars Enums: they sort in table order, not alphabetically
    assert rank.group_by("value_tier").len().sort("value_tier").rows() == [
        ("high", 20), ("medium", 30), ("low", 50)]
    cfg = build_config({**off, "value_tier": {"method": "thresholds", "tiers": [
        {"key": "vip", "min_monetary": 5000}, {"key": "gold", "min_monetary": 2000},
        {"key": "regular"}]}})
    th = segscore.run(tmp_path / "t.parquet", config=cfg).customers
    tier = dict(zip(th["monetary"].to_list(), th["value_tier"].to_list()))
    assert tier[5000.0] == "vip" and tier[4900.0] == "gold" and tier[2000.0] == "gold"
    assert tier[1900.0] == "regular"


def test_single_customer_and_one_row_per_customer(tmp_path):
    pl.DataFrame({"customer_id": [7], "order_ts": [AS_OF], "amount": [3.0]}).write_parquet(
        tmp_path / "one.parquet")
    r = segscore.run(tmp_path / "one.parquet").customers.row(0, named=True)
    assert (r["recency_days"], r["tenure_days"], r["frequency"], r["monetary"]) == (0, 0, 1, 3.0)
    assert (r["r_score"], r["f_score"], r["m_score"]) == (5, 1, 1)
    assert r["segment"] == "new_customers" and r["lifecycle_stage"] == "new"


def test_no_scorable_customer_is_an_input_error(tmp_path):
    pl.DataFrame({"customer_id": [1, 2], "order_ts": [AS_OF] * 2, "amount": [-1.0, -2.0]}
                 ).write_parquet(tmp_path / "r.parquet")
    with pytest.raises(segscore.InputError, match="nothing to score"):
        segscore.run(tmp_path / "r.parquet")


def test_default_as_of_is_end_of_latest_valid_day(tmp_path):
    pl.DataFrame({"customer_id": [1, None], "order_ts": [datetime(2026, 3, 1, 8), datetime(2026, 5, 1)],
                  "amount": [3.0, 4.0]}).write_parquet(tmp_path / "a.parquet")
    result = segscore.run(tmp_path / "a.parquet")
    assert result.manifest["as_of"] == "2026-03-01T23:59:59.999999"


def test_config_path_given_as_config_is_a_clear_type_error(tmp_path):
    """``run(config="x.toml")`` says to use config_path= (it was an AttributeError)."""
    with pytest.raises(TypeError, match="config_path="):
        segscore.run(tmp_path, config="x.toml")


def test_aware_datetime_as_of_is_the_same_instant_as_its_iso_string(tmp_path):
    """The API takes an aware datetime for as_of as the CLI takes a timestamp with an
    offset: converted to UTC (it used to reach the row filter unconverted and fail there)."""
    from datetime import timezone

    src = write(make_rows(seed=5, customers=60), tmp_path / "tx.parquet")
    aware = datetime(2026, 7, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    by_datetime = segscore.run(src, as_of=aware)
    by_string = segscore.run(src, as_of="2026-07-01T01:30:00+02:00")
    assert by_datetime.manifest["as_of"] == "2026-06-30T23:30:00"
    assert by_datetime.customers.equals(by_string.customers)


def test_day_counts_are_floored_exactly_over_centuries(tmp_path):
    """recency_days / tenure_days = floor((as_of − t) / 1 day) in integer microseconds (SPEC
    §2): a purchase 1 µs after the k-th day boundary before as_of is k − 1 days old, also
    when k is so large (beyond ~285 years) that a float64 quotient would round it up to k."""
    spans = {1: 1, 2: 365, 3: 150_000, 4: 700_000}  # customer -> k (days; up to ~1,900 years)
    rows = []
    for cid, k in spans.items():
        rows.append({"customer_id": cid, "order_ts": AS_OF - timedelta(days=k, microseconds=-1),
                     "amount": 10.0})
        rows.append({"customer_id": cid, "order_ts": AS_OF - timedelta(days=k // 2 + 1,
                                                                          microseconds=-1),
                     "amount": 5.0})
    pl.DataFrame(rows).write_parquet(tmp_path / "t.parquet")
    got = segscore.run(tmp_path / "t.parquet", config=build_config(
        {"clustering": {"enabled": False}}), as_of="2026-06-30").customers
    day = timedelta(days=1)
    for r in got.iter_rows(named=True):
        k = spans[r["customer_id"]]
        first = AS_OF - timedelta(days=k, microseconds=-1)
        last = AS_OF - timedelta(days=k // 2 + 1, microseconds=-1)
        assert r["tenure_days"] == (AS_OF - first) // day == k - 1, r
        assert r["recency_days"] == (AS_OF - last) // day == k // 2, r


def test_rows_on_both_calendar_edges_are_used(tmp_path):
    """The first and the last instant Python's datetime holds (0001-01-01T00:00 and
    9999-12-31T23:59:59.999999) lie inside years 1..9999: such rows are used, not
    timestamp_out_of_range, and the default as_of is the last instant itself."""
    first, last = datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)
    pl.DataFrame({"customer_id": [1, 2, 2], "order_ts": [last, first, last - timedelta(days=3)],
                  "amount": [5.0, 6.0, 7.0]}).write_parquet(tmp_path / "t.parquet")
    result = segscore.run(tmp_path / "t.parquet",
                          config=build_config({"clustering": {"enabled": False}}))
    assert result.manifest["as_of"] == last.isoformat()
    assert result.manifest["rows"]["used"] == 3 and result.manifest["rows"]["rejected"] == {}
    got = {r["customer_id"]: r for r in result.customers.iter_rows(named=True)}
    assert (got[1]["recency_days"], got[1]["tenure_days"]) == (0, 0)
    assert got[2]["recency_days"] == 3
    assert got[2]["tenure_days"] == (last - first) // timedelta(days=1) == 3_652_058
