"""native_kernels.report against plain Python references (ties, negatives, empty groups,
empty and single-row inputs). The kernels are serial; results are checked to be the same with
1 and 2 numba threads."""

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import native_kernels.report as rk
from naive_report import (naive_combo_hist, naive_count_codes, naive_grid_sums,
                          naive_id_order, naive_lookup, naive_median, naive_merge,
                          naive_pack_codes, naive_profile_sums, naive_split_codes,
                          naive_unassigned, total_order_median)
from threads import with_threads


def group_medians(values, combo, member, n_groups):
    """The kernels' pipeline: counting-sort keys by combination, sort each slice, medians."""
    n_combo = member.shape[1]
    counts = np.bincount(combo, minlength=n_combo)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    keys = np.empty(len(values), dtype=np.int64)
    rk._scatter_keys(np.ascontiguousarray(values, dtype=np.float64).view(np.int64),
                     np.asarray(combo, dtype=np.int64), starts, keys)
    for c in range(n_combo):
        keys[starts[c]:starts[c + 1]].sort()
    out = np.empty((member.shape[0], max(n_groups)), dtype=np.float64)
    rk._group_medians(keys, starts, member, np.asarray(n_groups, dtype=np.int64), out)
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [0, 1, 2, 7, 500])
def test_group_medians_equal_naive(seed, n):
    rng = np.random.default_rng(seed)
    n_combo, n_groups = 6, [3, 4]
    values = rng.choice([-2.5, -0.0, 0.0, 1.0, 1.0, 3.25, 1e300, -1e-300], size=n) \
        if seed % 2 else np.round(rng.normal(0, 100, size=n), 1)  # ties either way
    combo = rng.integers(0, n_combo, size=n)
    member = np.stack([rng.integers(0, g, size=n_combo) for g in n_groups]).astype(np.int64)
    out = group_medians(values, combo, member, n_groups)
    for d, g_count in enumerate(n_groups):
        for g in range(g_count):
            want = naive_median([values[i] for i in range(n) if member[d, combo[i]] == g])
            got = out[d, g]
            assert (np.isnan(want) and np.isnan(got)) or got == want, (d, g)


_MAX, _TINY = float(np.finfo(np.float64).max), 5e-324
# _float_medians' contract (profile.py): a float statistic without nulls or NaN — its caller
# _fast_medians leaves any statistic with a NaN to polars, so NaN never reaches the kernel
# (test_report_fastpaths checks that); ±inf is not excluded by the contract.
_EXTREMES = [-_MAX, -1e300, -1.0, -_TINY, -0.0, 0.0, _TINY, 1.0, 1e300, _MAX]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("with_inf", [False, True])
def test_group_medians_extreme_values_bit_equal(seed, with_inf, threads):
    """Signed zeros, subnormals, ±max (upper − lower overflows to inf) and, as the contract
    admits them, ±inf: bit-equal to the documented rule over the keys' total order; a NaN
    result (inf − inf) is NaN on both sides."""
    rng = np.random.default_rng(seed)
    pool = _EXTREMES + ([-np.inf, np.inf] if with_inf else [])
    n, n_combo, n_groups = 60, 5, [2, 3, 5]
    values = rng.choice(pool, size=n)
    combo = rng.integers(0, n_combo, size=n)
    member = np.stack([rng.integers(0, g, size=n_combo) for g in n_groups]).astype(np.int64)
    member[2] = np.arange(n_combo)  # dimension 2: one combination per group (small groups)
    out = with_threads(threads, group_medians, values, combo, member, n_groups)
    for d, g_count in enumerate(n_groups):
        for g in range(g_count):
            want = total_order_median([float(values[i]) for i in range(n)
                                       if member[d, combo[i]] == g])
            got = float(out[d, g])
            if math.isnan(want):
                assert math.isnan(got), (d, g)
            else:
                assert np.float64(got).view(np.int64) == np.float64(want).view(np.int64), \
                    (d, g, got, want)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("values,want", [
    ([], float("nan")),                    # empty group
    ([-0.0], -0.0),                        # one middle: itself, sign kept (as polars)
    ([2.5], 2.5),
    ([0.0, -0.0], 0.0),                    # -0.0 + (0.0 - -0.0) * 0.5
    ([-0.0, -0.0], -0.0),                  # identical middles: the value (as polars)
    ([-_MAX, _MAX], np.inf),               # upper - lower overflows
    ([_MAX, _MAX], _MAX),
    ([-_TINY, _TINY], 0.0),                # -tiny + 2 tiny * 0.5 (exact in subnormals)
    ([1.0, np.inf], np.inf),
    ([-np.inf, 1.0], float("nan")),        # -inf + inf
])
def test_group_medians_single_group_cases(values, want, threads):
    """One dimension with one group (plus an empty one): the rule's edge cases."""
    combo = np.zeros(len(values), dtype=np.int64)
    member = np.array([[0]], dtype=np.int64)
    out = with_threads(threads, group_medians, np.array(values, dtype=np.float64), combo,
                        member, [2])
    assert math.isnan(out[0, 1])  # group 1 has no combination
    got = float(out[0, 0])
    assert (math.isnan(want) and math.isnan(got)) or \
        np.float64(got).view(np.int64) == np.float64(want).view(np.int64)
    assert (math.isnan(want) and math.isnan(total_order_median(values))) or \
        total_order_median(values) == want


