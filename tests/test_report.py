"""report.json numbers vs independent computations (duckdb / pandas) on the written output
Parquet; attributes join accounting; migration matrices; HTML escaping and self-containment."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

import segscore
from segscore.config import build_config, load_config
from segscore.errors import InputError
from segscore.report import build_report, render_html
from segscore_datasets import generate_transactions
from threads import track_section_overlap

XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A previous run (all files, as_of 2026-03-31), tonight's run (files 1.., default as_of,
    with --previous and a modified attributes file)."""
    root = tmp_path_factory.mktemp("report")
    gen = generate_transactions(root / "data", 3000, seed=1)
    files = sorted(gen.files)
    prev = segscore.run(files, root / "prev", as_of="2026-03-31")
    attrs = pl.read_parquet(gen.attributes_path)
    # Attributes: drop 40 customers, add 7 unknown ids, add a numeric column with nulls.
    extra = pl.DataFrame({
        "customer_id": pl.Series([10**15 + i for i in range(7)], dtype=attrs["customer_id"].dtype),
        "region": ["Mars"] * 7, "age_band": [None] * 7,
        "signup_date": attrs["signup_date"].head(7), "loyalty_member": [True] * 7})
    attrs2 = pl.concat([attrs.slice(40), extra]).with_columns(
        (pl.col("customer_id") % 97).cast(pl.Float64).alias("score_x"))
    attrs2 = attrs2.with_columns(pl.when(pl.col("customer_id") % 5 == 0).then(None)
                                 .otherwise(pl.col("score_x")).alias("score_x"))
    attr_path = root / "attrs.parquet"
    attrs2.write_parquet(attr_path)
    cur = segscore.run(files[1:], root / "cur", previous=root / "prev", attributes=attr_path)
    report = json.loads((root / "cur" / "report" / "report.json").read_text("utf-8"))
    return {"root": root, "gen": gen, "prev": prev, "cur": cur, "report": report,
            "attrs": attrs2, "attr_path": attr_path, "files": files}


def _sql(q: str) -> pd.DataFrame:
    return duckdb.sql(q).df()


def _customers_glob(out: Path) -> str:
    return str(out / "customers" / "**" / "*.parquet")


def _out_customers(out: Path) -> pd.DataFrame:
    return _sql(f"select * from read_parquet('{_customers_glob(out)}', hive_partitioning=true)")


def test_profiles_match_independent_group_bys(runs):
    r, out = runs["report"], runs["root"] / "cur"
    df = _out_customers(out)
    assert r["schema_version"] == 3
    assert r["customers"]["scored"] == len(df) == r["totals"]["customers"]
    for section, col in (("segments", "segment"), ("value_tiers", "value_tier"),
                         ("lifecycle_stages", "lifecycle_stage"), ("clusters", "cluster")):
        profiles = r[section]
        assert sum(p["customers"] for p in profiles) == len(df), section
        assert sum(p["customer_share"] for p in profiles) == pytest.approx(1.0)
        assert sum(p["revenue_share"] for p in profiles) == pytest.approx(1.0)
        g = df.groupby(col)
        for p in profiles:
            key = p["key"]
            if p["customers"] == 0:
                assert key not in g.groups
                continue
            sub = g.get_group(key)
            assert p["customers"] == len(sub)
            assert p["revenue"] == pytest.approx(sub["monetary"].sum())
            assert p["orders"] == sub["frequency"].sum()
            for s in ("recency_days", "frequency", "monetary", "avg_order_value", "tenure_days"):
                assert p[f"median_{s}"] == pytest.approx(sub[s].median()), (key, s)
                assert p[f"mean_{s}"] == pytest.approx(sub[s].mean()), (key, s)
            gross = (sub["avg_order_value"] * sub["frequency"]).sum()
            assert p["return_rate"] == pytest.approx(sub["return_amount"].sum() / gross)
            mix = p["channel_mix"]
            assert mix and sum(mix.values()) == pytest.approx(1.0)
            assert mix["share_web"] == pytest.approx((sub["share_web"] * sub["avg_order_value"]
                                               * sub["frequency"]).sum() / gross)
    seg_names = {p["key"]: p for p in r["segments"]}
    assert seg_names["champions"]["name"] == "Champions"
    assert seg_names["champions"]["action"]


