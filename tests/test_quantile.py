"""native_kernels.quantile (through segscore.scoring) against numpy / pandas / tests/naive.py."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import naive
from threads import with_threads
from segscore.scoring import (assign_scores, cut_points, cut_points_of, quantile_scores,
                               score_probabilities)

finite = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
tied = st.sampled_from([0.0, 1.0, 1.0, 2.5, 7.0, -3.0, 1e6])


@given(arrays(np.float64, st.integers(1, 300), elements=st.one_of(finite, tied)),
       st.integers(2, 9))
def test_cut_points_equal_numpy_bit_for_bit(x, q):
    probs = score_probabilities(q)
    got = cut_points(x, probs)
    want = np.quantile(x, probs)
    assert np.array_equal(got, want), (got, want)


@given(arrays(np.float64, st.integers(1, 300), elements=st.one_of(finite, tied)),
       st.integers(2, 9))
def test_scores_equal_naive(x, q):
    got, _ = quantile_scores(x, q)
    want, _ = naive.quantile_scores(x, q)
    assert got.tolist() == want


@given(arrays(np.float64, st.integers(1, 200), elements=st.one_of(finite, tied)),
       st.integers(2, 9), st.randoms(use_true_random=False))
def test_scores_do_not_depend_on_order(x, q, rnd):
    perm = list(range(len(x)))
    rnd.shuffle(perm)
    a, ca = quantile_scores(x, q)
    b, cb = quantile_scores(x[perm], q)
    assert np.array_equal(ca, cb)
    assert np.array_equal(a[perm], b)


def test_equal_values_get_equal_scores_with_heavy_ties():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, size=10_001).astype(np.float64)
    s, _ = quantile_scores(x, 5)
    for v in np.unique(x):
        assert len(np.unique(s[x == v])) == 1


def test_matches_pandas_qcut_where_edges_unique():
    rng = np.random.default_rng(7)
    x = rng.lognormal(3, 1, size=5_000)
    s, _ = quantile_scores(x, 5)
    want = pd.qcut(x, 5, labels=False) + 1
    assert np.array_equal(s, want)


def test_invert_for_recency():
    x = np.array([0, 10, 20, 30, 40], dtype=np.float64)
    s, _ = quantile_scores(x, 5, invert=True)
    assert s.tolist() == [5, 4, 3, 2, 1]


def test_nan_is_ignored_for_cuts_and_scored_zero():
    x = np.array([np.nan, 1.0, 2.0, 3.0, np.nan, 4.0])
    cuts = cut_points(x, score_probabilities(4))
    assert np.array_equal(cuts, np.nanquantile(x, score_probabilities(4)))
    s = assign_scores(x, cuts)
    assert s[0] == 0 and s[4] == 0 and s[1] == 1 and s[5] == 4


@given(st.lists(arrays(np.float64, st.integers(0, 200),
                      elements=st.one_of(finite, tied, st.just(np.nan),
                                         st.sampled_from([np.inf, -np.inf]))),
                min_size=1, max_size=4),
       st.integers(2, 9), st.integers(1, 3))
def test_cut_points_of_columns_equal_one_at_a_time(columns, q, threads):
    """Concurrent selections (ties, NaN, ±inf, empty and single-row columns; ascending score
    and descending tier-style probabilities) give each pair's own cut points bit for bit, in
    order."""
    wanted = [(c, score_probabilities(q)[::1 if i % 2 == 0 else -1])
              for i, c in enumerate(columns)]
    got = cut_points_of(wanted, threads)
    want = [naive.nan_cut_points(c, p) for c, p in wanted]
    assert len(got) == len(columns)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@st.composite
def with_specials(draw, max_size=200):
    """Float64 arrays with +inf, -inf and NaN: finite ones (ties included) with a few such
    entries, short ones mixing them with tied values (so cut points often fall beside an
    infinity), or ones of nothing else; empty and single-row arrays too."""
    special = st.sampled_from([np.inf, -np.inf, np.nan])
    mode = draw(st.sampled_from(["few", "few", "mixed", "mixed", "only"]))
    if mode == "mixed":
        return draw(arrays(np.float64, st.integers(0, 12), elements=st.one_of(tied, special)))
    x = draw(arrays(np.float64, st.integers(0, max_size), elements=st.one_of(finite, tied)))
    if mode == "only":
        return draw(arrays(np.float64, len(x), elements=special))
    for _ in range(draw(st.integers(0, 4)) if len(x) else 0):
        x[draw(st.integers(0, len(x) - 1))] = draw(special)
    return x


INF_CASES = [  # (values, q): ±inf values, and cut points that are not NaN (so they are scored)
    ([-np.inf, -np.inf, 1.0, 2.0, 3.0, np.inf], 3),      # cuts [-inf, 2.33]
    ([-np.inf, 1.0], 2),                                 # 1 - inf * 0.5 = -inf
    ([-np.inf, -np.inf, 0.0, 1.0], 2),                   # ties on a -inf cut
    ([0.0, 1.0, 2.0, np.inf], 5),                        # 2 + inf * 0.4 = +inf, the last cut
    ([np.inf, 3.0, 1.0, 2.0, 0.0, 4.0, 5.0, 6.0], 2),    # +inf beyond every interpolation
    ([np.nan, -np.inf, 2.0, np.inf, np.nan, 8.0, 9.0, 1.0], 3),  # NaN and both infinities
]


# np.quantile's lerp over an infinity warns (inf - inf, inf * 0) even where it gives ±inf
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("radix", [False, True])
@pytest.mark.parametrize("x,q", INF_CASES)
def test_scores_with_infinities_equal_naive(x, q, radix, threads):
    """±inf values (and NaN, which the cut points leave out and which scores 0): the cut
    points are np.nanquantile's and the scores SPEC's 1 + #{k: x > c_k} over the non-NaN
    values (tests/naive.py), by the selection or the radix path, with 1 or 2 threads."""
    import segscore.scoring as scoring

    x = np.array(x)
    probs = score_probabilities(q)
    old = scoring.RADIX_MIN_ROWS
    scoring.RADIX_MIN_ROWS = 1 if radix else old
    try:
        scores, cuts = with_threads(threads, quantile_scores, x, q)
    finally:
        scoring.RADIX_MIN_ROWS = old
    ok = ~np.isnan(x)
    want, want_cuts = naive.quantile_scores(x[ok], q)
    assert np.isinf(x).any() and not np.isnan(want_cuts).any()  # the case is what it says
    np.testing.assert_array_equal(cuts, want_cuts)
    np.testing.assert_array_equal(cuts, naive.nan_cut_points(x, probs))
    assert scores[ok].tolist() == want and (scores[~ok] == 0).all()


# numpy's lerp gives NaN for inf - inf and inf * 0 (e.g. at a +inf order statistic): the
# kernels must reproduce those NaN cut points too, not only the finite and infinite ones
@settings(max_examples=100, deadline=None)
@given(with_specials(), st.one_of(st.integers(2, 9).map(score_probabilities),
                                  st.lists(st.floats(0, 1), max_size=6)),
       st.booleans(), st.sampled_from([1, 2]))
@example(np.array([-np.inf, 1.0, 2.0]), [0.3, 0.0], True, 2)      # -inf (1 - inf * 0.4), NaN
@example(np.array([-np.inf, 1.0, 2.0]), [0.3, 1.0], False, 1)
@example(np.array([0.0, 1.0, 2.0, np.inf]), [0.8, 1.0], True, 1)  # +inf cut, NaN at p = 1
@example(np.array([np.nan, np.inf, 3.0, 3.0]), [0.5], False, 2)   # 3 + inf * 0 = NaN
@example(np.array([np.inf]), [0.5], True, 2)                      # single row: inf + NaN
@example(np.array([np.nan, np.nan]), [0.5], False, 1)             # no value: all NaN
@example(np.array([]), [0.5], True, 1)                            # empty: all NaN
def test_cut_points_with_infinities_and_nan_equal_nanquantile(x, probs, radix, threads):
    """Selection and radix path (forced on small inputs), 1 or 2 threads, over columns with
    ±inf and NaN (a few or all of them; ties, empty and single rows): equal to np.nanquantile
    value for value, NaN where it gives NaN; the radix path never gives -0.0."""
    import segscore.scoring as scoring

    old = scoring.RADIX_MIN_ROWS
    scoring.RADIX_MIN_ROWS = 1 if radix else old
    try:
        got = with_threads(threads, cut_points, x, probs)
    finally:
        scoring.RADIX_MIN_ROWS = old
    want = naive.nan_cut_points(x, probs)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # NaN equals NaN here; -0.0 equals 0.0
    if radix:
        assert not np.signbit(got[got == 0.0]).any()


def test_empty_and_single_row():
    assert np.isnan(cut_points(np.array([]), score_probabilities(5))).all()
    assert assign_scores(np.array([]), np.array([1.0, 2.0])).shape == (0,)
    s, cuts = quantile_scores(np.array([42.0]), 5)
    assert s.tolist() == [1] and np.all(cuts == 42.0)


def test_frozen_cut_points_are_reapplied():
    s, cuts = quantile_scores(np.array([1.0, 2, 3, 4, 5]), 5, cuts=np.array([0.5, 1.5, 2.5, 3.5]))
    assert s.tolist() == [2, 3, 4, 5, 5]


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        cut_points(np.zeros((2, 2)), [0.5])
    with pytest.raises(ValueError):
        cut_points(np.zeros(3), [1.5])
    with pytest.raises(ValueError):
        assign_scores(np.zeros(3), np.array([2.0, 1.0]))


def test_cut_point_count_limit_is_exactly_where_int8_scores_end():
    """Scores are int8: 126 cut points give scores up to 127 (every one exact); 127 cut
    points would make a score of 128, so they are refused, not wrapped to -128."""
    x = np.arange(128, dtype=np.float64)
    scores = assign_scores(x, np.arange(126, dtype=np.float64) + 0.5)
    assert scores.dtype == np.int8
    assert scores.tolist() == [min(v, 126) + 1 for v in range(128)]
    with pytest.raises(ValueError, match="fewer than 127"):
        assign_scores(x, np.arange(127, dtype=np.float64) + 0.5)


SCRIPT = """
import numpy as np, numba, sys
from segscore.scoring import quantile_scores
rng = np.random.default_rng(3)
x = np.round(rng.lognormal(2, 1.5, 300_000), 1)
s, c = quantile_scores(x, 5)
sys.stdout.write(str(numba.get_num_threads()) + " " + str(hash(s.tobytes())) + " " + c.tobytes().hex())
"""


def test_identical_with_one_and_two_threads():
    outs = []
    for threads in ("1", "2"):
        env = {**os.environ, "NUMBA_NUM_THREADS": threads, "PYTHONHASHSEED": "0"}
        r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                           text=True, check=True)
        n, digest, cuts = r.stdout.split()
        assert n == threads
        outs.append((digest, cuts))
    assert outs[0] == outs[1]


INT_DTYPES = st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                              np.uint32, np.uint64])
PROBS = st.lists(st.floats(0, 1), min_size=0, max_size=6)


@given(INT_DTYPES.flatmap(lambda dt: arrays(dt, st.integers(1, 300))), PROBS)
def test_integer_cut_points_by_counting_equal_numpy_bit_for_bit(x, probs):
    """Integers (any range hypothesis draws: counted when narrow, selected when wide) give
    np.quantile's float64 bit pattern, for unsorted and repeated probabilities too."""
    got = cut_points(x, probs)
    want = np.quantile(x.astype(np.float64), probs) if probs else np.empty(0)
    assert got.tobytes() == np.asarray(want, dtype=np.float64).tobytes()