@pytest.mark.parametrize("inf", [np.inf, -np.inf])
def test_group_medians_two_equal_infinities_as_polars(inf):
    import polars as pl

    values = np.array([inf, inf])
    out = group_medians(values, np.zeros(2, dtype=np.int64), np.array([[0]], np.int64), [1])
    assert pl.Series(values).median() == inf
    assert out[0, 0] == inf


def check_merge(p_ids, p_code, p_m, c_ids, c_code, c_m, n_codes, perm=None, threads=1):
    """_merge_union on id-sorted sides (the previous side's rows stored in ``perm`` order when
    given: the kernel reads row perm[i] for the i-th sorted id) against naive_merge: movers,
    codes and cell counts equal, cell sums equal bit for bit."""
    p_ids, c_ids = np.asarray(p_ids, dtype=np.int64), np.asarray(c_ids, dtype=np.int64)
    p_code, c_code = np.asarray(p_code, dtype=np.int64), np.asarray(c_code, dtype=np.int64)
    p_m, c_m = np.asarray(p_m, dtype=np.float64), np.asarray(c_m, dtype=np.float64)
    rows_p = np.arange(len(p_ids))
    if perm is not None:
        rows_p = np.empty(len(p_ids), dtype=np.int64)
        rows_p[perm] = np.arange(len(p_ids))
    n_u = len(p_ids) + len(c_ids)
    u_ids, u_p, u_c = (np.full(n_u, -7, dtype=np.int64) for _ in range(3))
    side = n_codes + 1
    cell_n = np.zeros(side * side, dtype=np.int64)
    cell_rp, cell_rc = np.zeros(side * side), np.zeros(side * side)
    k = with_threads(threads, rk._merge_union, p_ids,
                      np.asarray(perm if perm is not None else [], dtype=np.int64),
                      p_code[rows_p], p_m[rows_p], c_ids, c_code, c_m, n_codes, u_ids, u_p,
                      u_c, cell_n, cell_rp, cell_rc)
    rows, cells = naive_merge(p_ids.tolist(), p_code.tolist(), p_m.tolist(), c_ids.tolist(),
                              c_code.tolist(), c_m.tolist(), n_codes)
    assert k == len(rows)
    assert list(zip(u_ids[:k].tolist(), u_p[:k].tolist(), u_c[:k].tolist())) == rows
    want = [cells.get(cell, (0, 0.0, 0.0)) for cell in range(side * side)]
    assert cell_n.tolist() == [w[0] for w in want]
    # exact: the float64 bits, so -0.0 != 0.0 and a different summation order shows
    assert cell_rp.view(np.int64).tolist() == np.array([w[1] for w in want]).view(np.int64).tolist()
    assert cell_rc.view(np.int64).tolist() == np.array([w[2] for w in want]).view(np.int64).tolist()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("permuted", [False, True])
def test_merge_union_equals_naive(seed, permuted, threads):
    """Random sides; spend of mixed magnitudes (1e-3 .. 1e12, both signs), so sums in any
    other order than the ids' would differ in the last bits."""
    rng = np.random.default_rng(seed)
    n_codes = 4
    pool = rng.choice(10**6, size=60, replace=False)
    p_ids = np.sort(rng.choice(pool, size=int(rng.integers(0, 40)), replace=False))
    c_ids = np.sort(rng.choice(pool, size=int(rng.integers(0, 40)), replace=False))
    p_code, c_code = (rng.integers(0, n_codes, size=len(x)) for x in (p_ids, c_ids))
    p_m, c_m = (rng.normal(0, 1, size=len(x)) * 10.0 ** rng.integers(-3, 13, size=len(x))
                for x in (p_ids, c_ids))
    perm = rng.permutation(len(p_ids)) if permuted else None
    check_merge(p_ids, p_code, p_m, c_ids, c_code, c_m, n_codes, perm, threads)


