"""Determinism (issue 6 part 4): the customer Parquet files are byte-identical whatever the
input file order, the row order within files, the Parquet row-group size or the numba and
polars thread counts, and when the same night is run again; also with the automatic K on a
sampled base, and string ids score like integer ids."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

import segscore
from segscore.config import build_config
from segscore_datasets import generate_transactions

CONFIG = {"clustering": {"k": 4}}


def customer_bytes(out: Path) -> dict[str, str]:
    files = sorted((out / "customers").glob("segment=*/part-*.parquet"))
    assert files
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def run(src, out: Path) -> dict[str, str]:
    segscore.run(src, out, config=build_config(CONFIG))
    return customer_bytes(out)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("det")
    data = generate_transactions(root / "data", 3000, seed=11, files=3, attributes=False)
    src = data.out_dir / "transactions"
    return {"root": root, "src": src, "files": list(data.files),
            "hashes": run(str(src), root / "out0")}


def rewrite(files: list[Path], target: Path, *, rename_reversed=False, shuffle_seed=None,
            row_group_size=None) -> Path:
    target.mkdir()
    for i, f in enumerate(files):
        table = pq.read_table(f)
        if shuffle_seed is not None:
            perm = np.random.default_rng(shuffle_seed + i).permutation(table.num_rows)
            table = table.take(perm)
        name = f"part-{len(files) - 1 - i:03d}.parquet" if rename_reversed else f.name
        pq.write_table(table, target / name, row_group_size=row_group_size or 1_000_000)
    return target


def test_file_order(base):
    src = rewrite(base["files"], base["root"] / "renamed", rename_reversed=True)
    assert run(str(src), base["root"] / "out_renamed") == base["hashes"]
    # the same files listed in another order
    listed = [str(p) for p in sorted(src.glob("*.parquet"), reverse=True)]
    assert run(listed, base["root"] / "out_listed") == base["hashes"]


def test_row_order_within_files(base):
    src = rewrite(base["files"], base["root"] / "shuffled", shuffle_seed=3)
    assert run(str(src), base["root"] / "out_shuffled") == base["hashes"]


def test_row_group_size(base):
    src = rewrite(base["files"], base["root"] / "small_groups", row_group_size=97)
    assert pq.ParquetFile(next(src.glob("*.parquet"))).num_row_groups > 5
    assert run(str(src), base["root"] / "out_groups") == base["hashes"]


def test_rerun_same_night_byte_identical(base):
    out = base["root"] / "out_rerun"
    first = run(str(base["src"]), out)
    segscore.run(str(base["src"]), out, config=build_config(CONFIG), overwrite=True)
    assert customer_bytes(out) == first == base["hashes"]


def test_thread_count(base):
    """NUMBA_NUM_THREADS=1 and =2 in fresh processes (numba reads it at import)."""
    cfg = base["root"] / "k4.toml"
    cfg.write_text("[clustering]\nk = 4\n")
    procs = {}
    for threads in ("1", "2"):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
               "NUMBA_NUM_THREADS": threads, "POLARS_MAX_THREADS": threads}
        procs[threads] = subprocess.Popen(
            [sys.executable, "-c", "from segscore.cli import main; main()", "run",
             str(base["src"]), "--out", str(base["root"] / f"out_t{threads}"), "--quiet",
             "--config", str(cfg)], env=env, stderr=subprocess.PIPE, text=True)
    for threads, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    one = customer_bytes(base["root"] / "out_t1")
    assert one == customer_bytes(base["root"] / "out_t2") == base["hashes"]


@pytest.fixture(scope="module")
def auto_k(tmp_path_factory):
    """50,807 scored customers: more than the clustering's 50,000-row sample, so the automatic
    K is chosen on a sample and the mini-batches are drawn, as on a real base."""
    root = tmp_path_factory.mktemp("auto")
    data = generate_transactions(root / "data", 60000, seed=11, files=3, attributes=False)
    out = root / "out0"
    result = segscore.run(str(data.out_dir / "transactions"), out, report=False)
    assert result.customers.height > 50_000 and result.model["clusters"]["k"] >= 3
    return {"root": root, "src": data.out_dir / "transactions", "files": list(data.files),
            "hashes": customer_bytes(out)}


def test_automatic_k_on_a_sample_whatever_the_files_rows_and_threads(auto_k):
    """Rows shuffled across a different number of files, and numba / polars threads set apart
    (fresh processes): the same bytes with the automatic K chosen on a sample."""
    root = auto_k["root"]
    rows = pl.concat([pl.read_parquet(f) for f in auto_k["files"]])
    rows = rows[np.random.default_rng(7).permutation(rows.height)]
    resplit = root / "resplit"
    resplit.mkdir()
    for i, part in enumerate(np.array_split(np.arange(rows.height), 5)):
        rows[part].write_parquet(resplit / f"chunk-{i}.parquet", row_group_size=20_000)
    segscore.run(str(resplit), root / "out_resplit", report=False)
    assert customer_bytes(root / "out_resplit") == auto_k["hashes"]
    procs = {}
    for numba_threads, polars_threads in (("1", "2"), ("2", "1")):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
               "NUMBA_NUM_THREADS": numba_threads, "POLARS_MAX_THREADS": polars_threads}
        out = root / f"out_n{numba_threads}_p{polars_threads}"
        procs[out] = subprocess.Popen(
            [sys.executable, "-c", "from segscore.cli import main; main()", "run",
             str(auto_k["src"]), "--out", str(out), "--quiet"], env=env,
            stderr=subprocess.PIPE, text=True)
    for out, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert customer_bytes(out) == auto_k["hashes"], out.name


def test_string_ids_score_and_label_as_integer_ids(base):
    """The same customers keyed by "C" + id: identical features, scores, segments, tiers and
    stages (clusters are drawn by position in the id-sorted table, so they may differ:
    docs/decisions.md, Clusters)."""
    src = base["root"] / "string_ids"
    src.mkdir()
    for f in base["files"]:
        pl.read_parquet(f).with_columns(customer_id="C" + pl.col("customer_id").cast(pl.String)) \
            .write_parquet(src / f.name)
    ints = segscore.run(str(base["src"]), None, config=build_config(CONFIG), report=False)
    strs = segscore.run(str(src), None, config=build_config(CONFIG), report=False)
    drop = ["cluster", "cluster_label"]
    want = ints.customers.drop(drop).with_columns(
        customer_id="C" + pl.col("customer_id").cast(pl.String)).sort("customer_id")
    got = strs.customers.drop(drop).sort("customer_id")
    assert got.height == want.height > 0
    assert got.equals(want)


#: run in a fresh process under numba's workqueue threading layer: the parallel kernels that
#: may run in threads are wrapped to record how many are in flight at once (each lingers so
#: that an overlapping launch cannot be missed); argv: "run" SRC OUT, or "cuts" (the score cut
#: points of three 300,000-value columns: the radix selection's parallel passes)
_WORKQUEUE = """
import sys, threading, time
import numpy as np
import native_kernels.groupby as gb
import segscore
import segscore.scoring as sc
lock, state = threading.Lock(), {"now": 0, "max": 0}
def watched(kernel, linger):
    def call(*args):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        try:
            time.sleep(linger)
            return kernel(*args)
        finally:
            with lock:
                state["now"] -= 1
    return call
