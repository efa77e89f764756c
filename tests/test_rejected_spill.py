"""Rejected rows spill to disk during the row pass (segscore.spill): memory holds at most one
batch's of them whatever their number, the spill never outlives the run (failure, interrupt,
refusal), and ``RunResult.rejected`` reads what was written."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import segscore
import segscore.passes as passes
from segscore import output, spill, tempdirs
from segscore.cli import main
from segscore.config import build_config

BATCH = 500  # passes.BATCH_ROWS in these tests: files of row groups of 100 rows
FAST = {"clustering": {"enabled": False}}
SPILL_TAG = ".segscore-rejected-spill-"
#: a child process's environment: this checkout's segscore
CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "NUMBA_NUM_THREADS": "1"}


def _input(path: Path, rejected: int, valid: int = 40) -> Path:
    """``rejected`` null-amount rows spread evenly among ``valid`` purchases, a minute
    apart, in row groups of 100 rows."""
    n = rejected + valid
    bad = {k * n // rejected for k in range(rejected)}
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({
        "customer_id": [i % 97 for i in range(n)],
        "order_ts": [datetime(2026, 1, 1) + timedelta(minutes=i) for i in range(n)],
        "amount": [None if i in bad else 10.0 for i in range(n)],
    }).write_parquet(path, row_group_size=100)
    return path


@pytest.fixture
def system_tmp(tmp_path, monkeypatch) -> Path:
    """The system's temporary directory, as tempfile sees it, made empty and private."""
    path = tmp_path / "system-tmp"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


@pytest.fixture
def small(monkeypatch):
    """Batches of BATCH rows, rejected/ parts of 700 rows."""
    monkeypatch.setattr(passes, "BATCH_ROWS", BATCH)
    monkeypatch.setattr(output, "ROWS_PER_PART", 700)


