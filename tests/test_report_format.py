"""report.json's shape against docs/report.md (key order, fields present when clustering is
off, skipped stages), the channel mix on awkward channel data (a channel named "other"
beside the folded bucket, channels with null values), exact Lorenz / Pareto points and the
HTML's number formats. Small generated data; numbers checked against the output Parquet."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

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


def test_clustering_off_fields_are_null_and_the_skipped_stage_is_left_out(off_run):
    r = _report(off_run)
    assert r["clusters"] == []
    assert "cluster_features" in r and r["cluster_features"] is None
    assert "cluster_selection" in r and r["cluster_selection"] is None
    manifest = json.loads((off_run / "manifest.json").read_text())
    assert "cluster" in {s["stage"] for s in manifest["timings"]}  # entered, nothing done
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