gb._count_distinct = watched(gb._count_distinct, 0.3)
gb._gather_columns = watched(gb._gather_columns, 0.0)
sc._radix_hist = watched(sc._radix_hist, 0.2)
if sys.argv[1] == "run":
    segscore.run(sys.argv[2], sys.argv[3])
else:
    rng = np.random.default_rng(0)
    cols = [(rng.random(300_000), [0.2, 0.4, 0.6, 0.8]) for _ in range(3)]
    together = sc.cut_points_of(cols, threads=2)
    assert all(np.array_equal(a, sc.cut_points(*c)) for a, c in zip(together, cols))
import numba
print(numba.threading_layer(), state["max"])
"""


def _under_workqueue(*args: str) -> list[str]:
    """The _WORKQUEUE script's output (threading layer, most kernels in flight at once)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
           "NUMBA_THREADING_LAYER": "workqueue", "NUMBA_NUM_THREADS": "2"}
    proc = subprocess.run([sys.executable, "-c", _WORKQUEUE, *args], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split()


def test_workqueue_threading_layer_never_runs_two_parallel_kernels_at_once(base):
    """numba's workqueue layer (its fallback without libgomp or TBB) aborts the process when
    two threads launch parallel kernels at once: the accumulator's distinct order counts
    (shuffled rows: order ids go down) then run after the gather, not beside it, and the
    score cut points one column after another; the results are the same."""
    src = rewrite(base["files"], base["root"] / "shuffled_wq", shuffle_seed=5)
    out = base["root"] / "out_wq"
    assert _under_workqueue("run", str(src), str(out)) == ["workqueue", "1"]
    segscore.run(str(src), base["root"] / "out_wq_default")  # the default layer, this process
    assert customer_bytes(out) == customer_bytes(base["root"] / "out_wq_default")
    assert _under_workqueue("cuts") == ["workqueue", "1"]


def test_rejected_reasons_keep_their_order_whichever_file_holds_them(tmp_path):
    """report.json's data_quality.rejected (and the HTML table) lists the reasons in the
    quarantine order (ingest.STATUSES) however the bad rows are spread over the files; the
    total was built in the order the files showed them."""
    import json
    from datetime import datetime

    from segscore.ingest import STATUSES

    def rows(ids, amounts):
        return pl.DataFrame({"customer_id": ids, "order_ts": [datetime(2026, 6, 1)] * len(ids),
                             "amount": amounts},
                            schema={"customer_id": pl.Int64, "order_ts": pl.Datetime("us"),
                                    "amount": pl.Float64})

    good = rows(list(range(1, 11)), [float(i) for i in range(1, 11)])
    nan_row, null_row = rows([11], [float("nan")]), rows([None], [5.0])
    seen = []
    for name, first, second in (("a", nan_row, null_row), ("b", null_row, nan_row)):
        d = tmp_path / name
        d.mkdir()
        pl.concat([good, first]).write_parquet(d / "f0.parquet")
        second.write_parquet(d / "f1.parquet")
        segscore.run(d, tmp_path / f"out_{name}", config=build_config({"clustering": {"k": "off"}}))
        report = json.loads((tmp_path / f"out_{name}" / "report" / "report.json").read_text())
        seen.append(list(report["data_quality"]["rejected"]))
    want = [r for r in STATUSES if r in ("null_customer_id", "non_finite_amount")]
    assert seen == [want, want]


def test_a_model_run_writes_the_columns_in_the_fitting_runs_order(base):
    """Re-applying a night's own model.json gives customers/ files byte-identical to the
    fitting run's: the share columns are in name order in both (the fitting run wrote them in
    the night's channel ranking, the --model run in model.json's order, so the Parquet
    schemas differed between a fitting and a frozen night)."""
    out = base["root"] / "out0"
    frozen = base["root"] / "out_frozen"
    segscore.run(str(base["src"]), frozen, model_path=out / "model.json")
    schema = pq.read_schema(next((out / "customers").glob("segment=*/part-*.parquet")))
    shares = [n for n in schema.names if n.startswith("share_")]
    assert len(shares) > 1 and shares == sorted(shares)
    assert customer_bytes(frozen) == base["hashes"]
