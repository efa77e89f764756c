"""File-, schema- and config-level errors: exit code 2, one clear message naming the file /
column / config key, no traceback, nothing written (SPEC §5, §6; issue 6 part 2).

Runs the click CLI in-process (CliRunner) for speed; a few cases go through a real subprocess
(the permission cases, so that as root they can drop the capabilities that bypass them).
Every case here is listed in docs/bad-input.md.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import segscore
from segscore.cli import main
from segscore.config import build_config
from segscore.errors import InputError
from segscore.memory import estimate_peak_bytes, plan_memory
from segscore.validation import validation_report
from segscore.schema import discover, inspect_inputs

N = 200


def good_table(n: int = N, **override) -> pa.Table:
    cols = {
        "customer_id": pa.array([i % 37 for i in range(n)], pa.int64()),
        "order_ts": pa.array([datetime(2025, 1, 1 + i % 28, i % 24) for i in range(n)],
                             pa.timestamp("us")),
        "amount": pa.array([float(5 + i % 90) for i in range(n)], pa.float64()),
    }
    cols.update(override)
    return pa.table({k: v for k, v in cols.items() if v is not None})


def write(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="none")
    return path


def cli(*args: str):
    return CliRunner(env={"COLUMNS": "400"}).invoke(main, [str(a) for a in args],
                                                    catch_exceptions=False)


def assert_refused(tmp_path: Path, result, *needles: str) -> None:
    """exit 2, one error line naming what is wrong, no traceback, nothing at or next to out."""
    text = " ".join((result.output + (result.stderr if hasattr(result, "stderr") else "")).split())
    assert result.exit_code == 2, text
    assert "Traceback" not in text
    assert "error" in text.lower()
    for needle in needles:
        assert needle in text, (needle, text)
    out = tmp_path / "out"
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def run_cli(tmp_path: Path, *src, extra=()):
    return cli("run", *src, "--out", tmp_path / "out", "--quiet", "--k", "off", *extra)


# --- schema ---------------------------------------------------------------------------------

def test_missing_column(tmp_path):
    src = write(tmp_path / "in" / "t.parquet", good_table(amount=None))
    assert_refused(tmp_path, run_cli(tmp_path, src), "t.parquet", "'amount'", "missing")


def test_mapped_column_missing(tmp_path):
    src = write(tmp_path / "in" / "t.parquet", good_table())
    cfg = tmp_path / "c.toml"
    cfg.write_text('[columns]\ncustomer_id = "member_no"\n')
    assert_refused(tmp_path, run_cli(tmp_path, src, extra=("--config", cfg)),
                   "'member_no'", "missing")


def test_explicit_optional_column_missing(tmp_path):
    src = write(tmp_path / "in" / "t.parquet", good_table())
    cfg = tmp_path / "c.toml"
    cfg.write_text('[columns]\norder_id = "basket"\n')
    assert_refused(tmp_path, run_cli(tmp_path, src, extra=("--config", cfg)), "'basket'")


@pytest.mark.parametrize("column,array,typename", [
    ("amount", pa.array(["12.5"] * N), "string"),
    ("order_ts", pa.array([1_700_000_000] * N, pa.int64()), "int64"),
    ("customer_id", pa.array([1.5] * N), "double"),
    ("amount", pa.array([[1.0]] * N), "list"),
    ("amount", pa.array([1] * N, pa.decimal256(40, 2)), "decimal256(40, 2)"),
])
def test_wrong_typed_column(tmp_path, column, array, typename):
    src = write(tmp_path / "in" / "t.parquet", good_table(**{column: array}))
    assert_refused(tmp_path, run_cli(tmp_path, src), "t.parquet", f"'{column}'", typename)


@pytest.mark.parametrize("twice", ["amount", "note"])
def test_duplicate_column_names(tmp_path, twice):
    """A column name twice (mapped or not): polars cannot read the file at all."""
    table = good_table().append_column(twice, pa.array(["x"] * N))
    table = table.append_column(twice, pa.array(["y"] * N)) if twice == "note" else table
    src = write(tmp_path / "in" / "t.parquet", table)
    assert_refused(tmp_path, run_cli(tmp_path, src), "t.parquet", f"'{twice}'", "2 times")
    messages = [p["message"] for p in validation_report(str(src))["problems"]]
    assert len(messages) == 1 and f"'{twice}'" in messages[0], messages


@pytest.mark.parametrize("statistics", [True, False])
@pytest.mark.parametrize("column", ["customer_id", "order_id"])
def test_uint64_ids_beyond_int64(tmp_path, column, statistics):
    """uint64 ids are read as int64 (SPEC §1): one above 2**63 - 1 cannot be, whether the
    footer's statistics show it or not; uint64 ids within range run as usual."""
    big = pa.array([2**64 - 1 - i % 37 for i in range(N)], pa.uint64())
    src = tmp_path / "in" / "t.parquet"
    src.parent.mkdir(parents=True)
    pq.write_table(good_table(**{column: big}), src, write_statistics=statistics)
    assert_refused(tmp_path, run_cli(tmp_path, src), "t.parquet", f"'{column}'",
                   str(2**64 - 1), "int64")
    write(src, good_table(**{column: pa.array(range(N), pa.uint64())}))
    assert run_cli(tmp_path, src).exit_code == 0


def test_files_disagree_on_id_type(tmp_path):
    a = write(tmp_path / "in" / "a.parquet", good_table())
    b = write(tmp_path / "in" / "b.parquet",
              good_table(customer_id=pa.array([str(i) for i in range(N)])))
    assert_refused(tmp_path, run_cli(tmp_path, a, b), "b.parquet", "customer_id")


# --- files ----------------------------------------------------------------------------------

