"""index.html with large rule tables (bins 9, a segment rule per R×F×M cell: 729 segments,
10 value tiers, 10 lifecycle stages, --previous): the migration heatmaps and share charts
show the MAX_KEYS largest keys and fold the rest; report.json keeps every key
(docs/report.md, index.html)."""

from __future__ import annotations

import json
import re
from html import unescape

import numpy as np
import pytest

import segscore
from segscore.config import build_config
from segscore.report import render_html
from segscore.report import charts
from segscore_datasets import generate_transactions

XSS = "<script>alert(1)</script>"
MAX_KEYS = 30  # charts.MAX_KEYS (the page tests run without it against the old code)
# one heatmap cell: <rect …><title>row → column: n (…% of row)</title></rect>
CELL = re.compile(r"<rect [^>]*><title>(.*?) → (.*?): ([\d,]+) \(")


def _large_config():
    rules = [{"key": f"c{r}{f}{m}", "name": f"Cell {r}{f}{m}", "r": [r, r], "f": [f, f],
              "m": [m, m], "action": "-"}
             for r in range(1, 10) for f in range(1, 10) for m in range(1, 10)]
    rules[0]["name"] = XSS  # keys are slugs; names are free text
    rules[-1] = {"key": "c999", "name": "Cell 999", "action": "-"}
    tiers = [{"key": f"t{i}", "name": f"T{i}", "min_monetary": 2000 / 2 ** i}
             for i in range(9)] + [{"key": "t_rest", "name": "Rest"}]
    stages = [{"key": f"s{i}", "name": f"S{i}", "recency_days": {"min": 40 * i,
                                                                  "max": 40 * i + 39}}
              for i in range(9)] + [{"key": "s_rest", "name": "S rest"}]
    return build_config({"scoring": {"bins": 9}, "segments": {"rules": rules},
                         "value_tier": {"method": "thresholds", "tiers": tiers},
                         "lifecycle": {"rules": stages}, "clustering": {"enabled": False}})


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    root = tmp_path_factory.mktemp("large")
    files = sorted(generate_transactions(root / "data", 1500, seed=3).files)
    cfg = _large_config()
    segscore.run(files, root / "prev", as_of="2026-03-31", config=cfg)
    segscore.run(files[1:], root / "cur", config=cfg, previous=root / "prev")
    report_dir = root / "cur" / "report"
    return {"html": (report_dir / "index.html").read_text("utf-8"),
            "report": json.loads((report_dir / "report.json").read_text("utf-8"))}


def _section(html: str, title: str) -> str:
    """The migration heatmap of one dimension (its <h3> up to the next heading)."""
    start = html.index(f"<h3>{title}: ")
    return html[start:html.index("<h", start + 4)]


def test_a_large_rule_table_gives_a_bounded_page(large):
    """730 × 730 migration cells were 118 MB of SVG (16 s to render); folded, the page is
    under 2 MB, and `segscore report` re-renders it identically."""
    html, r = large["html"], large["report"]
    assert len(r["segments"]) == 729 and len(r["migration"]["segments"]["rows"]) == 730
    assert len(html.encode()) < 2_000_000
    assert render_html(r) == html