@pytest.mark.parametrize("threads", [1, 2])
def test_merge_union_nan_and_infinite_spend(threads):
    """NaN and ±inf spend (the pipeline quarantines non-finite amounts, but the kernel's
    contract is any float64): each cell's sums equal the naive ones bit for bit, so an inf
    meeting -inf in a cell gives the reference's NaN, and a NaN stays in its own cell."""
    p = [(1, 0, np.inf), (2, 0, -np.inf), (3, 1, np.nan), (5, 2, 1.5), (8, 0, np.inf)]
    c = [(2, 0, np.nan), (3, 1, -np.inf), (4, 1, np.inf), (5, 2, np.inf), (8, 0, 2.0)]
    check_merge([i for i, _, _ in p], [k for _, k, _ in p], [m for _, _, m in p],
                [i for i, _, _ in c], [k for _, k, _ in c], [m for _, _, m in c], 3,
                threads=threads)


def test_merge_union_sums_are_order_sensitive():
    """The reference's id order matters: the same spend summed in reverse gives other bits
    (so the exact comparison above would catch a kernel summing in another order)."""
    m = [1e16, 1.0, -1e16, 1.0]
    assert sum(m) != sum(reversed(m))
    check_merge([1, 2, 3, 4], [0, 0, 0, 0], m, [], [], [], 1)
    check_merge([], [], [], [1, 2, 3, 4], [1, 1, 1, 1], m[::-1], 2)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("p,c", [
    ([], []),                          # both empty: no union, every cell 0
    ([(5, 1, 2.5)], []),               # single previous row only
    ([], [(5, 0, -1.25)]),             # single current row only
    ([(5, 1, 2.5)], [(5, 1, -0.0)]),   # the same single id on both sides
    ([(5, 2, 2.5)], [(6, 0, 3.0)]),    # two single rows, previous id first
    ([(6, 2, 2.5)], [(5, 0, 3.0)]),    # current id first
    ([(-2**63, 0, 1.0), (2**63 - 1, 1, 2.0)], [(2**63 - 1, 1, 4.0)]),  # int64 extremes
])
def test_merge_union_empty_and_single_rows(p, c, threads):
    for permuted in (False, True):
        pids, pcode, pm = (list(x) for x in zip(*p)) if p else ([], [], [])
        cids, ccode, cm = (list(x) for x in zip(*c)) if c else ([], [], [])
        perm = np.arange(len(pids))[::-1] if permuted and pids else None
        check_merge(pids, pcode, pm, cids, ccode, cm, 3, perm, threads)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [0, 1, 300])
def test_counting_and_packing_kernels_equal_naive(n, threads):
    rng = np.random.default_rng(n)
    codes = rng.integers(0, 7, size=n)  # repeated codes (ties)
    counts = np.zeros(7, dtype=np.int64)
    with_threads(threads, rk._count_codes, codes, counts)
    assert counts.tolist() == naive_count_codes(codes.tolist(), [0] * 7)
    assert counts.tolist() == [int((codes == v).sum()) for v in range(7)]

    a, b, c = (rng.integers(0, 3, size=n) for _ in range(3))
    luts = [np.array([0, 1, 2]), np.array([0, 3, 6]), np.array([0, 9, 18])]
    out = np.empty(n, dtype=np.int64)
    with_threads(threads, rk._pack_codes, a, b, c, *luts, out)
    assert out.tolist() == naive_pack_codes(a.tolist(), b.tolist(), c.tolist(),
                                            *(lut.tolist() for lut in luts))

    values = rng.integers(-5, 5, size=n)
    combo = rng.integers(0, 3, size=n)
    hist = np.zeros(3 * 10, dtype=np.int64)
    with_threads(threads, rk._combo_hist, combo, values, -5, 10, hist)
    assert hist.tolist() == naive_combo_hist(combo.tolist(), values.tolist(), -5, 10, [0] * 30)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [0, 1, 257])