@pytest.mark.parametrize("x", [
    np.array([7], dtype=np.int32),                                   # single row
    np.array([-3, -3, -3, 5], dtype=np.int64),                       # ties, negatives
    np.arange(100_000, dtype=np.int64)[::-1] * 3,                    # span > COUNTING_MIN_SPAN
    np.array([0, 2**61, -(2**61)], dtype=np.int64),                  # wide: selection
    np.array([2**63 + 5, 2**63 + 1], dtype=np.uint64),               # beyond int64
])
def test_integer_cut_points_edge_cases(x):
    probs = [0.0, 0.2, 0.5, 0.8, 1.0, 0.8]
    assert cut_points(x, probs).tobytes() == np.quantile(x.astype(np.float64), probs).tobytes()


def test_counting_is_used_for_narrow_integers(monkeypatch):
    """The counting kernel, not a float64 copy and selection, handles narrow integer ranges
    (would fail if the dispatch stopped taking that path)."""
    import segscore.scoring as scoring

    def boom(*args):
        raise AssertionError("selection used for a narrow integer column")

    monkeypatch.setattr(scoring, "_cut_points", boom)
    x = np.random.default_rng(1).integers(0, 730, 50_000).astype(np.int32)
    assert scoring.cut_points(x, [0.2, 0.4]).tobytes() == np.quantile(
        x.astype(np.float64), [0.2, 0.4]).tobytes()


