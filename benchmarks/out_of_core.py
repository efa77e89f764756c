"""Out-of-core benchmark (issue 5, part 4): a base larger than the pandas baseline can hold.

    python -m benchmarks.out_of_core --customers 50_000_000 [--cap-gib 20]
    python -m benchmarks.out_of_core --customers 50_000_000 --budget-gib 11

Generates the data once (``benchmarks/.cache/<n>/``), then runs, each in its own process:
segscore's full pipeline (k = 8, report included, default memory budget) and the pandas
baseline (read → group-by → qcut, clustering skipped) under an address-space cap of
``--cap-gib`` (RLIMIT_AS, below the machine's RAM, so a baseline that does not fit fails
with MemoryError instead of invoking the kernel's OOM killer). Peak RSS is the OS's
``ru_maxrss`` of each child. Raw results go to ``benchmarks/results/<n>-ooc.json`` and the
table to ``benchmarks/RESULTS_<n/1M>M.md`` (a size that is not a whole number of millions:
``RESULTS_ooc_<n>.md``). The 12 GiB target is judged only at 50M customers or more; a smaller
run (e.g. ``--customers 20000``, a few seconds: checks that the benchmark works) gets no verdict.

``--budget-gib G`` instead runs segscore alone with ``--memory-limit G GiB`` (the plan then
picks more partition passes) and checks that the OS peak stays within the budget; each such
run goes to ``benchmarks/results/<n>-budget-<G>.json`` and into the markdown's budget table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import datetime, timezone

from benchmarks.data import dataset_in_child
from benchmarks.scale import HERE, RESULTS_DIR, count_rows, run_child

TARGET_GIB = 12.0
TARGET_CUSTOMERS = 50_000_000  # the target's size (issue 5): smaller runs get no verdict


def size_label(n: int) -> str:
    """``50M`` for a whole number of millions, else the count (``20,000``)."""
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n:,}"


def results_md(n: int):
    """The markdown of ``n`` customers: ``RESULTS_50M.md``, or ``RESULTS_ooc_<n>.md`` for a
    size that is not a whole number of millions (20,000 used to give ``RESULTS_0M.md``)."""
    label = size_label(n)
    return HERE / (f"RESULTS_{label}.md" if label.endswith("M") else f"RESULTS_ooc_{n}.md")


def _verdict(n: int, ok: bool, gib: float) -> str:
    if n < TARGET_CUSTOMERS:
        return (f"Target ({TARGET_CUSTOMERS // 1_000_000}M customers complete with peak RSS "
                f"under {TARGET_GIB:.0f} GiB): not judged at {n:,} customers ({gib:.2f} GiB).")
    return (f"Target: {TARGET_CUSTOMERS // 1_000_000}M customers complete with peak RSS under "
            f"{TARGET_GIB:.0f} GiB: **{'met' if ok and gib < TARGET_GIB else 'MISSED'}** "
            f"({gib:.2f} GiB).")


def _stage_line(stages: dict) -> str:
    return ", ".join(f"{k} {v['wall_s']:.0f}" for k, v in stages.items() if v["wall_s"] >= 0.5)


def write_markdown(res: dict) -> str:
    n, seg, pdx = res["customers"], res["segscore"], res["pandas"]
    gib = seg["peak_rss_mb"] / 1024
    r = seg.get("result", {})
    lines = [
        f"# {size_label(n)} customers, out of core (measured {res['date']}, one run each)",
        "",
        f"Data: `segscore_datasets.generate_transactions(..., {n:_}, seed=0)`: "
        f"{res['rows']:,} rows in {res['files']} files. Machine: {res['machine']}.",
        "Each engine ran in its own process (`benchmarks/out_of_core.py`); peak RSS is the OS's "
        "`ru_maxrss` of that process.",
        "",
        "| engine | outcome | wall | peak RSS |",
        "|---|---|---|---|",
        f"| segscore (full pipeline, k = 8, report, default budget) | "
        f"{'completed' if seg['returncode'] == 0 else 'FAILED'}, "
        f"{r.get('customers', 0):,} scored customers, "
        f"{r.get('partitions', '?')} partition pass(es) | {seg['process_wall_s']:.0f} s | "
        f"{gib:.2f} GiB |",
        f"| pandas baseline (read → groupby → qcut, no clustering), address space capped at "
        f"{res['cap_gib']:.0f} GiB | "
        f"{'completed' if pdx['returncode'] == 0 else 'failed: ' + pdx['failure']} | "
        f"{pdx['process_wall_s']:.0f} s | {pdx['peak_rss_mb'] / 1024:.2f} GiB |",
        "",
        f"segscore stages (s): {_stage_line(r.get('stages', {}))}.",
        "",
        "The pandas cap is on address space (RLIMIT_AS), a little below the machine's "
        f"{res.get('ram_gib', '?')} GiB of RAM (no swap): without it the kernel's OOM killer "
        "would end the process instead, with the rest of the machine at risk.",
        "",
        *([res["note"], ""] if res.get("note") else []),
        _verdict(n, seg["returncode"] == 0, gib),
        "",
    ]
    return "\n".join(lines + _budget_lines(res["customers"]))


def _budget_lines(n: int) -> list[str]:
    """The markdown table of the --budget-gib runs of ``n`` customers (empty if none)."""
    runs = [json.loads(p.read_text()) for p in sorted(RESULTS_DIR.glob(f"{n}-budget-*.json"))]
    if not runs:
        return []
    lines = ["## Memory budget (`--memory-limit`)", "",
             "segscore alone under a budget (`python -m benchmarks.out_of_core --budget-gib G`): "
             "the plan picks the passes from Parquet footers and a distinct-id count; the peak "
             "is the OS's `ru_maxrss`.", "",
             "| date (commit) | budget | outcome | passes | plan's estimate | peak RSS | within |",
             "|---|---|---|---|---|---|---|"]
    for b in runs:
        r = b["segscore"].get("result", {})
        plan = r.get("memory_plan", {})
        peak = b["segscore"]["peak_rss_mb"] / 1024
        ok = b["segscore"]["returncode"] == 0
        outcome = "completed" if ok else "refused: " + b["segscore"].get("failure", "?")
        est = f"{plan['estimated_peak_bytes'] / 2**30:.2f} GiB" if plan else "–"
        within = ("yes" if peak <= b["budget_gib"] else "**NO**") if ok else "–"
        lines.append(f"| {b['date']} ({b.get('git', '?')}) | {b['budget_gib']:g} GiB | "
                     f"{outcome} | {plan.get('partitions', '–')} | {est} | {peak:.2f} GiB | "
                     f"{within} |")
    return lines + [""]


def _git_head() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE.parent,
                              capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        return "?"


def budget_run(n: int, src, budget_gib: float) -> dict:
    """segscore alone under ``budget_gib``: its record, saved as results/<n>-budget-<G>.json."""
    with tempfile.TemporaryDirectory(prefix="ooc-budget-") as tmp:
        seg = run_child(["-m", "benchmarks.runner", "segscore", str(src), "--out", f"{tmp}/o",
                         "--memory-limit-gib", str(budget_gib)])
    tail = (seg.get("stderr_tail") or "").strip().splitlines()
    if seg["returncode"] != 0:
        seg["failure"] = tail[-1][:200] if tail else f"exit {seg['returncode']}"
    rec = {"customers": n, "budget_gib": budget_gib, "segscore": seg, "git": _git_head(),
           "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")}
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"{n}-budget-{budget_gib:g}.json").write_text(json.dumps(rec, indent=2) + "\n")
    return rec


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=lambda x: int(x.replace("_", "")), default=50_000_000)
    p.add_argument("--cap-gib", type=float, default=20.0)
    p.add_argument("--note", default="", help="a line about the conditions, kept in the JSON")
    p.add_argument("--budget-gib", type=float,
                   help="run segscore alone under this --memory-limit and record its peak")
    p.add_argument("--render-only", action="store_true",
                   help="rebuild the markdown from results/<n>-ooc.json (with --note if given)")
    a = p.parse_args(argv)
    raw = RESULTS_DIR / f"{a.customers}-ooc.json"
    out = results_md(a.customers)
    if a.render_only:
        res = json.loads(raw.read_text())
        res["note"] = a.note or res.get("note", "")
        raw.write_text(json.dumps(res, indent=2) + "\n")
        out.write_text(write_markdown(res))
        print(out.read_text())
        return
    src = dataset_in_child(a.customers) / "transactions"  # generator's peak: not ours
    if a.budget_gib:
        b = budget_run(a.customers, src, a.budget_gib)
        print(json.dumps({k: v for k, v in b["segscore"].items() if k != "stderr_tail"}))
        if raw.exists():
            out.write_text(write_markdown(json.loads(raw.read_text())))
        return
    rows, _ = count_rows(src)
    res = {"customers": a.customers, "rows": rows, "files": len(list(src.glob("*.parquet"))),
           "cap_gib": a.cap_gib, "note": a.note,
           "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
           "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
           "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory(prefix="ooc-") as tmp:
        seg = run_child(["-m", "benchmarks.runner", "segscore", str(src), "--out", f"{tmp}/o"])
        if "result" in seg:
            manifest = json.loads(open(f"{tmp}/o/manifest.json").read())
            seg["result"]["partitions"] = manifest["memory"]["partitions"]
        res["segscore"] = seg
    t0 = time.perf_counter()
    pdx = run_child(["-m", "benchmarks.runner", "pandas", str(src), "--no-cluster",
                     "--memory-cap-gib", str(a.cap_gib)])
    tail = (pdx.get("stderr_tail") or "").strip().splitlines()
    pdx["failure"] = tail[-1][:200] if tail else f"exit {pdx['returncode']}"
    pdx["seconds_to_outcome"] = time.perf_counter() - t0
    res["pandas"] = pdx
    RESULTS_DIR.mkdir(exist_ok=True)
    raw.write_text(json.dumps(res, indent=2) + "\n")
    out.write_text(write_markdown(res))
    print(out.read_text())


if __name__ == "__main__":
    main()