def test_pack_sort_unpack_gives_the_stable_id_order(n, threads):
    rng = np.random.default_rng(n)
    ids = rng.integers(-1000, 1000, size=n)  # duplicates: ties keep row order
    lo = int(ids.min()) if n else 0
    bits = max(1, int(n).bit_length())
    packed = np.empty(n, dtype=np.int64)
    with_threads(threads, rk._pack_ids, ids, np.int64(lo), np.int64(bits), packed)
    packed.sort()
    perm = np.empty(n, dtype=np.int64)
    with_threads(threads, rk._unpack_ids, packed, np.int64(lo), np.int64(bits), perm)
    want_perm, want_ids = naive_id_order(ids.tolist())
    assert perm.tolist() == want_perm == np.argsort(ids, kind="stable").tolist()
    assert packed.tolist() == want_ids


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("permuted", [False, True])
def test_lookup_sorted_equals_dict(permuted, threads):
    rng = np.random.default_rng(4)
    cur_ids = np.sort(rng.choice(500, size=120, replace=False))
    cur_code = rng.integers(0, 5, size=120)
    ids = np.sort(rng.integers(0, 500, size=300))  # sorted, with duplicates
    perm = rng.permutation(300) if permuted else np.empty(0, dtype=np.int64)
    out = np.full(300, -9, dtype=np.int64)
    found = np.zeros(6, dtype=np.int64)
    with_threads(threads, rk._lookup_sorted, ids, perm.astype(np.int64), cur_ids, cur_code, 5,
                 out, found)
    want_out, want_found = naive_lookup(ids.tolist(), perm.tolist(), cur_ids.tolist(),
                                        cur_code.tolist(), 5)
    assert out.tolist() == want_out
    assert found.tolist() == want_found


def check_lookup_sorted(ids, cur_ids, cur_code, missing, perm=(), threads=1):
    """_lookup_sorted with the callers' dtypes (int32 perm, uint8 out) against the dict."""
    ids = np.sort(np.asarray(ids, dtype=np.int64))
    cur_ids = np.asarray(cur_ids, dtype=np.int64)
    cur_code = np.asarray(cur_code, dtype=np.uint8)
    perm = np.asarray(perm, dtype=np.int32)
    out = np.full(len(ids), 255, dtype=np.uint8)
    found = np.zeros(missing + 1, dtype=np.int64)
    with_threads(threads, rk._lookup_sorted, ids, perm, cur_ids, cur_code, missing, out,
                  found)
    want_out, want_found = naive_lookup(ids.tolist(), perm.tolist(), cur_ids.tolist(),
                                        cur_code.tolist(), missing)
    assert out.tolist() == want_out
    assert found.tolist() == want_found


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("ids,cur_ids,cur_code", [
    ([], [], []),                         # both sides empty
    ([], [5], [2]),                       # no ids to look up
    ([5, 7], [], []),                     # empty current table: all missing
    ([5], [5], [2]),                      # single row, found
    ([4], [5], [2]),                      # single row, below the table
    ([6], [5], [2]),                      # single row, above the table
    ([5, 5, 5], [5], [0]),                # duplicate ids (ties) on the single current id
    ([-9, 1, 1, 3, 3, 8, 20], [1, 2, 3, 20], [3, 1, 0, 3]),  # duplicates, gaps, both ends
    ([-2**63, 2**63 - 1], [-2**63, 0, 2**63 - 1], [1, 2, 0]),  # int64 extremes
])
def test_lookup_sorted_empty_single_and_duplicates(ids, cur_ids, cur_code, threads):
    for permuted in (False, True):
        perm = np.random.default_rng(len(ids)).permutation(len(ids)) if permuted else ()
        if permuted and not len(ids):
            continue  # an empty perm means "no permutation"
        check_lookup_sorted(ids, cur_ids, cur_code, 4, perm, threads)


@given(st.lists(st.integers(-20, 20), max_size=30),
       st.sets(st.integers(-20, 20), max_size=15),
       st.integers(0, 2**32 - 1), st.booleans())
def test_lookup_sorted_property(ids, cur, seed, permuted):
    rng = np.random.default_rng(seed)
    cur_ids = sorted(cur)
    cur_code = rng.integers(0, 3, size=len(cur_ids))  # several ids share a code
    perm = rng.permutation(len(ids)) if permuted else ()
    check_lookup_sorted(ids, cur_ids, cur_code, 3, perm)



