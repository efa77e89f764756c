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