def test_the_folded_heatmap_sums_to_the_full_matrix(large):
    """Every shown row sums to last night's group size and every column to tonight's, the
    "(other K keys)" row / column to the folded keys' sizes; all cells to the full total."""
    m = large["report"]["migration"]["segments"]
    full = np.array(m["customers"])
    cells = [(unescape(a), unescape(b), int(n.replace(",", "")))
             for a, b, n in CELL.findall(_section(large["html"], "Segments"))]
    rows = list(dict.fromkeys(a for a, _, _ in cells))
    cols = list(dict.fromkeys(b for _, b, _ in cells))
    assert len(rows) <= MAX_KEYS + 2 and len(cols) <= MAX_KEYS + 2
    assert sum(n for *_, n in cells) == full.sum()
    kept = {k for k in rows if not k.startswith("(")}
    assert len(kept) == MAX_KEYS
    name = dict(zip(m["rows"], m["row_names"]))
    other_prev = sum(v for k, v in m["previous_sizes"].items() if name[k] not in kept)
    other_cur = sum(v for k, v in m["current_sizes"].items() if name[k] not in kept)
    prev = {name[k]: v for k, v in m["previous_sizes"].items()} | {"(new)": m["new"]}
    cur = {name[k]: v for k, v in m["current_sizes"].items()} | {
        "(disappeared)": m["disappeared"]}
    for row in rows:
        want = other_prev if row.startswith("(other ") else prev[row]
        assert sum(n for a, _, n in cells if a == row) == want, row
    for col in cols:
        want = other_cur if col.startswith("(other ") else cur[col]
        assert sum(n for _, b, n in cells if b == col) == want, col
    # the kept keys are the largest by last night's plus tonight's customers
    size = {name[k]: m["previous_sizes"].get(k, 0) + m["current_sizes"].get(k, 0)
            for k in m["rows"][:-1]}
    assert min(size[k] for k in kept) >= max(v for k, v in size.items() if k not in kept)


def test_the_fold_is_noted_where_applied(large):
    html = large["html"]
    seg = _section(html, "Segments")
    assert "the 30 keys with the most customers" in seg
    assert "<code>migration.segments</code>" in seg
    assert re.search(r'font-style="italic">\(other \d+ keys\)</text>', seg)
    for title in ("Value tiers", "Lifecycle stages"):  # 10 keys each: every cell shown
        part = _section(html, title)
        assert "Too many keys" not in part and "(other " not in part
        assert len(CELL.findall(part)) == 11 * 11
    # the segments' share chart: the 30 largest and one folded bar; the table lists all 729
    chart = html[html.index('<h2 id="segments">'):html.index("<table")]
    assert chart.count("of customers</title>") == MAX_KEYS + 1
    assert "summed in <i>(other 699 keys)</i>" in chart


def test_escaping_holds_for_a_large_table(large):
    """A segment named <script>… is text wherever it shows, folded or not."""
    html, r = large["html"], large["report"]
    assert r["segments"][0]["name"] == XSS
    assert XSS not in html and html.count("<script") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # render it once more as one of the kept keys of the heatmap
    m = r["migration"]["segments"]
    big = max(range(len(m["rows"]) - 1), key=lambda i: sum(m["customers"][i]))
    m["row_names"][big] = XSS
    shown = render_html(r)
    assert XSS not in shown and shown.count("<script") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt; → " in shown


def _matrix(side: int) -> dict:
    """A migration matrix of `side` keys on both sides (+ new / disappeared)."""
    rng = np.random.default_rng(side)
    a = rng.integers(0, 50, (side + 1, side + 1))
    a[-1, -1] = 0
    keys = [f"k{i}" for i in range(side)]
    names = [f"K{i}" for i in range(side)]
    return {"rows": keys + [None], "columns": keys + [None],
            "row_names": names + ["(new)"], "column_names": names + ["(disappeared)"],
            "customers": a.tolist()}


def test_the_fold_starts_above_max_keys():
    """MAX_KEYS keys are shown as they are (the default tables are far below); one more and
    the smallest two are folded into one row and column, with the same sums."""
    assert charts.MAX_KEYS == MAX_KEYS
    fold_matrix = charts.fold_matrix
    m = _matrix(MAX_KEYS)
    assert fold_matrix(m)["customers"] is m["customers"] and fold_matrix(m)["kept"] == 0
    m = _matrix(MAX_KEYS + 1)
    f = fold_matrix(m)
    a, b = np.array(m["customers"]), np.array(f["customers"])
    assert f["kept"] == MAX_KEYS and b.shape == (MAX_KEYS + 2, MAX_KEYS + 2)
    assert f["rows"][-2] == ("(other 1 keys)", True) and f["rows"][-1] == ("(new)", True)
    assert b.sum() == a.sum()
    assert b.sum(axis=1)[-1] == a.sum(axis=1)[-1] and b.sum(axis=0)[-1] == a.sum(axis=0)[-1]
    assert all(isinstance(v, int) for row in f["customers"] for v in row)