@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [0, 1, 7, 500])
def test_profile_sums_equal_naive(n, threads):
    """Combination codes and per-combination sums (NaN propagates, ints summed as floats)
    equal plain Python's row-order sums bit for bit, with 1 or 2 numba threads."""
    rng = np.random.default_rng(n)
    dims = (rng.integers(0, 3, n).astype(np.uint8), rng.integers(5, 7, n).astype(np.int32))
    lows, strides = np.array([0, 5]), np.array([1, 3])
    aov = np.round(rng.exponential(20, n), 2)
    freq = rng.integers(1, 4, n)  # many ties
    nan_col = np.where(rng.random(n) < 0.2, np.nan, rng.normal(0, 1, n))
    plain = (aov, freq, rng.integers(-3, 3, n).astype(np.int32), nan_col)
    weighted = (rng.random(n), rng.random(n))
    combo = np.empty(n, dtype=np.int32)
    out = np.zeros((6, 8))
    with_threads(threads, rk._profile_sums, dims, lows, strides, plain, weighted, aov, freq,
                  combo, out)
    want_combo, want = naive_profile_sums(dims, lows, strides, plain, weighted, aov, freq, 6)
    assert combo.tolist() == want_combo
    np.testing.assert_array_equal(out, np.array(want))  # NaN == NaN here, else bit-equal


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [0, 1, 300])
def test_split_codes_equal_lookup(n, threads):
    rng = np.random.default_rng(n)
    luts = rng.integers(0, 6, size=(3, 10)).astype(np.uint8)
    codes = rng.integers(0, 10, size=n)
    out = np.empty((3, n), dtype=np.uint8)
    with_threads(threads, rk._split_codes, codes, luts, out)
    assert out.tolist() == naive_split_codes(codes.tolist(), luts.tolist())


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [0, 1, 500])
def test_grid_sums_equal_naive(n, threads):
    """Cells of in-range scores only; sums in row order (bit-equal), NaN propagates."""
    rng = np.random.default_rng(n)
    q = 4
    r = rng.integers(0, q + 2, size=n).astype(np.int8)  # 0 and q + 1: out of range
    f = rng.integers(1, q + 1, size=n).astype(np.int8)
    m = np.where(rng.random(n) < 0.05, np.nan, np.round(rng.normal(0, 50, n), 2))
    counts, sums = np.zeros((q, q), dtype=np.int64), np.zeros((q, q))
    with_threads(threads, rk._grid_sums, r, f, m, counts, sums)
    want_n, want_s = naive_grid_sums(r.tolist(), f.tolist(), m.tolist(), q)
    assert counts.tolist() == want_n
    np.testing.assert_array_equal(sums, np.array(want_s))  # NaN == NaN here, else bit-equal


def unassigned_case(units, freq, combo, n_combo, threads=1):
    """_unassigned_units on the feature columns features.py derives from integer units per
    customer (``units``: (n, 3), two channels then the spend in no channel): avg_order_value
    = units / scale / frequency, share = channel units / purchase units. Returns (kernel,
    the no-channel units summed per combination, naive_unassigned), the kernel run with
    ``threads`` numba threads."""
    units = np.asarray(units, dtype=np.int64).reshape(len(freq), 3)
    gross = units.sum(axis=1)
    aov = gross / 10_000 / np.asarray(freq, dtype=np.int64)
    shares = tuple(np.ascontiguousarray(units[:, k] / gross.astype(np.float64))
                   for k in range(units.shape[1] - 1))
    got = np.zeros(n_combo, dtype=np.int64)
    with_threads(threads, rk._unassigned_units, np.asarray(combo, dtype=np.int32), aov,
                 np.asarray(freq, np.int64), shares, 10_000.0, got)
    truth = np.zeros(n_combo, dtype=np.int64)
    np.add.at(truth, np.asarray(combo, dtype=np.int64), units[:, -1])
    return got, truth, naive_unassigned(combo, aov, freq, shares, 10_000.0, n_combo)


@pytest.mark.parametrize("units,freq,combo", [
    ([], [], []),                                  # no customers: every combination 0
    ([[700, 0, 300]], [1], [1]),                    # single customer
    ([[5, 5, 0]], [3], [0]),                        # all spend in the share columns: 0
    ([[0, 0, 12_345]], [2], [0]),                   # none in a share column: all of it
    ([[1, 2, 3], [1, 2, 3], [1, 2, 3]], [1, 1, 1], [2, 2, 2]),  # identical customers
    ([[1, 1, 1], [2**40, 3, 2**40 + 7]], [7, 3], [0, 0]),        # large G (≈ 2^41 units)
])
@pytest.mark.parametrize("threads", [1, 2])
def test_unassigned_units_edge_cases(units, freq, combo, threads):
    got, truth, want = unassigned_case(units, freq, combo, 3, threads)
    assert got.tolist() == want == truth.tolist()


@given(st.lists(st.tuples(st.lists(st.integers(0, 10**9), min_size=3, max_size=3),
                          st.integers(1, 50), st.integers(0, 3)), max_size=40))
def test_unassigned_units_property(rows):
    """Random integer spend per channel (ties, zeros, several customers per combination):
    the kernel equals the plain-integer reference and recovers the no-channel units exactly,
    as its docstring promises (G below 2^50)."""
    rows = [r for r in rows if sum(r[0]) > 0]  # a scored customer has purchase spend
    units = [r[0] for r in rows]
    freq = [r[1] for r in rows]
    combo = [r[2] for r in rows]
    got, truth, want = unassigned_case(units, freq, combo, 4)
    assert got.tolist() == want == truth.tolist()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("high", [100, 10**9, 2**45])
