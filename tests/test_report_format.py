"""report.json's shape against docs/report.md (key order, fields present when clustering is
off, skipped stages), the channel mix on awkward channel data (a channel named "other"
beside the folded bucket, channels with null values), exact Lorenz / Pareto points and the
HTML's number formats. Small generated data; numbers checked against the output Parquet."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segscore
from segscore.config import build_config
from segscore_datasets import generate_transactions

DOC = (Path(__file__).resolve().parents[1] / "docs" / "report.md").read_text("utf-8")


def _doc_section(title: str) -> str:
    """The text of the docs/report.md section headed ``### title`` (up to the next heading)."""
    m = re.search(rf"^### {re.escape(title)}\n(.*?)(?=^#)", DOC, re.S | re.M)
    assert m, title
    return m.group(1)


def _in_doc_order(section: str, names: list[str]) -> bool:
    """Whether ``names`` appear in ``section`` (as whole words) in this order."""
    pos = 0
    for name in names:
        m = re.compile(rf"\b{re.escape(name)}\b").search(section, pos)
        if not m:
            return False
        pos = m.end()
    return True


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fmt")
    gen = generate_transactions(root / "gen", 500, seed=7, files=2, attributes=False)
    return {"root": root, "files": sorted(gen.files)}


@pytest.fixture(scope="module")
def off_run(data):
    """A run with clustering off."""
    out = data["root"] / "off"
    segscore.run(data["files"], out, config=build_config({"clustering": {"k": "off"}}))
    return out


def _report(out: Path) -> dict:
    return json.loads((out / "report" / "report.json").read_text("utf-8"))


def test_key_order_is_the_documented_order(off_run):
    r = _report(off_run)
    top = _doc_section("Top level")
    doc_fields = [name for line in top.splitlines() if line.startswith("| `")
                  for name in re.findall(r"`([a-z_]+)`", line.split("|")[1])]
    assert list(r) == doc_fields
    dq = _doc_section("data_quality")
    assert list(r["data_quality"]) == ["read", "used", "after_as_of", "outside_window",
                                       "rejected", "rejected_total", "balanced", "customers",
                                       "inputs"]
    assert _in_doc_order(dq, list(r["data_quality"]))
    assert _in_doc_order(dq, list(r["data_quality"]["inputs"][0]))
    conc = _doc_section("concentration")
    assert _in_doc_order(conc, list(r["concentration"]))
    assert _in_doc_order(conc, list(r["concentration"]["top_shares"][0]))
    assert _in_doc_order(_doc_section("profile (one group)"),
                         [k for k in r["segments"][0] if not k.startswith(("median_", "mean_"))])


def test_clustering_off_fields_are_null_and_there_is_no_cluster_stage(off_run):
    r = _report(off_run)
    assert r["clusters"] == []
    assert "cluster_features" in r and r["cluster_features"] is None
    assert "cluster_selection" in r and r["cluster_selection"] is None
    manifest = json.loads((off_run / "manifest.json").read_text())
    assert "cluster" not in {s["stage"] for s in manifest["timings"]}  # not entered at all
    stages = [s["stage"] for s in r["performance"]["stages"]]
    assert "cluster" not in stages and "write" in stages
    html = (off_run / "report" / "index.html").read_text("utf-8")
    assert ">cluster<" not in html  # neither in the stage table nor the stage chart


def test_clustering_on_lists_the_cluster_stage(data, tmp_path):
    res = segscore.run(data["files"], None, config=build_config({"clustering": {"k": 3}}))
    assert res.report["cluster_features"] and res.report["cluster_selection"] is not None
    assert "cluster" in [s["stage"] for s in res.report["performance"]["stages"]]


