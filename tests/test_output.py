"""The partitioned customers writer: layout, part sizes, row order and the file list."""

import polars as pl
import pytest

from segscore import output
from segscore.output import write_partitioned

KEYS = ["champions", "at_risk", "lost", "others"]


def _table(n: int) -> pl.DataFrame:
    segment = [KEYS[(i * 7) % 3] for i in range(n)]  # "others" never occurs
    return pl.DataFrame({
        "customer_id": list(range(n, 0, -1)),  # descending: the files must keep table order
        "monetary": [i / 3 for i in range(n)],
        "segment": pl.Series(segment, dtype=pl.Enum(KEYS)),
    })


@pytest.mark.parametrize("rows_per_part", [1, 4, 1000])
def test_parts_hold_each_segment_in_table_order(tmp_path, monkeypatch, rows_per_part):
    monkeypatch.setattr(output, "ROWS_PER_PART", rows_per_part)
    table = _table(23)
    files = write_partitioned(table, KEYS, tmp_path)

    # the list: keys order, then part order, every row once, nothing else on disk
    assert sum(f["rows"] for f in files) == table.height
    on_disk = sorted(str(p) for p in tmp_path.rglob("*.parquet"))
    assert sorted(f["path"] for f in files) == on_disk
    segments = [f["path"].split("segment=")[1].split("/")[0] for f in files]
    assert segments == sorted(segments, key=KEYS.index)
    assert "others" not in segments
    for key in KEYS[:3]:
        parts = [f for f in files if f"segment={key}/" in f["path"]]
        names = [f["path"].rsplit("/", 1)[1] for f in parts]
        assert names == [f"part-{i:05d}.parquet" for i in range(len(parts))]
        assert all(0 < f["rows"] <= rows_per_part for f in parts)
        read = pl.concat([pl.read_parquet(f["path"]) for f in parts])
        assert read.columns == ["customer_id", "monetary"]  # segment lives in the path
        assert [pl.read_parquet(f["path"]).height for f in parts] == [f["rows"] for f in parts]
        expected = table.filter(pl.col("segment") == key).drop("segment")
        assert read.equals(expected)


def test_hive_read_back_restores_segment(tmp_path):
    table = _table(50)
    write_partitioned(table, KEYS, tmp_path)
    back = pl.read_parquet(tmp_path, hive_partitioning=True)
    assert back.sort("customer_id").select(
        "customer_id", pl.col("segment").cast(pl.String)).equals(
        table.sort("customer_id").select("customer_id", pl.col("segment").cast(pl.String)))


@pytest.mark.parametrize("rows,cuts", [(23, []), (23, [0, 0, 4]), (23, [1, 5, 5, 9, 22]),
                                       (23, list(range(23))), (0, []),
                                       (300_001, [150_000])])
def test_part_writer_writes_the_files_of_the_whole_table_whatever_the_pieces(
        tmp_path, monkeypatch, rows, cuts):
    """PartWriter (rejected/, which arrives batch by batch) writes the parts write_table
    writes for the whole table, byte for byte: the same names, rows per part and bytes, one
    part of 0 rows for no row. 300,001 rows in two pieces: polars splits a table of two
    chunks into other row groups than one of a single chunk."""
    from segscore.output import PartWriter, write_table

    if rows < 100:
        monkeypatch.setattr(output, "ROWS_PER_PART", 4)
    table = pl.DataFrame({"id": range(rows), "name": [f"c{i % 7}" for i in range(rows)]})
    whole = write_table(table, tmp_path / "whole")
    writer = PartWriter(tmp_path / "pieces")
    for start, end in zip([0] + cuts, cuts + [rows]):
        writer.add(table.slice(start, end - start))
    pieces = writer.close(table.head(0))
    assert [f["rows"] for f in pieces] == [f["rows"] for f in whole]
    assert [p.name for p in sorted((tmp_path / "pieces").iterdir())] == \
        [f"part-{i:05d}.parquet" for i in range(len(whole))]
    for a, b in zip(whole, pieces):
        assert open(a["path"], "rb").read() == open(b["path"], "rb").read()
    if rows == 23:
        assert [f["rows"] for f in pieces] == [4] * 5 + [3]
    if rows == 0:
        assert pieces[0]["rows"] == 0
        assert pl.read_parquet(pieces[0]["path"]).columns == ["id", "name"]
