"""Chart geometry for index.html, computed from a report dict.

Every function returns plain data (numbers, colours built from numbers, and label strings);
the jinja template turns it into inline SVG with autoescaping on, so labels coming from the
data (segment names, attribute values…) are always escaped. Nothing here emits markup.
"""

from __future__ import annotations

import math

import numpy as np

BLUE = (74, 123, 209)
ORANGE = (232, 138, 46)
#: the text of a number report.json does not have (a report written before the field was
#: added, or an edited one): not blank, which is a null (docs/report.md)
MISSING = "–"
#: the most keys a migration heatmap or a share chart shows: beyond it, the largest ones and
#: one "(other K keys)" row / column / bar summing the rest (docs/report.md, index.html)
MAX_KEYS = 30


def _rgb(c) -> str:
    return f"rgb({int(c[0])},{int(c[1])},{int(c[2])})"


def heat(t: float) -> str:
    """White → dark blue for t in [0, 1]."""
    t = 0.0 if t is None or not math.isfinite(t) else min(max(t, 0.0), 1.0)
    lo, hi = (247, 251, 255), (8, 48, 107)
    return _rgb([lo[i] + (hi[i] - lo[i]) * t for i in range(3)])


def ink(t: float) -> str:
    """Readable text colour on heat(t)."""
    return "#fff" if (t or 0) > 0.55 else "#111"


def _fmt_pct(x) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _fmt_num(x) -> str:
    if x is None:
        return ""
    if abs(x) >= 1e6:
        return f"{x / 1e6:.1f}M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:.0f}k"
    return f"{x:.1f}"  # whole or not (no "484" beside "413.5")


def _largest(sizes: list[int], n: int) -> set[int]:
    """Indices of the n largest sizes (ties: the first)."""
    return set(sorted(range(len(sizes)), key=lambda i: (-sizes[i], i))[:n])


def fold_profiles(profiles: list[dict], n: int = MAX_KEYS) -> tuple[list[dict], int]:
    """More than n groups: the n with the most customers, in their order, then one
    "(other K keys)" group with the rest's summed shares; and K (0: not folded)."""
    if len(profiles) <= n:
        return profiles, 0
    keep = _largest([p.get("customers") or 0 for p in profiles], n)
    rest = [p for i, p in enumerate(profiles) if i not in keep]
    other = {"name": f"(other {len(rest)} keys)", "synthetic": True}
    for f in ("customer_share", "revenue_share"):
        if all(f in p for p in rest):
            other[f] = math.fsum(p[f] or 0.0 for p in rest)
    return [p for i, p in enumerate(profiles) if i in keep] + [other], len(rest)


def share_bars(profiles: list[dict], label_w: int = 170, bar_w: int = 420) -> dict:
    """Customer share vs revenue share per group (two bars per row; folded beyond
    MAX_KEYS groups)."""
    profiles, folded = fold_profiles(profiles)
    row_h, pad = 34, 24
    top = max([p.get("customer_share") or 0 for p in profiles] +
              [abs(p.get("revenue_share") or 0) for p in profiles] + [1e-9])
    rows = []
    for i, p in enumerate(profiles):
        y = pad + i * row_h
        cs, rs = p.get("customer_share") or 0.0, p.get("revenue_share") or 0.0
        rows.append({
            "label": str(p.get("name", p.get("key"))), "y": y, "ty": y + 15,
            "cw": round(bar_w * cs / top, 1), "rw": round(bar_w * max(rs, 0.0) / top, 1),
            "cy": y + 2, "ry": y + 15,
            "ctext": _fmt_pct(cs) if "customer_share" in p else MISSING,
            "rtext": _fmt_pct(rs) if "revenue_share" in p else MISSING,
            "ctx": label_w + round(bar_w * cs / top, 1) + 4,
            "rtx": label_w + round(bar_w * max(rs, 0.0) / top, 1) + 4,
            "synthetic": p.get("synthetic", False),
        })
    return {"width": label_w + bar_w + 70, "height": pad + len(profiles) * row_h + 10,
            "x0": label_w, "rows": rows, "c_color": _rgb(BLUE), "r_color": _rgb(ORANGE),
            "folded": folded}


