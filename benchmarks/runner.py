"""Run ONE engine once, in this process, and print a JSON line with its timings.

    python -m benchmarks.runner ENGINE TRANSACTIONS_DIR [--scores FILE] [--out DIR]
                                [--no-cluster] [--memory-cap-gib G] [--memory-limit-gib G]

ENGINE: segscore (full pipeline, k = 8, written to --out, report included),
segscore_noclust (clustering disabled), pandas, polars, duckdb.
``work_s`` is the wall time of the engine's work (imports excluded, the same for every
engine); the parent process measures the whole process wall and the OS peak RSS (wait4).
Scores (customer_id, features, r/f/m scores) go to ``--scores`` for the agreement check;
that write is not timed.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path


def _git_state() -> str:
    """HEAD and whether the engine's source differs from it (others commit during runs)."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "native_kernels"],
                               cwd=root, capture_output=True, text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except OSError:
        return "?"


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("engine")
    p.add_argument("src")
    p.add_argument("--scores")
    p.add_argument("--out")
    p.add_argument("--no-cluster", action="store_true",
                   help="baselines: skip the clustering stage")
    p.add_argument("--memory-limit-gib", type=float,
                   help="segscore: its memory budget (--memory-limit), which sets the passes")
    p.add_argument("--memory-cap-gib", type=float,
                   help="cap this process's address space (RLIMIT_AS): an engine that needs "
                        "more fails with MemoryError instead of invoking the OOM killer")
    a = p.parse_args(argv)
    if a.memory_cap_gib:
        cap = int(a.memory_cap_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    t_import = time.perf_counter()
    info: dict = {"engine": a.engine, "git": _git_state()}
    cols = ["customer_id", "recency_days", "frequency", "monetary",
            "r_score", "f_score", "m_score"]
    if a.engine.startswith("segscore"):
        # the API names, not only the package: ``import segscore`` alone loads neither polars
        # nor numba (the CLI's start), and their import belongs in import_s, not in work_s
        from segscore import run as segscore_run
        from segscore.config import build_config

        cfg = ({"clustering": {"enabled": False}} if a.engine == "segscore_noclust"
               else {"clustering": {"k": 8}})
        config = build_config(cfg)
        info["import_s"] = time.perf_counter() - t_import
        t0 = time.perf_counter()
        limit = int(a.memory_limit_gib * 2**30) if a.memory_limit_gib else None
        res = segscore_run(a.src, out=a.out, config=config, overwrite=True,
                           memory_limit_bytes=limit)
        info["memory_plan"] = res.manifest["memory"]
        info["work_s"] = time.perf_counter() - t0
        info["stages"] = {s["stage"] if "stage" in s else s["name"]: s for s in res.timings}
        info["customers"] = res.customers.height
        table = res.customers.select(cols)
    else:
        import importlib

        mod = importlib.import_module(f"benchmarks.baselines.{a.engine}_baseline")
        import polars as pl

        info["import_s"] = time.perf_counter() - t_import
        timings: dict = {}
        t0 = time.perf_counter()
        out = mod.prepare(Path(a.src), timings)
        info["prepare_s"] = time.perf_counter() - t0
        # partial result first: the parent may kill a clustering stage that runs too long
        print("PARTIAL " + json.dumps({**info, "stages": {k: {"wall_s": v} for k, v in
                                                          timings.items() if k != "rank_fallback"}}))
        sys.stdout.flush()
        if hasattr(mod, "add_clusters") and not a.no_cluster:
            out = mod.add_clusters(out, timings)
        info["work_s"] = time.perf_counter() - t0
        info["rank_fallback"] = timings.pop("rank_fallback", [])
        info["stages"] = {k: {"wall_s": v} for k, v in timings.items()}
        if not isinstance(out, pl.DataFrame):
            out = pl.from_pandas(out[cols])
        info["customers"] = out.height
        table = out.select(cols)
    info["self_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if a.scores:
        table.write_parquet(a.scores)
    print("RESULT " + json.dumps(info, default=str))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