def test_unassigned_units_random_customers(high, threads):
    """Thousands of customers: share · G is often an ulp off its integer (so the per-term
    rounding is needed), and the exact no-channel units still come back per combination."""
    rng = np.random.default_rng(high)
    n = 3000
    units = rng.integers(0, high, size=(n, 3))
    units[rng.random(n) < 0.1, 2] = 0  # some customers' spend is all in the share columns
    units[units.sum(axis=1) == 0, 0] = 1
    got, truth, want = unassigned_case(units, rng.integers(1, 40, n), rng.integers(0, 3, n), 3,
                                       threads)
    assert got.tolist() == want == truth.tolist()


@given(st.lists(st.tuples(st.sampled_from(_EXTREMES + [2.5, 2.5, -7.0, 1.0]),
                          st.integers(0, 4)), max_size=60),
       st.lists(st.integers(0, 2), min_size=5, max_size=5),
       st.lists(st.integers(0, 3), min_size=5, max_size=5))
def test_group_medians_property(rows, member0, member1):
    """Any values from a pool rich in ties, signed zeros, subnormals and ±max, any grouping of
    five combinations into two dimensions (empty groups and combinations included): each
    group's median is the documented rule over the keys' total order, bit for bit."""
    values = np.array([v for v, _ in rows], dtype=np.float64)
    combo = np.array([c for _, c in rows], dtype=np.int64)
    member = np.array([member0, member1], dtype=np.int64)
    out = group_medians(values, combo, member, [3, 4])
    for d, g_count in enumerate([3, 4]):
        for g in range(g_count):
            want = total_order_median([v for v, c in rows if member[d, c] == g])
            got = float(out[d, g])
            assert (math.isnan(want) and math.isnan(got)) or \
                np.float64(got).view(np.int64) == np.float64(want).view(np.int64), (d, g)


@given(st.dictionaries(st.integers(-50, 50), st.tuples(st.integers(0, 2), st.floats(-1e6, 1e6)),
                       max_size=25),
       st.dictionaries(st.integers(-50, 50), st.tuples(st.integers(0, 2), st.floats(-1e6, 1e6)),
                       max_size=25),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_merge_union_property(prev, cur, permuted, seed):
    """Any two id-sorted sides (overlapping, disjoint, empty, single), codes with ties, spend
    of any sign and ±0.0: movers, codes, counts and bit-exact id-order sums equal naive_merge."""
    p_ids, c_ids = sorted(prev), sorted(cur)
    perm = np.random.default_rng(seed).permutation(len(p_ids)) if permuted and p_ids else None
    check_merge(p_ids, [prev[i][0] for i in p_ids], [prev[i][1] for i in p_ids],
                c_ids, [cur[i][0] for i in c_ids], [cur[i][1] for i in c_ids], 3, perm)


# ---------------------------------------------------------------- property tests (hypothesis)
# Each kernel below against an independent plain-Python reference over generated valid
# inputs (the docstrings' contracts): empty and single-row inputs, ties / duplicate codes,
# and for float inputs NaN, ±0.0, ±inf, subnormals and overflow. Every float sum is in row
# order on both sides, so the comparison is exact (float64 bits; any NaN equals any NaN).

_SPECIAL = [0.0, -0.0, float("nan"), float("inf"), -float("inf"), 1.0, 1.0, -2.5, 1e16,
            -1e16, 1e308, -1e308, _TINY, -_TINY]
_FLOAT = st.one_of(st.sampled_from(_SPECIAL), st.floats(width=64))


def assert_same_floats(got, want):
    """Equal float64 bits (so -0.0 != 0.0 and a reordered sum shows), any NaN equal to any
    NaN."""
    got = np.asarray(got, dtype=np.float64).ravel()
    want = np.asarray(want, dtype=np.float64).ravel()
    assert got.shape == want.shape
    for i, (g, w) in enumerate(zip(got.tolist(), want.tolist())):
        assert (math.isnan(g) and math.isnan(w)) or \
            np.float64(g).view(np.int64) == np.float64(w).view(np.int64), (i, g, w)


@given(st.booleans(), st.integers(1, 3), st.integers(1, 3),
       st.integers(0, 250), st.integers(-2**31, 2**31 - 4),
       st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), _FLOAT,
                          st.one_of(st.integers(0, 5), st.integers(0, 2**53)),
                          st.lists(_FLOAT, min_size=4, max_size=4),
                          st.integers(-2**53, 2**53)), max_size=25))