def _spilled(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.parquet") if SPILL_TAG in str(p)]


def _files(spilled: spill.RejectedSpill) -> list[Path]:
    """The spill files written so far."""
    return [] if spilled.directory is None else sorted(spilled.directory.glob("*.parquet"))


def _leftovers(tmp_path: Path, system_tmp: Path) -> list[Path]:
    """Anything in tmp_path but the input and the system's temporary directory, and any
    segscore directory in the latter (other libraries keep caches there)."""
    return ([p for p in tmp_path.iterdir() if p.name not in ("in", "system-tmp")]
            + [p for p in system_tmp.iterdir() if "segscore" in p.name])


@pytest.mark.parametrize("rejected", [2_000, 8_000])
def test_rejected_rows_are_held_one_batch_at_a_time(tmp_path, monkeypatch, small, system_tmp,
                                                    rejected):
    """Whatever the number of rejected rows, memory holds a bounded number of them: the
    spill buffer (at most SPILL_BUFFER_BYTES, here 40 kB ≈ 3 batches' rows, plus the batch
    that fills it), each batch read back (at most one batch) and the rows waiting for a
    rejected/ part (less than a part plus a batch); when the row pass ends the rest are on
    disk. So 8,000 rejected rows are held no more than 2,000 were."""
    monkeypatch.setattr(spill, "SPILL_BUFFER_BYTES", 40_000)
    held = {"buffer": 0, "batch": 0, "read back": 0, "waiting for a part": 0}
    at_finish = []

    def most(key, value):
        held[key] = max(held[key], value)

    add, batches, part = spill.RejectedSpill.add, spill.RejectedSpill.batches, output.PartWriter.add
    finish = passes._Stream._finish

    def spy_add(self, batch, rows):
        most("buffer", self.buffered + rows.estimated_size())
        most("batch", rows.estimated_size())
        add(self, batch, rows)

    def spy_batches(self):
        for rows in batches(self):
            most("read back", rows.height)
            yield rows

    def spy_part(self, piece):
        most("waiting for a part", self.pending_rows + piece.height)
        part(self, piece)

    def spy_finish(self, counts, spilled, raws):
        at_finish.append((sum(pq.read_metadata(p).num_rows for p in _files(spilled)),
                          sum(rows.height for _, rows in spilled.buffer), spilled.buffered))
        return finish(self, counts, spilled, raws)

    monkeypatch.setattr(spill.RejectedSpill, "add", spy_add)
    monkeypatch.setattr(spill.RejectedSpill, "batches", spy_batches)
    monkeypatch.setattr(output.PartWriter, "add", spy_part)
    monkeypatch.setattr(passes._Stream, "_finish", spy_finish)
    src = _input(tmp_path / "in" / "t.parquet", rejected)
    res = segscore.run(src, tmp_path / "out", config=build_config(FAST), report=False)
    assert res.manifest["rows"]["rejected"] == {"null_amount": rejected}
    [(on_disk, buffered_rows, buffered_bytes)] = at_finish
    assert on_disk + buffered_rows == rejected and buffered_bytes <= 40_000
    assert held["buffer"] <= 40_000 + held["batch"] and held["read back"] <= BATCH
    assert held["waiting for a part"] < 700 + BATCH
    parts = sorted((tmp_path / "out" / "rejected").iterdir())
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet"
                                       for i in range(-(-rejected // 700))]
    assert res.rejected.collect()["source_row"].is_sorted()
    assert _leftovers(tmp_path, system_tmp) == [tmp_path / "out"]


@pytest.mark.parametrize("partitions", [1, 3])
def test_a_few_rejected_rows_are_never_written(tmp_path, monkeypatch, small, system_tmp,
                                               partitions):
    """A clean night's few rejected rows stay in the buffer (below SPILL_BUFFER_BYTES): no
    spill file, no spill directory (each write would cost time in every batch)."""
    files = []
    finish = passes._Stream._finish

    def spy_finish(self, counts, spilled, raws):
        files.append(spilled.directory)
        return finish(self, counts, spilled, raws)

    monkeypatch.setattr(passes._Stream, "_finish", spy_finish)
    src = _input(tmp_path / "in" / "t.parquet", 20, valid=5000)  # in 11 batches
    res = segscore.run(src, None, config=build_config(FAST), report=False,
                       partitions=partitions)
    assert res.manifest["rows"]["rejected_total"] == 20
    assert res.rejected.collect()["source_row"].is_sorted()
    assert files == [None]
    assert _leftovers(tmp_path, system_tmp) == []


@pytest.mark.parametrize("to_out", [True, False])
def test_an_interrupted_run_leaves_no_spill_behind(tmp_path, monkeypatch, small, system_tmp,
                                                   to_out):
    """Ctrl-C (KeyboardInterrupt) in the middle of the row pass, after some batches spilled:
    the spill directory goes with the run's temporary directory (with out) or on its own
    (without: it is in the system's temporary directory); nothing is left anywhere."""
    monkeypatch.setattr(spill, "SPILL_BUFFER_BYTES", 1)
    spilled_before = []
    read = passes._Stream._read

    def interrupt_at_the_fifth_batch(self, *args):
        if len(spilled_before) == 4:
            spilled_before.append(len(_spilled(tmp_path)))
            raise KeyboardInterrupt
        spilled_before.append(None)
        return read(self, *args)

    monkeypatch.setattr(passes._Stream, "_read", interrupt_at_the_fifth_batch)
    src = _input(tmp_path / "in" / "t.parquet", 4000)
    with pytest.raises(KeyboardInterrupt):
        segscore.run(src, tmp_path / "out" if to_out else None, config=build_config(FAST))
    assert spilled_before[-1] == 4  # one spill file per batch so far
    assert _leftovers(tmp_path, system_tmp) == []


def test_a_full_disk_while_spilling_is_said_at_once(tmp_path, monkeypatch, small, system_tmp):
    """ENOSPC writing a spill file is the machine's state: exit 1 with the full-disk message,
    straight away; the inputs are not decoded again in search of a corrupt page (the read
    errors' explanation), which at scale reads the whole night once more. Nothing left."""
    import errno
    import os

    from segscore import ingest

    monkeypatch.setattr(spill, "SPILL_BUFFER_BYTES", 1)

    def disk_full(self):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "spill.parquet"))

    def searched(*args, **kwargs):
        raise AssertionError("the inputs were searched for a corrupt page")

    monkeypatch.setattr(spill.RejectedSpill, "_flush", disk_full)
    monkeypatch.setattr(ingest, "find_corrupt_file", searched)
    src = _input(tmp_path / "in" / "t.parquet", 2000)
    result = CliRunner().invoke(main, ["run", str(src), "--out", str(tmp_path / "out"),
                                       "--quiet", "--k", "off"])
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.output
    assert "nothing was replaced" in result.output
    assert _leftovers(tmp_path, system_tmp) == []


@pytest.mark.parametrize("as_of,message", [(None, "no valid transaction"),
                                           ("2026-02-01", "nothing to score")])
def test_every_row_rejected_is_still_exit_2_with_nothing_written(tmp_path, monkeypatch, small,
                                                                 system_tmp, as_of, message):
    """docs/bad-input.md row 12 over many spilled batches: exit 2 with its message, nothing
    at or beside --out, no spill left (its rows were on disk when the run stopped)."""
    monkeypatch.setattr(spill, "SPILL_BUFFER_BYTES", 1)
    files = []
    finish = passes._Stream._finish

    def spy_finish(self, counts, spilled, raws):
        files.append(len(_files(spilled)))
        return finish(self, counts, spilled, raws)

    monkeypatch.setattr(passes._Stream, "_finish", spy_finish)
    src = _input(tmp_path / "in" / "t.parquet", 3000, valid=0)
    args = ["run", str(src), "--out", str(tmp_path / "out"), "--quiet", "--k", "off"]
    result = CliRunner().invoke(main, args + (["--as-of", as_of] if as_of else []),
                                catch_exceptions=False)
    assert result.exit_code == 2 and message in result.output, result.output
    assert files == [6]
    assert _leftovers(tmp_path, system_tmp) == []


def test_run_result_rejected_reads_the_written_files(tmp_path, system_tmp):
    """With out, RunResult.rejected is a LazyFrame over out/rejected/ as written (after the
    swap into place; the path taken as it is, glob characters and a key=value name
    included); without out, over the same rows held in memory."""
    src = _input(tmp_path / "in" / "t.parquet", 300)
    out = tmp_path / "night=2026-06-30[1]"
    written = segscore.run(src, out, config=build_config(FAST), report=False)
    in_memory = segscore.run(src, None, config=build_config(FAST), report=False)
    assert isinstance(written.rejected, pl.LazyFrame)
    assert isinstance(in_memory.rejected, pl.LazyFrame)
    files = pl.concat([pl.read_parquet(p, glob=False)
                       for p in sorted((out / "rejected").iterdir())])
    assert files.height == 300 and "night" not in files.columns
    assert written.rejected.collect().equals(files)
    assert in_memory.rejected.collect().equals(files)
    assert _leftovers(tmp_path, system_tmp) == [out]


def test_a_killed_runs_spill_is_removed_by_the_next_run(tmp_path, system_tmp):
    """A run without an output directory SIGKILLed (the OOM killer, a scheduler's timeout)
    while its rows are spilled leaves its spill directory in the system's temporary
    directory; the next run removes it (each killed run added one, of up to gigabytes)."""
    src = _input(tmp_path / "in" / "t.parquet", 4000)
    code = ("import segscore, segscore.passes as passes, segscore.spill as spill\n"
            f"passes.BATCH_ROWS = {BATCH}\n"
            "spill.SPILL_BUFFER_BYTES = 1\n"
            "spill.RejectedSpill.batches = lambda self: __import__('time').sleep(300)\n"  # wait
            f"segscore.run({str(src)!r}, None, report=False)\n")
    child = subprocess.Popen([sys.executable, "-c", code], env={**CHILD_ENV,
                             "TMPDIR": str(system_tmp)}, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(_spilled(system_tmp)) < 9:  # 4,040 rows: 9 batches, each spilled
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    [left] = [p for p in system_tmp.iterdir() if p.name.startswith(SPILL_TAG)]
    assert len(list(left.glob("*.parquet"))) == 9
    res = segscore.run(src, None, config=build_config(FAST), report=False)
    assert res.rejected.collect().height == 4000
    assert _leftovers(tmp_path, system_tmp) == []


def test_only_the_spill_directories_of_processes_no_longer_running_are_removed(
        tmp_path, system_tmp):
    """A run removes the spill directories on this host whose process no longer runs (one
    that exited without removing it; one named after this process's pid but another start
    time: a pid taken again, as in a container whose command is always pid 1); it keeps
    those of a running process (another one's, sleeping, and this one's), another host's
    (a temporary directory shared between machines) and names of another form."""
    made = ("import sys, time\n"
            "from segscore import tempdirs\n"
            f"print(tempdirs.make({SPILL_TAG!r}, None), flush=True)\n"
            "time.sleep(float(sys.argv[1]))\n")
    env = {**CHILD_ENV, "TMPDIR": str(system_tmp)}
    exited = Path(subprocess.run([sys.executable, "-c", made, "0"], env=env, check=True,
                                 capture_output=True, text=True).stdout.strip())
    sleeping = subprocess.Popen([sys.executable, "-c", made, "300"], env=env,
                                stdout=subprocess.PIPE, text=True)
    try:
        running = Path(sleeping.stdout.readline().strip())
        ours = tempdirs.make(SPILL_TAG, None)
        host, pid, start = socket.gethostname(), os.getpid(), ours.name.split("-")[-2]
        reused = system_tmp / f"{SPILL_TAG}{host}-{pid}-{int(start) - 1}-x"
        *_, dead_pid, dead_start, _ = exited.name.split("-")
        elsewhere = system_tmp / f"{SPILL_TAG}other-host-{dead_pid}-{dead_start}-x"
        other_form = system_tmp / f"{SPILL_TAG}6q0wt9xn"
        for path in (reused, elsewhere, other_form):
            path.mkdir()
        for path in (exited, running, ours, reused, elsewhere, other_form):
            (path / "000000.parquet").write_bytes(b"spilled rows")
        segscore.run(_input(tmp_path / "in" / "t.parquet", 30), None,
                     config=build_config(FAST), report=False)
        kept = sorted(p for p in system_tmp.iterdir() if p.name.startswith(SPILL_TAG))
        assert kept == sorted([running, ours, elsewhere, other_form])
        assert all((p / "000000.parquet").is_file() for p in kept)
    finally:
        sleeping.kill()
        sleeping.wait()
