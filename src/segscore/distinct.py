"""Approximate distinct counts with a known error: HyperLogLog with 2**16 registers.

The memory plan needs the number of customers before the row pass. polars'
``approx_n_unique`` was off by −7.8 % on the 50M test set (39.0M for 42.28M ids) and by
+2.2 % / +4.7 % on the 10M / 1M sets, outside the plan's +2 % margin. With p = 16 the
relative standard error is 1.04 / √65536 ≈ 0.41 %, so the margin is about five standard
errors; measured on those sets: −0.24 %, −0.11 %, −0.56 %.
"""

from __future__ import annotations

import numpy as np
import polars as pl

#: register bits: 2**P registers of one byte
P = 16
#: rows per streamed chunk
CHUNK_ROWS = 1 << 21
#: register copies, one per block of a chunk's keys (the kernel's parallel work items)
BLOCKS = 16


def _keys(s: pl.Series) -> np.ndarray:
    """64-bit keys of a column's values: integers as they are, anything else hashed."""
    if s.dtype.is_integer():
        return (s.fill_null(0) if s.null_count() else s).to_numpy()
    return s.hash(seed=0x5E65C0E).to_numpy()


def registers(chunks) -> np.ndarray:
    """HyperLogLog registers (uint8, 2**P) of the values of every Series in ``chunks``."""
    from native_kernels.hll import _hll_update

    regs = np.zeros((BLOCKS, 1 << P), dtype=np.uint8)
    for s in chunks:
        if s.len():
            _hll_update(_keys(s), regs)
    return regs.max(axis=0)


def estimate(regs: np.ndarray) -> float:
    """Cardinality estimate from the registers (Flajolet et al. 2007, with linear counting
    below 2.5 m; 64-bit hashes need no large-range correction)."""
    m = regs.shape[0]
    alpha = 0.7213 / (1.0 + 1.079 / m)
    raw = alpha * m * m / float(np.sum(np.ldexp(1.0, -regs.astype(np.int64))))
    zeros = int(np.count_nonzero(regs == 0))
    if raw <= 2.5 * m and zeros:
        return m * np.log(m / zeros)
    return raw


def count_distinct(lf: pl.LazyFrame, column: str) -> int:
    """Estimated number of distinct values of ``column`` (nulls count as one value; in an
    integer column as the value 0), streamed in CHUNK_ROWS chunks (bounded memory)."""
    chunks = (df.get_column(column) for df in
              lf.select(column).collect_batches(chunk_size=CHUNK_ROWS, maintain_order=False))
    return int(round(estimate(registers(chunks))))
