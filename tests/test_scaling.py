"""native_kernels.scaling against plain NumPy: transform, moments and z-scores, including
NaN (null), negative values under log, empty and single-row columns, 1 and 2 threads, and
inputs spanning several kernel chunks."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from native_kernels.scaling import (CHUNK, _lookup_into, _transform_moments, _transform_table,
                                    _transform_zscore_into)
from naive_scaling import naive_scaling, naive_z
from threads import with_threads


def run(column, log, threads=None):
    if threads:
        numba.set_num_threads(threads)
    try:
        values = np.empty(column.shape[0])
        mean, std, count = _transform_moments(column, log, values)
        X = np.empty((column.shape[0], 2), dtype=np.float32)
        _transform_zscore_into(values, False, mean, std or 1.0, X, 1)
        _transform_zscore_into(column, log, mean, std or 1.0, X, 0)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return values, mean, std, count, X


def check(column, log, threads=None):
    values, mean, std, count, X = run(column, log, threads)
    ref_values, ref_mean, ref_std, ref_count = naive_scaling(column, log)
    np.testing.assert_allclose(values, ref_values, rtol=1e-15)  # libm vs NumPy log1p: 1 ulp
    assert count == ref_count
    scale = max(1.0, float(np.nanmax(np.abs(ref_values)))) if ref_count else 1.0
    np.testing.assert_allclose([mean, std], [ref_mean, ref_std], rtol=1e-9, atol=1e-12 * scale)
    ref_z = naive_z(ref_values, mean, std or 1.0)
    np.testing.assert_allclose(X[:, 0], ref_z, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(X[:, 0], X[:, 1])  # same z from raw or transformed values


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("column", [
    np.array([], dtype=np.float64),
    np.array([3.0]),
    np.array([np.nan]),
    np.array([np.nan, np.nan, 2.0]),
    np.array([-5.0, 0.0, 5.0, 5.0, np.nan, 1e12]),
    np.array([7, 7, 7], dtype=np.int32),
    np.arange(-10, 10, dtype=np.int64),
])
def test_edge_cases_match_naive(column, log, threads):
    check(column, log, threads)


def test_constant_column_has_zero_std():
    _, mean, std, count, _ = run(np.full(5, 4.0), False)
    assert (mean, std, count) == (4.0, 0.0, 5)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [40, 1000, 2 * CHUNK + 3])
@pytest.mark.parametrize("value, log", [(100.0, True), (1.0, True), (0.1, False), (3.0, False)])
def test_constant_column_is_exact_after_rounding(value, log, n, threads):
    """A summed mean of n copies is an ulp off (log1p(100) × 40 / 40 is), which gave a constant
    feature a std of ~1e-16 and z-scores of ±1: the mean must be the value and the std 0."""
    column = np.full(n, value, dtype=np.float64)
    column[::7] = np.nan  # nulls do not count
    values, mean, std, count, X = run(column, log, threads)
    expected = np.log1p(np.float64(value)) if log else np.float64(value)
    assert (mean, std) == (values[1], 0.0) and mean == pytest.approx(expected, rel=1e-15)
    assert count == n - len(column[::7])
    assert not X.any()  # every z-score, nulls included, is exactly 0


def test_several_chunks_bit_identical_with_one_and_two_threads():
    rng = np.random.default_rng(0)
    column = rng.lognormal(3.0, 2.0, 3 * CHUNK + 17) - 5.0
    column[rng.random(column.shape[0]) < 0.01] = np.nan
    check(column, True)
    one, two = run(column, True, threads=1), run(column, True, threads=2)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(0, 300),
              elements=st.floats(-1e6, 1e6) | st.just(np.nan) | st.sampled_from([0.0, 2.5])),
       st.booleans(), st.sampled_from([1, 2]))
def test_property_matches_naive(column, log, threads):
    """Any column (empty, single row, ties, NaN = null, negatives under log), 1 or 2 threads."""
    check(column, log, threads)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint16])
@pytest.mark.parametrize("threads", [1, 2])
def test_integer_log_features_by_lookup_equal_per_row_transform(dtype, threads):
    """clusters._fit_scaling transforms narrow integer log features by table lookup; the
    means, stds and z-scores must equal the per-row path's bit for bit (same values as float64
    take that path), including negatives (clipped at 0), a single value and an empty column."""
    import polars as pl

    from segscore import clusters

    rng = np.random.default_rng(3)
    lo = 0 if np.dtype(dtype).kind == "u" else -5
    cases = [rng.integers(lo, 900, 3 * CHUNK + 11), np.array([7]), np.array([4, 4, 4]),
             np.array([], dtype=np.int64)]
    numba.set_num_threads(threads)
    try:
        for values in cases:
            ints = pl.DataFrame({"a": values.astype(dtype), "b": values.astype(dtype)})
            floats = ints.cast(pl.Float64)
            if ints.height == 0:
                continue  # fit_assign_clusters refuses empty tables before scaling
            got = clusters._fit_scaling(ints, ("a", "b"), ("a",))
            want = clusters._fit_scaling(floats, ("a", "b"), ("a",))
            for g, w in zip(got, want):
                assert g.tobytes() == w.tobytes()
            column, log = clusters._narrow_log(ints["a"].to_numpy(), True,
                                               np.empty(ints.height))
            assert log is False  # the lookup path was taken
            per_row = np.empty(ints.height)
            _transform_moments(ints["a"].to_numpy(), True, per_row)
            assert column.tobytes() == per_row.tobytes()
            assert np.allclose(column, naive_scaling(values, True)[0], rtol=1e-15, atol=0)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([np.int16, np.int32, np.int64, np.uint8, np.uint32]),
       st.integers(-300, 300), st.integers(0, 400), st.integers(0, 200),
       st.integers(0, 2**32 - 1), st.sampled_from([1, 2]))
def test_transform_table_lookup_property(dtype, lo, span, n, seed, threads):
    """_transform_table + _lookup_into (the narrow-integer log path, parallel lookup): for any
    integer column (ties, negatives clipped at 0, a single row or value, 1 or 2 threads) the
    same float64 bits as the per-row transform, and log1p(max(v, 0)) within NumPy's 1 ulp."""
    info = np.iinfo(dtype)
    lo = min(max(lo, int(info.min)), int(info.max))
    hi = min(lo + span, int(info.max))
    column = np.random.default_rng(seed).integers(lo, hi + 1, max(n, 1)).astype(dtype)
    table = np.full(int(column.max()) - int(column.min()) + 1, np.nan)
    _transform_table(np.int64(column.min()), True, table)
    values = np.full(column.shape[0], np.nan)
    with_threads(threads, _lookup_into, column, np.int64(column.min()), table, values)
    per_row = np.empty(column.shape[0])
    _transform_moments(column, True, per_row)
    assert values.tobytes() == per_row.tobytes()
    np.testing.assert_allclose(values, np.log1p(np.clip(column.astype(np.float64), 0, None)),
                               rtol=1e-15, atol=0)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.int32, np.uint16])
def test_transform_table_lookup_empty_column(dtype, threads):
    """An empty integer column: _lookup_into writes nothing (1 or 2 threads), _transform_table
    of a one-value range is that value's transform, and clusters._narrow_log leaves an empty
    column to the per-row path (which gives naive_scaling's empty result)."""
    from segscore import clusters

    column = np.empty(0, dtype=dtype)
    table = np.full(1, np.nan)
    _transform_table(np.int64(5), True, table)
    np.testing.assert_allclose(table, naive_scaling(np.array([5]), True)[0], rtol=1e-15, atol=0)
    values = np.empty(0)
    with_threads(threads, _lookup_into, column, np.int64(5), table, values)
    assert values.shape == (0,)
    got, log = clusters._narrow_log(column, True, values)
    assert got is column and log is True
    out = np.empty(0)
    assert with_threads(threads, _transform_moments, column, True, out) == (0.0, 0.0, 0)
    assert naive_scaling(column, True)[1:] == (0.0, 0.0, 0)