def _counted_or_selected(monkeypatch, counted):
    """Make the path that must not run fail: selection (serial and radix) when ``counted``,
    else the counting kernel."""
    import segscore.scoring as scoring

    def boom(*args):
        raise AssertionError(("selection" if counted else "counting") + " path used")

    if counted:
        monkeypatch.setattr(scoring, "_cut_points", boom)
        monkeypatch.setattr(scoring, "_select_by_radix", boom)
    else:
        monkeypatch.setattr(scoring, "_cut_points_counted", boom)


_U62 = 2**62


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("x,counted", [
    # int16 / uint16: every range is narrow (span <= 65536), so always counted
    (np.arange(-2**15, 2**15, dtype=np.int16)[::-1], True),        # the whole int16 range
    (np.array([-2**15, 2**15 - 1, -2**15, 2**15 - 1], np.int16), True),  # both extremes, ties
    (np.repeat(np.array([-7, 0, 0, 3], np.int16), 501), True),     # heavy ties, negatives
    (np.array([-2**15], np.int16), True),                           # single row
    (np.arange(2**16, dtype=np.uint16)[::-1], True),                # the whole uint16 range
    (np.array([0, 2**16 - 1, 2**16 - 1, 0, 5], np.uint16), True),   # both extremes, ties
    (np.array([2**16 - 1], np.uint16), True),                       # single row
    # "narrow" uint64: a small range, counted while every value is below 2**62 ...
    (np.repeat(np.array([0, 1, 1, 9, 730], np.uint64), 333), True),
    (np.array([2**40 + 5, 2**40, 2**40 + 5, 2**40 + 2], np.uint64), True),
    (np.arange(_U62 - 65_000, _U62, 7, dtype=np.uint64), True),     # up to 2**62 - 5: counted
    (np.array([_U62 - 1], np.uint64), True),                        # single row, largest counted
    # ... and selected (through float64) from 2**62 on, narrow or not
    (np.array([_U62, _U62 + 3, _U62 + 3, _U62 + 1000], np.uint64), False),
    (np.arange(2**64 - 5_000, 2**64 - 1, 3, dtype=np.uint64), False),
    (np.array([2**64 - 1], np.uint64), False),
])
def test_narrow_integer_dtypes_by_counting_equal_numpy(x, counted, threads, monkeypatch):
    """int16 / uint16 (always counted) and uint64 with a small range (counted below 2**62,
    selected above): np.quantile of the values as float64, bit for bit, through the path the
    dispatch documents, with 1 and 2 threads, alone and concurrently (cut_points_of); and the
    scores are naive.quantile_scores'."""
    _counted_or_selected(monkeypatch, counted)
    probs = [0.0, 0.2, 0.25, 0.5, 0.8, 1.0, 0.8, 1 / 3]
    want = np.quantile(x.astype(np.float64), probs)
    got = with_threads(threads, cut_points, x, probs)
    assert got.tobytes() == want.tobytes()
    both = with_threads(threads, cut_points_of, [(x, probs), (x[::-1], probs[::-1])], threads)
    assert [g.tobytes() for g in both] == [want.tobytes(), want[::-1].tobytes()]
    scores, cuts = with_threads(threads, quantile_scores, x, 5)
    want_scores, want_cuts = naive.quantile_scores(x.astype(np.float64), 5)
    assert cuts.tobytes() == want_cuts.tobytes() and scores.tolist() == want_scores


