"""The report's --previous and --customers sections: ids of the other type are cast (or
refused up front when the footers already show they cannot be), paths are absolute, shares
over an empty segment are null, migration keys keep each run's order and names, duration
medians are ISO 8601 (docs/report.md, attributes and migration)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from click.testing import CliRunner

import segscore
from segscore.cli import main
from segscore.config import build_config
from segscore.errors import InputError
from segscore.report import build_report, check_report_inputs
from segscore.report.migration import migration_report
from segscore_datasets import generate_transactions

CFG = {"clustering": {"enabled": False}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Last night's output (integer ids, as of 2026-03-31) and tonight's run (without the
    first file: some customers disappear, some are new)."""
    root = tmp_path_factory.mktemp("sections")
    gen = generate_transactions(root / "data", 1500, seed=5)
    files = sorted(gen.files)
    cfg = build_config(CFG)
    segscore.run(files, root / "prev", as_of="2026-03-31", config=cfg)
    tonight = segscore.run(files[1:], None, config=cfg)
    return {"root": root, "files": files, "cfg": cfg, "prev": root / "prev",
            "tonight": tonight, "attrs": gen.attributes_path}


def _rewrite_previous_ids(src: Path, dst: Path, fn) -> Path:
    """A copy of the output ``src`` at ``dst`` with fn(customer_id column, file index) as
    its customers' ids (pyarrow, so the files keep their hive layout)."""
    shutil.copytree(src, dst)
    for i, f in enumerate(sorted((dst / "customers").rglob("*.parquet"))):
        t = pq.read_table(f)
        t = t.set_column(t.schema.get_field_index("customer_id"), "customer_id",
                         fn(t.column("customer_id"), i))
        pq.write_table(t, f)
    return dst