def rf_heatmap(grid: dict | None) -> dict | None:
    if not grid or not grid.get("counts"):
        return None
    q = grid["q"]
    cell, x0, y0 = 70, 60, 20
    counts, mm = grid["counts"], grid.get("mean_monetary")
    lacks_means = mm is None  # a report.json without them: "–"; an empty cell's is null
    mm = mm or [[None] * q] * q
    peak = max(max(r) for r in counts) or 1
    cells = []
    for r in range(q):
        for f in range(q):
            n = counts[r][f]
            t = n / peak
            cells.append({"x": x0 + f * cell, "y": y0 + (q - 1 - r) * cell, "w": cell - 2,
                          "fill": heat(t), "ink": ink(t), "n": f"{n:,}",
                          "m": "" if mm[r][f] is None else f"avg {_fmt_num(mm[r][f])}",
                          "title": f"R={r + 1} F={f + 1}: {n:,} customers"
                                   + (f", mean monetary {MISSING}" if lacks_means
                                      else "" if mm[r][f] is None
                                      else f", mean monetary {_fmt_num(mm[r][f])}")})
    return {"width": x0 + q * cell + 20, "height": y0 + q * cell + 50, "cells": cells,
            "xlabels": [{"x": x0 + f * cell + cell / 2, "t": str(f + 1)} for f in range(q)],
            "ylabels": [{"y": y0 + (q - 1 - r) * cell + cell / 2 + 4, "t": str(r + 1)}
                        for r in range(q)],
            "xaxis_y": y0 + q * cell + 18, "xtitle_y": y0 + q * cell + 40,
            "xmid": x0 + q * cell / 2, "ymid": y0 + q * cell / 2, "cell": cell}


def pareto(conc: dict | None) -> dict | None:
    if not conc or not conc.get("pareto") or conc.get("revenue") == 0:  # no shares
        return None
    w, h, x0, y0 = 420, 300, 50, 15
    pts = conc["pareto"]
    lo = min(0.0, min(p["revenue_share"] for p in pts))
    hi = max(1.0, max(p["revenue_share"] for p in pts))
    sx = lambda v: x0 + w * v  # noqa: E731
    sy = lambda v: y0 + h * (hi - v) / (hi - lo)  # noqa: E731
    line = " ".join(f"{sx(p['customer_share']):.1f},{sy(p['revenue_share']):.1f}" for p in pts)
    marks = [{"x": round(sx(t["customer_share"]), 1), "y": round(sy(t["revenue_share"]), 1),
              "t": f"top {100 * t['customer_share']:.0f}% → {100 * t['revenue_share']:.1f}%"}
             for t in conc.get("top_shares", [])]
    ticks = [{"x": round(sx(v), 1), "y": round(sy(v), 1), "t": f"{int(v * 100)}%"}
             for v in (0, 0.25, 0.5, 0.75, 1.0)]
    return {"width": x0 + w + 30, "height": y0 + h + 45, "line": line,
            "diag": f"{sx(0):.1f},{sy(0):.1f} {sx(1):.1f},{sy(1):.1f}",
            "box": {"x": x0, "y": y0, "w": w, "h": h}, "marks": marks, "ticks": ticks,
            "xbase": y0 + h, "xt_y": y0 + h + 16, "xtitle_y": y0 + h + 36,
            "xmid": x0 + w / 2}