def test_truncated_parquet(tmp_path):
    good = write(tmp_path / "in" / "good.parquet", good_table())
    data = good.read_bytes()
    bad = tmp_path / "in" / "bad.parquet"
    bad.write_bytes(data[: len(data) // 2])
    assert_refused(tmp_path, run_cli(tmp_path, tmp_path / "in"), "bad.parquet")


def test_not_parquet_at_all(tmp_path):
    bad = tmp_path / "in" / "t.parquet"
    bad.parent.mkdir()
    bad.write_text("customer_id,order_ts,amount\n1,2025-01-01,3\n")
    assert_refused(tmp_path, run_cli(tmp_path, bad), "t.parquet", "not a readable Parquet")


def test_empty_file(tmp_path):
    bad = tmp_path / "in" / "t.parquet"
    bad.parent.mkdir()
    bad.write_bytes(b"")
    assert_refused(tmp_path, run_cli(tmp_path, bad), "t.parquet", "empty")


def test_zero_row_files_only(tmp_path):
    write(tmp_path / "in" / "a.parquet", good_table(0))
    write(tmp_path / "in" / "b.parquet", good_table(0))
    for extra in ((), ("--as-of", "2025-02-01")):
        assert_refused(tmp_path, run_cli(tmp_path, tmp_path / "in", extra=extra),
                       "the input has no rows", "a.parquet", "b.parquet")
    rep = validation_report(str(tmp_path / "in"))
    assert not rep["ok"] and "the input has no rows" in rep["problems"][0]["message"]


def test_zero_row_file_among_good_ones_is_fine(tmp_path):
    write(tmp_path / "in" / "a.parquet", good_table(0))
    write(tmp_path / "in" / "b.parquet", good_table())
    assert run_cli(tmp_path, tmp_path / "in").exit_code == 0


def test_zero_row_file_of_null_typed_columns_among_good_ones_is_fine(tmp_path):
    """A 0-row file whose columns are all of Arrow type null (pandas writes an empty frame
    so) next to a good file contributes 0 rows, in run and validate (it stopped the run as
    three mistyped columns)."""
    write(tmp_path / "in" / "a.parquet", pa.table(
        {c: pa.array([], pa.null()) for c in ("customer_id", "order_ts", "amount")}))
    write(tmp_path / "in" / "b.parquet", good_table())
    r = run_cli(tmp_path, tmp_path / "in")
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["rows"]["read"] == manifest["rows"]["used"] == N
    assert [f["rows_read"] for f in manifest["inputs"]] == [0, N]
    assert cli("validate", tmp_path / "in").exit_code == 0


@pytest.mark.parametrize("rows_ids, empty_ids", [
    (pa.array(range(N), pa.int64()), pa.array([], pa.string())),
    (pa.array([f"c{i % 37}" for i in range(N)]), pa.array([], pa.int32())),
])
def test_a_zero_row_file_takes_no_part_in_the_id_type_check(tmp_path, rows_ids, empty_ids):
    """Files must agree on the id type, but a 0-row file holds no id to disagree with: it is
    read with the others' type, in run and validate (it was refused: "all files must
    agree"). The ids written are those of the file with rows."""
    write(tmp_path / "in" / "a.parquet", good_table(0, customer_id=empty_ids))
    write(tmp_path / "in" / "b.parquet", good_table(customer_id=rows_ids))
    r = run_cli(tmp_path, tmp_path / "in")
    assert r.exit_code == 0, r.output
    ids = pq.read_table(tmp_path / "out" / "customers").column("customer_id")
    assert pa.types.is_integer(ids.type) == pa.types.is_integer(rows_ids.type)
    assert sorted(ids.to_pylist()) == sorted(set(rows_ids.to_pylist()))
    assert cli("validate", tmp_path / "in").exit_code == 0


@pytest.mark.parametrize("role, reason, ids", [
    ("customer_id", "null_customer_id", None),
    ("customer_id", "null_customer_id", pa.array([f"c{i % 37}" for i in range(N)])),
    ("order_ts", "null_timestamp", None),
    ("amount", "null_amount", None),
])
def test_a_null_typed_required_column_rejects_every_row_of_its_file(tmp_path, role, reason,
                                                                     ids):
    """A required column of Arrow type null in a file with rows (pandas writes an all-None
    column so: guest checkouts without a customer id) is read as nulls of the type the other
    files agree on: each of its rows is rejected for that reason and reconciled, the other
    file's rows are used; validate counts the same (it stopped the run as a mistyped
    column)."""
    other = {} if ids is None else {"customer_id": ids}
    write(tmp_path / "in" / "a.parquet", good_table(**other))
    write(tmp_path / "in" / "b.parquet", good_table(**{**other, role: pa.nulls(N)}))
    r = run_cli(tmp_path, tmp_path / "in")
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    rows = manifest["rows"]
    assert (rows["read"], rows["used"], rows["rejected"]) == (2 * N, N, {reason: N})
    assert rows["balanced"] and manifest["inputs"][1]["rejected"] == {reason: N}
    rejected = pq.read_table(tmp_path / "out" / "rejected")
    assert set(rejected.column("reason").to_pylist()) == {reason}
    assert set(rejected.column("source_file").to_pylist()) == {
        str((tmp_path / "in" / "b.parquet").resolve())}
    assert sorted(rejected.column("source_row").to_pylist()) == list(range(N))
    rep = validation_report(str(tmp_path / "in"))
    assert rep["ok"] and rep["rows"] == rows, rep


def test_ids_all_null_in_every_file_reject_every_row(tmp_path):
    """When every file's customer id column is of type null there is no id type to agree
    on, and none is needed: every row is rejected as null_customer_id, and the run stops as
    for any input without a valid row, exit 2, in run and validate."""
    write(tmp_path / "in" / "a.parquet", good_table(customer_id=pa.nulls(N)))
    write(tmp_path / "in" / "b.parquet", good_table(0, customer_id=pa.array([], pa.null())))
    assert_refused(tmp_path, run_cli(tmp_path, tmp_path / "in"), "no valid transaction")
    v = cli("validate", tmp_path / "in")
    assert v.exit_code == 2 and "no valid transaction" in v.output, v.output
    with_as_of = run_cli(tmp_path, tmp_path / "in", extra=("--as-of", "2025-02-01"))
    assert_refused(tmp_path, with_as_of, "nothing to score")


def test_every_amount_above_the_configs_bound_names_the_bound(tmp_path):
    """A max_abs_amount below every amount rejects every row (amount_out_of_bounds): the
    message names quality.max_abs_amount and its value, in run and validate (it said only
    "every row has a null/unparseable timestamp, id or amount", which none had)."""
    src = write(tmp_path / "in" / "t.parquet", good_table())
    cfg = tmp_path / "c.toml"
    cfg.write_text("[quality]\nmax_abs_amount = 0.5\n")
    needle = "no valid transaction in the input"
    assert_refused(tmp_path, run_cli(tmp_path, src, extra=("--config", cfg)), needle,
                   "quality.max_abs_amount = 0.5")
    v = cli("validate", src, "--config", cfg)
    assert v.exit_code == 2 and "quality.max_abs_amount = 0.5" in v.output, v.output


def _corrupt_data_page(path: Path, column: int = 2, row_group: int = 0) -> None:
    """Overwrite the start of a data page of ``column`` (index) in ``row_group``."""
    col = pq.read_metadata(path).row_group(row_group).column(column)
    data = bytearray(path.read_bytes())
    data[col.data_page_offset + 8:col.data_page_offset + 600] = b"\xff" * 592
    path.write_bytes(bytes(data))


def test_corrupt_data_page_default_as_of(tmp_path):
    """Footer fine, a data page destroyed: the first read (the row pass, as_of derived from
    it) fails, and ingest.explain_read_error names the file and row group (exit 2)."""
    src = write(tmp_path / "in" / "t.parquet", good_table(2000))
    _corrupt_data_page(src)
    assert_refused(tmp_path, run_cli(tmp_path, src), "t.parquet", "corrupt")


def test_corrupt_data_page_explicit_as_of(tmp_path):
    """Same with --as-of (no as_of to derive): still exit 2 naming the file."""
    src = write(tmp_path / "in" / "t.parquet", good_table(2000))
    _corrupt_data_page(src)
    assert_refused(tmp_path, run_cli(tmp_path, src, extra=("--as-of", "2025-02-01")),
                   "t.parquet", "corrupt")


def test_corrupt_data_page_validate_names_the_row_group_as_run_does(tmp_path):
    """validate names the corrupt page's file and row group with run's message (it said
    "corrupt Parquet data (OSError …)" without the row group)."""
    src = tmp_path / "in" / "t.parquet"
    src.parent.mkdir()
    pq.write_table(good_table(2000), src, compression="none", row_group_size=1000)
    _corrupt_data_page(src, row_group=1)
    run = run_cli(tmp_path, src)
    assert_refused(tmp_path, run, "t.parquet: corrupt Parquet data in row group 1")
    v = cli("validate", src)
    assert v.exit_code == 2
    error = run.output.strip().splitlines()[-1]
    assert error.startswith("error: ")
    assert f"problem: {error.removeprefix('error: ')}" in v.output.splitlines()


@pytest.mark.parametrize("column", ["customer_id", "channel"])
def test_corrupt_data_page_met_by_the_memory_plan(tmp_path, monkeypatch, column):
    """A budget the row-count bound does not fit makes the memory plan count the customers
    (and sample the channels) before the row pass: a corrupt page there is exit 2 naming the
    file too (it was an internal error, exit 1, without the file)."""
    import segscore.pipeline as pipeline

    table = good_table(2000, channel=pa.array(["web", "store"] * 1000))
    src = write(tmp_path / "in" / "t.parquet", table)
    meta = pq.read_metadata(src).row_group(0).column(table.column_names.index(column))
    data = bytearray(src.read_bytes())
    data[meta.data_page_offset + 8:meta.data_page_offset + 200] = b"\xff" * 192
    src.write_bytes(bytes(data))
    real = pipeline.plan_memory

    def counting(infos, limit, count_customers, channel_columns, **more):
        channel_columns()  # the big-input path
        count_customers()
        return real(infos, limit, count_customers=count_customers,
                    channel_columns=channel_columns, **more)

    monkeypatch.setattr(pipeline, "plan_memory", counting)
    assert_refused(tmp_path, run_cli(tmp_path, src, extra=("--as-of", "2025-02-01")),
                   "t.parquet", "corrupt")


def test_failed_run_removes_the_output_parents_it_created(tmp_path):
    """--out under directories that do not exist yet: a run failing after the output was
    opened (a corrupt page, found while reading) leaves none of them behind."""
    src = write(tmp_path / "in" / "t.parquet", good_table(2000))
    _corrupt_data_page(src)
    out = tmp_path / "new" / "deeper" / "out"
    result = cli("run", src, "--out", out, "--quiet", "--k", "off")
    assert result.exit_code == 2
    assert not (tmp_path / "new").exists()


def test_empty_directory(tmp_path):
    (tmp_path / "in").mkdir()
    assert_refused(tmp_path, run_cli(tmp_path, tmp_path / "in"), "no .parquet file")


def test_nonexistent_path(tmp_path):
    assert_refused(tmp_path, run_cli(tmp_path, tmp_path / "nope.parquet"),
                   "nope.parquet", "no such file")


def test_glob_matching_nothing(tmp_path):
    assert_refused(tmp_path, run_cli(tmp_path, str(tmp_path / "*.parquet")), "matches no file")


def test_glob_skips_bookkeeping_files_and_reads_matched_directories(tmp_path):
    write(tmp_path / "in" / "a.parquet", good_table())
    write(tmp_path / "in" / "year=2025" / "b.parquet", good_table())
    (tmp_path / "in" / "_SUCCESS").write_text("")
    (tmp_path / "in" / ".a.parquet.crc").write_text("crc")
    result = run_cli(tmp_path, str(tmp_path / "in" / "*"))
    assert result.exit_code == 0, result.output
    import json
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["rows"]["read"] == 2 * N


def test_glob_skips_underscore_and_hidden_directories_as_a_directory_source_does(tmp_path):
    """Spark leaves a failed attempt's copy under ``_temporary/``: a recursive glob must skip
    it, as the directory source does, or the night counts those rows twice. A name the
    pattern spells with ``_`` is read."""
    from segscore.schema import discover

    tx = tmp_path / "tx"
    write(tx / "part-0.parquet", good_table())
    write(tx / "_temporary" / "0" / "_temporary" / "attempt_1" / "part-0.parquet",
          good_table())
    write(tx / ".staging" / "part-0.parquet", good_table())
    write(tx / "_staging" / "part-1.parquet", good_table())
    only = [tx / "part-0.parquet"]
    assert discover(tx) == only
    assert discover(f"{tx}/**/*.parquet") == only
    assert discover(f"{tx}/*") == only
    assert discover(f"{tx}/_staging/*.parquet") == [tx / "_staging" / "part-1.parquet"]
    assert discover(f"{tx}/_stag*/*") == [tx / "_staging" / "part-1.parquet"]
    with pytest.raises(InputError, match=r"matches no Parquet file \(it matched only names "
                                         r"starting with \. or _, which are skipped\)"):
        discover(f"{tx}/*/*.parquet")  # only _staging/part-1.parquet
    result = run_cli(tmp_path, f"{tx}/**/*.parquet")
    assert result.exit_code == 0, result.output
    import json
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["rows"]["read"] == N


def test_a_file_reached_by_several_paths_is_read_once(tmp_path):
    """A symlink or hard link to a file, or the file named again (``in/../in/a.parquet``),
    is the same transactions: read once, under the first of its names, not counted twice."""
    a = write(tmp_path / "in" / "a.parquet", good_table())
    (tmp_path / "in" / "b_link.parquet").symlink_to(a)
    os.link(a, tmp_path / "in" / "c_hard.parquet")
    result = run_cli(tmp_path, tmp_path / "in", tmp_path / "in" / ".." / "in" / "a.parquet")
    assert result.exit_code == 0, result.output
    import json
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["rows"]["read"] == N
    assert [i["path"] for i in manifest["inputs"]] == [str(a.resolve())]
    assert validation_report([str(tmp_path / "in"), str(a)])["rows"]["read"] == N


def test_broken_symlink(tmp_path):
    link = tmp_path / "t.parquet"
    link.symlink_to(tmp_path / "gone.parquet")
    assert_refused(tmp_path, run_cli(tmp_path, link), "t.parquet")


def cli_process(*args) -> subprocess.CompletedProcess:
    """The CLI in a fresh process, killed after 60 s (a read of a FIFO blocks in C code, where
    neither SIGTERM nor pytest can end it); ``exit_code`` and ``output`` as CliRunner's."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "400"}
    try:
        proc = subprocess.run([sys.executable, "-c", "from segscore.cli import main; main()",
                               *map(str, args)], env=env, capture_output=True, text=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"segscore {' '.join(map(str, args))} still ran after 60 s (a blocked read?)")
    proc.exit_code, proc.output = proc.returncode, proc.stdout
    return proc


@pytest.mark.parametrize("option", ["--config", "--model", "--customers", None])
def test_a_fifo_or_device_named_as_a_file_is_refused_not_read(tmp_path, option):
    """A FIFO (or a device: /dev/null) given as --config, --model, --customers or as a
    transactions source is refused naming it, exit 2, before it is opened: a FIFO blocked
    the run for good (SIGTERM could not end it), --config /dev/zero read until memory ran
    out, and --config /dev/null ran with the defaults; a source FIFO was "no such file or
    directory"; validate says the same."""
    src = write(tmp_path / "in" / "t.parquet", good_table())
    fifo = tmp_path / "pipe.parquet"
    os.mkfifo(fifo)
    for special, kind in ((fifo, "a FIFO"), (Path(os.devnull), "a character device")):
        given = (special,) if option is None else (src, option, special)
        says = f"{special}: " if option is None else f"{special}: cannot "
        run = (cli_process if special == fifo else cli)(
            "run", *given, "--out", tmp_path / "out", "--quiet", "--k", "off")
        assert_refused(tmp_path, run, says, f"not a regular file ({kind})")
        valid = (cli_process if special == fifo else cli)("validate", *given)
        assert valid.exit_code == 2, valid.output
        assert f"problem: {says}" in valid.output
        assert f"not a regular file ({kind})" in valid.output


def test_a_fifo_inside_a_source_directory_is_skipped(tmp_path):
    """A FIFO named *.parquet inside a transactions directory (or matched by a glob) or in a
    --previous output's customers/ is skipped, as the directory's hidden files are and as
    polars skips it reading such a directory (docs/decisions.md): it holds no Parquet file
    (a Parquet reader seeks), and opening it would block the run."""
    src = write(tmp_path / "in" / "t.parquet", good_table())
    first = cli("run", src, "--out", tmp_path / "prev", "--quiet", "--k", "off",
                "--as-of", "2025-01-28")
    assert first.exit_code == 0, first.output
    os.mkfifo(tmp_path / "in" / "x.parquet")
    part = next((tmp_path / "prev" / "customers").rglob("*.parquet"))
    os.mkfifo(part.parent / "zz.parquet")
    for source in (tmp_path / "in", tmp_path / "in" / "*.parquet"):
        shutil.rmtree(tmp_path / "out", ignore_errors=True)
        r = cli_process("run", source, "--out", tmp_path / "out", "--quiet", "--k", "off",
                        "--previous", tmp_path / "prev")
        assert r.exit_code == 0, r.stderr
        manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
        assert [Path(i["path"]).name for i in manifest["inputs"]] == ["t.parquet"]
        v = cli_process("validate", source, "--previous", tmp_path / "prev")
        assert v.exit_code == 0 and v.output.rstrip().endswith("valid"), v.output


def cli_bound_by_permissions(*args) -> subprocess.CompletedProcess:
    """The CLI in a fresh process that file permission bits bind: as root (CI), without the
    capabilities that bypass them (``setpriv``, util-linux)."""
    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("root without setpriv: permission bits are moot")
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "400"}
    proc = subprocess.run([*prefix, sys.executable, "-c", "from segscore.cli import main; main()",
                           *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=300)
    proc.exit_code, proc.output = proc.returncode, proc.stdout
    return proc


def test_unreadable_file(tmp_path):
    src = write(tmp_path / "in" / "t.parquet", good_table())
    src.chmod(0)
    try:
        result = cli_bound_by_permissions("run", src, "--out", tmp_path / "out", "--quiet",
                                          "--k", "off")
        assert_refused(tmp_path, result, "t.parquet", "ermission")
    finally:
        src.chmod(0o644)


def test_directory_given_as_file(tmp_path):
    """A *directory* named like a Parquet file inside the input directory is skipped, and
    an input that is a directory of nothing readable is refused."""
    (tmp_path / "in" / "x.parquet").mkdir(parents=True)
    assert_refused(tmp_path, run_cli(tmp_path, tmp_path / "in"), "no .parquet file")


def test_bad_as_of(tmp_path):
    src = write(tmp_path / "in" / "t.parquet", good_table())
    assert_refused(tmp_path, run_cli(tmp_path, src, extra=("--as-of", "yesterday")), "--as-of")


def test_output_path_is_a_file(tmp_path):
    src = write(tmp_path / "in" / "t.parquet", good_table())
    (tmp_path / "out").write_text("x")
    result = run_cli(tmp_path, src)
    assert result.exit_code == 2 and "is a file" in result.output
    assert (tmp_path / "out").read_text() == "x"


@pytest.mark.parametrize("below", ["out", "out/deeper"])
def test_output_parent_is_a_file(tmp_path, below):
    src = write(tmp_path / "in" / "t.parquet", good_table())
    (tmp_path / "f").write_text("x")
    out = tmp_path / "f" / below
    result = cli("run", src, "--out", out, "--quiet", "--k", "off")
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "Traceback" not in text, text
    assert f"{out}: cannot write the output there ({tmp_path / 'f'} is a file, not a " \
           "directory)" in text
    assert (tmp_path / "f").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f", "in"]


def _lock_file_fails(monkeypatch, code: int) -> None:
    """Make creating the lock file beside --out fail with OSError ``code`` (a real read-only
    mount or full disk needs privileges a test does not have)."""
    from segscore import output

    real_open = os.open

    def failing(path, *args, **kwargs):
        if str(path).endswith(output.LOCK_TAG):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(output.os, "open", failing)


def test_output_on_a_read_only_file_system(tmp_path, monkeypatch):
    """The audit's case: creating the lock file beside --out fails with EROFS."""
    src = write(tmp_path / "in" / "t.parquet", good_table())
    _lock_file_fails(monkeypatch, errno.EROFS)
    assert_refused(tmp_path, run_cli(tmp_path, src), f"{tmp_path / 'out'}: cannot write the "
                   "output there (Read-only file system", ".out.segscore-lock")


def test_output_in_a_directory_that_takes_no_new_entry(tmp_path, monkeypatch):
    """ENOENT at the lock file (/proc takes no new entry): the path is refused, exit 2 (it
    was an internal error, exit 1)."""
    src = write(tmp_path / "in" / "t.parquet", good_table())
    _lock_file_fails(monkeypatch, errno.ENOENT)
    assert_refused(tmp_path, run_cli(tmp_path, src), f"{tmp_path / 'out'}: cannot write the "
                   "output there (No such file or directory", ".out.segscore-lock")


def test_full_disk_while_opening_the_output_is_not_bad_usage(tmp_path, monkeypatch):
    """ENOSPC at the lock file: the machine's state, so exit 1 saying so (as a full disk while
    writing, test_crash), not exit 2 'cannot write the output there'."""
    src = write(tmp_path / "in" / "t.parquet", good_table())
    _lock_file_fails(monkeypatch, errno.ENOSPC)
    result = run_cli(tmp_path, src)
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "No space left on device while writing" in text, text
    assert "cannot write the output there" not in text and "internal error" not in text
    assert not (tmp_path / "out").exists()


def test_output_in_a_directory_without_write_permission(tmp_path):
    src = write(tmp_path / "in" / "t.parquet", good_table())
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = cli_bound_by_permissions("run", src, "--out", locked / "new" / "out",
                                          "--quiet", "--k", "off")
        text = result.stdout + result.stderr
        assert result.returncode == 2 and "Permission denied" in text, text
        assert "Traceback" not in text
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("source,out", [("in", "in/out"), ("in", "in"), ("in/*", "in/out"),
                                        ("*", "in/x/out"), ("in/**/*.parquet", "in/out")])
def test_output_inside_the_input_is_refused(tmp_path, monkeypatch, source, out):
    """The next run would read this output as transactions: refused on the first."""
    write(tmp_path / "in" / "t.parquet", good_table())
    monkeypatch.chdir(tmp_path)
    result = cli("run", source, "--out", out, "--quiet", "--k", "off")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"is inside the input {source}" in " ".join(result.output.split())
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == \
        ["in", "in/t.parquet"]


@pytest.mark.parametrize("kind", ["transactions", "attributes", "config"])
def test_an_input_inside_the_output_it_would_replace_is_refused(tmp_path, kind):
    """Input kept inside last night's output directory: --overwrite would delete it with the
    old output, so the run is refused before anything is read (it ran, exit 0, and the input
    was gone afterwards)."""
    src = write(tmp_path / "in" / "t.parquet", good_table())
    out = tmp_path / "out"
    assert run_cli(tmp_path, src).exit_code == 0
    kept = write(out / "kept" / "t.parquet", good_table())
    if kind == "transactions":
        r = cli("run", kept, "--out", out, "--overwrite", "--quiet", "--k", "off")
    elif kind == "config":
        kept = out / "kept" / "c.toml"
        kept.write_text("[scoring]\nbins = 5\n")
        r = cli("run", src, "--out", out, "--overwrite", "--quiet", "--k", "off",
                "--config", kept)
        with pytest.raises(InputError, match="is inside the output directory"):  # the API too
            segscore.run(src, out, config_path=kept, overwrite=True)
    else:
        attrs = out / "kept" / "attrs.parquet"
        pq.write_table(pa.table({"customer_id": pa.array(range(37), pa.int64()),
                                 "region": pa.array(["n"] * 37)}), attrs)
        r = cli("run", src, "--out", out, "--overwrite", "--quiet", "--k", "off",
                "--customers", attrs)
    assert r.exit_code == 2, r.output
    assert "is inside the output directory" in " ".join(r.output.split())
    assert kept.exists()


def test_output_beside_the_input_files_is_fine(tmp_path, monkeypatch):
    write(tmp_path / "in" / "t.parquet", good_table())
    monkeypatch.chdir(tmp_path)
    for source in ("in/*.parquet", "in/t.parquet"):
        result = cli("run", source, "--out", "in/out", "--quiet", "--k", "off", "--overwrite")
        assert result.exit_code == 0, result.output


# --- config ---------------------------------------------------------------------------------

CONFIGS = {
    "unknown_key": ('[scoring]\nbins = 5\nbinz = 4\n', "binz"),
    "threshold_method_without_tiers": ('[value_tier]\nmethod = "thresholds"\n',
                                       "method = 'thresholds' needs its own [[value_tier.tiers]]"),
    "two_roles_one_column": ('[columns]\norder_id = "customer_id"\n',
                             "customer_id and order_id both name the column 'customer_id'"),
    "amount_on_the_id": ('[columns]\namount = "customer_id"\n',
                         "customer_id and amount both name the column 'customer_id'"),
    "id_on_a_default_name": ('[columns]\ncustomer_id = "order_id"\n',
                             'set order_id = "" to read no order_id'),
    "unknown_section": ('[scorin]\nbins = 5\n', "scorin"),
    "bins_out_of_range": ('[scoring]\nbins = 12\n', "scoring.bins"),
    "bins_wrong_type": ('[scoring]\nbins = "five"\n', "scoring.bins"),
    "range_outside_grid": (
        '[[segments.rules]]\nkey = "a"\nr = [0, 7]\n\n[[segments.rules]]\nkey = "rest"\n',
        "segments"),
    "hidden_rule": (
        '[[segments.rules]]\nkey = "all"\nr = [1, 5]\n\n[[segments.rules]]\nkey = "top"\n'
        'r = [5, 5]\n\n[[segments.rules]]\nkey = "rest"\n', "top"),
    "no_catch_all": ('[[segments.rules]]\nkey = "top"\nr = [5, 5]\n', "segments"),
    "bad_slug": ('[[segments.rules]]\nkey = "../etc"\n', "../etc"),
    "not_toml": ('this is = = not toml\n', "invalid TOML"),
    "python_code": ('import os\nos.system("touch /tmp/segscore-pwned")\n', "invalid TOML"),
    "negative_window": ('[scoring]\nwindow_days = -3\n', "window_days"),
    "bad_tier_shares": (
        '[[value_tier.tiers]]\nkey = "a"\ntop_share = 0.8\n\n[[value_tier.tiers]]\nkey = "b"\n'
        'top_share = 0.5\n\n[[value_tier.tiers]]\nkey = "c"\n', "top_share"),
    "bad_max_abs_amount": ('[quality]\nmax_abs_amount = -1\n', "max_abs_amount"),
    # amounts beyond ≈ 9.2e14 would overflow the exact int64 1/10,000 units
    "huge_max_abs_amount": ('[quality]\nmax_abs_amount = 1e16\n', "at most 1,000,000,000,000"),
    # refused by validate and run alike, before any data (run failed in a stage, exit 1)
    "negative_random_state": ('[clustering]\nrandom_state = -1\n', "random_state"),
    "nan_min_monetary": (
        '[value_tier]\nmethod = "thresholds"\n[[value_tier.tiers]]\nkey = "a"\n'
        'min_monetary = nan\n[[value_tier.tiers]]\nkey = "c"\n', "finite"),
    "inf_min_monetary": (
        '[value_tier]\nmethod = "thresholds"\n[[value_tier.tiers]]\nkey = "a"\n'
        'min_monetary = inf\n[[value_tier.tiers]]\nkey = "c"\n', "finite"),
    "k_max_above_64": ('[clustering]\nk_min = 70\nk_max = 100\n',
                       "clustering.k_min: expected an integer in 2..64, got 70"),
    "window_longer_than_calendar": ('[scoring]\nwindow_days = 9999999\n', "at most 3,652,058"),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_bad_config(tmp_path, name):
    text, needle = CONFIGS[name]
    src = write(tmp_path / "in" / "t.parquet", good_table())
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    assert_refused(tmp_path, run_cli(tmp_path, src, extra=("--config", cfg)), "c.toml", needle)
    assert not Path("/tmp/segscore-pwned").exists()


def test_window_reaching_before_year_1_is_refused_up_front(tmp_path):
    """An explicit as_of near the start of the calendar: refused before any data is read
    (it used to fail in the row pass as an internal error, exit 1). The message names the
    flag that set the window, in run and in validate (it named only window_days); set in a
    config file, the key."""
    src = write(tmp_path / "in" / "t.parquet", good_table())
    assert_refused(tmp_path, run_cli(tmp_path, src, extra=("--as-of", "0001-01-01",
                                                            "--window-days", "5")),
                   "--window-days 5: window_days = 5", "before the year 1")
    # as_of from the data (2025-01): found when the row pass knows it, still exit 2
    assert_refused(tmp_path, run_cli(tmp_path, src, extra=("--window-days", "800000")),
                   "--window-days 800000: window_days = 800000", "before the year 1")
    v = cli("validate", src, "--window-days", "800000")
    assert v.exit_code == 2 and "--window-days 800000: window_days = 800000" in v.output
    cfg = tmp_path / "c.toml"
    cfg.write_text("[scoring]\nwindow_days = 800000\n")
    r = run_cli(tmp_path, src, extra=("--config", cfg))
    assert_refused(tmp_path, r, "c.toml: scoring.window_days: window_days = 800000",
                   "before the year 1")
    assert "--window-days" not in r.output
    v = cli("validate", src, "--config", cfg)
    assert v.exit_code == 2 and "c.toml: scoring.window_days: window_days = 800000" in \
        " ".join(v.output.split())


@pytest.mark.parametrize("name", ["negative_random_state", "nan_min_monetary",
                                  "k_max_above_64"])
def test_validate_refuses_the_config_values_run_refuses(tmp_path, name):
    text, needle = CONFIGS[name]
    src = write(tmp_path / "in" / "t.parquet", good_table())
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    r = cli("validate", src, "--config", cfg)
    assert r.exit_code == 2 and needle in r.output, r.output


@pytest.mark.parametrize("args, needle", [
    (["--bins", "3"], "--bins 3: scoring.bins is 3, but the built-in preset 'rfm'"),
    (["--k", "1"], "--k 1: clustering.k"),
    (["--k", "²"], "--k"),
])
def test_validate_takes_runs_scoring_flags_and_refuses_what_run_refuses(tmp_path, args, needle):
    """validate has run's --bins, --segments and --k (it had none of them, so it could not
    check what they cause): what run refuses, validate reports, naming the flag."""
    src = write(tmp_path / "in" / "t.parquet", good_table())
    r = cli("validate", src, *args)
    assert r.exit_code == 2 and needle in r.output, r.output
    assert_refused(tmp_path, run_cli(tmp_path, src, extra=args), needle)
    ok = cli("validate", src, "--bins", "5", "--segments", "value_behaviour", "--k", "4")
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize("args, needle", [
    (["--memory-limit", "nan"], "--memory-limit"), (["--memory-limit", "inf"], "--memory-limit"),
    (["--memory-limit", "1e308"], "--memory-limit"),
    (["--k", "²"], "--k"), (["--k", "٣"], "--k"),
])
def test_run_options_that_are_not_plain_numbers_are_refused(tmp_path, args, needle):
    """nan / inf / overflowing memory limits and non-ASCII digits for --k: exit 2 naming the
    option (nan, inf, 1e308 — inf bytes — and "²" were internal errors; "٣" was taken as 3);
    validate refuses them the same way."""
    src = write(tmp_path / "in" / "t.parquet", good_table())
    r = run_cli(tmp_path, src, extra=args)
    assert_refused(tmp_path, r, needle)
    v = cli("validate", src, *args)
    assert v.exit_code == 2 and needle in v.output and "internal error" not in v.output, v.output


def test_config_not_utf8_and_missing(tmp_path):
    src = write(tmp_path / "in" / "t.parquet", good_table())
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b"\xff\xfe[scoring]\n")
    assert_refused(tmp_path, run_cli(tmp_path, src, extra=("--config", cfg)), "c.toml")
    assert_refused(tmp_path, run_cli(tmp_path, src, extra=("--config", tmp_path / "no.toml")),
                   "no.toml")


def test_real_process_exit_code_and_no_traceback(tmp_path):
    src = write(tmp_path / "in" / "t.parquet", good_table(amount=None))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", "from segscore.cli import main; main()", "run",
                           str(src), "--out", str(tmp_path / "out"), "--quiet"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "'amount'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 3  # one message (wrapped by the console)
    assert not (tmp_path / "out").exists()


# --- validation_report / memory budget ------------------------------------------------------

def test_validation_report_collects_every_problem(tmp_path):
    write(tmp_path / "in" / "a.parquet", good_table(amount=None, order_ts=None))
    write(tmp_path / "in" / "b.parquet", good_table(amount=pa.array(["x"] * N)))
    (tmp_path / "in" / "c.parquet").write_bytes(b"PAR1 garbage")
    write(tmp_path / "in" / "ok.parquet", good_table())
    rep = validation_report([str(tmp_path / "in"), str(tmp_path / "nope")])
    assert not rep["ok"]
    messages = [p["message"] for p in rep["problems"]]
    assert any("a.parquet" in m and "'amount'" in m for m in messages)
    assert any("a.parquet" in m and "'order_ts'" in m for m in messages)
    assert any("b.parquet" in m and "string" in m for m in messages)
    assert any("c.parquet" in m for m in messages)
    assert any("nope" in m for m in messages)
    assert len(messages) == 5
    assert [f["path"] for f in rep["files"]] == [str(tmp_path / "in" / "ok.parquet")]


def test_validation_report_reconciliation(tmp_path):
    table = good_table(amount=pa.array([float("nan")] + [10.0] * (N - 1)))
    write(tmp_path / "in" / "t.parquet", table)
    write(tmp_path / "in" / "u.parquet", good_table(order_ts=pa.array([None] * N, pa.timestamp("us"))))
    rep = validation_report(str(tmp_path / "in"), as_of=datetime(2025, 1, 20))
    assert rep["ok"], rep["problems"]
    rows = rep["rows"]
    assert rows["read"] == 2 * N and rows["balanced"]
    assert rows["rejected"] == {"non_finite_amount": 1, "null_timestamp": N}
    assert rows["used"] + rows["after_as_of"] == N - 1
    assert all(f["balanced"] for f in rep["inputs"])


def test_validate_finds_a_corrupt_page_in_a_column_the_counts_do_not_need(tmp_path):
    """validate decodes every column the run reads within its one read of the rows (no
    file-by-file decode first): a corrupt page of the category column, which the row counts
    do not read, is still found and named as run names it; every corrupt file is named."""
    categories = pa.array([f"c{i % 7}" for i in range(2000)])
    for name in ("a.parquet", "b.parquet"):
        src = write(tmp_path / "in" / name, good_table(2000, category=categories))
        _corrupt_data_page(src, column=3)
    write(tmp_path / "in" / "c.parquet", good_table(2000, category=categories))
    run = run_cli(tmp_path, tmp_path / "in")
    assert_refused(tmp_path, run, "a.parquet: corrupt Parquet data in row group 0")
    v = cli("validate", tmp_path / "in")
    assert v.exit_code == 2
    problems = [line for line in v.output.splitlines() if line.startswith("problem: ")]
    assert [p.split("/")[-1].split(":")[0] for p in problems] == ["a.parquet", "b.parquet"]
    assert f"problem: {run.output.strip().splitlines()[-1].removeprefix('error: ')}" in problems
    assert [line.split(" ")[1].split("/")[-1] for line in v.output.splitlines()
            if line.startswith("ok ")] == ["c.parquet"]


def test_validate_decodes_a_clean_night_once(tmp_path, monkeypatch):
    """On good input the row read is the decode: no file is decoded on its own before it
    (that doubled validate's reading)."""
    import segscore.ingest as ingest
    import segscore.validation as validation

    def fail(*args, **kwargs):
        raise AssertionError("a file decoded on its own")

    write(tmp_path / "in" / "t.parquet",
          good_table(2000, category=pa.array([f"c{i % 7}" for i in range(2000)])))
    monkeypatch.setattr(ingest, "find_corrupt_file", fail)
    monkeypatch.setattr(validation, "find_corrupt_file", fail)
    rep = validation_report(str(tmp_path / "in"))
    assert rep["ok"] and rep["rows"]["read"] == 2000


def test_validation_report_finds_corrupt_pages_and_bad_config(tmp_path):
    src = write(tmp_path / "in" / "t.parquet", good_table(2000))
    _corrupt_data_page(src)
    cfg = tmp_path / "c.toml"
    cfg.write_text("[scoring]\nbins = 99\n")
    rep = validation_report(str(src), str(cfg))
    messages = [p["message"] for p in rep["problems"]]
    assert any("c.toml" in m and "bins" in m for m in messages)
    assert any("t.parquet" in m and "corrupt" in m for m in messages)


def test_memory_budget(tmp_path):
    src = write(tmp_path / "in" / "t.parquet", good_table())
    infos = inspect_inputs(discover(str(src)), build_config({}).columns)
    estimate = estimate_peak_bytes(infos)
    assert plan_memory(infos, estimate + 1).partitions == 1
    big = [type(infos[0])(path=infos[0].path, bytes=10**11, rows=10**9, kinds=infos[0].kinds)]
    with pytest.raises(InputError, match=r"memory budget exceeded: 1,000,000,000 input rows.*GiB"):
        plan_memory(big, 16 * 2**30)
    rep = validation_report(str(src), memory_limit_bytes=100)
    assert any("memory budget exceeded" in p["message"] for p in rep["problems"])


def test_existing_paths_with_glob_characters_are_read_as_paths(tmp_path):
    """A directory or file whose name holds [ ] ? or * and exists is that path, not a pattern
    (it used to be globbed and refused as matching nothing); the attributes file too."""
    import polars as pl

    src = write(tmp_path / "tx[2025]" / "a?.parquet", good_table())
    attrs = tmp_path / "attrs[v2].parquet"
    pl.DataFrame({"customer_id": list(range(37)), "region": ["n"] * 37}).write_parquet(attrs)
    for source in (src.parent, src):
        out = tmp_path / "out"
        r = cli("run", source, "--out", out, "--quiet", "--k", "off", "--overwrite",
                "--customers", attrs)
        assert r.exit_code == 0, r.output
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["rows"]["read"] == N
    assert cli("validate", src.parent).exit_code == 0


def test_dictionary_encoded_string_timestamps_are_parsed(tmp_path):
    """order_ts as dictionary-encoded strings (a pandas category column) is parsed like plain
    strings (it was an internal error, exit 1)."""
    ts = pa.array([f"2025-01-{1 + i % 28:02d}T10:00:00" for i in range(N)])
    plain = write(tmp_path / "a" / "t.parquet", good_table(order_ts=ts))
    coded = write(tmp_path / "b" / "t.parquet", good_table(order_ts=ts.dictionary_encode()))
    runs = []
    for src in (plain, coded):
        out = tmp_path / f"out-{src.parent.name}"
        r = cli("run", src, "--out", out, "--quiet", "--k", "off")
        assert r.exit_code == 0, r.output
        runs.append(pq.read_table(out / "customers").sort_by("customer_id"))
    assert runs[0].equals(runs[1])


@pytest.mark.parametrize("target", ["real", "nowhere"])
def test_output_path_that_is_a_symbolic_link_is_refused(tmp_path, target):
    """--out as a symlink (to an earlier output, or dangling): exit 2 before the row pass,
    the link and what it points to untouched (a run used to swap the link away, fail with
    an internal error and leave a hidden link behind)."""
    src = write(tmp_path / "in" / "t.parquet", good_table())
    real = tmp_path / "real"
    assert cli("run", src, "--out", real, "--quiet", "--k", "off").exit_code == 0
    before = sorted(p.relative_to(real) for p in real.rglob("*"))
    link = tmp_path / "link"
    link.symlink_to(tmp_path / target)
    r = cli("run", src, "--out", link, "--quiet", "--k", "off", "--overwrite")
    text = " ".join(r.output.split())
    assert r.exit_code == 2, text
    assert "symbolic link" in text and "Traceback" not in text
    assert link.is_symlink() and sorted(p.relative_to(real) for p in real.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "link", "real"]


@pytest.mark.parametrize("zone", ["+05:30", "Z", "+0530"])
def test_time_zone_the_reader_cannot_read_is_refused_naming_it(tmp_path, zone):
    """A timestamp column with a zone polars' reader panics on (a non-whole-hour offset, as
    pandas writes for "+05:30"; "Z"), in order_ts or in a column segscore does not read:
    exit 2 naming the file, the column and the zone (it was a raw panic, exit 1). Readable
    zones are read."""
    from datetime import timezone

    moments = [datetime(2025, 1, 1 + i % 28, tzinfo=timezone.utc) for i in range(N)]
    ts = pa.array(moments, pa.timestamp("us", tz=zone))
    bad = write(tmp_path / "in" / "t.parquet", good_table(order_ts=ts))
    assert_refused(tmp_path, run_cli(tmp_path, bad), "t.parquet", "'order_ts'", f"'{zone}'")
    other = write(tmp_path / "in2" / "t.parquet", good_table(synced=ts))
    assert_refused(tmp_path, run_cli(tmp_path, other), "'synced'", f"'{zone}'")
    v = cli("validate", bad)
    assert v.exit_code == 2 and f"'{zone}'" in v.output
    for fine in ("+02:00", "Asia/Kolkata", "UTC"):
        ok = write(tmp_path / fine.replace("/", "_") / "t.parquet", good_table(
            order_ts=pa.array(moments, pa.timestamp("us", tz=fine))))
        assert cli("run", ok, "--out", tmp_path / f"o{fine.replace('/', '_')}", "--quiet",
                   "--k", "off").exit_code == 0


def test_attributes_file_with_an_unreadable_time_zone_is_refused_naming_it(tmp_path):
    from datetime import timezone

    src = write(tmp_path / "in" / "t.parquet", good_table())
    attrs = write(tmp_path / "attrs.parquet", pa.table({
        "customer_id": pa.array(range(37), pa.int64()),
        "signed_up": pa.array([datetime(2024, 1, 1, tzinfo=timezone.utc)] * 37,
                              pa.timestamp("us", tz="+05:30"))}))
    assert_refused(tmp_path, run_cli(tmp_path, src, extra=("--customers", attrs)),
                   "attrs.parquet", "'signed_up'", "'+05:30'")


def write_int96(path: Path, table: pa.Table) -> Path:
    """``table`` with its timestamps stored as INT96, as Spark writes them (pyarrow's
    flavor="spark"): a zone is then only in the stored Arrow schema, which polars reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, flavor="spark")
    return path


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
@pytest.mark.parametrize("unit", ["us", "ns"])
def test_int96_timestamps_with_a_time_zone_are_read_like_int64_ones(tmp_path, zone, unit):
    """A zoned order_ts stored as INT96 is scored as the same instants stored as INT64, by
    run and validate (pyarrow's footer schema shows naive ns, polars reads the zone: the ns
    round-up compared the two, an internal error, exit 1; validate called the file
    invalid)."""
    table = good_table(order_ts=good_table().column("order_ts").cast(pa.timestamp(unit, zone)))
    outs = []
    for name, writer in (("int64", write), ("int96", write_int96)):
        src = writer(tmp_path / name / "t.parquet", table)
        r = cli("run", src, "--out", tmp_path / f"out_{name}", "--quiet", "--k", "off")
        assert r.exit_code == 0, r.output
        v = cli("validate", src)
        assert v.exit_code == 0, v.output
        manifest = json.loads((tmp_path / f"out_{name}" / "manifest.json").read_text())
        outs.append((manifest["as_of"], manifest["rows"],
                     pq.read_table(tmp_path / f"out_{name}" / "customers").sort_by("customer_id")))
    assert outs[0][:2] == outs[1][:2]
    assert outs[0][2].equals(outs[1][2])


def test_int96_timestamps_in_a_zone_the_reader_cannot_read_are_refused_naming_it(tmp_path):
    """An INT96 timestamp column whose stored zone polars cannot read (+05:30), in order_ts,
    in a column segscore does not read, or in the --customers file: exit 2 naming the file,
    column and zone, in run and validate (it was a polars panic with a Rust backtrace)."""
    ts = good_table().column("order_ts").cast(pa.timestamp("us", "+05:30"))
    bad = write_int96(tmp_path / "in" / "t.parquet", good_table(order_ts=ts))
    assert_refused(tmp_path, run_cli(tmp_path, bad), "t.parquet", "'order_ts'", "'+05:30'")
    v = cli("validate", bad)
    assert v.exit_code == 2 and "'order_ts'" in v.output and "'+05:30'" in v.output
    other = write_int96(tmp_path / "in2" / "t.parquet", good_table(synced=ts))
    assert_refused(tmp_path, run_cli(tmp_path, other), "'synced'", "'+05:30'")
    attrs = write_int96(tmp_path / "attrs.parquet", pa.table({
        "customer_id": pa.array(range(N), pa.int64()), "signed_up": ts}))
    src = write(tmp_path / "in3" / "t.parquet", good_table())
    assert_refused(tmp_path, run_cli(tmp_path, src, extra=("--customers", attrs)),
                   "attrs.parquet", "'signed_up'", "'+05:30'")
    v = cli("validate", src, "--customers", attrs)
    assert v.exit_code == 2 and "'signed_up'" in v.output and "'+05:30'" in v.output


@pytest.mark.parametrize("case", ["returns_only", "sub_unit", "all_after_as_of"])
def test_validate_refuses_what_run_refuses_for_want_of_a_purchase(tmp_path, case):
    """No used row is a purchase (only returns, only amounts that round to 0 units, or every
    row after --as-of): ``run`` stops after its row pass, and ``validate`` now says so up
    front with the same message, exit 2 (it said "valid")."""
    amounts = {"returns_only": [-5.0, -3.0, 0.0], "sub_unit": [0.00005, -1.0, 0.00004],
               "all_after_as_of": [5.0, 6.0, 7.0]}[case]
    n = 30
    src = write(tmp_path / "in" / "t.parquet", good_table(
        n, amount=pa.array([amounts[i % 3] for i in range(n)], pa.float64())))
    extra = ["--as-of", "2024-01-01"] if case == "all_after_as_of" else []
    v = cli("validate", src, *extra)
    assert v.exit_code == 2, v.output
    assert "nothing to score" in v.output
    assert_refused(tmp_path, run_cli(tmp_path, src, extra=extra), "nothing to score")
    # one purchase of one unit (0.0001) is enough for both
    ok = write(tmp_path / "ok" / "t.parquet", good_table(
        n, amount=pa.array([0.0001] + [amounts[i % 3] for i in range(1, n)], pa.float64())))
    if case != "all_after_as_of":
        assert cli("validate", ok).exit_code == 0


@pytest.mark.parametrize("as_of", [None, "2025-06-30"])
def test_timestamps_beyond_the_calendar_are_rejected_with_a_reason(tmp_path, as_of):
    """A row in the year 19988 (a typed timestamp, or the string "+12345-01-01T00:00:00"):
    rejected as timestamp_out_of_range, with or without --as-of, and as_of comes from the
    other rows (it was an internal error, exit 1, converting the latest timestamp)."""
    year_19988 = int((datetime(9999, 1, 1) - datetime(1970, 1, 1)).total_seconds() * 10**6) * 2
    typed = good_table().column("order_ts").cast(pa.int64()).to_pylist()
    typed[0] = year_19988
    a = write(tmp_path / "in" / "a.parquet", good_table(
        order_ts=pa.array(typed, pa.int64()).cast(pa.timestamp("us"))))
    strings = [f"2025-01-{1 + i % 28:02d}T10:00:00" for i in range(N)]
    strings[1] = "+12345-01-01T00:00:00"
    b = write(tmp_path / "in" / "b.parquet", good_table(order_ts=pa.array(strings)))
    extra = ["--as-of", as_of] if as_of else []
    r = run_cli(tmp_path, a, b, extra=extra)
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    rows = manifest["rows"]
    assert rows["rejected"] == {"timestamp_out_of_range": 2}
    assert manifest["as_of"].startswith(as_of or "2025-01-28")
    reasons = pq.read_table(tmp_path / "out" / "rejected").column("reason").to_pylist()
    assert reasons.count("timestamp_out_of_range") == rows["rejected"]["timestamp_out_of_range"]


@pytest.mark.parametrize("kind", ["date", "ms", "ms_tz"])
@pytest.mark.parametrize("as_of", [None, "2025-06-30"])
def test_dates_and_ms_timestamps_beyond_polars_range_are_rejected_with_a_reason(
        tmp_path, kind, as_of):
    """A date or a millisecond timestamp that polars' microsecond timestamps cannot hold
    (±292,000 years; Parquet stores both as plain integers) is rejected as
    timestamp_out_of_range, its stored value in order_ts_raw, and the rest of the file is
    scored; run and validate agree. It was a polars panic converting it: "internal error",
    exit 1, no file or column named."""
    if kind == "date":
        stored = [20_000 + i % 28 for i in range(N)]
        stored[0], stored[1] = 110_000_000, -110_000_000  # ±301,000 years
        typ = pa.date32()
    else:
        stored = [1_735_725_600_000 + i * 86_400_000 for i in range(N)]  # 2025-01-01 10:00
        stored[0], stored[1] = 9 * 10**18, -2**63  # 285 million years; the int64 minimum
        typ = pa.timestamp("ms", tz="Europe/Paris" if kind == "ms_tz" else None)
    src = write(tmp_path / "in" / "a.parquet", good_table(
        order_ts=pa.array(stored, pa.int32() if kind == "date" else pa.int64()).cast(typ)))
    extra = ["--as-of", as_of] if as_of else []
    r = run_cli(tmp_path, src, extra=extra)
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "out" / "manifest.json").read_text())["rows"]
    assert rows["rejected"] == {"timestamp_out_of_range": 2}
    assert rows["read"] == N and rows["balanced"]
    rejected = pq.read_table(tmp_path / "out" / "rejected",
                             columns=["order_ts_raw", "source_row"]).to_pydict()
    unit = " days since 1970-01-01" if kind == "date" else " ms since 1970-01-01T00:00:00Z"
    assert sorted(rejected["order_ts_raw"]) == sorted(f"{v}{unit}" for v in stored[:2])
    assert sorted(rejected["source_row"]) == [0, 1]
    v = cli("validate", src, *extra)
    assert v.exit_code == 0, v.output
    assert "timestamp_out_of_range" in v.output


@pytest.mark.parametrize("role", ["channel", "category", "order_id"])
def test_an_all_null_optional_column_counts_as_absent(tmp_path, role):
    """An optional column of Arrow type null (pandas writes an all-None column so, e.g. in a
    0-row file) is read as if the file did not have it; the other file's values are used
    (it used to stop the run as a mistyped column)."""
    values = {"channel": pa.array(["web", "store"] * (N // 2)),
              "category": pa.array(["a", "b"] * (N // 2)),
              "order_id": pa.array(range(N), pa.int64())}[role]
    a = write(tmp_path / "in" / "a.parquet", good_table(**{role: values}))
    b = write(tmp_path / "in" / "b.parquet", good_table(**{role: pa.nulls(N)}))
    r = run_cli(tmp_path, a, b)
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["rows"]["used"] == 2 * N
    if role == "channel":
        cols = pq.read_schema(next((tmp_path / "out" / "customers").rglob("*.parquet"))).names
        assert "share_web" in cols


def test_sums_that_could_overflow_the_exact_units_are_refused(tmp_path):
    """1,000 rows of 1e12 for one customer under max_abs_amount = 1e12: their net spend would
    overflow int64 1/10,000 units (it came out negative, exit 0); refused, exit 2, nothing
    written. Under the same bound 900 such rows are fine and exact."""
    cfg = tmp_path / "c.toml"
    cfg.write_text("[quality]\nmax_abs_amount = 1e12\n")
    for n, ok in ((1000, False), (900, True)):
        table = pa.table({
            "customer_id": pa.array([1] * n + [2], pa.int64()),
            "order_ts": pa.array([datetime(2025, 1, 1 + i % 28) for i in range(n + 1)],
                                 pa.timestamp("us")),
            "amount": pa.array([1e12] * n + [5.0])})
        src = write(tmp_path / f"in{n}" / "t.parquet", table)
        checked = cli("validate", src, "--config", cfg)  # validate agrees with run
        assert checked.exit_code == (0 if ok else 2), checked.output
        assert ok or "1,000 used rows" in checked.output
        r = run_cli(tmp_path, src, extra=("--config", cfg))
        if ok:
            assert r.exit_code == 0, r.output
            customers = pq.read_table(tmp_path / "out" / "customers").to_pydict()
            spend = dict(zip(customers["customer_id"], customers["monetary"]))
            assert spend[1] == 9e14
        else:
            assert_refused(tmp_path, r, "1,000 used rows", "max_abs_amount")
    from segscore.ingest import check_exact_sums
    import polars as pl
    check_exact_sums(pl.Series([10**6]), 1e-6)  # a bound below one unit: no division by 0


def test_the_exact_sum_guard_allows_exactly_the_rows_whose_sums_fit():
    """Under max_abs_amount = 1e12 (10^16 units a row) 922 rows sum to at most
    9.22e18 < 2^63 units and pass; 923 could reach 9.23e18 > 2^63 - 1 and are refused."""
    import polars as pl

    from segscore.ingest import bound_units, check_exact_sums, exact_rows_limit

    assert bound_units(1e12) == 10**16 and exact_rows_limit(1e12) == 922
    assert 922 * 10**16 <= 2**63 - 1 < 923 * 10**16
    check_exact_sums(pl.Series([3, 922, 17]), 1e12)
    with pytest.raises(InputError, match="a customer has 923 used rows"):
        check_exact_sums(pl.Series([3, 923, 17]), 1e12)


@pytest.mark.parametrize("zone", [None, "UTC", "ISO text"])
def test_nanosecond_timestamps_after_as_of_are_after_it(tmp_path, zone):
    """A row 900 ns after --as-of is after it (truncating to µs made it used); one 900 ns
    after the window start is inside the window; day counts are as for the instant."""
    base = 1_782_820_800_000_000_000  # 2026-06-30T12:00:00 UTC, in ns
    day = 86_400 * 10**9
    ts = [base + 900, base - 10 * day, base - 1, base - 365 * day + 900, base - 365 * day]
    table = pa.table({
        "customer_id": pa.array([1, 1, 2, 3, 4], pa.int64()),
        "order_ts": (pa.array([f"{np.datetime64(t, 'ns')}" for t in ts])  # 9 fraction digits
                     if zone == "ISO text" else
                     pa.array(ts, pa.int64()).cast(pa.timestamp("ns", tz=zone))),
        "amount": pa.array([5.0] * 5)})
    src = write(tmp_path / "in" / "t.parquet", table)
    r = run_cli(tmp_path, src, extra=("--as-of", "2026-06-30T12:00:00", "--window-days", "365"))
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "out" / "manifest.json").read_text())["rows"]
    assert (rows["used"], rows["after_as_of"], rows["outside_window"]) == (3, 1, 1)
    customers = pq.read_table(tmp_path / "out" / "customers").to_pydict()
    recency = dict(zip(customers["customer_id"], customers["recency_days"]))
    # customer 2: 1 ns before as_of is 0 days; customer 3: 365 days − 900 ns is 364 days
    assert recency == {1: 10, 2: 0, 3: 364}


def test_only_files_whose_statistics_allow_it_pay_for_the_timestamp_edge(tmp_path):
    """The edge check costs a few operations per row, so it runs only for a date / ms
    order_ts whose footer statistics do not rule out values beyond it (none written, or
    beyond); µs timestamps never need it. Without statistics the rows are read the same."""
    from segscore.config import load_config
    from segscore.schema import inspect_file

    columns = load_config(None).columns
    days = pa.array([20_000 + i % 28 for i in range(N)], pa.int32()).cast(pa.date32())
    plain = write(tmp_path / "a" / "t.parquet", good_table(order_ts=days))
    bare = tmp_path / "b" / "t.parquet"
    bare.parent.mkdir()
    pq.write_table(good_table(order_ts=days), bare, write_statistics=False)
    assert not inspect_file(plain, columns).order_ts_clip
    assert inspect_file(bare, columns).order_ts_clip
    assert not inspect_file(write(tmp_path / "c" / "t.parquet", good_table()),
                            columns).order_ts_clip
    outs = []
    for src in (plain, bare):
        out = tmp_path / f"out-{src.parent.name}"
        assert cli("run", src, "--out", out, "--quiet", "--k", "off").exit_code == 0
        outs.append(pq.read_table(out / "customers").sort_by("customer_id"))
    assert outs[0].equals(outs[1])


def test_an_optional_column_set_to_empty_is_not_read(tmp_path):
    """order_id = "" reads no order ids, so a file whose customer ids sit in a column called
    order_id can be mapped (customer_id = "order_id" alone is refused: the default order_id
    role would read the same column, and every frequency would count one order)."""
    table = good_table()
    ids = table.column("customer_id")
    src = write(tmp_path / "in" / "t.parquet", table.drop(["customer_id"]).append_column(
        "order_id", ids))
    cfg = tmp_path / "c.toml"
    cfg.write_text('[columns]\ncustomer_id = "order_id"\norder_id = ""\n')
    r = run_cli(tmp_path, src, extra=("--config", cfg))
    assert r.exit_code == 0, r.output
    plain = write(tmp_path / "plain" / "t.parquet", table)
    r2 = cli("run", plain, "--out", tmp_path / "out2", "--quiet", "--k", "off")
    assert r2.exit_code == 0, r2.output
    a, b = (pq.read_table(o / "customers").sort_by("customer_id")
            for o in (tmp_path / "out", tmp_path / "out2"))
    assert a.column("frequency").equals(b.column("frequency"))
