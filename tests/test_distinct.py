"""HyperLogLog distinct counts (segscore.distinct, native_kernels.hll): the kernel's registers
equal the plain-Python reference (tests/naive.py) at 1 and 2 threads, and the estimates stay
within the memory plan's +2 % margin."""

import numba
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from native_kernels.hll import _hll_update
from segscore.distinct import count_distinct, estimate, registers

from tests import naive

int64s = st.integers(-(2**63), 2**63 - 1)


def _kernel_registers(keys: np.ndarray, p: int, blocks: int, threads: int) -> list[int]:
    regs = np.zeros((blocks, 1 << p), dtype=np.uint8)
    numba.set_num_threads(threads)
    try:
        _hll_update(keys, regs)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return regs.max(axis=0).tolist()


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(st.one_of(int64s, st.integers(0, 20)), max_size=300),
       p=st.sampled_from([4, 8, 16]), blocks=st.integers(1, 5), threads=st.sampled_from([1, 2]))
def test_registers_equal_the_reference(keys, p, blocks, threads):
    arr = np.array(keys, dtype=np.int64)  # duplicates, negatives, empty and single rows
    assert _kernel_registers(arr, p, blocks, threads) == naive.hll_registers(keys, p)


def test_uint64_keys_above_int64():
    keys = np.array([2**64 - 1, 2**63, 0, 1], dtype=np.uint64)
    assert _kernel_registers(keys, 4, 2, 2) == naive.hll_registers(keys.tolist(), 4)


def test_registers_do_not_depend_on_chunking_or_order():
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 50_000, size=20_000)
    whole = registers([pl.Series(keys)])
    parts = registers([pl.Series(keys[::-1][:7000]), pl.Series(keys[::-1][7000:])])
    assert whole.tolist() == parts.tolist()


@pytest.mark.parametrize("n", [0, 1, 1000, 100_000, 600_000])
def test_estimate_within_the_plans_margin(n):
    rng = np.random.default_rng(n)
    ids = rng.choice(2**40, size=n, replace=False) * 7919  # strided ids: structure to mix away
    keys = np.concatenate([ids, ids[: n // 3]])  # duplicates do not count
    est = estimate(registers([pl.Series(keys, dtype=pl.Int64)]))
    assert abs(est - n) <= max(0.02 * n, 0.5)


def test_count_distinct_streams_strings_and_counts_null_once():
    values = [f"c{i:06d}" for i in range(40_000)] * 2 + [None] * 5
    lf = pl.LazyFrame({"customer_id": values})
    assert abs(count_distinct(lf, "customer_id") - 40_001) <= 0.02 * 40_001
    ints = pl.LazyFrame({"customer_id": pl.Series([5, None, 5, 7], dtype=pl.Int64)})
    assert count_distinct(ints, "customer_id") == 3  # 5, 7 and null (as 0)