@st.composite
def narrow_integers(draw):
    """int16 / uint16 / uint64 columns of a small range at any offset (the dtype's ends, 2**62
    and 2**64 for uint64), clipped to the dtype (ties at its ends)."""
    dtype = draw(st.sampled_from([np.int16, np.uint16, np.uint64]))
    info = np.iinfo(dtype)
    if dtype is np.uint64:
        base = draw(st.sampled_from([0, 7, 2**32, _U62 - 70_000, _U62 - 40, 2**63, 2**64 - 300]))
    else:
        base = draw(st.sampled_from([int(info.min), int(info.min) + 1, -3, 0, int(info.max) - 9]))
    width = draw(st.sampled_from([1, 3, 300, 70_000]))
    offsets = draw(st.lists(st.integers(0, width - 1), min_size=1, max_size=300))
    return np.array([min(max(base + o, int(info.min)), int(info.max)) for o in offsets],
                    dtype=dtype)


@settings(max_examples=80, deadline=None)
@given(narrow_integers(), PROBS, st.sampled_from([1, 2]))
def test_narrow_integer_dtypes_property(x, probs, threads):
    """Any such column (single row, ties, both paths of the dispatch), any probabilities,
    1 or 2 threads: np.quantile of the values as float64, bit for bit."""
    got = with_threads(threads, cut_points, x, probs)
    want = np.quantile(x.astype(np.float64), probs) if probs else np.empty(0)
    assert got.tobytes() == np.asarray(want, dtype=np.float64).tobytes()