def _fold_axis(a: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """The rows of a summed per group of row indices."""
    return np.stack([a[g].sum(axis=0) for g in groups])


def fold_matrix(m: dict, n: int = MAX_KEYS) -> dict:
    """A migration matrix as the page shows it: ``{rows, columns: [(name, synthetic)],
    customers, kept}``. With more than n keys on a side, the n keys with the most customers
    (last night's plus tonight's) keep their row and column, in the matrix's order; the
    others are summed, exactly, into one "(other K keys)" row and column before the new row
    and the disappeared column, so row and column sums are still the group sizes. ``kept``:
    n when folded, else 0."""
    rows = [(name, key is None) for name, key in zip(m["row_names"], m["rows"])]
    cols = [(name, key is None) for name, key in zip(m["column_names"], m["columns"])]
    if len(rows) - 1 <= n and len(cols) - 1 <= n:
        return {"rows": rows, "columns": cols, "customers": m["customers"], "kept": 0}
    a = np.asarray(m["customers"], dtype=np.int64)
    size: dict = {}
    for keys, sums in ((m["rows"][:-1], a[:-1].sum(axis=1)),
                       (m["columns"][:-1], a[:, :-1].sum(axis=0))):
        for key, s in zip(keys, sums.tolist()):
            size[key] = size.get(key, 0) + s
    order = list(size)
    keep = {order[i] for i in _largest([size[k] for k in order], n)}

    def groups(keys, labels):
        kept = [i for i, k in enumerate(keys[:-1]) if k in keep]
        rest = [i for i, k in enumerate(keys[:-1]) if k not in keep]
        last = len(keys) - 1
        out = [[i] for i in kept] + ([rest] if rest else []) + [[last]]
        names = ([labels[i] for i in kept] + ([(f"(other {len(rest)} keys)", True)] if rest
                                              else []) + [labels[last]])
        return out, names

    rg, rows = groups(m["rows"], rows)
    cg, cols = groups(m["columns"], cols)
    folded = _fold_axis(_fold_axis(a, rg).T, cg).T
    return {"rows": rows, "columns": cols, "customers": folded.tolist(), "kept": len(keep)}


def matrix_heatmap(m: dict | None) -> dict | None:
    """Migration matrix: colour by the share of the row (previous group) in each cell
    (folded beyond MAX_KEYS keys: fold_matrix)."""
    if not m or not m.get("customers"):
        return None
    f = fold_matrix(m)
    rows, cols, counts = [r[0] for r in f["rows"]], [c[0] for c in f["columns"]], f["customers"]
    cell_w, cell_h, x0, y0 = 78, 30, 170, 120
    cells = []
    for i, rname in enumerate(rows):
        tot = sum(counts[i]) or 1
        for j, cname in enumerate(cols):
            n = counts[i][j]
            t = n / tot
            cells.append({"x": x0 + j * cell_w, "y": y0 + i * cell_h, "w": cell_w - 2,
                          "h": cell_h - 2, "fill": heat(t), "ink": ink(t), "n": f"{n:,}",
                          "title": f"{rname} → {cname}: {n:,} ({100 * t:.1f}% of row)"})
    return {"width": x0 + len(cols) * cell_w + 20, "height": y0 + len(rows) * cell_h + 20,
            "cells": cells, "cw": cell_w, "ch": cell_h,
            # the synthetic "(new)" row and "(disappeared)" column (key null) and the folded
            # "(other K keys)" in italics, so a segment a config names "(new)" is not taken
            # for them
            "rlabels": [{"y": y0 + i * cell_h + cell_h / 2 + 4, "t": str(n),
                         "synthetic": synthetic}
                        for i, (n, synthetic) in enumerate(f["rows"])],
            "clabels": [{"x": x0 + j * cell_w + cell_w / 2, "y": y0 - 8, "t": str(n),
                         "synthetic": synthetic}
                        for j, (n, synthetic) in enumerate(f["columns"])],
            "x0": x0, "kept": f["kept"], "full": f"{len(m['rows'])} × {len(m['columns'])}"}


def cluster_bars(clusters: list[dict] | None) -> dict | None:
    """Per cluster, the centroid's z-scores per feature as diverging bars."""
    if not clusters:
        return None
    feats = []
    for c in clusters:
        for f in (c.get("centroid_z") or {}):
            if f not in feats:
                feats.append(f)
    if not feats:
        return None
    panel_w, bar_h, half, label_w, top = 400, 18, 110, 110, 46
    zmax = max([abs(v) for c in clusters for v in (c.get("centroid_z") or {}).values()
                if v is not None] + [1.0])
    panels = []
    panel_h = top + 10 + len(feats) * (bar_h + 4)
    for k, c in enumerate(clusters):
        bars = []
        cx = label_w + half
        for i, f in enumerate(feats):
            z = (c.get("centroid_z") or {}).get(f)
            z = 0.0 if z is None else z
            ln = half * abs(z) / zmax
            y = top + i * (bar_h + 4)
            bars.append({"label": f, "y": y, "ty": y + 13,
                         "x": round(cx - ln if z < 0 else cx, 1), "w": round(ln, 1),
                         "fill": _rgb(ORANGE if z < 0 else BLUE), "t": f"{z:+.2f}",
                         "tx": label_w + 2 * half + 8})
        name = str(c.get("name"))
        short = name if len(name) <= 48 else name[:47] + "…"
        customers = f"{c['customers']:,}" if "customers" in c else MISSING
        share = _fmt_pct(c["customer_share"]) if "customer_share" in c else MISSING
        panels.append({"x": (k % 3) * panel_w, "y": (k // 3) * panel_h,
                       "title": f"cluster {c.get('key')} · {customers} customers · {share}",
                       "subtitle": short, "full": name,
                       "bars": bars, "axis": cx, "axis_top": top - 4,
                       "axis_h": top + len(feats) * (bar_h + 4)})
    rows = (len(clusters) + 2) // 3
    return {"width": min(len(clusters), 3) * panel_w, "height": rows * panel_h + 10,
            "panels": panels}


def _seconds(stage: dict, key: str) -> str:
    """A stage's seconds as text: 3 decimals (0 for null), MISSING when it has no ``key``."""
    return f"{stage[key] or 0.0:.3f}" if key in stage else MISSING


def stage_bars(stages: list[dict] | None) -> dict | None:
    if not stages:
        return None
    label_w, bar_w, row_h = 130, 400, 26
    top = max([s.get("wall_s") or 0 for s in stages] + [s.get("cpu_s") or 0 for s in stages]
              + [1e-9])
    rows = []
    for i, s in enumerate(stages):
        y = 20 + i * row_h
        wall, cpu = s.get("wall_s") or 0.0, s.get("cpu_s") or 0.0
        rows.append({"label": str(s.get("stage")), "y": y, "ty": y + 14,
                     "ww": round(bar_w * wall / top, 1), "cw": round(bar_w * cpu / top, 1),
                     "t": f"{_seconds(s, 'wall_s')} s wall · {_seconds(s, 'cpu_s')} s CPU",
                     "tx": label_w + round(bar_w * max(wall, cpu) / top, 1) + 4})
    return {"width": label_w + bar_w + 200, "height": 30 + len(stages) * row_h, "x0": label_w,
            "rows": rows, "w_color": _rgb(BLUE), "c_color": _rgb(ORANGE)}


def all_charts(r: dict) -> dict:
    mig = r.get("migration") or {}
    return {
        "segments": share_bars(r.get("segments") or []),
        "value_tiers": share_bars(r.get("value_tiers") or []),
        "lifecycle_stages": share_bars(r.get("lifecycle_stages") or []),
        "rf": rf_heatmap(r.get("rf_grid")),
        "pareto": pareto(r.get("concentration")),
        "migration": {k: matrix_heatmap(mig.get(k))
                      for k in ("segments", "value_tiers", "lifecycle_stages")},
        "clusters": cluster_bars(r.get("clusters")),
        "stages": stage_bars((r.get("performance") or {}).get("stages")),
    }