def test_rf_grid_cut_points_and_concentration(runs):
    r, out = runs["report"], runs["root"] / "cur"
    df = _out_customers(out)
    grid = r["rf_grid"]
    q = grid["q"]
    counts = np.array(grid["counts"])
    assert counts.shape == (q, q) and counts.sum() == len(df)
    ct = df.groupby(["r_score", "f_score"])["monetary"].agg(["size", "mean"])
    for (rs, fs), row in ct.iterrows():
        assert counts[rs - 1, fs - 1] == row["size"]
        assert grid["mean_monetary"][rs - 1][fs - 1] == pytest.approx(row["mean"])
    model = json.loads((out / "model.json").read_text())
    assert r["cut_points"] == model["cut_points"]
    # every customer's metric lies in the range the report gives for its score
    for k, metric, score in (("r", "recency_days", "r_score"), ("f", "frequency", "f_score"),
                             ("m", "monetary", "m_score")):
        ranges = {d["score"]: d for d in r["score_ranges"][k]["ranges"]}
        assert sorted(ranges) == list(range(1, q + 1))
        for s, sub in df.groupby(score):
            d = ranges[s]
            if d["above"] is not None:
                assert (sub[metric] > d["above"]).all(), (k, s)
            if d["at_most"] is not None:
                assert (sub[metric] <= d["at_most"]).all(), (k, s)
    conc = r["concentration"]
    m = np.sort(df["monetary"].to_numpy())[::-1]
    total = m.sum()
    for t in conc["top_shares"]:
        k = int(np.ceil(t["customer_share"] * len(m)))
        assert t["customers"] == k
        assert t["revenue_share"] == pytest.approx(m[:k].sum() / total)
    lor, par = conc["lorenz"], conc["pareto"]
    assert len(lor) == len(par) == 101
    assert lor[0]["revenue_share"] == pytest.approx(0)
    assert lor[-1]["revenue_share"] == pytest.approx(1)
    assert par[-1]["revenue_share"] == pytest.approx(1)
    assert par[20]["revenue_share"] == pytest.approx(conc["top_shares"][2]["revenue_share"])
    assert all(a["revenue_share"] <= b["revenue_share"] + 1e-12 for a, b in zip(par, par[1:]))
    assert 0 < conc["gini"] < 1


def test_data_quality_and_performance(runs):
    r, out = runs["report"], runs["root"] / "cur"
    manifest = json.loads((out / "manifest.json").read_text())
    dq = r["data_quality"]
    for k in ("read", "used", "after_as_of", "outside_window", "rejected", "rejected_total"):
        assert dq[k] == manifest["rows"][k]
    assert dq["read"] == (dq["used"] + dq["after_as_of"] + dq["outside_window"]
                          + dq["rejected_total"])
    assert [f["path"] for f in dq["inputs"]] == [f["path"] for f in manifest["inputs"]]
    perf = r["performance"]
    stages = [s["stage"] for s in perf["stages"]]
    assert {"discover", "score_and_label", "write"} <= set(stages)  # (others vary by engine)
    assert "report" not in stages  # built inside the report stage itself
    for s in perf["stages"]:
        assert s["wall_s"] >= 0 and s["cpu_s"] >= 0 and s["peak_rss_mb"] > 0
    mach = perf["machine"]
    assert mach["logical_cpus"] >= 1 and mach["total_memory_mb"] > 0 and mach["platform"]
    assert perf["versions"]["polars"] == pl.__version__
    jit = perf["jit"]
    assert jit["measured"] is True and jit["compile_s"] >= 0
    assert any(d["function"].endswith("_cut_points") for d in jit["dispatchers"])
    assert perf["report_build"]["wall_s"] > 0


