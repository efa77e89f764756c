"""Cached synthetic benchmark data: ``benchmarks/.cache/<customers>/transactions/*.parquet``.

Generated once per size (seed 0) with ``segscore_datasets.generate_transactions`` into a
temporary sibling directory and renamed into place, so an interrupted run leaves no
half-written cache entry.
"""

from __future__ import annotations

import shutil
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"


def dataset(customers: int, seed: int = 0, cache: Path | None = None) -> Path:
    """Directory holding ``transactions/`` for ``customers`` customers (generated if missing)."""
    out = (cache or CACHE) / (str(customers) if seed == 0 else f"{customers}-s{seed}")
    if (out / "transactions").is_dir():
        return out
    from segscore_datasets import generate_transactions

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    generate_transactions(tmp, customers, seed=seed, attributes=False)
    tmp.rename(out)
    return out


def transactions(customers: int, seed: int = 0) -> Path:
    return dataset(customers, seed) / "transactions"


def dataset_in_child(customers: int, cache: Path | None = None) -> Path:
    """``dataset(customers)`` (seed 0), generated if missing in a child process.

    For the scripts that measure peak RSS as a child's ``ru_maxrss``: on Linux a child's
    ``ru_maxrss`` is at least its parent's peak RSS when it was started (the parent's
    high-water mark is carried over at exec), so generating the data in the benchmark's own
    process made the generator's peak every engine's floor on the run that generated it."""
    import subprocess
    import sys

    from benchmarks.scale import ROOT, _env

    cache = cache or CACHE
    out = cache / str(customers)
    if not (out / "transactions").is_dir():
        code = ("import sys; from pathlib import Path; from benchmarks.data import dataset; "
                "dataset(int(sys.argv[1]), cache=Path(sys.argv[2]))")
        subprocess.run([sys.executable, "-c", code, str(customers), str(cache)], check=True,
                       cwd=ROOT, env=_env())
    return out


if __name__ == "__main__":
    import sys

    for n in sys.argv[1:]:
        print(dataset(int(n.replace("_", ""))))