def test_profile_sums_property(two_dims, size0, size1, low0, low1, rows):
    """Two layouts (dims (uint8, int32) with plain (float, int, float) and two weighted
    columns; or one int64 dim, one plain and one weighted column), dims of 1..3 values at any
    offset in their dtype, rows repeating combinations: codes and row-order sums equal
    naive_profile_sums bit for bit (NaN, ±inf, ±0.0 and overflow to inf included)."""
    n = len(rows)
    off0 = np.array([min(r[0], size0 - 1) for r in rows], dtype=np.int64)
    off1 = np.array([min(r[1], size1 - 1) for r in rows], dtype=np.int64)
    aov = np.array([r[2] for r in rows], dtype=np.float64)
    freq = np.array([r[3] for r in rows], dtype=np.int64)
    fl = np.array([r[4] for r in rows], dtype=np.float64).reshape(n, 4)
    ints = np.array([r[5] for r in rows], dtype=np.int64)
    if two_dims:
        dims = ((off0 + low0).astype(np.uint8), (off1 + low1).astype(np.int32))
        lows, strides = np.array([low0, low1]), np.array([1, size0])
        plain = (fl[:, 0].copy(), ints, fl[:, 1].copy())
        weighted = (fl[:, 2].copy(), fl[:, 3].copy())
        n_combo = size0 * size1
    else:
        dims = (off1 + low1,)
        lows, strides = np.array([low1]), np.array([1])
        plain, weighted = (fl[:, 0].copy(),), (fl[:, 1].copy(),)
        n_combo = size1
    combo = np.full(n, -7, dtype=np.int32)
    out = np.zeros((n_combo, 2 + len(plain) + len(weighted)))
    rk._profile_sums(dims, lows, strides, plain, weighted, aov, freq, combo, out)
    want_combo, want = naive_profile_sums(dims, lows, strides, plain, weighted, aov, freq,
                                          n_combo)
    assert combo.tolist() == want_combo
    assert_same_floats(out, want)


_SCORE = st.one_of(st.integers(1, 2), st.integers(0, 6), st.integers(-128, 127))


@given(st.integers(1, 5), st.sampled_from([np.int8, np.uint8, np.int32]),
       st.lists(st.tuples(_SCORE, _SCORE, _FLOAT), max_size=40))
@example(1, np.int8, [(1, 1, 1.0), (1, 1, 1e16), (1, 1, -1e16)])  # 0.0 in row order, else 1.0
def test_grid_sums_property(q, dtype, rows):
    """Scores in and out of 1..q (0, q + 1, negatives, the dtype's extremes), many rows per
    cell, monetary with NaN / ±inf / ±0.0: counts exact, sums bit-equal to row order (the
    explicit example is order-sensitive, so a kernel summing in another order fails)."""
    info = np.iinfo(dtype)
    rows = [(min(max(a, info.min), info.max), min(max(b, info.min), info.max), v)
            for a, b, v in rows]
    r = np.array([x[0] for x in rows], dtype=dtype)
    f = np.array([x[1] for x in rows], dtype=dtype)
    m = np.array([x[2] for x in rows], dtype=np.float64)
    counts, sums = np.zeros((q, q), dtype=np.int64), np.zeros((q, q))
    rk._grid_sums(r, f, m, counts, sums)
    want_n, want_s = naive_grid_sums(r.tolist(), f.tolist(), m.tolist(), q)
    assert counts.tolist() == want_n
    assert_same_floats(sums, want_s)


@given(st.integers(1, 8).flatmap(lambda k: st.tuples(
           st.just(k), st.lists(st.integers(0, k - 1), max_size=40),
           st.lists(st.integers(0, 1000), min_size=k, max_size=k))),
       st.sampled_from([np.uint8, np.uint32, np.int64]))
def test_count_codes_property(case, dtype):
    """Codes below len(counts) with repeats (empty, single row included), added to counts
    that already hold values (the kernel accumulates): equal to a dict count."""
    k, codes, start = case
    counts = np.array(start, dtype=np.int64)
    rk._count_codes(np.array(codes, dtype=dtype), counts)
    assert counts.tolist() == naive_count_codes(codes, start)


_LUT = st.lists(st.integers(-2**29, 2**29), min_size=1, max_size=5)


@given(st.tuples(_LUT, _LUT, _LUT).flatmap(lambda luts: st.tuples(
           st.just(luts),
           st.lists(st.tuples(*(st.integers(0, len(lut) - 1) for lut in luts)), max_size=30))),
       st.sampled_from([np.uint8, np.uint32]))