@given(arrays(np.float64, st.integers(1, 400),
              elements=st.one_of(finite, tied, st.sampled_from([0.0, -0.0, -1e-300, 1e300]),
                                 st.sampled_from([np.inf, -np.inf]))),
       st.lists(st.floats(0, 1), min_size=1, max_size=6), st.sampled_from([1, 2]))
def test_radix_selection_equals_numpy_and_the_serial_selection(x, probs, threads):
    """The radix path (forced on small inputs) gives np.quantile's values and the serial
    kernel's, whatever the thread count, ±inf included (NaN where numpy's interpolation
    gives NaN); zeros come back as 0.0."""
    import numba

    import segscore.scoring as scoring
    from native_kernels.quantile import _cut_points

    old = scoring.RADIX_MIN_ROWS
    scoring.RADIX_MIN_ROWS = 1
    numba.set_num_threads(threads)
    try:
        got = scoring.cut_points(x, probs)
    finally:
        scoring.RADIX_MIN_ROWS = old
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    serial = np.empty(len(probs))
    _cut_points(x.copy(), np.array(probs), serial)
    with np.errstate(invalid="ignore"):
        want = np.quantile(x, probs)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(got, serial, equal_nan=True)
    zero = got == 0.0
    assert not np.signbit(got[zero]).any()


