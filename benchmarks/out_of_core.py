"""Out-of-core benchmark (issue 5, part 4): a base larger than the pandas baseline can hold.

    python -m benchmarks.out_of_core --customers 50_000_000 [--cap-gib 20]

Generates the data once (``benchmarks/.cache/<n>/``), then runs, each in its own process:
segscore's full pipeline (k = 8, report included, default memory budget) and the pandas
baseline (read → group-by → qcut, clustering skipped) under an address-space cap of
``--cap-gib`` (RLIMIT_AS, below the machine's RAM, so a baseline that does not fit fails
with MemoryError instead of invoking the kernel's OOM killer). Peak RSS is the OS's
``ru_maxrss`` of each child. Raw results go to ``benchmarks/results/<n>-ooc.json`` and the
table to ``benchmarks/RESULTS_<n/1M>M.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import datetime, timezone

from benchmarks.data import transactions
from benchmarks.scale import HERE, RESULTS_DIR, count_rows, run_child

TARGET_GIB = 12.0


def _stage_line(stages: dict) -> str:
    return ", ".join(f"{k} {v['wall_s']:.0f}" for k, v in stages.items() if v["wall_s"] >= 0.5)


def write_markdown(res: dict) -> str:
    n, seg, pdx = res["customers"], res["segscore"], res["pandas"]
    gib = seg["peak_rss_mb"] / 1024
    r = seg.get("result", {})
    lines = [
        f"# {n // 1_000_000}M customers, out of core (measured {res['date']}, one run each)",
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
        f"Target: 50M customers complete with peak RSS under {TARGET_GIB:.0f} GiB: "
        f"**{'met' if seg['returncode'] == 0 and gib < TARGET_GIB else 'MISSED'}** "
        f"({gib:.2f} GiB).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=lambda x: int(x.replace("_", "")), default=50_000_000)
    p.add_argument("--cap-gib", type=float, default=20.0)
    p.add_argument("--note", default="", help="a line about the conditions, kept in the JSON")
    p.add_argument("--render-only", action="store_true",
                   help="rebuild the markdown from results/<n>-ooc.json (with --note if given)")
    a = p.parse_args(argv)
    raw = RESULTS_DIR / f"{a.customers}-ooc.json"
    out = HERE / f"RESULTS_{a.customers // 1_000_000}M.md"
    if a.render_only:
        res = json.loads(raw.read_text())
        res["note"] = a.note or res.get("note", "")
        raw.write_text(json.dumps(res, indent=2) + "\n")
        out.write_text(write_markdown(res))
        print(out.read_text())
        return
    src = transactions(a.customers)
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