def test_pack_codes_property(case, code_dtype):
    """Three label-code columns (uint8 / uint32 as label_codes gives, repeated codes) through
    int32 lookup tables of any values (ties, zeros, negatives; sums fit in int32):
    out[i] = Σ lut[code] exactly."""
    luts, rows = case
    cols = [np.array([r[d] for r in rows], dtype=code_dtype) for d in range(3)]
    out = np.full(len(rows), -7, dtype=np.int32)
    rk._pack_codes(*cols, *(np.array(lut, dtype=np.int32) for lut in luts), out)
    assert out.tolist() == naive_pack_codes(*([r[d] for r in rows] for d in range(3)), *luts)


@given(st.integers(1, 6).flatmap(lambda n_combo: st.tuples(
           st.just(n_combo), st.integers(1, 6),
           st.lists(st.tuples(st.integers(0, n_combo - 1), st.integers(0, 5)), max_size=40))),
       st.one_of(st.integers(-2**63, 2**63 - 6), st.sampled_from([-2**63, 2**63 - 6, 0, -3])),
       st.booleans())
def test_combo_hist_property(case, lo, accumulate):
    """Values anywhere in int64 within [lo, lo + span) (lo at the int64 extremes too), any
    combination codes with repeats, into a histogram that may already hold counts:
    out[combo * span + value − lo] += 1 exactly."""
    n_combo, span, rows = case
    rows = [(c, min(v, span - 1)) for c, v in rows]
    combo = np.array([c for c, _ in rows], dtype=np.int32)
    values = np.array([lo + v for _, v in rows], dtype=np.int64)
    start = [(3 * i + 1) % 5 if accumulate else 0 for i in range(n_combo * span)]
    hist = np.array(start, dtype=np.int64)
    rk._combo_hist(combo, values, np.int64(lo), np.int64(span), hist)
    assert hist.tolist() == naive_combo_hist(combo.tolist(), [lo + v for _, v in rows], lo, span,
                                             start)


@given(st.sampled_from([np.int64, np.int32, np.int16, np.uint32, np.uint8]),
       st.lists(st.integers(0, 2**62), max_size=40), st.integers(0, 3),
       st.integers(-2**63, 2**63 - 1), st.sampled_from([np.int32, np.int64]))
def test_pack_ids_unpack_ids_property(dtype, raw, extra_bits, base, perm_dtype):
    """ids of any integer dtype (not uint64, as id_order) with duplicates and any range that
    fits (hi − lo < 2^(63 − bits), bits = id_order's minimum plus 0..3): each packed value is
    (id − lo) << bits | row, and pack → sort → unpack gives np.argsort(kind='stable') and the
    sorted ids, in int32 or int64 perm."""
    n = len(raw)
    bits = max(1, (n - 1).bit_length()) + extra_bits
    info = np.iinfo(dtype)
    width = min(2 ** (63 - bits), int(info.max) - int(info.min) + 1)  # hi - lo < width
    lo = min(max(base, int(info.min)), int(info.max) - width + 1)
    ids_l = [lo + v % width for v in raw]
    ids = np.array(ids_l, dtype=dtype)
    lo_ids = min(ids_l) if ids_l else 0
    packed = np.full(n, -7, dtype=np.int64)
    rk._pack_ids(ids, np.int64(lo_ids), np.int64(bits), packed)
    assert packed.tolist() == [((v - lo_ids) << bits) | i for i, v in enumerate(ids_l)]
    packed.sort()
    perm = np.full(n, -7, dtype=perm_dtype)
    rk._unpack_ids(packed, np.int64(lo_ids), np.int64(bits), perm)
    want_perm, want_ids = naive_id_order(ids_l)
    assert perm.tolist() == want_perm
    assert packed.tolist() == want_ids


@given(st.integers(1, 3), st.integers(1, 6).flatmap(lambda n_codes: st.tuples(
           st.just(n_codes), st.lists(st.integers(0, n_codes - 1), max_size=30))),
       st.sampled_from([np.uint8, np.uint32]), st.sampled_from([np.int32, np.int64]),
       st.integers(0, 2**32 - 1))
def test_split_codes_property(n_dims, case, lut_dtype, code_dtype, seed):
    """Any (D, codes) table of uint8 / uint32 (values up to the dtype's max, repeated
    values), any codes with repeats (empty, single): out[d, i] = luts[d][codes[i]]."""
    n_codes, codes = case
    high = int(np.iinfo(lut_dtype).max)
    rng = np.random.default_rng(seed)
    luts = rng.choice([0, 1, 2, high - 1, high], size=(n_dims, n_codes)).astype(lut_dtype)
    out = np.full((n_dims, len(codes)), 7, dtype=lut_dtype)
    rk._split_codes(np.array(codes, dtype=code_dtype), luts, out)
    assert out.tolist() == naive_split_codes(codes, luts.tolist())
