"""Scale benchmark: segscore vs the pandas / polars / DuckDB baselines (issue 5, part 3).

    python -m benchmarks.scale --customers 10_000_000 --repeat 3

Generates the data once (``benchmarks/.cache/<n>/``), runs one segscore warm-up (its time is
recorded as the first run of the session), then ``--repeat`` rounds in which every engine runs
once, alternating (in a seeded random order per round; every input file is read right before
each run so all engines start with the data in the page cache), each in its own subprocess
(``benchmarks.runner``). Peak RSS is the OS's ``ru_maxrss`` of that child (``os.wait4``).
On Linux that is at least this process's own peak RSS when the child started (carried over
at exec; ~0.3 GiB: this process imports the baselines' packages for their versions), so at
small sizes the baselines' peaks show that floor; the data is generated in a child process
for the same reason.
A baseline whose clustering stage exceeds ``--cluster-timeout`` is killed; its clustering time
is then a lower bound, and later rounds run it without clustering (its pre-clustering stages
are still timed every round).
Also measures numba cold vs warm start in fresh processes (empty vs filled NUMBA_CACHE_DIR).

Raw measurements go to ``benchmarks/results/<n>.json``; ``benchmarks/RESULTS.md`` is rebuilt
from every JSON file there (``--report-only`` rebuilds it without running anything).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_DIR = HERE / "results"
ENGINES = ("segscore", "pandas", "segscore_noclust", "polars", "duckdb")
NOT_ISSUE2 = ("cluster", "report")  # issue 2's path is every other stage (ingest → write)


def _env() -> dict:
    env = dict(os.environ)
    paths = [str(ROOT / "src"), str(ROOT), str(ROOT / "datasets")]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run_child(args: list[str], timeout: float | None = None, env: dict | None = None) -> dict:
    """Run ``python args...`` and return wall, peak RSS (wait4) and the RESULT/PARTIAL line."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *args], stdout=out, stderr=err,
                                env=env or _env(), cwd=ROOT)
        killed = False
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if timeout is not None and time.perf_counter() - t0 > timeout:
                proc.kill()
                killed = True
                pid, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        text, errtext = out.read(), err.read()
    res: dict = {"process_wall_s": wall, "peak_rss_mb": ru.ru_maxrss / 1024,
                 "returncode": proc.returncode, "killed": killed}
    for line in text.splitlines():
        if line.startswith("PARTIAL ") and "result" not in res:
            res["partial"] = json.loads(line[8:])
        if line.startswith("RESULT "):
            res["result"] = json.loads(line[7:])
        if line.startswith("COLD "):
            res["cold"] = json.loads(line[5:])
    if proc.returncode != 0 and not killed:
        res["stderr_tail"] = errtext[-2000:]
    return res


COLD_SNIPPET = r"""
import json, sys, time
t0 = time.perf_counter()
from segscore import run  # the API name: ``import segscore`` alone loads no polars / numba
from segscore.config import build_config
t1 = time.perf_counter()
res = run(sys.argv[1], config=build_config({"clustering": {"k": 8}}))
t2 = time.perf_counter()
print("COLD " + json.dumps({"import_s": t1 - t0, "run_s": t2 - t1,
                            "stages": {s["stage"]: s["wall_s"] for s in res.timings}}))
"""


