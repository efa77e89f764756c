"""Cached synthetic benchmark data: ``benchmarks/.cache/<customers>/transactions/*.parquet``.

Generated once per size (seed 0) with ``segscore_datasets.generate_transactions`` into a
temporary sibling directory and renamed into place, so an interrupted run leaves no
half-written cache entry.
"""

from __future__ import annotations

import shutil
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"


def dataset(customers: int, seed: int = 0) -> Path:
    """Directory holding ``transactions/`` for ``customers`` customers (generated if missing)."""
    out = CACHE / (str(customers) if seed == 0 else f"{customers}-s{seed}")
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


if __name__ == "__main__":
    import sys

    for n in sys.argv[1:]:
        print(dataset(int(n.replace("_", ""))))