@pytest.mark.parametrize("n", [42315, 7, 1])
def test_lorenz_and_pareto_points_are_exact(n):
    """Point i: customer_share exactly i / 100, i × n / 100 customers rounded half up in
    integers (n = 42315: 12694.5 → 12695 at point 30, where np.rint rounded to even; point
    70 was linspace's 0.7000000000000001)."""
    from segscore.report.profile import _concentration

    rng = np.random.default_rng(n)
    m = np.round(rng.lognormal(3, 1, n) - 5, 2)
    conc = _concentration(pl.Series("monetary", m))
    x = np.sort(m)
    cum = np.concatenate([[0.0], np.cumsum(x)])
    total = cum[-1]
    for name, take in (("lorenz", lambda k: cum[k]), ("pareto", lambda k: total - cum[n - k])):
        pts = conc[name]
        assert len(pts) == 101
        for i, p in enumerate(pts):
            k = (i * n + 50) // 100
            assert p["customer_share"] == i / 100 and repr(p["customer_share"]) == repr(i / 100)
            assert p["customers"] == k, (name, i)
            assert p["revenue_share"] == pytest.approx(take(k) / total, rel=1e-12, abs=1e-12)
    if n == 42315:
        assert conc["lorenz"][30]["customers"] == 12695
        assert conc["lorenz"][70]["customers"] == 29621
        assert conc["lorenz"][70]["customer_share"] == 0.7
    for t in conc["top_shares"]:
        k = -(-round(t["customer_share"] * 100) * n // 100)
        assert t["customers"] == k
        assert t["revenue_share"] == pytest.approx((total - cum[n - k]) / total, rel=1e-12)


def _naive_gini(cents: list[int]) -> Fraction | None:
    """docs/report.md: gini = 1 − Σᵢ (Lᵢ + Lᵢ₊₁) / n over i < n, Lᵢ the share of the i
    lowest spenders (exact fractions); None when the revenue is not positive."""
    x, n = sorted(cents), len(cents)
    total = sum(x)
    if total <= 0:
        return None
    cum = [0]
    for v in x:
        cum.append(cum[-1] + v)
    return 1 - sum(Fraction(cum[i] + cum[i + 1], total) for i in range(n)) / n


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(-5_000, 100_000), min_size=1, max_size=60))
def test_gini_and_non_positive_count_follow_their_definitions(cents):
    """``gini`` equals the documented trapezoid formula (0 for equal spenders) and
    ``customers_with_non_positive_revenue`` counts the customers with net spend ≤ 0, zero
    spenders included (docs/report.md, concentration)."""
    from segscore.report.profile import _concentration

    conc = _concentration(pl.Series("monetary", [c / 100 for c in cents]))
    assert conc["customers_with_non_positive_revenue"] == sum(c <= 0 for c in cents)
    want = _naive_gini(cents)
    if want is None:
        assert conc["gini"] is None
    else:
        assert conc["gini"] == pytest.approx(float(want), rel=1e-9, abs=1e-9)


def test_gini_of_equal_and_of_one_spender_and_zero_spenders_counted():
    from segscore.report.profile import _concentration

    equal = _concentration(pl.Series("monetary", [7.5] * 4))
    assert equal["gini"] == pytest.approx(0.0, abs=1e-15)
    one = _concentration(pl.Series("monetary", [0.0, 0.0, 0.0, 10.0]))
    assert one["gini"] == pytest.approx(0.75)  # 1 − 1/n: one customer has it all
    assert one["customers_with_non_positive_revenue"] == 3


def _table_columns(html: str, table_index: int) -> list[list[str]]:
    """The body cells' texts, column by column, of the page's ``table_index``-th table."""
    table = re.findall(r"<table.*?</table>", html, re.S)[table_index]
    body = re.search(r"<tbody>(.*?)</tbody>", table, re.S).group(1)
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
    return [list(col) for col in zip(*rows)]


def _decimals(text: str) -> int | None:
    m = re.fullmatch(r"-?[\d,]+(?:\.(\d+))?%?", text.strip())
    return None if m is None else len(m.group(1) or "")


def test_html_number_columns_have_one_format(off_run):
    """Whole floats are not printed as integers beside fractional ones ("484" next to
    "413.50", "1" next to "8.5"): every numeric column has one number of decimals."""
    from segscore.report import render_html

    r = _report(off_run)
    a, b = r["segments"][0], r["segments"][1]
    a["revenue"], b["revenue"] = 484.0, 413.5
    a["median_frequency"], b["median_frequency"] = 1.0, 8.5
    a["mean_recency_days"], b["mean_recency_days"] = 1.0, 8.25
    a["median_monetary"], b["median_monetary"] = 20.0, 20.5
    html = render_html(r)
    segments = _table_columns(html, 0)
    checked = 0
    for col in segments:
        places = {_decimals(t) for t in col if t.strip()}
        if None in places:
            continue  # a text column (key, name, action)
        assert len(places) <= 1, col
        checked += 1
    assert checked >= 15
    revenue, median_orders, mean_recency = segments[4], segments[9], segments[8]
    assert revenue[:2] == ["484.00", "413.50"]
    assert median_orders[:2] == ["1.0", "8.5"]
    assert mean_recency[:2] == ["1.0", "8.2"]
    cut = r["cut_points"]["f"]
    r["cut_points"]["f"] = [1.0, 2.5] + cut[2:]
    assert "<td class=\"text\">1.00, 2.50" in render_html(r)
    # the R×F heat map's mean spend labels
    r["rf_grid"]["mean_monetary"][0][0], r["rf_grid"]["mean_monetary"][0][1] = 484.0, 413.5
    assert "avg 484.0<" in render_html(r) and "avg 413.5<" in render_html(r)


