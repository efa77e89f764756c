"""What a finite address-space limit (``ulimit -v``, RLIMIT_AS; batch schedulers' ``h_vmem``)
leaves for a run's data, in bytes. Imports neither numba nor polars, so the CLI and the API
can refuse a limit too small for them before they load (it failed while loading llvmlite,
or aborted mid-run in a Rust allocation).

The process maps far more address space than it keeps resident: its libraries, thread
stacks, glibc's 64 MiB malloc arenas (one per thread that allocates, up to 8 per CPU),
pyarrow's 1 GiB mimalloc arena, polars' jemalloc. The constants are measured on a 2-CPU
machine (docs/decisions.md, Address-space limit): the smallest limits at which runs passed
every time were 2.9M–3.0M KiB (20k customers) and 3.0M–3.1M KiB (100k) with 1–2 threads per
pool, and a 1M-customer run needed about 3.75M KiB, against 0.3–0.6 GiB resident.
"""

from __future__ import annotations

import os
import resource

from segscore.errors import InputError

#: the interpreter + numba + polars resident baseline that memory's estimates start from
BASELINE = 400 * 2**20
#: address space beyond the data (bytes): fixed, and per thread of a pool, up to one per CPU
#: (its numba, polars and async workers' stacks and glibc arenas; measured 1 vs 2 threads)
FIXED, PER_THREAD = int(2.3 * 2**30), int(0.05 * 2**30)
#: address space per byte of a memory estimate (allocators' retained and fragmented space)
PER_ESTIMATED_BYTE = 1.15


def limit() -> int | None:
    """The soft RLIMIT_AS in bytes; None when unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def threads() -> int:
    """Threads of the larger of numba's and polars' pools: NUMBA_NUM_THREADS /
    POLARS_MAX_THREADS when set (environment.check has made sure they are counts), else the
    CPUs this process may use, as both pools default to."""
    sizes = [os.environ.get(n, "").strip() for n in ("NUMBA_NUM_THREADS", "POLARS_MAX_THREADS")]
    return max(int(size) if size else _cpus() for size in sizes)


def _cpus() -> int:
    """The CPUs this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def overhead() -> int:
    """Address space the process needs besides its data, for ``threads()`` threads (counted
    up to one per CPU: 4 threads on 2 CPUs measured as 2 did)."""
    return FIXED + PER_THREAD * min(threads(), _cpus())


def budget() -> int | None:
    """The memory estimate (memory.estimate_peak_bytes' kind of bytes) a finite limit can
    hold: what it leaves beyond ``overhead()``, over PER_ESTIMATED_BYTE; None when
    unlimited. May be negative."""
    total = limit()
    return None if total is None else int((total - overhead()) / PER_ESTIMATED_BYTE)


def is_binding(budget_bytes: int | None) -> bool:
    """Whether a run's budget of ``budget_bytes`` is the one the limit sets (``budget()``)."""
    return budget_bytes is not None and budget_bytes == budget()


#: what to do about a limit too small for a run
REMEDY = ("raise that limit (ulimit -v; a batch scheduler's h_vmem) or unset it, or lower "
          "NUMBA_NUM_THREADS and POLARS_MAX_THREADS")


def source() -> str:
    """Where a budget set by the limit comes from, for messages."""
    return (f"what the address-space limit (ulimit -v / RLIMIT_AS) of {limit() / 2**30:.2f} GiB "
            f"leaves beyond the {overhead() / 2**30:.2f} GiB segscore maps besides its data "
            f"with {threads()} thread(s) per pool (libraries, thread stacks, allocator arenas)")


def check() -> None:
    """InputError when the limit cannot hold even the smallest run (the BASELINE)."""
    room = budget()
    if room is not None and room < BASELINE:
        need = overhead() + BASELINE * PER_ESTIMATED_BYTE
        raise InputError(
            f"address-space limit too small: ulimit -v is {limit() // 1024} KiB "
            f"({limit() / 2**30:.2f} GiB), but segscore needs at least {need / 2**30:.2f} GiB "
            f"(ulimit -v {-(-int(need) // 1024)}) for its smallest run with {threads()} "
            f"thread(s) per pool (libraries, thread stacks, allocator arenas); {REMEDY}")
