"""Hive-partitioned inputs (SPEC §1): a directory name ``<column>=<value>`` supplies the
order_ts, channel or category column of the files below it that lack that column, as
polars, DuckDB and Spark read such datasets."""

from __future__ import annotations

import random
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import segscore
from segscore.config import build_config
from segscore.schema import HIVE_NULL
from segscore.validation import format_report, validation_report

CHANNELS = ["web", "in store", "app/ios", None]


def make_rows(n: int = 2400, seed: int = 3) -> list[dict]:
    rnd = random.Random(seed)
    return [{"customer_id": rnd.randint(1, 300), "day": rnd.randint(1, 28),
             "amount": round(rnd.uniform(-30, 250), 2), "channel": rnd.choice(CHANNELS),
             "category": rnd.choice(["shoes", "bags"])} for _ in range(n)]


def write(path: Path, rows: list[dict], *, ts: str | None = "order_ts",
          extra: tuple[str, ...] = ()) -> Path:
    """rows as Parquet: customer_id, the timestamp (``ts``: a timestamp column "order_ts", a
    date column "order_date", or None), amount and the ``extra`` columns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = {"customer_id": pa.array([r["customer_id"] for r in rows], pa.int64())}
    if ts == "order_ts":
        cols[ts] = pa.array([datetime(2025, 1, r["day"], 10) for r in rows], pa.timestamp("us"))
    elif ts == "order_date":
        cols[ts] = pa.array([date(2025, 1, r["day"]) for r in rows], pa.date32())
    cols["amount"] = pa.array([r["amount"] for r in rows], pa.float64())
    for c in extra:
        cols[c] = pa.array([r[c] for r in rows], pa.string())
    pq.write_table(pa.table(cols), path)
    return path


def customers(source, config=None) -> pl.DataFrame:
    res = segscore.run(source, config=config or build_config({}), as_of="2025-01-31")
    return res.customers.sort("customer_id")


def split(rows: list[dict], key: str) -> dict:
    groups: dict = {}
    for r in rows:
        groups.setdefault(r[key], []).append(r)
    return groups


def test_channel_from_the_path_equals_the_channel_column(tmp_path):
    """channel=<value>/ directories (percent-encoded, Spark's null name) give the same
    customers, shares and scores as the same rows with a channel column; validate agrees."""
    rows = make_rows()
    flat = write(tmp_path / "flat" / "t.parquet", rows, extra=("channel", "category"))
    for ch, part in split(rows, "channel").items():
        name = HIVE_NULL if ch is None else quote(ch, safe="")
        write(tmp_path / "hive" / f"channel={name}" / "part-0.parquet", part,
              extra=("category",))
    want, got = customers(flat), customers(tmp_path / "hive")
    assert {"share_web", "share_in_store", "share_app_ios"} <= set(got.columns)
    assert got.equals(want)
    report = validation_report(tmp_path / "hive", as_of=datetime(2025, 1, 31, 23, 59, 59))
    assert report["ok"], report["problems"]
    assert report["rows"]["used"] == len(rows)
    assert sorted(f["from_path"]["channel"] or "" for f in report["files"]) == \
        sorted(ch or "" for ch in CHANNELS)
    text = format_report(report)
    assert "channel = 'in store' from the path" in text
    assert "channel = null from the path" in text


def test_order_date_from_the_path_equals_a_date_column(tmp_path):
    """order_ts mapped to a column that lives only in the path (order_date=2025-01-05/):
    every row of a file gets that date, as a date column holding it would; a value that is
    no date is unparseable_timestamp with the value kept."""
    rows = make_rows()
    config = build_config({"columns": {"order_ts": "order_date"}})
    flat = write(tmp_path / "flat" / "t.parquet", rows, ts="order_date")
    for day, part in split(rows, "day").items():
        write(tmp_path / "hive" / f"order_date=2025-01-{day:02d}" / "p.parquet", part, ts=None)
    bad = write(tmp_path / "hive" / "order_date=someday" / "p.parquet", rows[:5], ts=None)
    want = customers(flat, config)
    res = segscore.run(tmp_path / "hive", config=config, as_of="2025-01-31")
    assert res.customers.sort("customer_id").equals(want)
    rejected = res.rejected.collect()
    assert rejected.height == 5
    assert set(rejected["reason"]) == {"unparseable_timestamp"}
    assert set(rejected["order_ts_raw"]) == {"someday"}
    assert set(rejected["source_file"]) == {str(bad.resolve())}


def test_the_files_own_column_wins_and_other_keys_are_ignored(tmp_path):
    """A file that has the column keeps its values whatever its directory says; a key that
    names no order_ts / channel / category column (store=, customer_id=) is not read."""
    rows = make_rows(600)
    flat = write(tmp_path / "flat" / "t.parquet", rows, extra=("channel",))
    write(tmp_path / "hive" / "store=12" / "channel=web" / "customer_id=5" / "t.parquet", rows,
          extra=("channel",))
    assert customers(tmp_path / "hive").equals(customers(flat))


@pytest.mark.parametrize("role", ["channel", "category"])
def test_a_path_value_alone_makes_the_column_present(tmp_path, role):
    """With the column only in some files' paths, the files without it read null (as a file
    without the column always has): the rows are used and counted either way."""
    rows = make_rows(900)
    write(tmp_path / "in" / f"{role}=bags" / "a.parquet", rows[:450])
    write(tmp_path / "in" / "b.parquet", rows[450:])
    res = segscore.run(tmp_path / "in", as_of="2025-01-31")
    assert res.manifest["rows"]["used"] == len(rows)
    if role == "channel":
        assert "share_bags" in res.customers.columns
    else:
        assert res.customers["distinct_categories"].max() == 1


def test_the_path_values_do_not_depend_on_how_the_path_is_spelled(tmp_path, monkeypatch):
    """The same file named from inside its channel=web/ directory, by its full path or
    through a symlinked directory without the key: the same channel (the names are read
    from the resolved path; a relative name lost the value)."""
    rows = make_rows(600)
    data = write(tmp_path / "hive" / "channel=web" / "part-0.parquet", rows)
    (tmp_path / "alias").symlink_to(data.parent)
    want = customers(data)
    assert "share_web" in want.columns
    assert customers(tmp_path / "alias" / "part-0.parquet").equals(want)
    monkeypatch.chdir(data.parent)
    assert customers(Path("part-0.parquet")).equals(want)