def test_migration_matrices_and_table(runs):
    r, root = runs["report"], runs["root"]
    prev = _out_customers(root / "prev")
    cur = _out_customers(root / "cur")
    mig = r["migration"]
    assert mig["previous_customers"] == len(prev) and mig["current_customers"] == len(cur)
    prev_ids, cur_ids = set(prev["customer_id"]), set(cur["customer_id"])
    n_new, n_gone = len(cur_ids - prev_ids), len(prev_ids - cur_ids)
    assert n_new > 0 and n_gone > 0  # the fixture makes both happen
    for section, col in (("segments", "segment"), ("value_tiers", "value_tier"),
                         ("lifecycle_stages", "lifecycle_stage")):
        m = mig[section]
        counts = np.array(m["customers"])
        assert m["rows"][-1] is None and m["columns"][-1] is None
        assert m["new"] == n_new == counts[-1].sum()
        assert m["disappeared"] == n_gone == counts[:, -1].sum()
        assert counts[-1, -1] == 0
        prev_sizes = prev[col].value_counts().to_dict()
        cur_sizes = cur[col].value_counts().to_dict()
        for i, key in enumerate(m["rows"][:-1]):
            assert counts[i].sum() == prev_sizes.get(key, 0), (section, key)
        for j, key in enumerate(m["columns"][:-1]):
            assert counts[:, j].sum() == cur_sizes.get(key, 0), (section, key)
        assert m["stayed"] + m["moved"] + m["new"] + m["disappeared"] == counts.sum()
        # revenue: columns of tonight's revenue sum to tonight's group revenue
        rc = np.array(m["revenue_current"])
        cur_rev = cur.groupby(col)["monetary"].sum().to_dict()
        for j, key in enumerate(m["columns"][:-1]):
            assert rc[:, j].sum() == pytest.approx(cur_rev.get(key, 0.0), abs=1e-6)
        rp = np.array(m["revenue_previous"])
        prev_rev = prev.groupby(col)["monetary"].sum().to_dict()
        for i, key in enumerate(m["rows"][:-1]):
            assert rp[i].sum() == pytest.approx(prev_rev.get(key, 0.0), abs=1e-6)
    # one cell against an explicit join
    j = prev.merge(cur, on="customer_id", suffixes=("_p", "_c"))
    m = mig["segments"]
    i, k = m["rows"].index("champions"), m["columns"].index("loyal_customers")
    assert m["customers"][i][k] == ((j["segment_p"] == "champions") &
                                    (j["segment_c"] == "loyal_customers")).sum()
    # migration.parquet: exactly the customers whose segment, tier or stage differs (an
    # outer join of both outputs, by pandas), new and disappeared ones included
    table = pl.read_parquet(root / "cur" / "migration.parquet")
    assert table.columns == ["customer_id", "previous_segment", "current_segment",
                             "previous_value_tier", "current_value_tier",
                             "previous_lifecycle_stage", "current_lifecycle_stage"]
    dims = ["segment", "value_tier", "lifecycle_stage"]
    both = prev[["customer_id", *dims]].merge(cur[["customer_id", *dims]], on="customer_id",
                                              how="outer", suffixes=("_p", "_c"))
    moved = both[np.logical_or.reduce([both[f"{d}_p"].astype(object).ne(both[f"{d}_c"])
                                       for d in dims])].sort_values("customer_id")
    assert 0 < len(moved) < len(prev_ids | cur_ids)  # the fixture has stayers and movers
    assert mig["migration_parquet_rows"] == table.height == len(moved)
    assert table["customer_id"].to_list() == moved["customer_id"].to_list()
    for d in dims:
        for side, w in (("_p", "previous"), ("_c", "current")):
            want = [None if pd.isna(v) else v for v in moved[d + side]]
            assert table[f"{w}_{d}"].cast(pl.String).to_list() == want, (d, w)
    assert table.filter(pl.col("previous_segment").is_null()).height == n_new
    assert table.filter(pl.col("current_segment").is_null()).height == n_gone


def test_migration_sizes_are_each_nights_group_sizes(runs):
    """previous_sizes = last night's group sizes (the customers who disappeared included),
    current_sizes = tonight's (the new ones included), every row / column key listed
    (docs/report.md, migration)."""
    r, root = runs["report"], runs["root"]
    prev = _out_customers(root / "prev")
    cur = _out_customers(root / "cur")
    for section, col in (("segments", "segment"), ("value_tiers", "value_tier"),
                         ("lifecycle_stages", "lifecycle_stage")):
        m = r["migration"][section]
        prev_sizes = prev[col].astype(str).value_counts().to_dict()
        cur_sizes = cur[col].astype(str).value_counts().to_dict()
        assert m["previous_sizes"] == {k: prev_sizes.get(k, 0) for k in m["rows"][:-1]}
        assert m["current_sizes"] == {k: cur_sizes.get(k, 0) for k in m["columns"][:-1]}
        assert sum(m["previous_sizes"].values()) == len(prev) == r["migration"][
            "previous_customers"]
        assert sum(m["current_sizes"].values()) == len(cur) == r["migration"][
            "current_customers"]