def _with_channels(data, name: str, make) -> Path:
    """The generated transactions with their channel column replaced by ``make(rng, n)``
    (a list of str | None), written as one file."""
    tx = pl.concat([pl.read_parquet(f) for f in data["files"]])
    rng = np.random.default_rng(11)
    tx = tx.with_columns(pl.Series("channel", make(rng, tx.height), dtype=pl.String))
    path = data["root"] / f"{name}.parquet"
    tx.write_parquet(path)
    return path


def _customers(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "customers" / "**" / "*.parquet", hive_partitioning=True)


def _mix_by_segment(df: pl.DataFrame, keys: list[str]) -> dict[str, dict[str, float]]:
    """Independent channel mix per segment from the customer table: Σ share × gross / Σ gross
    per share column, and the spend in no share column (gross × (1 − Σ shares))."""
    gross = pl.col("avg_order_value") * pl.col("frequency")
    shares = [c for c in df.columns if c.startswith("share_")]
    g = df.group_by(pl.col("segment").cast(pl.String)).agg(
        gross.sum().alias("gross"),
        *[(pl.col(c) * gross).sum().alias(c) for c in shares],
        (gross * (1 - pl.sum_horizontal(shares))).sum().alias("no_channel"))
    return {row["segment"]: {k: row[k] / row["gross"] for k in keys}
            for row in g.iter_rows(named=True)}


@pytest.fixture(scope="module")
def manychan(data):
    """21 channels, one of them literally "other": 16 share columns + the folded bucket."""
    names = ["other"] + [f"ch{i:02d}" for i in range(20)]
    path = _with_channels(data, "manychan",
                          lambda rng, n: [names[i] for i in rng.integers(0, len(names), n)])
    out = data["root"] / "r_manychan"
    segscore.run(path, out, config=build_config({"clustering": {"k": "off"}}))
    return out


def _check_mixes(r: dict, df: pl.DataFrame, keys: list[str]) -> None:
    """Every non-empty segment's channel_mix has ``keys`` in order, sums to 1 and equals the
    mix recomputed from the customer table (``_mix_by_segment``)."""
    want = _mix_by_segment(df, keys)
    for p in r["segments"]:
        if not p["customers"]:
            continue
        mix = p["channel_mix"]
        assert list(mix) == keys
        assert sum(mix.values()) == pytest.approx(1.0, abs=1e-12)
        for k in keys:
            assert mix[k] == pytest.approx(want[p["key"]][k], rel=1e-9, abs=1e-12), (p["key"], k)


def test_channel_named_other_beside_the_folded_bucket(manychan):
    r = _report(manychan)
    df = _customers(manychan)
    model = json.loads((manychan / "model.json").read_text())
    assert model["channel_columns"]["other"] is True
    keys = [ch["key"] for ch in r["channels"]]
    assert len(keys) == len(set(keys)) == 17
    assert set(keys) == {c for c in df.columns if c.startswith("share_")}
    real = {ch["key"]: ch["value"] for ch in r["channels"] if ch["kind"] == "channel"}
    assert real == model["channel_columns"]["columns"] and "other" in real.values()
    assert real[next(k for k, v in real.items() if v == "other")] == "other"
    assert [ch for ch in r["channels"] if ch["kind"] != "channel"] == [
        {"key": "share_other", "kind": "other", "value": None}]
    _check_mixes(r, df, keys)
    html = (manychan / "report" / "index.html").read_text("utf-8")
    head = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    assert head.count('<th title="share_') == 17
    assert '<th title="share_other_2">other</th>' in head
    assert '<th title="share_other"><i>other channels</i></th>' in head


@pytest.fixture(scope="module")
def nullchan(data):
    """The generated channels with 10 % of the rows' channel null (4 channels, no fold)."""
    path = _with_channels(data, "nullchan", lambda rng, n: [
        None if rng.random() < 0.1 else ["web", "app", "store", "marketplace"][rng.integers(4)]
        for _ in range(n)])
    out = data["root"] / "r_nullchan"
    segscore.run(path, out, config=build_config({"clustering": {"k": "off"}}))
    return out, path


