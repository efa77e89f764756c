"""Lifecycle rules kernel and segment lookup against tests/naive.py's first_match."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from threads import with_threads
from segscore.config import LIFECYCLE_FIELDS, load_config
from segscore.rules import Rule, RuleTable
from segscore.segments import assign_lifecycle, assign_segments

BOUND = st.one_of(st.none(), st.integers(-5, 40))


@st.composite
def tables(draw):
    rules = []
    for j in range(draw(st.integers(1, 6))):
        ranges = []
        for field in LIFECYCLE_FIELDS:
            if draw(st.booleans()):
                lo, hi = draw(BOUND), draw(BOUND)
                ranges.append((field, lo, hi))
        rules.append(Rule(key=f"r{j}", name=f"r{j}", action="", ranges=tuple(ranges)))
    return RuleTable("lifecycle", LIFECYCLE_FIELDS, ((0, None),) * 3, tuple(rules))


def _naive(table: RuleTable, columns) -> list[int]:
    """naive.first_match_rows over the table's rules (None bounds as ±∞), -1: no match."""
    boxes = []
    for rule in table.rules:
        box = {}
        for field in LIFECYCLE_FIELDS:
            lo, hi = rule.bounds(field)
            box[field] = (-np.inf if lo is None else lo, np.inf if hi is None else hi)
        boxes.append(box)
    return naive.first_match_rows(boxes, LIFECYCLE_FIELDS, columns)


@settings(max_examples=60, deadline=None)
@given(table=tables(), n=st.integers(0, 60), seed=st.integers(0, 2**32 - 1),
       threads=st.sampled_from([1, 2]))
def test_lifecycle_kernel_matches_naive(table, n, seed, threads):
    rng = np.random.default_rng(seed)
    columns = (rng.integers(-8, 45, n).astype(np.int32), rng.integers(-8, 45, n).astype(np.int32),
               rng.integers(-8, 45, n).astype(np.int64))
    got = with_threads(threads, assign_lifecycle, *columns, table)
    assert got.dtype == np.int16 and got.shape == (n,)
    assert got.tolist() == _naive(table, columns)


@pytest.mark.parametrize("threads", [1, 2])
def test_lifecycle_extreme_values_and_open_bounds(threads):
    big = np.iinfo(np.int64).max
    table = RuleTable("lifecycle", LIFECYCLE_FIELDS, ((0, None),) * 3, (
        Rule("a", "a", "", (("frequency", 2**40, None),)),
        Rule("b", "b", "", (("recency_days", None, 0), ("tenure_days", 5, 5))),
        Rule("rest", "rest", "", ())))
    rec = np.array([0, 0, 1, -3], dtype=np.int32)
    ten = np.array([5, 5, 5, 5], dtype=np.int32)
    freq = np.array([big, 1, 1, 2**40 - 1], dtype=np.int64)
    got = with_threads(threads, assign_lifecycle, rec, ten, freq, table)
    assert got.tolist() == [0, 1, 2, 1] == _naive(table, (rec, ten, freq))


def _random_table(rng, rules, catch_all):
    """Rules with 1-3 ranges each over small bounds (open, one-sided, single values, empty
    ranges lo > hi), optionally ending in a catch-all."""
    out = []
    for j in range(rules):
        ranges = []
        fields = [f for f in LIFECYCLE_FIELDS if rng.random() < 0.6] or [LIFECYCLE_FIELDS[j % 3]]
        for field in fields:
            lo = None if rng.random() < 0.25 else int(rng.integers(-3, 30))
            hi = None if rng.random() < 0.25 else int(rng.integers(-3, 30))
            ranges.append((field, lo, hi))
        out.append(Rule(key=f"r{j}", name=f"r{j}", action="", ranges=tuple(ranges)))
    if catch_all:
        out.append(Rule(key="rest", name="rest", action="", ranges=()))
    return RuleTable("lifecycle", LIFECYCLE_FIELDS, ((0, None),) * 3, tuple(out))


@pytest.mark.parametrize("dtypes", [(np.int32, np.int32, np.int64),    # the pipeline's
                                    (np.int16, np.uint16, np.uint64),  # narrow uint64 too
                                    (np.int8, np.uint32, np.int16)])
@pytest.mark.parametrize("seed", range(4))
def test_lifecycle_kernel_one_and_two_threads_equal_naive(seed, dtypes):
    """Enough rows that both threads take a share (ties: values drawn from a small range, so
    most rows repeat and many sit exactly on a bound; rows matching no rule without a
    catch-all): the same result with 1 and 2 threads, equal to naive.first_match per row."""
    rng = np.random.default_rng(seed)
    table = _random_table(rng, int(rng.integers(1, 8)), catch_all=seed % 2 == 0)
    n = 20_011
    columns = tuple((rng.integers(-5, 35, n) if np.dtype(dt).kind == "i"
                     else rng.integers(0, 35, n)).astype(dt) for dt in dtypes)
    want = _naive(table, columns)
    for threads in (1, 2):
        got = with_threads(threads, assign_lifecycle, *columns, table)
        assert got.dtype == np.int16 and got.tolist() == want, threads


def test_segment_of_every_score_cell_is_the_first_matching_rule():
    config = load_config()
    q = config.bins
    r, f, m = (a.ravel() for a in np.meshgrid(*[np.arange(1, q + 1)] * 3, indexing="ij"))
    cell = ((r - 1) * q + (f - 1)) * q + (m - 1)
    got = assign_segments(cell, config.segments, q)
    rules = [{fld: (lo or 1, hi or q) for fld, lo, hi in rule.ranges}
             for rule in config.segments.rules]
    assert got.tolist() == [naive.first_match(rules, {"r": a, "f": b, "m": c})
                            for a, b, c in zip(r, f, m)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [0, 1])
def test_lifecycle_empty_and_single_row(n, threads):
    table = load_config().lifecycle
    cols = (np.full(n, 400, np.int32), np.full(n, 900, np.int32), np.full(n, 1, np.int64))
    got = with_threads(threads, assign_lifecycle, *cols, table)
    assert got.dtype == np.int16 and got.shape == (n,)
    assert got.tolist() == _naive(table, cols)


def test_lifecycle_refuses_non_integer_fields():
    table = load_config().lifecycle
    ints = np.zeros(3, np.int32)
    with pytest.raises(TypeError, match="integer"):
        assign_lifecycle(ints, ints, np.zeros(3), table)