def test_attribute_breakdowns(runs):
    r, cur, attrs = runs["report"], _out_customers(runs["root"] / "cur"), runs["attrs"]
    a = r["attributes"]
    scored, known = set(cur["customer_id"]), set(attrs["customer_id"].to_list())
    assert a["rows"] == attrs.height
    assert a["scored_without_attributes"] == len(scored - known) > 0
    assert a["attributes_not_scored"] == len(known - scored) >= 7
    assert a["matched"] == len(scored & known)
    kinds = {c["name"]: c["kind"] for c in a["columns"]}
    assert kinds == {"region": "categorical", "age_band": "categorical", "signup_date": "date",
                     "loyalty_member": "categorical", "score_x": "numeric"}
    j = cur[["customer_id", "segment"]].merge(attrs.to_pandas(), on="customer_id", how="left")
    for seg, entry in a["by_segment"].items():
        sub = j[j["segment"] == seg]
        assert entry["customers"] == len(sub)
        assert entry["without_attributes"] == sub["region"].isna().sum()
        for col in ("region", "age_band", "loyalty_member"):
            rows = entry["categorical"][col]
            assert sum(x["customers"] for x in rows) == entry["customers"], (seg, col)
            if len(sub):
                assert sum(x["share"] for x in rows) == pytest.approx(1.0)
            vc = sub[col].astype("string").str.lower().value_counts(dropna=False)
            for x in rows:
                if x["value"] is None:
                    assert x["customers"] == sub[col].isna().sum()
                else:
                    assert x["customers"] == vc.get(x["value"].lower(), 0)
        med = sub["score_x"].median()
        got = entry["median"]["score_x"]
        assert (got is None and pd.isna(med)) or got == pytest.approx(med)
        if len(sub) and sub["signup_date"].notna().any():
            want = pd.to_datetime(sub["signup_date"]).median()
            got = pd.Timestamp(entry["median"]["signup_date"])
            assert abs((got - want).total_seconds()) <= 86400
    for col in ("region", "age_band", "loyalty_member"):
        assert sum(x["customers"] for x in a["overall"]["categorical"][col]) == len(cur)


def _cfg():
    return load_config(None)


def test_attribute_file_errors(runs, tmp_path):
    res = runs["cur"]
    attrs = runs["attrs"]
    bad = tmp_path / "noid.parquet"
    attrs.rename({"customer_id": "cust"}).write_parquet(bad)
    with pytest.raises(InputError, match=r"noid\.parquet.*customer id column"):
        build_report(res, _cfg(), attributes_path=bad)
    dup = tmp_path / "dup.parquet"
    pl.concat([attrs, attrs.head(3)]).write_parquet(dup)
    with pytest.raises(InputError, match=r"dup\.parquet.*'customer_id'.*duplicate"):
        build_report(res, _cfg(), attributes_path=dup)
    text_ids = tmp_path / "text.parquet"
    attrs.with_columns(pl.format("C-{}", pl.col("customer_id")).alias("customer_id")) \
        .write_parquet(text_ids)
    with pytest.raises(InputError, match=r"text\.parquet.*'customer_id'"):
        build_report(res, _cfg(), attributes_path=text_ids)
    flt = tmp_path / "float.parquet"
    attrs.with_columns(pl.col("customer_id").cast(pl.Float64)).write_parquet(flt)
    with pytest.raises(InputError, match=r"float\.parquet.*'customer_id'.*Float64"):
        build_report(res, _cfg(), attributes_path=flt)
    missing = tmp_path / "missing.parquet"
    with pytest.raises(InputError, match="missing.parquet"):
        build_report(res, _cfg(), attributes_path=missing)
    # numeric ids stored as strings are cast, with the same result
    str_ids = tmp_path / "str.parquet"
    attrs.with_columns(pl.col("customer_id").cast(pl.String)).write_parquet(str_ids)
    rep, _ = build_report(res, _cfg(), attributes_path=str_ids)
    assert rep["attributes"]["matched"] == runs["report"]["attributes"]["matched"]
    assert rep["attributes"]["by_segment"] == runs["report"]["attributes"]["by_segment"]


def test_previous_dir_errors(runs, tmp_path):
    res = runs["cur"]
    (tmp_path / "notout").mkdir()
    with pytest.raises(InputError, match="not a segscore output"):
        build_report(res, _cfg(), previous_dir=tmp_path / "notout")
    with pytest.raises(InputError, match="not a segscore output"):
        build_report(res, _cfg(), previous_dir=tmp_path / "nope")
    import shutil
    dup = tmp_path / "dup"
    shutil.copytree(runs["root"] / "prev", dup)
    part = next((dup / "customers").rglob("*.parquet"))
    shutil.copy(part, part.with_name("extra-copy.parquet"))
    with pytest.raises(InputError, match="duplicate customer_id"):
        build_report(res, _cfg(), previous_dir=dup)
    # a corrupt data page in one previous file: the message names that file
    import pyarrow.parquet as pq
    bad = tmp_path / "bad"
    shutil.copytree(runs["root"] / "prev", bad)
    part = sorted((bad / "customers").rglob("*.parquet"))[-1]
    meta = pq.read_metadata(part)
    col = meta.row_group(0).column(meta.schema.names.index("monetary"))
    data = bytearray(part.read_bytes())
    data[col.data_page_offset + 8:col.data_page_offset + 40] = b"\xff" * 32
    part.write_bytes(bytes(data))
    with pytest.raises(InputError, match=f"{part.name}: corrupt Parquet data in row group 0"):
        build_report(res, _cfg(), previous_dir=bad)