def test_spend_without_a_channel_has_its_own_bucket(nullchan, off_run):
    out, path = nullchan
    r = _report(out)
    df = _customers(out)
    keys = [ch["key"] for ch in r["channels"]]
    assert r["channels"][-1] == {"key": "no_channel", "kind": "none", "value": None}
    assert "share_other" not in df.columns
    # independent: per segment, the purchase spend of rows with a null channel in the raw
    # transactions / all purchase spend of the segment's customers
    tx = pl.read_parquet(path).filter(pl.col("amount") > 0).join(
        df.select("customer_id", pl.col("segment").cast(pl.String)), on="customer_id")
    raw = {row["segment"]: row["none"] / row["all"] for row in tx.group_by("segment").agg(
        pl.col("amount").filter(pl.col("channel").is_null()).sum().alias("none"),
        pl.col("amount").sum().alias("all")).iter_rows(named=True)}
    _check_mixes(r, df, keys)
    for p in r["segments"]:
        if p["customers"]:
            assert p["channel_mix"]["no_channel"] == pytest.approx(raw[p["key"]], rel=1e-9)
    html = (out / "report" / "index.html").read_text("utf-8")
    assert '<th title="no_channel"><i>no channel</i></th>' in html
    # no null channel: no bucket, the share columns sum to 1 by themselves
    plain = _report(off_run)
    assert [ch["kind"] for ch in plain["channels"]] == ["channel"] * len(plain["channels"])
    for p in plain["segments"]:
        if p["customers"]:
            assert sum(p["channel_mix"].values()) == pytest.approx(1.0, abs=1e-12)


def test_polars_fallback_gives_the_same_channel_mix(nullchan):
    """The spend without a channel per segment, in integer currency units, from the numba
    pass and from the polars query (used when a dimension is not an Enum or has nulls), both
    equal to the raw transactions' null-channel purchase units, exactly."""
    from segscore.report.profile import _combination_sums, _sum_query

    df = _customers(nullchan[0]).with_columns(pl.col("segment").cast(pl.String).cast(
        pl.Enum(sorted(_customers(nullchan[0])["segment"].cast(pl.String).unique()))))
    shares = [c for c in df.columns if c.startswith("share_")]
    fast = _combination_sums(df, ["segment"], shares, True)[0].sort("segment")
    slow = _sum_query(df.lazy(), ["segment"], shares, True).collect().sort("segment")
    assert fast["unassigned_units"].sum() > 0
    assert fast["unassigned_units"].to_list() == slow["unassigned_units"].to_list()
    units = (pl.col("amount") * 10_000).round(0).cast(pl.Int64)
    truth = (pl.read_parquet(nullchan[1])
             .filter((pl.col("amount") > 0) & pl.col("channel").is_null())
             .join(df.select("customer_id", "segment"), on="customer_id")
             .group_by("segment").agg(units.sum().alias("units")))
    truth = dict(truth.select(pl.col("segment").cast(pl.String), "units").iter_rows())
    got = dict(fast.select(pl.col("segment").cast(pl.String), "unassigned_units").iter_rows())
    assert got == {seg: truth.get(seg, 0) for seg in got}


def test_older_reports_still_render(manychan):
    """A schema 2 report (channels = labels, channel_mix keyed by label) still renders."""
    from segscore.report import render_html
    from segscore.report.rerender import report_problem

    r = _report(manychan)
    label = {ch["key"]: ch["value"] or "other" for ch in r["channels"]
             if ch["key"] != "share_other_2"}  # schema 2 lost it: the labels clashed
    v2 = json.loads(json.dumps(r))
    v2["schema_version"] = 2
    v2["channels"] = list(label.values())
    for section in ("segments", "value_tiers", "lifecycle_stages"):
        for p in v2[section]:
            p["channel_mix"] = {label[k]: v for k, v in p["channel_mix"].items() if k in label}
    assert report_problem(v2) is None
    html = render_html(v2)
    head = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    assert "<th>ch19</th>" in head and "<th>other</th>" in head
    share = r["segments"][0]["channel_mix"]["share_ch19"]
    assert f"{100 * share:.1f}%" in html



def test_rf_tooltip_of_an_empty_cell_has_no_mean():
    """An R×F cell without customers has no mean (null in report.json): its tooltip says
    the count only; "–" is for a report.json that lacks the means altogether."""
    from segscore.report.charts import MISSING, rf_heatmap

    grid = {"q": 2, "counts": [[3, 0], [1, 2]], "mean_monetary": [[10.0, None], [4.5, 8.0]]}
    titles = [c["title"] for c in rf_heatmap(grid)["cells"]]
    assert titles == ["R=1 F=1: 3 customers, mean monetary 10.0", "R=1 F=2: 0 customers",
                      "R=2 F=1: 1 customers, mean monetary 4.5",
                      "R=2 F=2: 2 customers, mean monetary 8.0"]
    old = rf_heatmap({"q": 2, "counts": grid["counts"]})
    assert all(c["title"].endswith(f"mean monetary {MISSING}") for c in old["cells"])
