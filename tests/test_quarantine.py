"""Row-level quarantine and reconciliation, as properties over random messy transaction tables.

Every generated table mixes valid rows with null ids, blank string ids, null / blank /
unparseable string timestamps, NaN / ±inf / huge / null amounts, returns-only customers, rows
after as_of and outside the window, int or string ids, spread over several files whose
timestamp columns may be of different kinds. A plain-Python classifier (restating
``segscore.ingest``'s documented order) and ``tests/naive.py`` are the references.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Context, Decimal
from pathlib import Path
from unittest.mock import patch

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import segscore
import segscore.passes as passes
from segscore.config import build_config
from segscore.errors import InputError
from segscore.features import money
from segscore.ingest import amount_units, bound_units, parse_iso_timestamps
from segscore.validation import validation_report
from tests.naive import customer_features

BASE = datetime(2025, 3, 1)
MAX_ABS = 10_000_000.0
FAST = {"clustering": {"enabled": False}}

# ---------------------------------------------------------------------------------------------
# strategies

BAD_TS_STRINGS = ["not a date", "2025-13-01", "2025-02-30", "01/03/2025", "", "   ", "20250301"]
BAD_AMOUNTS = [math.nan, math.inf, -math.inf, None, 1e8, -5e9, 1e300]


@st.composite
def rows_strategy(draw, ids):
    n = draw(st.integers(0 if draw(st.integers(0, 9)) == 0 else 4, 25))
    rows = []
    for _ in range(n):
        cid = draw(st.sampled_from(ids))
        if draw(st.integers(0, 9)) == 0:
            cid = None
        ts_kind = draw(st.integers(0, 11))
        if ts_kind == 0:
            ts = None
        elif ts_kind == 1:
            ts = draw(st.sampled_from(BAD_TS_STRINGS))  # only kept in string-ts files
        else:
            ts = BASE + timedelta(microseconds=draw(st.integers(0, 40 * 86_400_000_000)))
        if draw(st.integers(0, 7)) == 0:
            amount = draw(st.sampled_from(BAD_AMOUNTS))
        else:
            amount = draw(st.integers(-50_000, 200_000)) / 100
        rows.append({"customer_id": cid, "order_ts": ts, "amount": amount})
    return rows


@st.composite
def dataset(draw):
    string_ids = draw(st.booleans())
    if string_ids:
        ids = draw(st.lists(st.text(alphabet="ab/=. é😀Z", min_size=0, max_size=4),
                            min_size=1, max_size=8, unique=True))
    else:
        ids = draw(st.lists(st.integers(-2**40, 2**40), min_size=1, max_size=8, unique=True))
    nfiles = draw(st.integers(1, 3))
    files = []
    for _ in range(nfiles):
        kind = draw(st.sampled_from(["ts", "ts_utc", "str"]))
        rows = draw(rows_strategy(ids))
        if kind != "str":  # unparseable strings only exist in string columns
            rows = [r if not isinstance(r["order_ts"], str) else {**r, "order_ts": None}
                    for r in rows]
        returns_only = draw(st.booleans())
        if returns_only:  # a customer whose rows are all returns
            rid = ("ret" if string_ids else 2**50)
            rows.append({"customer_id": rid, "order_ts": BASE + timedelta(days=10),
                         "amount": -12.5})
        files.append((kind, rows))
    as_of = draw(st.one_of(st.none(), st.integers(3, 45).map(
        lambda d: BASE + timedelta(days=d, hours=7))))
    window = draw(st.one_of(st.none(), st.none(), st.integers(1, 40)))
    return string_ids, files, as_of, window


# ---------------------------------------------------------------------------------------------
# writing and the plain-Python reference

def write_file(path: Path, kind: str, rows: list[dict], string_ids: bool) -> None:
    if kind == "str":
        ts_type = pa.string()
        ts_vals = [None if r["order_ts"] is None else
                   r["order_ts"] if isinstance(r["order_ts"], str) else
                   r["order_ts"].isoformat(sep=" " if i % 2 else "T")
                   for i, r in enumerate(rows)]
    else:
        ts_type = pa.timestamp("us", tz="UTC" if kind == "ts_utc" else None)
        ts_vals = [None if r["order_ts"] is None else
                   r["order_ts"].replace(tzinfo=timezone.utc) if kind == "ts_utc" else r["order_ts"]
                   for r in rows]
    table = pa.table({
        "customer_id": pa.array([r["customer_id"] for r in rows],
                                pa.string() if string_ids else pa.int64()),
        "order_ts": pa.array(ts_vals, ts_type),
        "amount": pa.array([r["amount"] for r in rows], pa.float64()),
    })
    pq.write_table(table, path, row_group_size=7)


def classify_row(r: dict, as_of: datetime, window: int | None) -> str:
    ts = r["order_ts"]
    if ts is None or (isinstance(ts, str) and not ts.strip()):
        return "null_timestamp"
    if isinstance(ts, str):
        return "unparseable_timestamp"
    if ts > as_of:
        return "after_as_of"
    if window is not None and ts <= as_of - timedelta(days=window):
        return "outside_window"
    cid = r["customer_id"]
    if cid is None or (isinstance(cid, str) and not cid.strip()):
        return "null_customer_id"
    a = r["amount"]
    if a is None:
        return "null_amount"
    if not math.isfinite(a):
        return "non_finite_amount"
    if abs(a) > MAX_ABS:
        return "amount_out_of_bounds"
    return "used"


def valid(r: dict) -> bool:
    ts, cid, a = r["order_ts"], r["customer_id"], r["amount"]
    return (isinstance(ts, datetime) and cid is not None
            and not (isinstance(cid, str) and not cid.strip())
            and a is not None and math.isfinite(a) and abs(a) <= MAX_ABS)


def default_as_of(files) -> datetime | None:
    stamps = [r["order_ts"] for _, rows in files for r in rows if valid(r)]
    if not stamps:
        return None
    last = max(stamps)
    return datetime(last.year, last.month, last.day, 23, 59, 59, 999999)


def read_dir(path: Path) -> pl.DataFrame | None:
    parts = sorted(path.glob("part-*.parquet"))
    return pl.concat([pl.read_parquet(p) for p in parts]) if parts else None


def read_customers(out: Path) -> pl.DataFrame:
    frames = []
    for part in sorted((out / "customers").glob("segment=*/part-*.parquet")):
        frames.append(pl.read_parquet(part).with_columns(
            pl.lit(part.parent.name.split("=", 1)[1]).alias("segment")))
    return pl.concat(frames, how="diagonal") if frames else pl.DataFrame()


def amount_key(a):
    return None if a is None else repr(float(a))


# ---------------------------------------------------------------------------------------------
# the property

@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=dataset(), batch_rows=st.sampled_from([1, 3, 2_000_000]))
def test_reconciliation_quarantine_and_nothing_lost(tmp_path_factory, data, batch_rows):
    with patch.object(passes, "BATCH_ROWS", batch_rows):  # one row per batch .. one batch
        check_reconciliation(tmp_path_factory, data)


def check_reconciliation(tmp_path_factory, data):
    string_ids, files, as_of_in, window = data
    root = tmp_path_factory.mktemp("q")
    paths = []
    for i, (kind, rows) in enumerate(files):
        p = root / f"f{i}.parquet"
        write_file(p, kind, rows, string_ids)
        paths.append(p)
    out = root / "out"
    config = build_config({**FAST, "scoring": {"window_days": window}} if window else FAST)

    as_of = as_of_in or default_as_of(files)
    expected = [[classify_row(r, as_of, window) for r in rows] for _, rows in files] \
        if as_of else None
    used = [r for (_, rows), st_ in zip(files, expected or []) for r, s in zip(rows, st_)
            if s == "used"]
    naive = customer_features(used, as_of, None) if as_of else {}
    scored = {cid for cid, f in naive.items() if f["scored"]}

    event("refused: nothing to score" if as_of is None or not scored else "scored")
    if as_of is None or not scored:
        with pytest.raises(InputError):
            segscore.run([str(p) for p in paths], out, config=config, as_of=as_of_in)
        assert not out.exists()
        assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []
        return

    result = segscore.run([str(p) for p in paths], out, config=config, as_of=as_of_in)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["as_of"] == as_of.isoformat()

    # reconciliation per file and in total
    total = Counter()
    by_path = {e["path"]: e for e in manifest["inputs"]}
    for p, (_, rows), statuses in zip(paths, files, expected):
        entry = by_path[str(p)]
        want = Counter(statuses)
        total.update(want)
        assert entry["rows_read"] == len(rows)
        assert entry["used"] == want["used"]
        assert entry["after_as_of"] == want["after_as_of"]
        assert entry["outside_window"] == want["outside_window"]
        assert entry["rejected"] == {k: v for k, v in want.items()
                                     if k not in ("used", "after_as_of", "outside_window")}
        assert entry["rows_read"] == entry["used"] + entry["after_as_of"] + \
            entry["outside_window"] + sum(entry["rejected"].values())
    rows_m = manifest["rows"]
    assert rows_m["balanced"] is True
    assert rows_m["read"] == sum(len(r) for _, r in files)
    assert rows_m["used"] == total["used"]
    assert rows_m["rejected_total"] == sum(rows_m["rejected"].values())
    assert rows_m["read"] == rows_m["used"] + rows_m["after_as_of"] + rows_m["outside_window"] \
        + rows_m["rejected_total"]

    # rejected/ holds exactly the rejected rows, with the right reason, source file and row,
    # in input order (the manifest's file order, then the row)
    want_rej = {}
    for p, (_, rows), statuses in zip(paths, files, expected):
        for i, (r, s) in enumerate(zip(rows, statuses)):
            if s not in ("used", "after_as_of", "outside_window"):
                cid = None if r["customer_id"] is None else str(r["customer_id"])
                want_rej[(str(p), i)] = (s, cid, amount_key(r["amount"]))
    rej = read_dir(out / "rejected")
    got_rej = {(row["source_file"], row["source_row"]):
               (row["reason"], row["customer_id"], amount_key(row["amount"]))
               for row in rej.iter_rows(named=True)}
    assert got_rej == want_rej and rej.height == len(want_rej)
    order = [str(Path(f["path"])) for f in manifest["inputs"]]
    located = [(order.index(row["source_file"]), row["source_row"])
               for row in result.rejected.collect().iter_rows(named=True)]
    assert located == sorted(located)
    assert len(located) == len(want_rej)

    # no valid row lost: per-customer features equal the plain-Python ones
    customers = read_customers(out)
    assert customers["customer_id"].n_unique() == customers.height  # exactly once
    got = {row["customer_id"]: row for row in customers.iter_rows(named=True)}
    assert set(got) == scored
    for cid in scored:
        want, row = naive[cid], got[cid]
        assert row["frequency"] == want["frequency"], cid
        assert math.isclose(row["monetary"], want["monetary"], rel_tol=1e-12, abs_tol=1e-9), cid
        assert row["recency_days"] == want["recency_days"], cid
        assert row["tenure_days"] == want["tenure_days"], cid
    unscored = read_dir(out / "unscored")
    unscored_ids = set(unscored["customer_id"].to_list()) if unscored is not None else set()
    assert unscored_ids == {cid for cid, f in naive.items() if not f["scored"]}
    assert manifest["customers"] == {"seen": len(naive), "scored": len(scored),
                                     "not_scored": len(naive) - len(scored)}
    # segment in the path agrees with the in-memory result
    assert sorted(customers["customer_id"].to_list()) == sorted(result.customers["customer_id"].to_list())


# ---------------------------------------------------------------------------------------------
# targeted cases

def _write(path: Path, **cols) -> Path:
    pq.write_table(pa.table(cols), path)
    return path


def test_string_timestamps_mixed_iso_forms_are_parsed_whatever_the_row_order(tmp_path):
    values = ["2025-03-02T10:00:00Z", "2025-03-02 10:00:00", "2025-03-02T12:00:00+02:00",
              "2025-03-02", "2025-03-02T10:00", "garbage", "03/02/2025"]
    for order, vals in (("fwd", values), ("rev", values[::-1])):
        src = _write(tmp_path / f"{order}.parquet", customer_id=pa.array([1] * len(vals)),
                     order_ts=pa.array(vals), amount=pa.array([10.0] * len(vals)))
        res = segscore.run(str(src), None, config=build_config(FAST), as_of="2025-03-05")
        rows = res.manifest["rows"]
        assert rows["used"] == 5, order
        assert rows["rejected"] == {"unparseable_timestamp": 2}, order
        assert res.customers["frequency"].to_list() == [5]


def test_all_rows_rejected_is_a_clear_input_error(tmp_path):
    src = _write(tmp_path / "t.parquet", customer_id=pa.array([None, None], pa.int64()),
                 order_ts=pa.array([datetime(2025, 1, 1)] * 2),
                 amount=pa.array([1.0, 2.0]))
    with pytest.raises(InputError, match="no valid transaction"):
        segscore.run(str(src), tmp_path / "out", config=build_config(FAST))
    assert not (tmp_path / "out").exists()


def test_returns_only_customers_are_listed_not_scored(tmp_path):
    src = _write(tmp_path / "t.parquet", customer_id=pa.array([1, 2, 2, 3]),
                 order_ts=pa.array([datetime(2025, 1, d) for d in (1, 2, 3, 4)]),
                 amount=pa.array([5.0, -3.0, -4.0, 0.0]))
    res = segscore.run(str(src), tmp_path / "out", config=build_config(FAST))
    assert res.customers["customer_id"].to_list() == [1]
    assert sorted(res.unscored["customer_id"].to_list()) == [2, 3]
    assert res.manifest["customers"] == {"seen": 3, "scored": 1, "not_scored": 2}


def test_sub_unit_amount_is_used_but_not_a_purchase(tmp_path):
    """docs/decisions.md: a purchase is round(amount * 10_000) > 0; a row of |amount| < 0.00005
    is used (counted) but is neither purchase nor return, so a customer with only such rows is
    listed in unscored/, never lost."""
    src = _write(tmp_path / "t.parquet", customer_id=pa.array([1, 2]),
                 order_ts=pa.array([datetime(2025, 1, 1), datetime(2025, 1, 2)]),
                 amount=pa.array([0.00001, 10.0]))
    res = segscore.run(str(src), None, config=build_config(FAST))
    assert res.manifest["rows"]["used"] == 2
    assert res.customers["customer_id"].to_list() == [2]
    assert res.unscored["customer_id"].to_list() == [1]


# ---------------------------------------------------------------------------------------------
# exact money from decimal amounts (docs/decisions.md, Exact money)

EXACT = Context(prec=80)  # the default 28 digits would round 38-digit amounts


def _exact_units(v: Decimal) -> int:
    return int(EXACT.multiply(v, 10_000).to_integral_value(rounding=ROUND_HALF_EVEN))


def test_decimal_amounts_are_exact_units_rounded_half_to_even(tmp_path):
    """A decimal amount becomes 1/10,000 units without a float64 in between, rounded half to
    even: 0.00015 is 2 units (through float64 it was 1), 0.00005 is 0 (through float64 it
    was 1: a purchase, so customer 9 was scored). Scales below, at and above 4, in one run
    with a float file, whose rows keep np.rint(amount × 10,000); validate agrees."""
    dec = {1: ["0.00015", "1.00015", "-0.00025"], 2: ["2.00035", "0.00025"],
           3: ["1234.56785", "-0.00015", "7.00005"], 9: ["0.00005", "0.00005"]}
    ids = [c for c, vs in dec.items() for _ in vs]
    values = [Decimal(v) for vs in dec.values() for v in vs]
    n = len(values)
    ts = pa.array([BASE] * n)
    _write(tmp_path / "a.parquet", customer_id=pa.array(ids), order_ts=ts,
           amount=pa.array(values, pa.decimal128(12, 5)))
    _write(tmp_path / "b.parquet", customer_id=pa.array([4, 4, 5]), order_ts=pa.array([BASE] * 3),
           amount=pa.array([Decimal("12.5"), Decimal("-3"), Decimal("1E+3")], pa.decimal128(6, 1)))
    _write(tmp_path / "c.parquet", customer_id=pa.array([6, 6, 1]), order_ts=pa.array([BASE] * 3),
           amount=pa.array([0.00015, 0.1 + 0.2, 2.675]))
    res = segscore.run(str(tmp_path), None, config=build_config(FAST), as_of="2025-03-05")
    want = Counter()
    for c, v in zip(ids, values):
        want[c] += _exact_units(v)
    want[4] += 95_000
    want[5] += 10_000_000
    for c, v in ((6, 0.00015), (6, 0.1 + 0.2), (1, 2.675)):
        want[c] += round(v * 10_000)  # Python's round of the float64 product: np.rint's
    got = dict(zip(*res.customers.select("customer_id", "monetary")))
    assert got == {c: u / 10_000 for c, u in want.items() if c != 9}
    assert res.unscored["customer_id"].to_list() == [9]
    only_halves = _write(tmp_path / "half.parquet", customer_id=pa.array([9]),
                         order_ts=pa.array([BASE]),
                         amount=pa.array([Decimal("0.00005")], pa.decimal128(6, 5)))
    report = validation_report(str(only_halves), build_config(FAST))
    assert [p["message"] for p in report["problems"]] == [
        "no customer has a purchase (amount > 0) in the scoring window ending "
        "2025-03-01T23:59:59.999999: nothing to score"]


def test_decimal_amounts_at_the_bound_are_exact(tmp_path):
    """Under max_abs_amount = 1e12: 999999999999.9999 is summed as 9,999,999,999,999,999
    units and written as the double nearest to it (through float64 it was …9998); amounts
    above the bound whose float64 is the bound are rejected, also 1e12 + 0.00004, whose units
    are the bound's (test_decimal_amounts_are_compared_exactly_with_the_bound). rejected/ has
    no units nor above_bound column."""
    amounts = ["999999999999.99990", "123456789012.34570", "1000000000000.00004",
               "1000000000000.00006", "-1000000000000.00006", "5.00000"]
    _write(tmp_path / "t.parquet", customer_id=pa.array([1, 2, 3, 4, 5, 6]),
           order_ts=pa.array([BASE] * 6),
           amount=pa.array([Decimal(a) for a in amounts], pa.decimal128(18, 5)))
    cfg = build_config({**FAST, "quality": {"max_abs_amount": 1e12}})
    res = segscore.run(str(tmp_path / "t.parquet"), tmp_path / "out", config=cfg,
                       as_of="2025-03-05")
    got = dict(zip(*res.customers.select("customer_id", "monetary")))
    assert got == {1: 999999999999.9999, 2: 123456789012.3457, 6: 5.0}
    assert res.manifest["rows"]["rejected"] == {"amount_out_of_bounds": 3}
    rejected = pq.read_table(tmp_path / "out" / "rejected")
    assert not {"units", "above_bound"} & set(rejected.column_names)
    assert sorted(rejected["customer_id"].to_pylist()) == ["3", "4", "5"]


@pytest.mark.parametrize("bound,amounts,over", [
    (1e12, ["1000000000000", "-1000000000000", "999999999999.999999", "1000000000000.000040",
            "-1000000000000.000001", "1000000000000.000050", "5"], [3, 4, 5]),
    # a fifth decimal place: the decimal bound is 209,862 units, its float64's 209,861
    (20.98615, ["20.98615", "-20.98615", "20.986150", "20.986151", "-20.986151", "1"], [3, 4]),
])
def test_decimal_amounts_are_compared_exactly_with_the_bound(tmp_path, bound, amounts, over):
    """docs/bad-input.md row 9: a decimal amount is compared with quality.max_abs_amount as
    a decimal: one equal to the bound is used, one above it by less than half a 1/10,000 unit
    (whose float64 and units are the bound's) is amount_out_of_bounds, in a run and in
    validate alike; no used amount has more units than the overflow check assumes
    (ingest.bound_units). Decimal(38, 6), the customer id the row's index."""
    src = _write(tmp_path / "t.parquet", customer_id=pa.array(range(len(amounts))),
                 order_ts=pa.array([BASE] * len(amounts)),
                 amount=pa.array([Decimal(a) for a in amounts], pa.decimal128(38, 6)))
    cfg = build_config({**FAST, "quality": {"max_abs_amount": bound}})
    res = segscore.run(str(src), None, config=cfg, as_of="2025-03-05")
    rejected = res.rejected.collect()
    assert sorted(rejected["customer_id"].cast(pl.Int64).to_list()) == over
    assert rejected["reason"].unique().to_list() == ["amount_out_of_bounds"]
    got = dict(zip(*res.customers.select("customer_id", "monetary")))
    assert got == {i: float(round(Decimal(a), 4)) for i, a in enumerate(amounts)
                   if i not in over and Decimal(a) > 0}
    assert max(_exact_units(abs(Decimal(a))) for i, a in enumerate(amounts)
               if i not in over) == bound_units(bound)
    report = validation_report(str(src), cfg, as_of=datetime(2025, 3, 5))
    assert report["rows"] == res.manifest["rows"]


def test_a_bound_with_more_decimal_places_than_a_decimal_can_hold(tmp_path):
    """quality.max_abs_amount = 1e-40 (allowed: positive) has more places than any decimal
    column (38); the exact comparison still holds (polars cannot make a decimal of it: it
    panicked): 0 is within it, 1e-38, the least non-zero Decimal(38, 38), above it."""
    src = _write(tmp_path / "t.parquet", customer_id=pa.array([1, 2]),
                 order_ts=pa.array([BASE] * 2),
                 amount=pa.array([Decimal(0), Decimal("1e-38")], pa.decimal128(38, 38)))
    cfg = build_config({**FAST, "quality": {"max_abs_amount": 1e-40}})
    report = validation_report(str(src), cfg, as_of=datetime(2025, 3, 5))
    assert (report["rows"]["used"], report["rows"]["rejected"]) == (
        1, {"amount_out_of_bounds": 1})


@st.composite
def decimal_columns(draw):
    precision = draw(st.integers(1, 38))
    scale = draw(st.integers(0, precision))
    top = 10**precision - 1
    halves = [(v // 10**(scale - 4)) * 10**(scale - 4) + 5 * 10**(scale - 5)
              for v in draw(st.lists(st.integers(-top // 2, top // 2), max_size=5))] \
        if scale > 4 else []  # exact halves of a unit
    stored = draw(st.lists(st.integers(-top, top), max_size=20)) + halves
    return precision, scale, [Decimal(v).scaleb(-scale, EXACT) for v in stored]


@given(decimal_columns())
def test_decimal_units_are_the_exact_half_to_even_units(column):
    """ingest.amount_units of any decimal: the amount × 10,000 rounded half to even, exactly
    (pins polars' decimal cast, whose rounding its docs do not state), null beyond Int64."""
    precision, scale, values = column
    series = pl.from_arrow(pa.array(values, pa.decimal128(precision, scale)))
    got = pl.DataFrame({"a": series}).select(amount_units(pl.col("a"), "decimal"))["a"]
    want = [_exact_units(v) for v in values]
    assert got.to_list() == [u if -2**63 <= u < 2**63 else None for u in want]


@given(st.lists(st.integers(-2**63 + 1, 2**63 - 1), max_size=50))
def test_money_is_correctly_rounded_beyond_2_to_the_53(units):
    """features.money: the double nearest to units / 10,000 (Python's int division is
    correctly rounded), also where the units are no exact double (numpy's int → float
    conversion first rounded 9,999,999,999,999,999 to 1e16)."""
    units += [2**53 + 1, 9_999_999_999_999_999, -9_999_999_999_999_999]
    got = pl.DataFrame({"u": units}, schema={"u": pl.Int64}).select(money("u"))["u"]
    assert got.to_list() == [u / 10_000 for u in units]


def test_blank_string_ids_of_any_whitespace_are_null_ids(tmp_path):
    """docs/bad-input.md row 6: an all-blank string id (spaces, tabs, newlines) is a
    null_customer_id, not a customer; an id with a non-blank character is one."""
    ids = ["  ", "\t", " \n ", "", " 7 ", "7"]
    src = _write(tmp_path / "t.parquet", customer_id=pa.array(ids),
                 order_ts=pa.array([datetime(2025, 1, 1)] * len(ids)),
                 amount=pa.array([10.0] * len(ids)))
    res = segscore.run(str(src), None, config=build_config(FAST), as_of="2025-01-05")
    assert res.manifest["rows"]["rejected"] == {"null_customer_id": 4}
    assert res.rejected.collect()["source_row"].to_list() == [0, 1, 2, 3]
    assert sorted(res.customers["customer_id"].to_list()) == [" 7 ", "7"]


def test_classification_order_and_counters_on_rows_with_several_faults(tmp_path):
    """docs/bad-input.md: the first matching rule wins, in the order null timestamp, after
    as_of, outside the window, null id, null amount, non-finite amount, out of bounds; each
    counter gets its own rows (three after as_of, two outside the window, so the two
    counters cannot be mixed up); the window's bounds are (as_of − window, as_of]."""
    as_of = datetime(2025, 1, 10, 23, 59, 59, 999999)
    inside, later, early = datetime(2025, 1, 9), datetime(2025, 1, 11), datetime(2025, 1, 1)
    rows = [  # (customer_id, order_ts, amount, expected status)
        (None, None, None, "null_timestamp"),
        (None, later, 5.0, "after_as_of"),
        (1, later, None, "after_as_of"),
        (1, later, math.nan, "after_as_of"),
        (None, early, None, "outside_window"),
        (None, inside, None, "null_customer_id"),
        (None, inside, math.inf, "null_customer_id"),
        (2, inside, None, "null_amount"),
        (2, inside, math.nan, "non_finite_amount"),
        (2, inside, -math.inf, "non_finite_amount"),
        (2, inside, 2e7, "amount_out_of_bounds"),
        (2, inside, 1e7, "used"),  # |amount| = max_abs_amount is not above it
        (3, inside, 4.0, "used"),
        (3, as_of, 1.0, "used"),  # exactly on as_of: inside (as_of − window, as_of]
        (3, as_of - timedelta(days=7), 1.0, "outside_window"),  # exactly on the start
    ]
    src = _write(tmp_path / "t.parquet", customer_id=pa.array([r[0] for r in rows], pa.int64()),
                 order_ts=pa.array([r[1] for r in rows], pa.timestamp("us")),
                 amount=pa.array([r[2] for r in rows], pa.float64()))
    res = segscore.run(str(src), None, as_of=as_of,
                       config=build_config({**FAST, "scoring": {"window_days": 7}}))
    want = Counter(r[3] for r in rows)
    got = res.manifest["rows"]
    assert (got["used"], got["after_as_of"], got["outside_window"]) == (3, 3, 2)
    assert got["rejected"] == {k: n for k, n in want.items()
                               if k not in ("used", "after_as_of", "outside_window")}
    assert got["balanced"] is True
    rejected = res.rejected.collect()
    reasons = dict(zip(rejected["source_row"].to_list(), rejected["reason"].to_list()))
    assert reasons == {i: r[3] for i, r in enumerate(rows)
                       if r[3] not in ("used", "after_as_of", "outside_window")}
    assert sorted(res.customers["customer_id"].to_list()) == [2, 3]


def test_string_timestamp_digits_beyond_the_microsecond_round_up(tmp_path):
    """A string timestamp with a non-zero digit beyond the sixth fractional digit is rounded
    up to the next microsecond, also after zeros (.1234560001), as typed nanosecond
    timestamps and --as-of are; trailing zeros change nothing. With as_of at .123456, the
    rounded-up rows are after it."""
    values = ["2025-03-02T10:00:00.123456", "2025-03-02T10:00:00.1234560",
              "2025-03-02T10:00:00.123456000", "2025-03-02T10:00:00.1234559001",
              "2025-03-02T10:00:00.1234560001", "2025-03-02T10:00:00.1234567",
              "2025-03-02 10:00:00.123456000000009Z"]
    after = [False, False, False, False, True, True, True]
    src = _write(tmp_path / "t.parquet", customer_id=pa.array(range(len(values))),
                 order_ts=pa.array(values), amount=pa.array([10.0] * len(values)))
    res = segscore.run(str(src), None, config=build_config(FAST),
                       as_of="2025-03-02T10:00:00.123456")
    assert res.manifest["rows"]["after_as_of"] == sum(after)
    assert sorted(res.customers["customer_id"].to_list()) == [
        i for i, a in enumerate(after) if not a]


def test_iso_timestamps_in_lower_case_and_with_compact_offsets_are_utc():
    """RFC 3339, the ISO 8601 profile, allows "t" and "z" in lower case; docs/bad-input.md
    lists `Z` and ±hh:mm / ±hhmm offsets, converted to UTC. Every value here is 10:00 UTC."""
    values = ["2025-03-02T10:00:00Z", "2025-03-02t10:00:00z", "2025-03-02T10:00:00z",
              "2025-03-02 10:00:00.000000z", "2025-03-02T10:00z", "2025-03-02T12:00:00+0200",
              "2025-03-02T05:30:00-04:30", "2025-03-02t12:00+02:00"]
    got = pl.DataFrame({"s": values}).select(parse_iso_timestamps(pl.col("s")))["s"]
    assert got.to_list() == [datetime(2025, 3, 2, 10)] * len(values)


def test_iso_timestamp_leniency_is_as_documented():
    """docs/bad-input.md row 3: fields with fewer digits, a leading "+" on the year and a
    second 60 (the next minute) are read, as polars' parser reads them: none is ambiguous.
    An offset of hours only, a decimal comma and ISO's basic, week and ordinal forms are
    not read."""
    read = {"2025-3-2": datetime(2025, 3, 2), "2025-03-02T1:2": datetime(2025, 3, 2, 1, 2),
            "+2025-03-02": datetime(2025, 3, 2),
            "2025-03-02T10:00:60": datetime(2025, 3, 2, 10, 1)}
    not_read = ["2025-03-02T10:00:00+05", "2025-03-02T10:00:00,5", "20250302T1000",
                "2025-W09-7", "2025-061"]
    got = pl.DataFrame({"s": [*read, *not_read]}).select(parse_iso_timestamps(pl.col("s")))
    assert got["s"].to_list() == [*read.values()] + [None] * len(not_read)


def test_float_amounts_beside_a_decimal_file_round_as_in_a_float_only_input(tmp_path):
    """When some file's amount is a decimal, every row carries its units (ingest.amount_units)
    and a float file's rows must get the units a float-only input gives them (np.rint of
    amount × 10,000: half to even). 0.00025 and 0.00045 are 2.5 and 4.5 units: 2 and 4;
    0.00005 is 0.5 units: 0, so a customer with only that row is not scored, in either."""
    floats = dict(customer_id=pa.array([7, 7, 8]), order_ts=pa.array([BASE] * 3),
                  amount=pa.array([0.00025, 0.00045, 0.00005]))
    (tmp_path / "alone").mkdir()
    (tmp_path / "mixed").mkdir()
    _write(tmp_path / "alone" / "f.parquet", **floats)
    _write(tmp_path / "mixed" / "f.parquet", **floats)
    _write(tmp_path / "mixed" / "d.parquet", customer_id=pa.array([1]), order_ts=pa.array([BASE]),
           amount=pa.array([Decimal("1.5")], pa.decimal128(6, 1)))
    for name in ("alone", "mixed"):
        res = segscore.run(str(tmp_path / name), None, config=build_config(FAST),
                           as_of="2025-03-05")
        got = dict(zip(*res.customers.select("customer_id", "monetary")))
        assert got[7] == 0.0006, name
        assert res.unscored["customer_id"].to_list() == [8], name


@pytest.mark.parametrize("partitions,batch_rows", [(1, 2_000_000), (3, 2)])
def test_rejected_rows_are_in_input_order_file_then_row(tmp_path, partitions, batch_rows):
    """docs/output.md: rejected/ lists the unusable rows in input order, file then row,
    whatever the partition passes and batches: the second file's first rows come after the
    first file's later ones."""
    (tmp_path / "in").mkdir()
    _write(tmp_path / "in" / "a.parquet", customer_id=pa.array([1, 2, 3, None, 5, 6]),
           order_ts=pa.array([BASE] * 6), amount=pa.array([1.0, 2.0, 3.0, 4.0, 5.0, None]))
    _write(tmp_path / "in" / "b.parquet", customer_id=pa.array([None, 8, None, 9]),
           order_ts=pa.array([BASE, None, BASE, BASE]), amount=pa.array([1.0, 2.0, 3.0, 4.0]))
    with patch.object(passes, "BATCH_ROWS", batch_rows):
        res = segscore.run(str(tmp_path / "in"), None, config=build_config(FAST),
                           partitions=partitions)
    got = [(Path(f).name, r, reason) for f, r, reason in
           res.rejected.select("source_file", "source_row", "reason").collect().iter_rows()]
    assert got == [("a.parquet", 3, "null_customer_id"), ("a.parquet", 5, "null_amount"),
                   ("b.parquet", 0, "null_customer_id"), ("b.parquet", 1, "null_timestamp"),
                   ("b.parquet", 2, "null_customer_id")]