def cold_warm(tiny_src: Path) -> dict:
    """numba start-up: fresh process scoring a tiny table, empty then filled kernel cache."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = _env()
        env["NUMBA_CACHE_DIR"] = cache
        for label in ("cold", "warm", "warm2"):
            r = run_child(["-c", COLD_SNIPPET, str(tiny_src)], env=env)
            out[label] = {"process_wall_s": r["process_wall_s"], **r.get("cold", {}),
                          "error": r.get("stderr_tail")}
    return out


def count_rows(src: Path) -> tuple[int, int]:
    import pyarrow.parquet as pq

    files = sorted(src.glob("*.parquet"))
    return (sum(pq.ParquetFile(f).metadata.num_rows for f in files),
            sum(f.stat().st_size for f in files))


def machine() -> dict:
    import psutil

    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    vers = {"python": platform.python_version()}
    for mod in ("polars", "numba", "numpy", "pandas", "sklearn", "duckdb", "pyarrow"):
        try:
            vers[mod] = __import__(mod).__version__
        except Exception as e:  # pragma: no cover
            vers[mod] = f"n/a ({e})"
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip()
    except OSError:
        head = "?"
    return {"cpu_model": model, "logical_cpus": os.cpu_count(),
            "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "os": platform.platform(), "versions": vers, "git_head": head,
            "load_avg_at_start": os.getloadavg()}


def run_size(n: int, repeat: int, engines: tuple[str, ...], cluster_timeout: float,
             warm_gib: float = 0.0) -> dict:
    from benchmarks.data import dataset_in_child

    t0 = time.perf_counter()
    base = dataset_in_child(n)  # not in this process: its peak would floor every child's
    gen_s = time.perf_counter() - t0
    src = base / "transactions"
    rows, nbytes = count_rows(src)
    work = base / "runs"
    work.mkdir(exist_ok=True)
    rec = {"customers_generated": n, "rows": rows, "parquet_bytes": nbytes,
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": machine(), "repeat": repeat, "cluster_timeout_s": cluster_timeout,
           "data_ready_s": gen_s, "runs": {e: [] for e in engines}, "cluster_killed": {},
           "warm_gib": warm_gib,
           "engine_order": "shuffled per round (seeded); inputs read into the page cache "
                           "before every run"}

    def one(engine: str, scores: bool) -> dict:
        if warm_gib:
            warm_memory(warm_gib)
        cache_inputs(src)
        args = ["-m", "benchmarks.runner", engine, str(src), "--out", str(work / f"out-{engine}")]
        if scores:
            args += ["--scores", str(work / f"scores-{engine}.parquet")]
        timeout = None
        if engine in ("pandas", "polars"):
            if engine in rec["cluster_killed"]:
                args.append("--no-cluster")
            else:
                timeout = cluster_timeout
        r = run_child(args, timeout=timeout)
        if r["killed"]:
            part = r.get("partial", {})
            rec["cluster_killed"][engine] = {"prepare_s": part.get("prepare_s"),
                                             "cluster_lower_bound_s":
                                             r["process_wall_s"] - part.get("import_s", 0)
                                             - part.get("prepare_s", 0),
                                             "peak_rss_mb": r["peak_rss_mb"]}
            r["result"] = {**part, "work_s": None}
        print(f"[{n}] {engine}: wall {r['process_wall_s']:.1f}s rss {r['peak_rss_mb']:.0f}MB"
              f" work {r.get('result', {}).get('work_s')} killed={r['killed']}"
              + (f" ERR {r.get('stderr_tail')}" if r.get("stderr_tail") else ""), flush=True)
        return r

    if "segscore" in engines:
        rec["segscore_first_run"] = one("segscore", scores=False)
    for i in range(repeat):
        # a different order every round (seeded): no engine always runs right after the same
        # one (in session 4 the engine after pandas ran 10-20 % slower at 10M)
        order = list(engines)
        random.Random(i).shuffle(order)
        for e in order:
            rec["runs"][e].append(one(e, scores=(i == 0)))
    rec["agreement"] = agreement(work, engines)
    tiny = HERE / ".cache" / "tiny"
    if not tiny.exists():
        from segscore_datasets import generate_transactions

        generate_transactions(tiny, 1000, seed=1, attributes=False)
    rec["numba_start"] = cold_warm(tiny / "transactions")
    return rec


WARM_SNIPPET = "import numpy, sys; numpy.ones(int(float(sys.argv[1]) * 2**27))"


def cache_inputs(*paths: Path) -> None:
    """Read every input file once right before an engine starts, so each engine finds the
    data in the page cache (pandas' 7 GiB plus the memory warm-up can evict it). A path is a
    Parquet file or a directory (its ``*.parquet`` files, recursively)."""
    for path in paths:
        for f in [path] if path.is_file() else sorted(path.rglob("*.parquet")):
            with open(f, "rb") as fh:
                while fh.read(1 << 24):
                    pass


def warm_memory(gib: float) -> None:
    """Touch ``gib`` GiB in a throwaway process right before an engine starts.

    On this VM the first touch of a page the host has taken back costs ~2.5 s/GiB, and
    memory freed for ~20 s is taken back; pages freed a moment ago are cheap again. Without
    this, an engine that starts right after a big one (e.g. after pandas) runs on warm pages
    and one that starts after a pause does not, which skews the comparison by seconds."""
    run_child(["-c", WARM_SNIPPET, str(gib)])


def agreement(work: Path, engines) -> dict:
    import polars as pl

    from benchmarks.baselines import agreement as agree, feature_agreement

    seg_path = work / "scores-segscore.parquet"
    if not seg_path.exists():
        return {}
    seg = pl.read_parquet(seg_path)
    out = {}
    for e in engines:
        p = work / f"scores-{e}.parquet"
        if e.startswith("segscore") or not p.exists():
            continue
        other = pl.read_parquet(p)
        out[e] = {"scores": agree(seg, other), "features": feature_agreement(seg, other)}
    return out


# ----------------------------------------------------------------------------- report

def _med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _f(x, fmt="{:.2f}"):
    return "—" if x is None else fmt.format(x)


def summarize(rec: dict) -> dict:
    """Medians per engine: work_s, process wall, peak RSS, per-stage wall."""
    s = {}
    for e, runs in rec["runs"].items():
        runs = [r for r in runs if r["killed"] or r["returncode"] == 0]  # failed runs: listed below
        res = [r.get("result", {}) for r in runs]
        stages: dict[str, list] = {}
        for r in res:
            for k, v in (r.get("stages") or {}).items():
                stages.setdefault(k, []).append(v.get("wall_s"))
        full = [r for r in runs if not r["killed"] and "--no-cluster" not in str(r)]
        s[e] = {"work_s": _med([r.get("work_s") for r in res]),
                "prepare_s": _med([r.get("prepare_s") for r in res]),
                "process_wall_s": _med([r["process_wall_s"] for r in runs]),
                "peak_rss_mb": _med([r["peak_rss_mb"] for r in runs]),
                "peak_rss_max_mb": max((r["peak_rss_mb"] for r in runs), default=None),
                "stages": {k: _med(v) for k, v in stages.items()},
                "n": len(runs), "n_full": len(full),
                "rank_fallback": res[0].get("rank_fallback") if res else None}
        if e == "segscore_noclust":
            s[e]["issue2_path_s"] = _med([
                sum(v.get("wall_s") or 0.0 for k, v in (r.get("stages") or {}).items()
                    if k not in NOT_ISSUE2)
                for r in res])
            s[e]["issue5_pre_s"] = _med([
                sum(v.get("wall_s") or 0.0 for k, v in (r.get("stages") or {}).items()
                    if k not in NOT_ISSUE2 + ("write",))
                for r in res])
    # full-pipeline time of a baseline whose clustering was killed: prepare + lower bound
    for e, k in rec.get("cluster_killed", {}).items():
        if e in s:
            s[e]["work_s"] = None
            s[e]["full_lower_bound_s"] = (s[e]["prepare_s"] or 0) + k["cluster_lower_bound_s"]
            s[e]["stages"]["cluster"] = None
    return s


def render(records: list[dict]) -> str:
    L = ["# segscore scale benchmark results", "",
         "Generated by `python -m benchmarks.scale` (raw numbers: `benchmarks/results/*.json`).",
         "The machine is a noisy shared VM (each section gives the load average at its start); "
         "engines were alternated within one session and the figures are medians of the "
         "repeats. Peak RSS = the OS's `ru_maxrss` of each "
         "engine's own subprocess (includes the Python interpreter and imports; on Linux "
         "it is also at least the benchmark's own process's peak when the child started, "
         "≈ 0.3 GiB, which is what the baselines show at the smallest sizes).",
         "`work` = wall time of the engine's work inside its process (imports excluded); "
         "`process` = whole subprocess wall (interpreter start + imports + work).", ""]
    notes = RESULTS_DIR / "diagnosis.md"  # hand-written analysis, kept across regenerations
    if notes.exists():
        L += [notes.read_text().rstrip(), ""]
    for rec in records:
        L += render_one(rec)
    return "\n".join(L) + "\n"


def render_one(rec: dict) -> list[str]:
    n, rows = rec["customers_generated"], rec["rows"]
    m = rec["machine"]
    s = summarize(rec)
    L = [f"## {n:,} customers ({rows:,} rows, {rec['parquet_bytes'] / 2**20:.0f} MiB Parquet)", "",
         f"Date {rec['date']}; {m['cpu_model']}, {m['logical_cpus']} logical CPUs, "
         f"{m['ram_gib']} GiB RAM, {m['os']}; load average at start "
         f"{', '.join(f'{x:.2f}' for x in m['load_avg_at_start'])}; git {m['git_head']}; "
         + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
         f"Repeats: {rec['repeat']} per engine (after one segscore warm-up run); "
         + (f"{rec['warm_gib']:g} GiB of memory touched in a throwaway process right before "
            "every run (this VM charges ~2.5 s/GiB for pages it has not touched recently); "
            if rec.get("warm_gib") else "no memory warming before runs; ")
         + f"clustering timeout {rec['cluster_timeout_s']:.0f} s (whole baseline process)."
         + (f" Engine order {rec['engine_order']}." if rec.get("engine_order") else
            " Engines in the same order every round.")
         + (f" Runs appended later in the session: {rec['appended']}." if rec.get("appended") else ""),
         "",
         "| engine | what | work s (median) | process s | peak RSS MiB (median / max) | rows/s (work) | runs |",
         "|---|---|---|---|---|---|---|"]
    what = {"segscore": "full pipeline, k = 8, write + report",
            "segscore_noclust": "clustering off, write + report",
            "pandas": "read_parquet, groupby, qcut, MiniBatchKMeans(8)",
            "polars": "lazy group_by, qcut, KMeans(8, n_init=1)",
            "duckdb": "SQL aggregation + NTILE(5)"}
    for e, v in s.items():
        work = v["work_s"]
        wtxt = _f(work)
        if v.get("full_lower_bound_s") is not None:
            wtxt = f"> {v['full_lower_bound_s']:.0f} (clustering killed)"
        L.append(f"| {e} | {what.get(e, '')} | {wtxt} | {_f(v['process_wall_s'])} | "
                 f"{_f(v['peak_rss_mb'], '{:.0f}')} / {_f(v['peak_rss_max_mb'], '{:.0f}')} | "
                 f"{_f(rows / work if work else None, '{:,.0f}')} | {v['n']} |")
    gits = sorted({(r.get("result") or {}).get("git", "?") for e, runs in rec["runs"].items()
                   if e.startswith("segscore") for r in runs})
    L += ["", f"segscore code per run (git HEAD, +dirty = uncommitted engine changes by other "
              f"engineers on disk): {', '.join(gits)}"]
    L += ["", "Per-stage medians (s):", ""]
    for e, v in s.items():
        st = ", ".join(f"{k} {_f(x)}" if x is not None else f"{k} killed"
                       for k, x in v["stages"].items())
        L.append(f"- **{e}**: {st}")
        if v.get("rank_fallback"):
            L.append(f"  - qcut edges not unique for {v['rank_fallback']}: rank(first/ordinal) fallback used")
    for e, runs in rec["runs"].items():
        bad = [r for r in runs if r["returncode"] != 0 and not r["killed"]]
        for r in bad:
            err = (r.get("stderr_tail") or "").strip().splitlines()[-1:] or ["?"]
            L.append(f"- **{e}**: one run failed and is excluded from the medians: `{err[0]}`"
                     " (the engine's source was mid-edit by another engineer)")
    for e, k in rec.get("cluster_killed", {}).items():
        L.append(f"- **{e}** clustering did not finish within the timeout: killed after "
                 f"{k['cluster_lower_bound_s']:.0f} s of clustering (peak RSS then "
                 f"{k['peak_rss_mb']:.0f} MiB); later repeats ran without clustering.")
    seg = s.get("segscore", {})
    L += ["", "### Targets", ""]
    L += targets(s, rec)
    if seg.get("stages"):
        st = seg["stages"]
        total = sum(x for x in st.values() if x)
        L += ["", "### Where segscore's time goes (full pipeline, median per stage)", "",
              "| stage | wall s | share |", "|---|---|---|"]
        for k, x in st.items():
            L.append(f"| {k} | {_f(x)} | {_f(100 * x / total if total and x else None, '{:.0f}')} % |")
        fr = rec.get("segscore_first_run", {}).get("result", {})
        L.append(f"\nFirst segscore run of the session (warm-up): work {_f(fr.get('work_s'))} s, "
                 f"import {_f(fr.get('import_s'))} s.")
    ag = rec.get("agreement", {})
    if ag:
        L += ["", "### Score agreement with segscore (share of customers with the same score)", "",
              "| baseline | customers (seg / base) | features equal (R days / F / M) | r | f | m | all three |",
              "|---|---|---|---|---|---|---|"]
        for e, a in ag.items():
            sc, fe = a["scores"], a["features"]
            L.append(f"| {e} | {sc['customers_segscore']:,} / {sc['customers_baseline']:,} | "
                     f"{fe['recency_days']:.4f} / {fe['frequency']:.4f} / {fe['monetary']:.4f} | "
                     f"{sc['r']:.4f} | {sc['f']:.4f} | {sc['m']:.4f} | {sc['rfm']:.4f} |")
        L.append("\nFeatures agree exactly, so score differences come only from tie handling: "
                 "segscore gives equal values equal scores (SPEC §3); pandas/polars fall back to "
                 "rank-based qcut where edges are not unique (frequency), NTILE splits ties "
                 "arbitrarily.")
    ns = rec.get("numba_start")
    if ns:
        L += ["", "### numba start-up (fresh process, 1,000-customer table, full pipeline)", "",
              "| kernel cache | process s | import s | run s |", "|---|---|---|---|"]
        for k, v in ns.items():
            L.append(f"| {k} ({'empty NUMBA_CACHE_DIR' if k == 'cold' else 'filled by the run before'}) | "
                     f"{_f(v.get('process_wall_s'))} | {_f(v.get('import_s'))} | {_f(v.get('run_s'))} |")
    L.append("")
    return L


def targets(s: dict, rec: dict) -> list[str]:
    L = []
    seg, nc = s.get("segscore", {}), s.get("segscore_noclust", {})
    pd_, po, dd = s.get("pandas", {}), s.get("polars", {}), s.get("duckdb", {})

    def verdict(ok):
        return "**MET**" if ok else "**MISSED**"

    if nc.get("issue2_path_s") is not None and dd.get("work_s"):
        a, b = nc["issue2_path_s"], dd["work_s"]
        L.append(f"- issue 2: segscore ingest→features→scores→segments→write (clustering off; "
                 f"every stage but cluster and report, summed per run) {a:.2f} s vs DuckDB "
                 f"aggregation+NTILE {b:.2f} s (ratio {a / b:.2f}): {verdict(a <= b)}")

        L.append(f"  - issue 5 'ingest → scores no slower than DuckDB' "
                 f"(every stage before write, summed per run): "
                 f"{nc['issue5_pre_s']:.2f} s "
                 f"vs {b:.2f} s")
    if seg.get("work_s"):
        w = seg["work_s"]
        for name, base, want in (("pandas", pd_, 10.0), ("polars + sklearn KMeans", po, 2.0)):
            if not base:
                continue
            if base.get("work_s"):
                r = base["work_s"] / w
                L.append(f"- issue 5: full pipeline ≥ {want:.0f}× faster than {name}: "
                         f"{base['work_s']:.2f} / {w:.2f} = {r:.2f}×: {verdict(r >= want)}")
            elif base.get("full_lower_bound_s"):
                r = base["full_lower_bound_s"] / w
                L.append(f"- issue 5: full pipeline ≥ {want:.0f}× faster than {name}: "
                         f"> {base['full_lower_bound_s']:.0f} / {w:.2f} = > {r:.1f}× "
                         f"(baseline clustering killed, lower bound): "
                         f"{verdict(r >= want) if r >= want else 'undetermined (lower bound below target)'}")
            if base.get("prepare_s"):
                L.append(f"  - without clustering: {name} read→scores {base['prepare_s']:.2f} s vs "
                         f"segscore clustering-off pipeline {nc.get('work_s') or float('nan'):.2f} s")
        if pd_.get("peak_rss_mb"):
            pr = max(pd_["peak_rss_max_mb"], rec.get("cluster_killed", {}).get("pandas", {}).get("peak_rss_mb", 0))
            r = seg["peak_rss_max_mb"] / pr
            L.append(f"- issue 5: peak RSS ≤ ½ of pandas: segscore {seg['peak_rss_max_mb']:.0f} MiB vs "
                     f"pandas {pr:.0f} MiB (ratio {r:.2f}): {verdict(r <= 0.5)}")
    return L


def render_results() -> str:
    """RESULTS.md from every ``results/<customers>.json`` and ``results/diagnosis.md``."""
    recs = [json.loads(p.read_text()) for p in sorted(RESULTS_DIR.glob("*.json"))
            if p.stem.isdigit()]  # <customers>.json; other benchmarks keep their own files
    recs.sort(key=lambda r: r["customers_generated"])
    return render(recs)


def write_report() -> Path:
    out = HERE / "RESULTS.md"
    out.write_text(render_results())
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=lambda x: int(x.replace("_", "")), default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--cluster-timeout", type=float, default=600.0,
                   help="kill a baseline whose run exceeds this many seconds (its clustering)")
    p.add_argument("--warm-gib", type=float, default=8.0,
                   help="GiB of memory touched in a throwaway process before every engine run "
                        "(0 = off; see warm_memory)")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--append", default="",
                   help="comma-separated engines to run once more (in this order) and add to "
                        "the existing results of --customers (e.g. to replace a failed run)")
    a = p.parse_args(argv)
    if a.append:
        path = RESULTS_DIR / f"{a.customers}.json"
        rec = json.loads(path.read_text())
        src = HERE / ".cache" / str(a.customers) / "transactions"
        work = src.parent / "runs"
        for e in a.append.split(","):
            if rec.get("warm_gib"):
                warm_memory(rec["warm_gib"])
            cache_inputs(src)
            r = run_child(["-m", "benchmarks.runner", e, str(src), "--out", str(work / f"out-{e}")])
            print(f"[{a.customers}] {e} (appended): wall {r['process_wall_s']:.1f}s "
                  f"rss {r['peak_rss_mb']:.0f}MB rc {r['returncode']}", flush=True)
            rec["runs"].setdefault(e, []).append(r)
        rec.setdefault("appended", []).append(
            {"engines": a.append, "date": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        path.write_text(json.dumps(rec, indent=1, default=str))
    elif not a.report_only:
        rec = run_size(a.customers, a.repeat, tuple(a.engines.split(",")), a.cluster_timeout,
                       a.warm_gib)
        RESULTS_DIR.mkdir(exist_ok=True)
        (RESULTS_DIR / f"{a.customers}.json").write_text(json.dumps(rec, indent=1, default=str))
    print(write_report())


if __name__ == "__main__":
    main()