def test_no_previous_no_attributes(runs):
    rep, mig = build_report(runs["prev"], _cfg())
    assert mig is None and rep["migration"] is None and rep["attributes"] is None
    json.dumps(rep, allow_nan=False)
    assert "<svg" in render_html(rep)


def test_html_escapes_names_and_is_self_contained(tmp_path):
    gen = generate_transactions(tmp_path / "data", 600, seed=3, attributes=False)
    cfg = build_config({"segments": {"rules": [
        {"key": "evil", "name": XSS, "r": [4, 5],
         "action": 'Say "<b>hi</b>" & <img src=x onerror=alert(2)>'},
        {"key": "rest", "name": "Everyone <else>"}]}})
    res = segscore.run(gen.out_dir / "transactions", tmp_path / "out", config=cfg)
    report_dir = tmp_path / "out" / "report"
    html = (report_dir / "index.html").read_text("utf-8")
    assert XSS not in html and "<img src=x" not in html and "<else>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    # the only scripts are our own inline one; no external resources of any kind
    assert html.count("<script") == 1
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", html, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", html, re.I)
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)"', html)
    assert csp and "default-src 'none'" in unescape(csp.group(1))
    assert sorted(p.name for p in report_dir.iterdir()) == ["index.html", "report.json"]
    # `segscore report` re-renders from report.json alone, identically
    rep = json.loads((report_dir / "report.json").read_text("utf-8"))
    assert render_html(rep) == html
    assert res.report["segments"][0]["name"] == XSS


def test_jit_compile_time_is_measured(runs):
    """A fresh numba compilation shows up in the next report's JIT profile."""
    import numba

    @numba.njit(cache=False)
    def _report_probe(x):
        return x * 2 + 1

    before = build_report(runs["prev"], _cfg())[0]["performance"]["jit"]
    assert _report_probe(20) == 41
    after = build_report(runs["prev"], _cfg())[0]["performance"]["jit"]
    assert after["compilations"] == before["compilations"] + 1
    assert after["compile_s"] > before["compile_s"]
    assert any(k.endswith("_report_probe") for k in after["by_function"])


def test_render_older_or_partial_reports(runs):
    """`segscore report` on an output written by schema v1 (no v2 sections) still renders."""
    v1_keys = ("schema_version", "as_of", "customers", "segments", "value_tiers",
               "lifecycle_stages", "cut_points", "value_tier_bounds", "data_quality")
    r = runs["report"]
    v1 = {k: r[k] for k in v1_keys}
    v1["schema_version"] = 1
    v1["data_quality"] = {k: r["data_quality"][k] for k in
                          ("read", "used", "after_as_of", "outside_window", "rejected",
                           "rejected_total", "balanced")}
    v1["performance"] = {"stages": r["performance"]["stages"],
                         "versions": r["performance"]["versions"]}
    html = render_html(v1)
    assert "Champions" in html and "<svg" in html
    assert "No previous output was given" in html
    # v1 had no totals: shown as missing, not as blank values
    assert "net revenue<b>–</b>" in html and "orders<b>–</b>" in html