def _snapshot(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def _refused(result, *needles):
    text = " ".join(result.output.split())
    assert result.exit_code == 2, text
    assert "Traceback" not in text
    for needle in needles:
        assert needle in text, (needle, text)


# --- defect 1: previous ids of the other type ------------------------------------------------

def test_previous_numeric_string_ids_are_cast_to_tonight_integers(runs, tmp_path):
    """Last night's ids written as numeric strings (one with surrounding blanks, as the
    attributes' are stripped) give the same migration as the integer ids (merge path)."""
    def as_text(col, i):
        s = pc.cast(col, pa.string())
        return pa.array([f" {v} " if i == 0 and k == 0 else v
                         for k, v in enumerate(s.to_pylist())], pa.string())

    p_str = _rewrite_previous_ids(runs["prev"], tmp_path / "p_str", as_text)
    tonight, cfg = runs["tonight"].customers, runs["cfg"]
    check_report_inputs(cfg, previous_dir=p_str, id_dtype=pl.Int64)  # accepted up front
    want, want_table = migration_report(tonight, runs["prev"], cfg)
    got, got_table = migration_report(tonight, p_str, cfg)
    assert got_table["customer_id"].dtype == pl.Int64
    assert got_table.equals(want_table)
    assert {k: v for k, v in got.items() if k != "previous_dir"} == \
        {k: v for k, v in want.items() if k != "previous_dir"}
    assert got["segments"]["stayed"] > 0 and got["segments"]["disappeared"] > 0


def test_previous_integer_ids_are_cast_to_tonight_strings(runs):
    """Tonight's ids are strings, last night's integers: the integers are cast to strings
    (as the attributes' are), so "123" tonight is 123 last night."""
    tonight, cfg = runs["tonight"].customers, runs["cfg"]
    want, want_table = migration_report(tonight, runs["prev"], cfg)
    text = tonight.with_columns(pl.col("customer_id").cast(pl.String)).sort("customer_id")
    check_report_inputs(cfg, previous_dir=runs["prev"], id_dtype=pl.String)
    got, got_table = migration_report(text, runs["prev"], cfg)
    for dim in ("segments", "value_tiers", "lifecycle_stages"):
        assert got[dim] == want[dim]
    assert got_table["customer_id"].dtype == pl.String
    assert got_table.equals(want_table.with_columns(pl.col("customer_id").cast(pl.String))
                            .sort("customer_id"))


@pytest.mark.parametrize("kind", ["letters", "float"])
def test_previous_ids_that_cannot_be_cast_are_refused_before_the_row_pass(runs, tmp_path,
                                                                          kind):
    """Ids the footers show cannot be tonight's (text ids by their statistics, a float
    column by its dtype): exit 2 naming the file and column, in the discover stage; nothing
    written, last night's output untouched."""
    fn = {"letters": lambda col, i: pc.binary_join_element_wise(
              "C", pc.cast(col, pa.string()), ""),
          "float": lambda col, i: pc.cast(col, pa.float64())}[kind]
    prev = _rewrite_previous_ids(runs["prev"], tmp_path / "p_bad", fn)
    before = _snapshot(prev)
    cfg = runs["cfg"]
    need = {"letters": ["previous customers' id column 'customer_id' (String) holds ids that "
                        "are not integers", "min 'C"],
            "float": ["previous customers' id column 'customer_id' has dtype Float64"]}[kind]
    with pytest.raises(InputError) as err:
        check_report_inputs(cfg, previous_dir=prev, id_dtype=pl.Int64)
    assert str(prev / "customers") in str(err.value)
    for needle in need:
        assert needle in str(err.value)
    check_report_inputs(cfg, previous_dir=prev)  # tonight's id type unknown: not checked
    stages = []
    with pytest.raises(InputError):
        segscore.run(runs["files"][1:], tmp_path / "o", config=cfg, previous=prev,
                     on_stage=lambda name, event: stages.append((name, event)))
    assert stages == [("discover", "start"), ("discover", "failed")]
    result = CliRunner(env={"COLUMNS": "400"}).invoke(
        main, ["run", *map(str, runs["files"][1:]), "--out", str(tmp_path / "o"), "--quiet",
               "--k", "off", "--previous", str(prev)], catch_exceptions=False)
    _refused(result, str(prev / "customers"), *need)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p_bad"]
    assert _snapshot(prev) == before


def test_previous_output_with_an_unreadable_part_is_refused_naming_it(runs, tmp_path):
    """A part file of last night's customers/ that is not Parquet (its first file's schema is
    fine): exit 2 naming that file in the discover stage, not an internal error."""
    prev = tmp_path / "p_corrupt"
    shutil.copytree(runs["prev"], prev)
    bad = sorted((prev / "customers").rglob("*.parquet"))[-1]
    bad.write_bytes(b"not parquet" * 10)
    result = CliRunner(env={"COLUMNS": "400"}).invoke(
        main, ["run", *map(str, runs["files"][1:]), "--out", str(tmp_path / "o"), "--quiet",
               "--k", "off", "--previous", str(prev)], catch_exceptions=False)
    _refused(result, str(bad), "not a readable Parquet file")
    assert not (tmp_path / "o").exists()


def test_previous_ids_that_do_not_convert_are_named(runs, tmp_path):
    """An id the statistics cannot show ("12x" sorts among the numbers) is refused when the
    rows are read: exit 2 naming the file, column and ids, nothing written."""
    def one_bad(col, i):
        ids = pc.cast(col, pa.string()).to_pylist()
        if i == 0:
            ids[0] = "12x"
        return pa.array(ids, pa.string())

    prev = _rewrite_previous_ids(runs["prev"], tmp_path / "p_bad", one_bad)
    before = _snapshot(prev)
    cfg = runs["cfg"]
    check_report_inputs(cfg, previous_dir=prev, id_dtype=pl.Int64)  # footers look fine
    need = (str(prev / "customers"), "previous customers' id column 'customer_id' (String) "
            "has 1 id(s) that cannot be cast to tonight's customer ids (Int64) (e.g. '12x')")
    with pytest.raises(InputError) as err:
        migration_report(runs["tonight"].customers, prev, cfg)
    assert all(n in str(err.value) for n in need), str(err.value)
    result = CliRunner(env={"COLUMNS": "400"}).invoke(
        main, ["run", *map(str, runs["files"][1:]), "--out", str(tmp_path / "o"), "--quiet",
               "--k", "off", "--previous", str(prev)], catch_exceptions=False)
    _refused(result, *need)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p_bad"]
    assert _snapshot(prev) == before


def test_attribute_ids_that_cannot_be_cast_are_refused_up_front(runs, tmp_path):
    attrs = pl.read_parquet(runs["attrs"])
    text = tmp_path / "text.parquet"
    attrs.with_columns(pl.format("C{}", pl.col("customer_id")).alias("customer_id")) \
        .write_parquet(text)
    flt = tmp_path / "float.parquet"
    attrs.with_columns(pl.col("customer_id").cast(pl.Float64)).write_parquet(flt)
    num = tmp_path / "num.parquet"
    attrs.with_columns(pl.col("customer_id").cast(pl.String)).write_parquet(num)
    cfg = runs["cfg"]
    with pytest.raises(InputError, match=r"text\.parquet: customer id column 'customer_id' "
                                         r"\(String\) holds ids that are not integers"):
        check_report_inputs(cfg, attributes_path=text, id_dtype=pl.Int64)
    with pytest.raises(InputError, match=r"float\.parquet: .*'customer_id' has dtype Float64"):
        check_report_inputs(cfg, attributes_path=flt, id_dtype=pl.Int64)
    check_report_inputs(cfg, attributes_path=num, id_dtype=pl.Int64)
    check_report_inputs(cfg, attributes_path=text, id_dtype=pl.String)
    stages = []
    with pytest.raises(InputError, match=r"text\.parquet"):
        segscore.run(runs["files"][1:], tmp_path / "o", config=cfg, attributes=text,
                     on_stage=lambda name, event: stages.append((name, event)))
    assert stages == [("discover", "start"), ("discover", "failed")] and not (tmp_path / "o").exists()


# --- defect 2: absolute paths ----------------------------------------------------------------

def test_report_paths_are_absolute_and_resolved_as_in_the_manifest(runs, tmp_path,
                                                                  monkeypatch):
    """Given relative paths (through a symlink), report.json stores the absolute resolved
    paths, as manifest.json does."""
    (tmp_path / "link").symlink_to(runs["root"], target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    attrs = Path("link") / runs["attrs"].relative_to(runs["root"])
    res = segscore.run(runs["files"][1:], "out", config=runs["cfg"],
                       previous=Path("link/prev"), attributes=attrs)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text("utf-8"))
    report = json.loads((tmp_path / "out" / "report" / "report.json").read_text("utf-8"))
    assert report["migration"]["previous_dir"] == str(runs["prev"].resolve()) == \
        manifest["report_inputs"]["previous"]["path"]
    assert report["attributes"]["path"] == str(runs["attrs"].resolve()) == \
        manifest["report_inputs"]["attributes"]["path"]
    assert res.report["migration"]["previous_dir"] == report["migration"]["previous_dir"]


# --- defect 3: shares over an empty segment --------------------------------------------------

def test_attribute_shares_over_an_empty_segment_are_null_and_the_page_renders(runs):
    """A configured segment nobody is in tonight: its breakdowns list every value with
    customers 0 and share null (statistics over an empty set are null), its medians null;
    the page shows blank cells for it."""
    from segscore.report import render_html
    from segscore.report.attributes import attribute_breakdowns

    res, cfg = runs["tonight"], runs["cfg"]
    sizes = res.customers["segment"].cast(pl.String).value_counts()
    gone = sizes.sort("count", descending=True)["segment"][0]
    section = attribute_breakdowns(
        res.customers.filter(pl.col("segment").cast(pl.String) != gone), runs["attrs"], cfg)
    empty = section["by_segment"][gone]
    assert empty["customers"] == 0 and empty["without_attributes"] == 0
    assert set(empty["median"]) == {"signup_date"}
    assert empty["median"] == {"signup_date": None}
    for rows in empty["categorical"].values():
        assert rows and all(r["customers"] == 0 and r["share"] is None for r in rows)
    others = [e for k, e in section["by_segment"].items() if e["customers"]]
    assert all(r["share"] is not None for e in others for rows in e["categorical"].values()
               for r in rows)
    report, _ = build_report(res, cfg)
    report["attributes"] = json.loads(json.dumps(section))
    html = render_html(report)
    name = next(r.name for r in cfg.segments.rules if r.key == gone)
    row = next(t for t in html.split("<tr>") if t.startswith(f'<td class="text">{name}</td>')
               and 'title="0 customers"' in t)
    assert "%" not in row and 'data-v=""' in row


# --- defect 4: keys and names of both runs ---------------------------------------------------

def test_migration_keys_keep_each_runs_order_and_names(runs, tmp_path):
    """Last night's table had other segments (vip before gold) and other names for two keys
    tonight's has: tonight's keys in tonight's order, then vip, gold in last night's order;
    tonight's names shown, last night's carried in row_previous_names where they differ."""
    prev_cfg = build_config({**CFG, "segments": {"rules": [
        {"key": "vip", "name": "VIP", "r": [5, 5], "f": [4, 5]},
        {"key": "gold", "name": "Gold", "r": [4, 5]},
        {"key": "champions", "name": "Top customers", "r": [3, 3]},
        {"key": "others", "name": "Everyone else"}]}})
    segscore.run(runs["files"], tmp_path / "p", as_of="2026-03-31", config=prev_cfg)
    cfg = runs["cfg"]
    section, table = migration_report(runs["tonight"].customers, tmp_path / "p", cfg)
    m = section["segments"]
    tonight_keys = [r.key for r in cfg.segments.rules]
    assert m["rows"] == tonight_keys + ["vip", "gold", None]
    assert m["columns"] == tonight_keys + [None]
    names = {r.key: r.name for r in cfg.segments.rules}
    assert m["row_names"] == [names[k] for k in tonight_keys] + ["VIP", "Gold", "(new)"]
    assert m["column_names"] == [names[k] for k in tonight_keys] + ["(disappeared)"]
    renamed = {k: n for k, n in zip(m["rows"], m["row_previous_names"]) if n is not None}
    assert renamed == {"champions": "Top customers", "others": "Everyone else"}
    assert len(m["row_previous_names"]) == len(m["rows"])
    assert all(m["previous_sizes"][k] > 0 for k in ("vip", "gold", "champions", "others"))
    assert table["previous_segment"].dtype == pl.Enum(tonight_keys + ["vip", "gold"])
    # the other dimensions had the same tables both nights: nothing renamed
    for dim in ("value_tiers", "lifecycle_stages"):
        assert set(section[dim]["row_previous_names"]) == {None}


def test_a_key_only_last_nights_config_had_and_nobody_was_in_is_not_listed(tmp_path):
    """A segment last night's table had (``ghost``) but no customer was in, in neither run,
    is no row or column of the matrix and no category of migration.parquet's Enum: only
    the keys seen in either run that tonight's config lacks are added (``rest``)."""
    from datetime import datetime

    pl.DataFrame({"customer_id": [1, 2, 3], "order_ts": [datetime(2026, 3, 30)] * 3,
                  "amount": [10.0, 20.0, 30.0]}).write_parquet(tmp_path / "t.parquet")
    # every customer bought on the same day: r_score 5 for all, so ``ghost`` (r = 1) is empty
    prev_cfg = build_config({**CFG, "segments": {"rules": [
        {"key": "ghost", "name": "Ghost", "r": [1, 1]}, {"key": "rest", "name": "Rest"}]}})
    segscore.run(tmp_path / "t.parquet", tmp_path / "p", as_of="2026-03-31", config=prev_cfg)
    cfg = build_config(CFG)
    tonight = segscore.run(tmp_path / "t.parquet", None, as_of="2026-03-31", config=cfg)
    section, table = migration_report(tonight.customers, tmp_path / "p", cfg)
    keys = [r.key for r in cfg.segments.rules]
    m = section["segments"]
    assert m["rows"] == keys + ["rest", None] and m["columns"] == keys + [None]
    assert m["previous_sizes"]["rest"] == 3 and "ghost" not in m["previous_sizes"]
    assert table["previous_segment"].dtype == pl.Enum(keys + ["rest"])
    assert table["previous_segment"].cast(pl.String).to_list() == ["rest"] * 3


# --- defect 5: duration medians --------------------------------------------------------------

_ISO_DURATION = (r"^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def _parse_iso_duration(text: str):
    import re
    from datetime import timedelta

    m = re.match(_ISO_DURATION, text)
    assert m and text not in ("P", "-P") and not text.endswith("T"), text
    sign, d, h, mi, sec = m.groups()
    td = timedelta(days=int(d or 0), hours=int(h or 0), minutes=int(mi or 0),
                   seconds=float(sec or 0))
    return -td if sign else td


@pytest.mark.parametrize("unit", ["us", "ms", "ns"])
def test_duration_medians_are_iso_8601(runs, tmp_path, unit):
    """Per segment and overall, a duration attribute's median is an ISO 8601 duration
    (not Python's "1 day, 2:00:00"), equal to the median of the segment's values."""
    from datetime import timedelta

    from segscore.report.attributes import attribute_breakdowns

    attrs = pl.read_parquet(runs["attrs"]).with_columns(
        (pl.duration(hours=pl.col("customer_id") % 97 - 20, seconds=pl.col("customer_id") % 7)
         .cast(pl.Duration(unit))).alias("wait"),
        (pl.duration(seconds=pl.col("customer_id") % 61 * 1e6, time_unit="us")
         .cast(pl.Duration(unit))).alias("long_wait"))
    path = tmp_path / "attrs.parquet"
    attrs.write_parquet(path)
    res, cfg = runs["tonight"], runs["cfg"]
    section = attribute_breakdowns(res.customers, path, cfg)
    assert {c["name"]: c["kind"] for c in section["columns"]}["wait"] == "duration"
    joined = res.customers.select("customer_id", pl.col("segment").cast(pl.String)).join(
        attrs, on="customer_id", how="inner")
    groups = {k: g for (k,), g in joined.group_by("segment")}
    to_us = {"us": 1, "ms": 1000, "ns": 1e-3}[unit]

    def median_us(values: pl.Series) -> float:  # the median of the stored integers, rounded
        return round(values.to_physical().median()) * to_us

    seen_days = False
    for col in ("wait", "long_wait"):
        for seg, entry in section["by_segment"].items():
            got = entry["median"][col]
            if seg not in groups:
                assert got is None
                continue
            assert _parse_iso_duration(got) / timedelta(microseconds=1) == pytest.approx(
                median_us(groups[seg][col]), abs=1), (seg, col, got)
            seen_days |= "D" in got
        got = section["overall"]["median"][col]
        assert _parse_iso_duration(got) / timedelta(microseconds=1) == pytest.approx(
            median_us(joined[col]), abs=1), (col, got)
    assert seen_days  # a median of more than a day: "P…D…", not "1 day, …"
    assert not any("day" in str(v) for e in section["by_segment"].values()
                   for v in e["median"].values())


def test_decimal_and_wide_uint64_attribute_medians(runs, tmp_path):
    """A decimal attribute's median is the median of its values (not of the scaled integers
    polars stores, not an internal error); a uint64 attribute beyond int64 gets its median
    too (the histogram path, which keys int64, is skipped for it)."""
    from decimal import Decimal

    from segscore.report.attributes import attribute_breakdowns

    ids = pl.read_parquet(runs["attrs"], columns=["customer_id"])["customer_id"]
    n = ids.len()
    path = tmp_path / "attrs.parquet"
    pq.write_table(pa.table({
        "customer_id": ids.to_arrow(),
        "credit": pa.array([Decimal("1.50")] * n, pa.decimal128(9, 2)),
        "huge": pa.array([2**64 - 1] * n, pa.uint64())}), path)
    section = attribute_breakdowns(runs["tonight"].customers, path, runs["cfg"])
    assert {c["name"]: c["kind"] for c in section["columns"]} == {"credit": "numeric",
                                                                  "huge": "numeric"}
    assert section["overall"]["median"] == {"credit": 1.5, "huge": float(2**64 - 1)}
    assert {e["median"]["credit"] for e in section["by_segment"].values()
            if e["customers"]} == {1.5}


@pytest.mark.parametrize("extra", [{}, {"tags": pa.array([[1]] * 3)}])
def test_attributes_without_a_usable_column_give_the_counts(runs, tmp_path, extra):
    """An attributes file with only the id (or only columns of types the section ignores)
    gives the section's counts, no columns and the ignored ones listed; the run does not
    fail."""
    from segscore.report.attributes import attribute_breakdowns

    customers = runs["tonight"].customers
    ids = customers["customer_id"].head(3).to_list()
    path = tmp_path / "attrs.parquet"
    pq.write_table(pa.table({"customer_id": pa.array(ids), **extra}), path)
    section = attribute_breakdowns(customers, path, runs["cfg"])
    assert section["columns"] == []
    assert [c["name"] for c in section["ignored_columns"]] == list(extra)
    assert section["matched"] == 3
    assert section["scored_without_attributes"] == customers.height - 3


# --- final audit: attribute files the report section could not read ------------------------

def _corrupt_column(path, column: str) -> None:
    """Overwrite the middle of ``column``'s first data page with garbage (other columns
    stay readable)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata.row_group(0)
    chunk = next(meta.column(i) for i in range(meta.num_columns)
                 if meta.column(i).path_in_schema == column)
    start = chunk.data_page_offset
    with open(path, "r+b") as f:
        f.seek(start + 8)
        f.write(b"\xff" * 24)


def test_attribute_file_problems_are_named(runs, tmp_path):
    """A decimal wider than 38 digits (which polars cannot read) is left out like other
    unusable types; a corrupt attribute column is named, not blamed on the ids; string ids
    that do not cast to the integer ids are counted over the whole file."""
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    from segscore.report.attributes import attribute_breakdowns

    res, cfg = runs["tonight"], runs["cfg"]
    ids = res.customers["customer_id"].head(3000)
    table = pa.table({"customer_id": ids.to_arrow(),
                      "big": pa.array([decimal.Decimal(i) for i in range(ids.len())],
                                      type=pa.decimal256(40, 1)),
                      "age": pa.array([float(i % 90) for i in range(ids.len())])})
    wide = tmp_path / "wide.parquet"
    pq.write_table(table, wide)
    section = attribute_breakdowns(res.customers, wide, cfg)
    assert [c["name"] for c in section["columns"]] == ["age"]
    assert [c["name"] for c in section["ignored_columns"]] == ["big"]

    broken = tmp_path / "broken.parquet"
    pq.write_table(table.drop(["big"]), broken, compression="none", use_dictionary=False)
    _corrupt_column(broken, "age")
    with pytest.raises(InputError, match=r"broken\.parquet: cannot read customer attribute "
                                         r"column 'age'"):
        attribute_breakdowns(res.customers, broken, cfg)

    text = ids.cast(pl.String).to_list()
    n = ids.len()
    for i in (10, n // 3, 2 * n // 3, n - 1):
        text[i] += "x"
    odd = tmp_path / "odd.parquet"
    pl.DataFrame({"customer_id": text, "age": table["age"].to_pylist()}).write_parquet(
        odd, row_group_size=n // 3)
    with pytest.raises(InputError, match=r"odd\.parquet: customer id column 'customer_id' "
                                         r"\(String\) has 4 id\(s\) that cannot be cast"):
        attribute_breakdowns(res.customers, odd, cfg)


BLANKS = ["", " ", "\t", "  \n", "\u00a0", "\u3000"]


def test_blank_string_attribute_ids_count_as_null_ids(runs, tmp_path):
    """Blank string ids in the attributes file ("" or whitespace only, Unicode included) are
    null ids, as blank transaction ids are: counted in rows_with_null_id, not "not scored",
    and several of them are not duplicates."""
    from segscore.report.attributes import attribute_breakdowns

    customers = runs["tonight"].customers.with_columns(
        pl.format("C{}", pl.col("customer_id")).alias("customer_id")).sort("customer_id")
    ids = customers["customer_id"].head(5).to_list()
    path = tmp_path / "attrs.parquet"
    pl.DataFrame({"customer_id": ids + BLANKS + ["nobody"],
                  "region": ["north"] * (len(ids) + len(BLANKS) + 1)}).write_parquet(path)
    section = attribute_breakdowns(customers, path, runs["cfg"])
    assert section["rows"] == len(ids) + len(BLANKS) + 1
    assert section["rows_with_null_id"] == len(BLANKS)
    assert section["matched"] == len(ids)
    assert section["attributes_not_scored"] == 1  # "nobody"


@given(st.lists(st.one_of(st.none(), st.sampled_from(BLANKS + ["C1", " C1", "C1 ", "é", "~x"]),
                          st.text(max_size=4)), max_size=12))
def test_null_blank_ids_shortcut_equals_the_strip_pass(values):
    """The min/max shortcut of null_blank_ids never changes its result: blank ids (polars'
    strip_chars, as the row pass uses) become null, every other id is kept as it is."""
    from segscore.report.input_ids import null_blank_ids

    ids = pl.Series(values, dtype=pl.String)
    want = [None if v is None or pl.Series([v]).str.strip_chars()[0] == "" else v
            for v in values]
    assert null_blank_ids(ids).to_list() == want


def test_a_real_value_named_other_is_not_merged_with_the_folded_rest(runs, tmp_path):
    """A categorical attribute whose top values include the literal "(other)": that value and
    the folded rest are two entries (kinds "value" and "other"), each with its own count, and
    every breakdown still sums to its segment's customers; the page keeps them apart."""
    import numpy as np

    from segscore.report.attributes import MAX_CATEGORIES, attribute_breakdowns
    from segscore.report.html import render_html

    ids = pl.read_parquet(runs["attrs"], columns=["customer_id"])["customer_id"]
    n = ids.len()
    rng = np.random.default_rng(3)
    labels = ["(other)"] * (n // 3) + [f"v{i}" for i in rng.integers(0, MAX_CATEGORIES + 10,
                                                                     n - n // 3)]
    path = tmp_path / "attrs.parquet"
    pl.DataFrame({"customer_id": ids, "wide": labels}).write_parquet(path)
    customers = runs["tonight"].customers
    section = attribute_breakdowns(customers, path, runs["cfg"])
    overall = section["overall"]["categorical"]["wide"]
    kinds = [(e["value"], e["kind"]) for e in overall]
    assert kinds.count(("(other)", "value")) == 1 and kinds.count(("(other)", "other")) == 1
    assert len(kinds) == len(set(kinds))
    assert sum(e["customers"] for e in overall) == customers.height
    for key, entry in section["by_segment"].items():
        assert sum(e["customers"] for e in entry["categorical"]["wide"]) == entry["customers"]
    # independent count of the real "(other)" value among tonight's customers
    joined = customers.select("customer_id").join(
        pl.read_parquet(path), on="customer_id", how="left")
    real = int((joined["wide"] == "(other)").sum())
    assert next(e for e in overall if e["kind"] == "value" and e["value"] == "(other)")[
        "customers"] == real
    report = build_report(runs["tonight"], runs["cfg"], attributes_path=path)[0]
    page = render_html(report)
    assert "<i>other values</i>" in page


def test_nan_in_a_float_attribute_is_no_value(runs, tmp_path):
    """NaN is left out of a float attribute's median, as null is (polars sorts it last, so it
    used to shift the median or make it NaN, which is not JSON)."""
    from segscore.report.attributes import attribute_breakdowns

    ids = pl.read_parquet(runs["attrs"], columns=["customer_id"])["customer_id"]
    n = ids.len()
    pattern = [1.0, float("nan"), float("nan"), float("nan"), 2.0, float("nan")]
    x = [pattern[i % len(pattern)] for i in range(n)]
    path = tmp_path / "attrs.parquet"
    pl.DataFrame({"customer_id": ids, "x": x, "all_nan": [float("nan")] * n}).write_parquet(path)
    customers = runs["tonight"].customers
    section = attribute_breakdowns(customers, path, runs["cfg"])
    joined = customers.select("customer_id", "segment").join(
        pl.read_parquet(path), on="customer_id", how="left").to_pandas()
    assert section["overall"]["median"] == {"x": joined["x"].median(), "all_nan": None}
    assert joined["x"].median() in (1.0, 1.5, 2.0)  # pandas skips NaN
    for key, entry in section["by_segment"].items():
        want = joined.loc[joined["segment"] == key, "x"].median()  # pandas skips NaN
        got = entry["median"]["x"]
        assert (got is None and want != want) or got == pytest.approx(want), key
    json.dumps(section, allow_nan=False)  # strict JSON


def test_a_customer_id_column_beside_the_configured_id_column_is_listed_as_ignored(runs,
                                                                                   tmp_path):
    from segscore.report.attributes import attribute_breakdowns

    ids = pl.read_parquet(runs["attrs"], columns=["customer_id"])["customer_id"]
    path = tmp_path / "attrs.parquet"
    pl.DataFrame({"cust": ids, "customer_id": ids * 2, "region": ["n"] * ids.len()}
                 ).write_parquet(path)
    cfg = build_config({**CFG, "columns": {"customer_id": "cust"}})
    section = attribute_breakdowns(runs["tonight"].customers, path, cfg)
    assert section["id_column"] == "cust"
    assert [c["name"] for c in section["columns"]] == ["region"]
    assert section["ignored_columns"] == [{"name": "customer_id", "dtype": "Int64"}]


@pytest.mark.parametrize("dtype", [pl.Categorical, pl.Enum([f"C{i}" for i in range(3000)])])
def test_label_typed_attribute_ids_are_read_as_strings(tmp_path, dtype):
    """Categorical and Enum id columns (as polars writes them) are read as string ids; against
    integer ids they are refused, and the message names the kind, not 3,000 categories."""
    from segscore.report.input_ids import cast_ids

    ids = pl.Series("customer_id", ["C7", "C2999", "C0"], dtype=dtype)
    frame = pl.DataFrame([ids])
    cast = frame.select(cast_ids(ids.dtype, pl.String, tmp_path / "a.parquet", "customer_id"))
    assert cast["customer_id"].to_list() == ["C7", "C2999", "C0"]
    assert cast.schema["customer_id"] == pl.String
    with pytest.raises(InputError, match="incompatible") as err:
        cast_ids(ids.dtype, pl.Int64, tmp_path / "a.parquet", "customer_id")
    assert "C2999" not in str(err.value) and len(str(err.value)) < 300


def test_a_zero_attribute_median_is_positive_whatever_the_row_order(tmp_path):
    """A float attribute holding 0.0 and -0.0 (``-1 * 0.0`` upstream): its medians are 0.0 in
    every row order of the attributes file (polars' median returned whichever zero landed in
    the middle, so report.json and the page showed -0.00 for some orders)."""
    import math

    import numpy as np

    from segscore.config import load_config
    from segscore.report.attributes import attribute_breakdowns

    n = 40
    config = load_config(None)
    customers = pl.DataFrame({"customer_id": np.arange(n, dtype=np.int64),
                              "segment": [config.segments.keys[i % 2] for i in range(n)]})
    attrs = pl.DataFrame({"customer_id": np.arange(n, dtype=np.int64),
                          "balance": np.where(np.arange(n) % 2 == 0, 0.0, -0.0)})
    for seed in range(6):
        path = tmp_path / f"a{seed}.parquet"
        attrs[np.random.default_rng(seed).permutation(n)].write_parquet(path)
        section = attribute_breakdowns(customers, path, config)
        medians = [section["overall"]["median"]["balance"]] + [
            v["median"]["balance"] for v in section["by_segment"].values() if v["customers"]]
        assert len(medians) == 3
        assert all(m == 0.0 and math.copysign(1.0, m) == 1.0 for m in medians), (seed, medians)


def _naive_breakdowns(customers: pl.DataFrame, attrs: pl.DataFrame, col: str, top_n: int):
    """docs/report.md, attributes: the ``top_n`` values most frequent among tonight's
    customers (ties by value), then "(other)" for the rest when there is a rest, then the
    missing (no value or no attribute row) when there are any, as [(value, kind, customers)]:
    (overall, a function of a segment key giving that segment's, every top value listed
    even with 0 customers)."""
    joined = customers.select("customer_id", "segment").join(attrs, on="customer_id",
                                                                 how="left")
    counts = joined[col].drop_nulls().value_counts()
    ranked = sorted(zip(counts[col].to_list(), counts["count"].to_list()),
                    key=lambda vc: (-vc[1], vc[0]))
    top = [v for v, _ in ranked[:top_n]]
    folded = len(ranked) > top_n

    def entries(rows: pl.DataFrame):
        values = rows[col].to_list()
        out = [(v, "value", values.count(v)) for v in top]
        if folded:
            out.append(("(other)", "other", sum(v is not None and v not in top for v in values)))
        if values.count(None):
            out.append((None, "missing", values.count(None)))
        return out

    return entries(joined), lambda seg: entries(joined.filter(pl.col("segment") == seg))


@pytest.mark.parametrize("n_values", [20, 21, 25])
def test_categorical_breakdowns_list_the_top_20_ties_by_value_and_fold_only_a_rest(
        runs, tmp_path, n_values):
    """The 20 values most frequent among tonight's customers are listed (ties by value, so
    with 25 values the tie of v19 and v20 at the cut keeps v19), the rest folded into one
    "(other)" entry, which exists only when something is folded (20 values: none). Rows of
    customers not scored tonight count nowhere, though their value is the most frequent."""
    from segscore.report.attributes import MAX_CATEGORIES, attribute_breakdowns

    customers = runs["tonight"].customers
    counts = [20 - (i + 1) // 2 for i in range(n_values)]  # 20, 19, 19, 18, 18, …: pairs tie
    ids = customers["customer_id"].sort().to_list()
    assert sum(counts) + 50 < len(ids)  # some scored customers have no attribute row
    labels = [f"v{i:02d}" for i, c in enumerate(counts) for _ in range(c)]
    unscored = [10**15 + i for i in range(300)]
    attrs = pl.DataFrame({"customer_id": pl.Series(ids[:len(labels)] + unscored,
                                                   dtype=customers["customer_id"].dtype),
                          "wide": labels + ["zz"] * len(unscored)})
    path = tmp_path / "attrs.parquet"
    attrs.write_parquet(path)
    section = attribute_breakdowns(customers, path, runs["cfg"])
    overall, by_segment = _naive_breakdowns(customers, attrs, "wide", MAX_CATEGORIES)
    got = [(e["value"], e["kind"], e["customers"]) for e in section["overall"]["categorical"]["wide"]]
    assert got == overall
    assert (("(other)", "other") in [(v, k) for v, k, _ in got]) == (n_values > 20)
    if n_values == 25:
        assert ("v19", "value", 10) in got and ("v20", "value", 10) not in got
    for seg, entry in section["by_segment"].items():
        got = [(e["value"], e["kind"], e["customers"]) for e in entry["categorical"]["wide"]]
        assert got == by_segment(seg), seg
