"""The out-of-core benchmark's markdown (benchmarks/out_of_core.py): where a run of a given size
writes its table and when the 50M target gets a verdict. No benchmark is run."""

import json

from benchmarks import out_of_core as ooc


def _res(n: int, peak_mb: float, rc: int = 0) -> dict:
    seg = {"returncode": rc, "process_wall_s": 1.0, "peak_rss_mb": peak_mb,
           "result": {"customers": n // 2, "partitions": 1,
                      "stages": {"ingest_and_aggregate": {"wall_s": 0.7}}}}
    pdx = {"returncode": 0, "process_wall_s": 1.0, "peak_rss_mb": 200.0, "failure": "exit 0"}
    return {"customers": n, "rows": 4 * n, "files": 8, "cap_gib": 4.0, "note": "",
            "ram_gib": 23.5, "date": "2026-11-25", "machine": "x86_64, 2 cores",
            "segscore": seg, "pandas": pdx}


def test_small_run_has_its_own_file_and_no_verdict():
    # 20,000 customers used to write RESULTS_0M.md titled "0M customers" and say the
    # 50M target was met
    assert ooc.results_md(50_000_000).name == "RESULTS_50M.md"
    assert ooc.results_md(20_000).name == "RESULTS_ooc_20000.md"
    assert ooc.results_md(1_500_000).name == "RESULTS_ooc_1500000.md"
    md = ooc.write_markdown(_res(20_000, 320.0))
    assert md.startswith("# 20,000 customers, out of core")
    assert "**met**" not in md and "**MISSED**" not in md
    assert "not judged at 20,000 customers" in md


def test_50m_verdict():
    assert "**met** (9.81 GiB)" in ooc.write_markdown(_res(50_000_000, 9.81 * 1024))
    assert "**MISSED** (12.50 GiB)" in ooc.write_markdown(_res(50_000_000, 12.5 * 1024))
    assert "**MISSED**" in ooc.write_markdown(_res(50_000_000, 9.0 * 1024, rc=1))


def test_committed_50m_table_is_rendered_unchanged():
    raw = json.loads((ooc.RESULTS_DIR / "50000000-ooc.json").read_text())
    assert ooc.write_markdown(raw) == (ooc.HERE / "RESULTS_50M.md").read_text()