def test_string_ids_migration_and_attributes(runs, tmp_path, monkeypatch):
    """String customer ids (the transactions'), integer ids in the attributes file (cast)."""
    src = tmp_path / "tx"
    src.mkdir()
    for f in runs["files"]:
        t = pl.read_parquet(f).with_columns(pl.format("c{}", pl.col("customer_id") % 10**9)
                                            .alias("customer_id"))
        t.write_parquet(src / f.name)
    attrs = runs["attrs"].with_columns(pl.col("customer_id") % 10**9)
    attrs.write_parquet(tmp_path / "attrs_int.parquet")
    attrs.with_columns(pl.format("c{}", pl.col("customer_id")).alias("customer_id")) \
        .write_parquet(tmp_path / "attrs_str.parquet")
    cfg = build_config({"clustering": {"enabled": False}})
    segscore.run(src, tmp_path / "p", as_of="2026-03-31", config=cfg)
    res = segscore.run(src, tmp_path / "c", config=cfg, previous=tmp_path / "p",
                       attributes=tmp_path / "attrs_str.parquet")
    prev, cur = _out_customers(tmp_path / "p"), _out_customers(tmp_path / "c")
    m = res.report["migration"]["segments"]
    counts = np.array(m["customers"])
    assert m["new"] == len(set(cur["customer_id"]) - set(prev["customer_id"])) > 0
    sizes = prev["segment"].value_counts().to_dict()
    assert [counts[i].sum() for i in range(len(m["rows"]) - 1)] == \
        [sizes.get(k, 0) for k in m["rows"][:-1]]
    table = pl.read_parquet(tmp_path / "c" / "migration.parquet")
    assert table["customer_id"].dtype == pl.String and table["customer_id"].is_sorted()
    # the ids coded by hash give what the join fallback (a 64-bit hash collision) gives,
    # the table in id order included; duplicates are refused either way
    import shutil

    from segscore.report import migration as migration_mod

    dup = tmp_path / "p_dup"
    shutil.copytree(tmp_path / "p", dup)
    part = next((dup / "customers").rglob("*.parquet"))
    shutil.copy(part, part.with_name("extra-copy.parquet"))
    coded, coded_table = migration_mod.migration_report(res.customers, tmp_path / "p", cfg)
    assert coded == res.report["migration"] and coded_table.equals(table)
    with pytest.raises(InputError, match="duplicate customer_id") as coded_err:
        migration_mod.migration_report(res.customers, dup, cfg)
    late = tmp_path / "tx_late"  # without the first file: customers disappear
    late.mkdir()
    for f in sorted(src.iterdir())[1:]:
        shutil.copy(f, late / f.name)
    tonight = segscore.run(late, None, config=cfg).customers
    gone, gone_table = migration_mod.migration_report(tonight, tmp_path / "p", cfg)
    assert gone["segments"]["disappeared"] > 10 and gone_table["customer_id"].is_sorted()
    monkeypatch.setattr(migration_mod, "string_codes", lambda *a: None)
    joined, joined_table = migration_mod.migration_report(res.customers, tmp_path / "p", cfg)
    assert joined == coded and joined_table.equals(coded_table)
    joined, joined_table = migration_mod.migration_report(tonight, tmp_path / "p", cfg)
    assert joined == gone and joined_table.equals(gone_table)
    with pytest.raises(InputError, match="duplicate customer_id") as joined_err:
        migration_mod.migration_report(res.customers, dup, cfg)
    assert str(joined_err.value) == str(coded_err.value)
    monkeypatch.undo()
    a = res.report["attributes"]
    known = set(("c" + attrs["customer_id"].cast(pl.String)).to_list())
    assert a["matched"] == len(set(cur["customer_id"]) & known)
    assert a["scored_without_attributes"] == len(set(cur["customer_id"]) - known)
    # the same customers under their integer ids (merge path) give the same breakdowns as
    # the string ids (hash-join path)
    ints = segscore.run(runs["files"], None, config=cfg,
                        attributes=tmp_path / "attrs_int.parquet").report["attributes"]
    assert ints["matched"] == a["matched"] and ints["by_segment"] == a["by_segment"]
    assert ints["overall"] == a["overall"]
    # integer ids are cast to strings ("123"), which match none of the "c…" ids: all counted
    b = build_report(res, cfg, attributes_path=tmp_path / "attrs_int.parquet")[0]["attributes"]
    assert b["matched"] == 0 and b["scored_without_attributes"] == len(cur)
    assert b["attributes_not_scored"] == attrs.height
    # duplicate string ids are found without sorting, and named
    str_attrs = pl.read_parquet(tmp_path / "attrs_str.parquet")
    pl.concat([str_attrs, str_attrs.slice(5, 2)]).write_parquet(tmp_path / "dup_str.parquet")
    with pytest.raises(InputError, match=r"dup_str\.parquet.*2 duplicate id\(s\) \(e\.g\. c"):
        build_report(res, cfg, attributes_path=tmp_path / "dup_str.parquet")
    # ... also among the ids nobody scored tonight (the 7 unknown ids are c0 … c6)
    unknown = str_attrs.filter(pl.col("customer_id") == "c3")
    assert unknown.height == 1 and "c3" not in set(cur["customer_id"])
    pl.concat([str_attrs, unknown]).write_parquet(tmp_path / "dup_unknown.parquet")
    with pytest.raises(InputError, match=r"1 duplicate id\(s\) \(e\.g\. c3\)"):
        build_report(res, cfg, attributes_path=tmp_path / "dup_unknown.parquet")


def test_check_report_inputs_up_front(runs, tmp_path):
    from segscore.report import check_report_inputs
    check_report_inputs(_cfg(), previous_dir=runs["root"] / "prev",
                        attributes_path=runs["attr_path"])
    with pytest.raises(InputError, match="not a segscore output"):
        check_report_inputs(_cfg(), previous_dir=tmp_path)
    runs["attrs"].rename({"customer_id": "cid"}).write_parquet(tmp_path / "a.parquet")
    with pytest.raises(InputError, match=r"a\.parquet.*customer id column"):
        check_report_inputs(_cfg(), attributes_path=tmp_path / "a.parquet")
    with pytest.raises(InputError, match="nope.parquet"):
        check_report_inputs(_cfg(), attributes_path=tmp_path / "nope.parquet")


