"""An address-space limit (``ulimit -v``, RLIMIT_AS) is part of the memory budget: a run it
cannot hold is refused up front (exit 2, one line naming the limit), not aborted mid-run by
a failed allocation in polars' Rust code (exit 134) or numba's llvmlite failing to load."""

import os
import resource
import subprocess
import sys

import pytest

from segscore import address_space
from segscore_datasets import generate_transactions

CLI = [sys.executable, "-c", "from segscore.cli import main; main()"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return generate_transactions(root / "gen", 50_000, seed=5).out_dir / "transactions"


def _under(limit: int, *args: str) -> subprocess.CompletedProcess:
    """The CLI with ``args`` under a soft RLIMIT_AS of ``limit`` bytes."""
    def set_limit():
        resource.setrlimit(resource.RLIMIT_AS,
                           (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    return subprocess.run([*CLI, *args], preexec_fn=set_limit, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                          timeout=300)


def _limit_for(budget: int) -> int:
    """The RLIMIT_AS whose budget (address_space.budget) is ``budget`` bytes, for the
    threads this process's environment (the child's) gives."""
    return int(address_space.overhead() + budget * address_space.PER_ESTIMATED_BYTE)


def _one_clear_line(proc: subprocess.CompletedProcess, start: str) -> None:
    """Exit 2, the error on one last line (after the stage that failed, when one did)
    naming ``ulimit -v``; no traceback nor backtrace."""
    assert proc.returncode == 2, proc.stderr
    error = proc.stderr.splitlines()[-1]
    assert error.startswith(f"error: {start}") and "ulimit -v" in error, proc.stderr
    assert [x for x in proc.stderr.splitlines() if x.startswith("error:")] == [error]
    assert "Traceback" not in proc.stderr and "backtrace" not in proc.stderr


def test_a_limit_too_small_for_the_libraries_is_refused_before_loading_them(data, tmp_path):
    """1 GiB: numba and polars cannot even load. Exit 2, one line naming ulimit -v and what
    segscore needs, nothing written (it was llvmlite's OSError as an internal error, or a
    Rust abort with a backtrace)."""
    out = tmp_path / "o"
    proc = _under(2**30, "run", str(data), "--out", str(out), "--quiet")
    _one_clear_line(proc, "address-space limit too small: ulimit -v is 1048576 KiB")
    assert "NUMBA_NUM_THREADS" in proc.stderr
    assert not out.exists()


def test_a_limit_the_input_does_not_fit_is_refused_by_the_memory_plan(data, tmp_path):
    """A limit that holds the libraries but leaves the data 1 MiB beyond the baseline: the
    plan refuses before the row pass with 'memory budget exceeded', naming the limit and
    how to raise it; nothing written."""
    out = tmp_path / "o"
    limit = _limit_for(address_space.BASELINE + 2**20)
    proc = _under(limit, "run", str(data), "--out", str(out), "--quiet")
    _one_clear_line(proc, "memory budget exceeded: ")
    assert f"address-space limit (ulimit -v / RLIMIT_AS) of {limit / 2**30:.2f} GiB" \
        in proc.stderr
    assert not out.exists()


def test_a_generous_limit_runs_and_validate_reports_its_budget(data, tmp_path):
    """Under a limit that holds the run (3 GiB for the data, more than the 100k-customer demo
    needs) the run works, and validate's budget is what that limit leaves, said so (it was
    80% of the memory available, whatever the limit)."""
    limit = _limit_for(3 * 2**30)
    out = tmp_path / "o"
    proc = _under(limit, "run", str(data), "--out", str(out), "--quiet", "--k", "3")
    assert proc.returncode == 0, proc.stderr
    assert (out / "manifest.json").is_file()
    checked = _under(limit, "validate", str(data), "--memory-limit", "100")
    assert checked.returncode == 0, checked.stderr
    line = next(x for x in checked.stdout.splitlines() if x.startswith("estimated peak memory"))
    assert line.endswith(f", budget {3.0:.2f} GiB (what the address-space limit (ulimit -v / "
                         f"RLIMIT_AS) of {limit / 2**30:.2f} GiB leaves beyond the "
                         f"{address_space.overhead() / 2**30:.2f} GiB segscore maps besides "
                         f"its data with {address_space.threads()} thread(s) per pool "
                         f"(libraries, thread stacks, allocator arenas))"), line


def test_generate_needs_no_room_for_numba_and_polars(tmp_path):
    """generate loads neither: the limit that refuses a run does not refuse it."""
    proc = _under(2 * 2**30, "generate", "--customers", "500", "--out", str(tmp_path / "g"),
                  "--quiet")
    assert proc.returncode == 0, proc.stderr
