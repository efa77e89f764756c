"""Atomic, idempotent output under SIGKILL (issue 6 part 3).

Real ``segscore run`` subprocesses are killed (a) at named points of the run directory's life
(the ``SEGSCORE_CRASH_AT`` test hook in output.py: after the temp dir is created, after fsync,
half-way through the two-rename fallback, after the swap) and (b) after random delays while
scoring a ~200k-customer dataset. After every kill the previous output is intact (byte for byte)
or the new one is complete, nothing partial sits at the output path, and the next run cleans
every leftover temp directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from segscore import run as api_run
from segscore.cli import main
from segscore.errors import InputError
from segscore.output import CRASH_ENV, EXCHANGE_ENV, recover_and_clean
from segscore_datasets import generate_transactions

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "NUMBA_NUM_THREADS": "1"}


def segscore(src: Path, out: Path, *extra: str, env: dict | None = None,
             wait: bool = True) -> subprocess.Popen | subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "from segscore.cli import main; main()", "run", str(src),
           "--out", str(out), "--quiet", "--k", "off", *extra]
    if wait:
        return subprocess.run(cmd, capture_output=True, text=True, env={**ENV, **(env or {})},
                              timeout=300)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**ENV, **(env or {})})


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(out: Path) -> list[str]:
    """Hidden siblings of ``out`` other than the (empty) lock file."""
    return sorted(p.name for p in out.parent.iterdir()
                  if p.name.startswith(f".{out.name}.segscore-") and not p.name.endswith("-lock"))


def assert_complete_output(out: Path) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["producer"] == "segscore" and manifest["status"] == "succeeded"
    assert manifest["rows"]["balanced"]
    import polars as pl
    n = sum(pl.read_parquet(p).height for p in (out / "customers").glob("segment=*/*.parquet"))
    assert n == manifest["customers"]["scored"]
    for entry in manifest["outputs"]:
        assert (out / entry["path"]).is_file()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    small = generate_transactions(root / "small", 2000, seed=5, files=2, attributes=False)
    big = generate_transactions(root / "big", 200_000, seed=6, files=4, attributes=False)
    baseline = root / "baseline"
    result = _cli("run", small.out_dir / "transactions", "--out", baseline, "--quiet", "--k", "off")
    assert result.exit_code == 0, result.output
    return {"small": small.out_dir / "transactions", "big": big.out_dir / "transactions",
            "baseline": baseline, "snapshot": snapshot(baseline)}


POINTS = [("opened", "1"), ("fsynced", "1"), ("swapped", "1"), ("moved_old", "0")]


def test_kill_at_named_points(data, tmp_path):
    """All four kills run side by side (each on its own copy of the previous output)."""
    procs = []
    for i, (point, exchange) in enumerate(POINTS):
        out = tmp_path / f"n{i}" / "out"
        shutil.copytree(data["baseline"], out)
        procs.append((point, out, segscore(data["small"], out, "--overwrite", "--as-of",
                                           "2026-06-01", wait=False,
                                           env={CRASH_ENV: point, EXCHANGE_ENV: exchange})))
    for point, out, proc in procs:
        assert proc.wait(timeout=300) == -signal.SIGKILL, point
        visible = sorted(p.name for p in out.parent.iterdir() if not p.name.startswith("."))
        assert visible in (["out"], []), (point, visible)
        if point == "moved_old":  # between the two renames: nothing at out, old kept aside
            assert not out.exists()
        elif point == "swapped":  # the new output is fully in place
            assert_complete_output(out)
            assert json.loads((out / "manifest.json").read_text())["as_of"].startswith("2026-06-01")
        else:
            assert snapshot(out) == data["snapshot"], point
        # the next run starts by recovering: previous output back, temp dirs gone
        recover_and_clean(out)
        assert leftovers(out) == [], point
        if point == "swapped":
            assert_complete_output(out)
        else:
            assert snapshot(out) == data["snapshot"], point


def test_random_kills_during_a_big_run_then_next_run_cleans(data, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(data["baseline"], out)
    rng = random.Random(6)
    for delay in (rng.uniform(0.5, 2.0), rng.uniform(2.0, 4.0)):
        proc = segscore(data["big"], out, "--overwrite", wait=False)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=120)
        visible = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
        assert visible == ["out"]
        if code == 0:  # finished before the kill: the new output is complete
            assert_complete_output(out)
            break
        assert code == -signal.SIGKILL
        if snapshot(out) != data["snapshot"]:  # only possible after the atomic swap
            assert_complete_output(out)
    # next night's run cleans every leftover and succeeds
    result = _cli("run", data["small"], "--out", out, "--quiet", "--k", "off", "--overwrite")
    assert result.exit_code == 0, result.output
    assert leftovers(out) == []
    assert_complete_output(out)


def test_rerun_same_night_is_byte_identical(data, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(data["baseline"], out)
    result = _cli("run", data["small"], "--out", out, "--quiet", "--k", "off", "--overwrite")
    assert result.exit_code == 0, result.output
    before = {k: v for k, v in data["snapshot"].items() if k.startswith("customers/")}
    after = {k: v for k, v in snapshot(out).items() if k.startswith("customers/")}
    assert before == after and before


def _cli(*args):
    return CliRunner(env={"COLUMNS": "400"}).invoke(main, [str(a) for a in args])


def test_overwrite_refuses_a_directory_that_is_not_segscore_output(data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    result = _cli("run", data["small"], "--out", out, "--quiet", "--k", "off", "--overwrite")
    assert result.exit_code == 2 and "not a segscore output" in " ".join(result.output.split())
    assert (out / "precious.txt").read_text() == "keep me"
    (out / "manifest.json").write_text(json.dumps({"producer": "someone-else"}))
    result = _cli("run", data["small"], "--out", out, "--quiet", "--k", "off", "--overwrite")
    assert result.exit_code == 2
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "precious.txt"]
    assert leftovers(out) == []


def test_existing_output_needs_overwrite(data, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(data["baseline"], out)
    result = _cli("run", data["small"], "--out", out, "--quiet", "--k", "off")
    assert result.exit_code == 2 and "--overwrite" in result.output
    with pytest.raises(InputError, match=r"pass --overwrite \(overwrite=True in Python\)"):
        api_run(data["small"], out)  # the API's spelling too
    assert snapshot(out) == data["snapshot"]


def test_failure_mid_write_leaves_previous_output_and_no_temp(data, tmp_path, monkeypatch):
    import segscore.pipeline as pipeline

    out = tmp_path / "out"
    shutil.copytree(data["baseline"], out)

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline, "write_table", boom)
    result = _cli("run", data["small"], "--out", out, "--quiet", "--k", "off", "--overwrite")
    assert result.exit_code == 1 and "disk on fire" in result.output
    assert snapshot(out) == data["snapshot"]
    assert leftovers(out) == []


def test_full_disk_says_so_and_leaves_previous_output(data, tmp_path, monkeypatch):
    import errno

    import segscore.pipeline as pipeline

    out = tmp_path / "out"
    shutil.copytree(data["baseline"], out)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out) + "-tmp/part.parquet")

    monkeypatch.setattr(pipeline, "write_table", full)
    result = _cli("run", data["small"], "--out", out, "--quiet", "--k", "off", "--overwrite")
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "internal error" not in text, text
    assert "No space left on device while writing" in text and "nothing was replaced" in text
    assert snapshot(out) == data["snapshot"]
    assert leftovers(out) == []


def test_second_concurrent_run_is_refused(data, tmp_path):
    from segscore.errors import InputError
    from segscore.output import RunDirectory

    out = tmp_path / "out"
    first = RunDirectory(out, overwrite=False)
    tmp = first.open()
    try:
        with pytest.raises(InputError, match="another segscore run"):
            RunDirectory(out, overwrite=False).open()
        assert tmp.is_dir()  # not cleaned away as a 'leftover'
    finally:
        first.abort()
    second = RunDirectory(out, overwrite=False)
    second.open()
    second.abort()
    assert leftovers(out) == []


@pytest.mark.parametrize("option", ["--previous", "--model"])
def test_previous_output_moved_aside_by_a_kill_is_back_before_previous_reads_it(data, tmp_path,
                                                                              option):
    """Killed between the fallback's two renames, ``--out OUT --overwrite --previous OUT``
    (or ``--model OUT/model.json``) the next night restores last night's output first and
    reads it (it was refused, every night, because those are read before the clean-up ran)."""
    out = tmp_path / "out"
    shutil.copytree(data["baseline"], out)
    killed = segscore(data["small"], out, "--overwrite", "--as-of", "2026-06-01",
                      env={CRASH_ENV: "moved_old", EXCHANGE_ENV: "0"})
    assert killed.returncode == -signal.SIGKILL and not out.exists()
    previous_id = json.loads(next(tmp_path.glob(".out.segscore-old-*/manifest.json"))
                             .read_text())["run_id"]
    given = ("--previous", out) if option == "--previous" else ("--model", out / "model.json")
    k = ("--k", "off") if option == "--previous" else ()
    result = _cli("run", data["small"], "--out", out, "--quiet", *k, "--overwrite", *given)
    assert result.exit_code == 0, result.output
    if option == "--previous":
        report = json.loads((out / "report" / "report.json").read_text())
        assert report["migration"]["previous_run_id"] == previous_id
    else:
        source = json.loads((out / "manifest.json").read_text())["model_source"]
        assert source.endswith("model.json")
    assert leftovers(out) == []


def test_a_run_cleans_what_killed_runs_left_for_other_outputs_of_its_directory(data,
                                                                              tmp_path):
    """Nightly outputs in dated directories (out/2026-06-01, out/2026-06-02…): no run goes into
    a killed night's directory again, so its temporary directory stayed. A run into any output
    of the directory also recovers the others no run is writing: temporary directories
    removed, a moved-away previous output put back; one whose lock a live run holds is left."""
    import fcntl

    nights = tmp_path / "nights"
    killed = segscore(data["small"], nights / "2026-06-01", env={CRASH_ENV: "opened"})
    assert killed.returncode == -signal.SIGKILL
    moved = nights / "2026-05-31"
    shutil.copytree(data["baseline"], moved)
    killed = segscore(data["small"], moved, "--overwrite", "--as-of", "2026-06-01",
                      env={CRASH_ENV: "moved_old", EXCHANGE_ENV: "0"})
    assert killed.returncode == -signal.SIGKILL and not moved.exists()
    busy = nights / "2026-06-03"
    (nights / ".2026-06-03.segscore-tmp-live").mkdir()
    with open(nights / ".2026-06-03.segscore-lock", "w") as lock:  # a run writing it
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = segscore(data["small"], nights / "2026-06-02")
    assert result.returncode == 0, result.stderr
    assert snapshot(moved) == data["snapshot"]
    assert leftovers(nights / "2026-06-01") == leftovers(moved) == []
    assert leftovers(busy) == [".2026-06-03.segscore-tmp-live"]
    assert sorted(p.name for p in nights.iterdir() if not p.name.endswith("-lock")) == [
        ".2026-06-03.segscore-tmp-live", "2026-05-31", "2026-06-02"]


def test_an_old_output_that_cannot_be_removed_after_the_swap_is_a_warning(data, tmp_path,
                                                                           monkeypatch):
    """Once the new output is in place the run has succeeded: failing to remove the replaced
    one (a read-only subdirectory, a file held open on NFS) is a warning with exit 0, and the
    next run removes it (it was an internal error, exit 1, with the new output in place)."""
    import segscore.output as output

    out = tmp_path / "out"
    shutil.copytree(data["baseline"], out)
    real_rmtree = output.shutil.rmtree
    calls = []

    def stuck(path, *args, **kwargs):
        if Path(path).parent == tmp_path:  # the replaced output, not the row pass's spill
            calls.append(path)
            if len(calls) == 1:
                raise PermissionError(13, "Permission denied", str(Path(path) / "rejected" / "x"))
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(output.shutil, "rmtree", stuck)
    result = _cli("run", data["small"], "--out", out, "--quiet", "--k", "off", "--overwrite",
                  "--as-of", "2026-06-01")
    text = " ".join(result.output.split())
    assert result.exit_code == 0, text
    assert "warning:" in text and "could not be removed" in text and "Permission denied" in text
    assert_complete_output(out)
    assert json.loads((out / "manifest.json").read_text())["as_of"].startswith("2026-06-01")
    assert len(leftovers(out)) == 1
    monkeypatch.undo()
    assert _cli("run", data["small"], "--out", out, "--quiet", "--k", "off",
                "--overwrite").exit_code == 0
    assert leftovers(out) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_removes_the_temporary_directory_and_keeps_the_previous_output(data, tmp_path,
                                                                              sig):
    """SIGTERM (a scheduler's timeout, ``systemd stop``) unwinds like Ctrl-C: exit 1 (SPEC §6:
    0, 1 or 2 only) with a message, the previous output byte-identical, no temp dir or lock
    left (the default action left both, and the parents the run created, for the next run).
    Ctrl-C (SIGINT) the same, with the same one-line message."""
    out = tmp_path / "out"
    shutil.copytree(data["baseline"], out)
    proc = segscore(data["big"], out, "--overwrite", wait=False)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.segscore-tmp-*")):  # the run directory is open
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(sig)
    assert proc.wait(timeout=120) == 1
    assert f"terminated ({sig.name})" in proc.stderr.read()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert snapshot(out) == data["snapshot"]


def test_a_section_thread_that_never_finishes_does_not_hang_a_failing_run(tmp_path, monkeypatch):
    """An interrupt can leave a report section thread waiting forever on a lock the main
    thread held (llvmlite's). A failing run waits for the sections only SECTIONS_WAIT_S, then
    removes its temporary directory and lock (it joined the thread forever, holding the
    lock, so every later run was refused as concurrent)."""
    import threading
    import time

    import segscore
    import segscore.pipeline as pipeline
    import segscore.report.sections as sections
    from segscore_datasets import generate_transactions

    gen = generate_transactions(tmp_path / "data", 400, seed=2)
    release = threading.Event()

    def stuck(*args):
        release.wait(60)
        raise RuntimeError("released")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(sections, "attribute_breakdowns", stuck)
    monkeypatch.setattr(pipeline, "_write", interrupted)
    monkeypatch.setattr(pipeline, "SECTIONS_WAIT_S", 0.5)
    out = tmp_path / "out"
    t0 = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            segscore.run(gen.out_dir / "transactions", out, attributes=gen.attributes_path)
        assert time.perf_counter() - t0 < 30
        assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no tmp dir, no lock
    finally:
        release.set()


def test_a_stop_a_library_swallowed_still_keeps_the_old_output(tmp_path):
    """A signal's exception raised inside a C callback can be swallowed and the run goes on;
    the stop request is remembered and the commit refuses to replace the output (the run
    replaced it and exited 0)."""
    import segscore
    from segscore import stopping
    from segscore_datasets import generate_transactions

    gen = generate_transactions(tmp_path / "data", 300, seed=4)
    src, out = gen.out_dir / "transactions", tmp_path / "out"
    first = segscore.run(src, out, as_of="2026-06-29", report=False)
    before = (out / "manifest.json").read_text()
    stopping.request("SIGINT")
    try:
        with pytest.raises(stopping.Terminated, match="SIGINT"):
            segscore.run(src, out, overwrite=True, report=False)
    finally:
        stopping.reset()
    assert (out / "manifest.json").read_text() == before
    assert first.manifest["run_id"] in before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out"]


def test_an_interrupted_command_exits_although_a_worker_thread_is_stuck():
    """After an interrupt the CLI exits 1 at once even when a (non-daemon) worker thread
    still waits on a lock the interrupted main thread held: a normal exit joined it forever."""
    code = (
        "import threading, click\n"
        "from segscore.cli import _guard\n"
        "threading.Thread(target=threading.Event().wait, name='report-section').start()\n"
        "@click.command()\n"
        "@_guard\n"
        "def cmd():\n"
        "    raise KeyboardInterrupt\n"
        "cmd()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=ENV, timeout=60)
    assert proc.returncode == 1
    assert "terminated (SIGINT)" in proc.stderr


@pytest.mark.parametrize("turned_into", ["RuntimeError", "PanicException"])
def test_a_signal_a_library_turned_into_another_error_is_still_a_stop(turned_into):
    """The handler's exception raised inside a library's callback can come out as that
    library's error: a panic where it crossed Rust code (pyo3's PanicException, seen when
    SIGTERM met a numpy-crate callback in polars), or another exception. With a stop asked
    for, that is the stop's one-line message and exit 1, not an internal error; the next
    command in the process starts without the request."""
    import click

    from segscore import stopping
    from segscore.cli import _guard

    error = {"RuntimeError": RuntimeError,
             "PanicException": type("PanicException", (BaseException,), {})}[turned_into]

    @click.command()
    @_guard
    def cmd():
        stopping.request("SIGTERM")
        raise error("a callback failed")

    r = CliRunner().invoke(cmd, [])
    assert r.exit_code == 1 and r.stderr.startswith("error: terminated (SIGTERM); "), r.stderr

    @click.command()
    @_guard
    def later():
        raise error("a callback failed")

    r = CliRunner().invoke(later, [])
    assert r.exit_code == 1 and r.stderr.startswith("error: internal error"), r.stderr


def test_a_stopped_command_leaves_no_stop_request_for_a_later_api_run(tmp_path):
    """A notebook that ran a CLI command in its process and interrupted it: a
    ``segscore.run`` after it writes its output (the command's stop request stayed set, and
    the run did all its work, then refused to commit: Terminated SIGINT)."""
    import click

    from segscore import stopping
    from segscore.cli import _guard

    @click.command()
    @_guard
    def cmd():
        stopping.request("SIGINT")
        raise KeyboardInterrupt

    r = CliRunner().invoke(cmd, [])
    assert r.exit_code == 1 and "terminated (SIGINT)" in r.stderr, r.stderr
    gen = generate_transactions(tmp_path / "data", 200, seed=2, attributes=False)
    result = api_run(gen.out_dir / "transactions", tmp_path / "out", report=False)
    assert (tmp_path / "out" / "manifest.json").is_file()
    assert result.out_dir == tmp_path / "out"


def test_ctrl_c_while_polars_and_numba_load_is_the_one_line_message(tmp_path):
    """Ctrl-C in the first half second, while polars and numba load: the one-line message and
    exit 1 of a later Ctrl-C (it was a traceback: the package imported them before the CLI
    set its handlers). The signal is sent as polars' import starts."""
    code = (
        "import os, signal, sys\n"
        "class CtrlC:  # an import hook: SIGINT to this process as polars starts loading\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'polars':\n"
        "            sys.meta_path.remove(self)\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "sys.meta_path.insert(0, CtrlC())\n"
        "from segscore.cli import main\n"
        "main()\n")
    proc = subprocess.run([sys.executable, "-c", code, "generate", "--customers", "100",
                           "--out", str(tmp_path / "g")], capture_output=True, text=True,
                          env=ENV, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "terminated (SIGINT)" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def _python_m_segscore(prelude: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m segscore ARGS`` after ``prelude`` (Python run first, in the process)."""
    code = (prelude + "import runpy\n"
            "runpy.run_module('segscore', run_name='__main__', alter_sys=True)\n")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=ENV, timeout=120)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_cli_loads_is_the_one_line_message(tmp_path, sig):
    """Ctrl-C or SIGTERM while ``segscore`` (``python -m segscore``) loads click and rich,
    before the CLI sets its handlers: the one-line message and exit 1 of a later one (it
    was Python's KeyboardInterrupt traceback; SIGTERM ended the process with no message).
    The signal is sent as click starts loading."""
    prelude = (
        "import os, sys\n"
        "class Signal:  # an import hook: the signal to this process as click starts loading\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'click':\n"
        "            sys.meta_path.remove(self)\n"
        f"            os.kill(os.getpid(), {int(sig)})\n"
        "sys.meta_path.insert(0, Signal())\n")
    proc = _python_m_segscore(prelude, "generate", "--customers", "100",
                              "--out", str(tmp_path / "g"))
    assert proc.returncode == 1, proc.stderr
    assert f"terminated ({sig.name})" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["--version"], ["generate", "--customers", "50"]])
def test_a_command_that_returned_leaves_the_interpreters_own_signal_handlers(tmp_path, args):
    """Once the command has returned (a command, or --version, which ends before the CLI's
    own handlers are set) the handlers are the interpreter's again, not those set while the
    CLI loaded (a signal then would say a finished command was stopped, exit 1)."""
    prelude = ("import atexit, signal\n"
               "sigs = (signal.SIGINT, signal.SIGTERM)\n"
               "before = [signal.getsignal(s) for s in sigs]\n"
               "atexit.register(lambda: print('same:', [signal.getsignal(s) for s in sigs]"
               " == before))\n")
    proc = _python_m_segscore(prelude, *args, *(["--out", str(tmp_path / "g")]
                                                if len(args) > 1 else []))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "same: True"