def test_run_without_report(runs, tmp_path):
    """report=False (the benchmark's baseline): same customers, no report/ and no report
    stage; report inputs are refused."""
    res = segscore.run(runs["files"][1:], tmp_path / "o", report=False)
    assert not (tmp_path / "o" / "report").exists() and res.report == {}
    assert "report" not in {t["stage"] for t in res.timings}
    assert res.customers.equals(runs["cur"].customers)
    with pytest.raises(ValueError, match="report inputs"):
        segscore.run(runs["files"][1:], tmp_path / "o2", report=False, previous=tmp_path / "o")


def test_sections_one_after_another_give_the_same_report(runs):
    """Under a tight memory budget the optional sections run one after the other: the
    report is the same as with the sections side by side."""
    kw = {"previous_dir": runs["root"] / "prev", "attributes_path": runs["attr_path"]}
    side, table_side = build_report(runs["cur"], segscore.load_config(), **kw)
    one, table_one = build_report(runs["cur"], segscore.load_config(), sequential=True, **kw)
    drop = ("performance", "generated_at")
    assert {k: v for k, v in one.items() if k not in drop} == \
        {k: v for k, v in side.items() if k not in drop}
    assert table_one.equals(table_side)
    # in docs/report.md's order, whichever thread finished first
    for report in (one, side):
        assert list(report["performance"]["report_build"]["sections"]) == [
            "profiles", "attributes", "migration"]