def test_radix_path_on_a_large_column_bit_for_bit():
    """Above RADIX_MIN_ROWS (the pipeline's monetary column) the result is np.quantile's."""
    from segscore.scoring import RADIX_MIN_ROWS

    rng = np.random.default_rng(4)
    x = np.round(rng.lognormal(4, 1.2, RADIX_MIN_ROWS + 12_345), 2)
    x[::7] = -x[::7]
    probs = [0.2, 0.4, 0.6, 0.8, 0.5, 0.8]
    assert cut_points(x, probs).tobytes() == np.quantile(x, probs).tobytes()


@pytest.mark.parametrize("threads", [1, 2])
def test_radix_path_on_a_large_column_with_infinities_and_nan(threads):
    """Above RADIX_MIN_ROWS with a quarter of the rows -inf, a ninth +inf and some NaN: the
    cut points are np.nanquantile's (-inf, NaN for -inf - -inf, finite and +inf ones), at 1
    and 2 threads."""
    from segscore.scoring import RADIX_MIN_ROWS

    rng = np.random.default_rng(5)
    x = np.round(rng.lognormal(4, 1.2, RADIX_MIN_ROWS + 12_345), 2)
    x[::7] = -x[::7]
    x[::4] = -np.inf
    x[1::9] = np.inf
    x[2::13] = np.nan
    m, k_neg, k_pos = (~np.isnan(x)).sum(), np.isneginf(x).sum(), np.isposinf(x).sum()
    probs = [0.0, 0.1, 0.2, 0.25, 0.4, 0.6, 0.8, 0.88, 0.9, 0.95, 1.0, 0.5,
             (k_neg - 0.25) / (m - 1),            # between the last -inf and the next value
             (m - k_pos - 0.75) / (m - 1)]        # between the last finite value and +inf
    got = with_threads(threads, cut_points, x, probs)
    want = naive.nan_cut_points(x, probs)
    np.testing.assert_array_equal(got, want)
    finite = ~np.isnan(want)
    assert got[finite].tobytes() == want[finite].tobytes()
    assert np.isnan(want).any() and np.isneginf(want).any() and np.isposinf(want).any()


@pytest.mark.parametrize("n", [1000, 300_000])  # the selection and the radix path
def test_cut_points_leave_the_input_untouched(n):
    x = np.random.default_rng(8).normal(size=n)
    before = x.copy()
    cut_points(x, [0.2, 0.5, 0.8])
    assert np.array_equal(x, before)


special = st.sampled_from([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 5e-324])


# assign_scores' ascending check takes np.diff of the cuts: inf - inf warns (and passes)
@pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")
@settings(max_examples=80, deadline=None)
@given(arrays(np.float64, st.integers(0, 300), elements=st.one_of(finite, tied, special)),
       st.lists(st.one_of(tied, special.filter(lambda v: not np.isnan(v))), max_size=9),
       st.sampled_from([1, 2]))
def test_assign_bins_equals_plain_python(x, cuts, threads):
    """The parallel bin kernel with any ascending cut points (repeated cuts, values equal to
    a cut, ±0.0, ±inf, subnormals; no cuts at all), NaN values, empty and single-row
    columns, 1 or 2 threads: 1 + #{k : x > cuts[k]}, 0 for NaN."""
    c = np.sort(np.array(cuts, dtype=np.float64))
    got = with_threads(threads, assign_scores, x, c)
    want = [0 if np.isnan(v) else 1 + sum(1 for t in c.tolist() if v > t) for v in x.tolist()]
    assert got.dtype == np.int8 and got.tolist() == want


@pytest.mark.parametrize("threads", [1, 2])
def test_assign_bins_many_cuts_and_rows(threads):
    """126 cut points (the int8 limit) over many rows: scores up to 127, per thread count."""
    rng = np.random.default_rng(2)
    x = np.round(rng.normal(0, 40, 50_001))
    x[::101] = np.nan
    c = np.sort(rng.choice(np.arange(-60.0, 61.0), 126))
    got = with_threads(threads, assign_scores, x, c)
    want = np.where(np.isnan(x), 0, 1 + (x[:, None] > c[None, :]).sum(axis=1))
    assert got.tolist() == want.tolist() and got.max() == 127