def test_memory_budget_decides_how_the_report_sections_run():
    from segscore.memory import (ReportInputs, check_downstream, downstream_bytes,
                                 report_stage_bytes)

    n = 1_000_000
    inputs = ReportInputs(attribute_rows=2_000_000, attribute_row_bytes=45.0,
                          previous_customers=900_000)
    side = report_stage_bytes(n, inputs, sequential=False)
    one = report_stage_bytes(n, inputs, sequential=True)
    assert downstream_bytes(n) < one < side
    assert check_downstream(n, 4, side, inputs) is False  # both fit side by side
    assert check_downstream(n, 4, None, inputs) is False  # no budget known
    assert check_downstream(n, 4, (one + side) // 2, inputs) is True  # one after another
    assert check_downstream(n, 4, (one + side) // 2) is False  # no report inputs
    with pytest.raises(segscore.InputError, match="report's --customers / --previous inputs"):
        check_downstream(n, 4, one - 1, inputs)


@pytest.mark.parametrize("sequential,most", [(False, 2), (True, 1)])
def test_sequential_sections_never_overlap(runs, monkeypatch, sequential, most):
    state = track_section_overlap(monkeypatch)
    build_report(runs["cur"], segscore.load_config(), previous_dir=runs["root"] / "prev",
                 attributes_path=runs["attr_path"], sequential=sequential)
    assert state["most"] == most


def test_run_passes_the_budget_decision_to_the_report(runs, monkeypatch, tmp_path):
    """When the check after the row pass says the sections do not fit side by side, the run
    builds them one after another and records it in the manifest."""
    import segscore.pipeline as pipeline

    monkeypatch.setattr(pipeline, "check_downstream", lambda *a, **k: True)
    state = track_section_overlap(monkeypatch)
    res = segscore.run(runs["files"][1:], tmp_path / "o", previous=runs["root"] / "prev",
                       attributes=runs["attr_path"])
    assert res.manifest["memory"]["report_sections"] == "one after another"
    assert state["most"] == 1 and res.report["migration"] and res.report["attributes"]


def test_a_net_revenue_of_zero_has_no_revenue_shares(tmp_path):
    """Three customers netting +10, −10 and 0: every revenue share (profiles, top shares,
    Lorenz / Pareto points) is null, not a plausible-looking 0 %, and the page renders
    without the Pareto chart."""
    from datetime import datetime

    src = tmp_path / "t.parquet"
    pl.DataFrame({
        "customer_id": [1, 2, 2, 3, 3],
        "order_ts": [datetime(2025, 1, d) for d in (2, 3, 4, 5, 6)],
        "amount": [10.0, 5.0, -15.0, 10.0, -10.0],
    }).write_parquet(src)
    res = segscore.run(str(src), tmp_path / "out", config=build_config({"clustering":
                                                                        {"enabled": False}}))
    r = json.loads((res.out_dir / "report" / "report.json").read_text())
    assert r["concentration"]["revenue"] == 0.0 and r["concentration"]["gini"] is None
    for section in ("segments", "value_tiers", "lifecycle_stages"):
        assert [p["revenue_share"] for p in r[section]] == [None] * len(r[section])
    conc = r["concentration"]
    assert {p["revenue_share"] for k in ("top_shares", "lorenz", "pareto")
            for p in conc[k]} == {None}
    page = (res.out_dir / "report" / "index.html").read_text()
    assert "Revenue concentration" in page and "Pareto curve" not in page


def test_the_heatmaps_new_row_and_disappeared_column_are_set_apart(runs):
    """The migration heatmap's synthetic row "(new)" and column "(disappeared)" (key null)
    are in italics, so a segment a config names "(new)" is not taken for them."""
    html = (runs["root"] / "cur" / "report" / "index.html").read_text("utf-8")
    assert re.search(r'font-style="italic">\(new\)</text>', html)
    assert re.search(r'font-style="italic">\(disappeared\)</text>', html)
    assert not re.search(r'font-style="italic">(?!\(new\)|\(disappeared\))[^<]*</text>',
                         html)


def test_a_negative_net_revenue_keeps_signed_revenue_shares(tmp_path):
    """docs/report.md: when the net revenue is negative every share is the ratio to that
    total (its sign flips), not null; only a revenue of exactly 0 has no shares. Customer 1
    nets −190, customer 2 +20: total −170."""
    from datetime import datetime

    src = tmp_path / "t.parquet"
    pl.DataFrame({
        "customer_id": [1, 1, 2],
        "order_ts": [datetime(2025, 1, d) for d in (2, 3, 4)],
        "amount": [10.0, -200.0, 20.0],
    }).write_parquet(src)
    res = segscore.run(str(src), None, config=build_config({"clustering": {"enabled": False}}))
    r = res.report
    assert r["totals"]["revenue"] == -170.0
    for section in ("segments", "value_tiers", "lifecycle_stages"):
        shares = [p["revenue_share"] for p in r[section]]
        assert None not in shares, section
        assert shares == pytest.approx([p["revenue"] / -170.0 for p in r[section]])
        assert sum(shares) == pytest.approx(1.0)
    conc = r["concentration"]
    assert conc["gini"] is None and conc["customers_with_non_positive_revenue"] == 1
    top = conc["top_shares"][0]  # the top 1 % of 2 customers: the one netting +20
    assert top["customers"] == 1 and top["revenue_share"] == pytest.approx(20.0 / -170.0)


def test_score_ranges_are_the_intervals_between_the_cut_points():
    """score_ranges (docs/report.md): raw score s covers (c_{s−1}, c_s], the first score
    no lower bound, the last no upper bound, and every inner score both; recency's scores
    are inverted (q + 1 − s)."""
    from segscore.report.profile import _score_ranges

    cuts = [1.0, 2.0, 3.0, 4.0]
    want = [(1, None, 1.0), (2, 1.0, 2.0), (3, 2.0, 3.0), (4, 3.0, 4.0), (5, 4.0, None)]
    got = [(d["score"], d["above"], d["at_most"]) for d in _score_ranges(cuts, False)]
    assert got == want
    inverted = [(d["score"], d["above"], d["at_most"]) for d in _score_ranges(cuts, True)]
    assert inverted == [(6 - s, lo, hi) for s, lo, hi in reversed(want)]
    assert [(d["above"], d["at_most"]) for d in _score_ranges([], False)] == [(None, None)]


def test_report_score_ranges_bound_every_inner_score_on_both_sides(runs):
    r = runs["report"]
    q = r["score_ranges"]["bins"]
    for k in ("r", "f", "m"):
        cuts = r["cut_points"][k]
        for d in r["score_ranges"][k]["ranges"]:
            raw = q + 1 - d["score"] if k == "r" else d["score"]
            assert d["above"] == (cuts[raw - 2] if raw > 1 else None), (k, d)
            assert d["at_most"] == (cuts[raw - 1] if raw < q else None), (k, d)


def test_shares_of_a_negative_net_revenue_have_no_negative_zero(tmp_path):
    """Returns above purchases make tonight's net revenue negative: an empty group's revenue
    share (0 / −95) and the Lorenz / Pareto points at 0 are 0.0, not −0.0 (the page showed
    "-0.0%"), as every zero in report.json is."""
    from datetime import datetime

    pl.DataFrame({
        "customer_id": [1, 2, 2],
        "order_ts": [datetime(2026, 3, 1), datetime(2026, 3, 2), datetime(2026, 3, 3)],
        "amount": [10.0, 5.0, -110.0],
    }).write_parquet(tmp_path / "t.parquet")
    res = segscore.run(tmp_path / "t.parquet", tmp_path / "out",
                       config=build_config({"clustering": {"enabled": False}}))
    report = res.report
    assert report["totals"]["revenue"] == -95.0
    assert any(s["customers"] == 0 for s in report["segments"])
    assert "-0.0" not in json.dumps(report)
    assert "-0.0" not in (tmp_path / "out" / "report" / "index.html").read_text()
    assert report["concentration"]["lorenz"][0]["revenue_share"] == 0.0
