"""Lifecycle rules kernel and segment lookup against tests/naive.py's first_match."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
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
    """first_match over every row; None bounds as ±∞, no match as -1."""
    boxes = []
    for rule in table.rules:
        box = {}
        for field in LIFECYCLE_FIELDS:
            lo, hi = rule.bounds(field)
            box[field] = (-np.inf if lo is None else lo, np.inf if hi is None else hi)
        boxes.append(box)
    out = []
    for row in zip(*columns):
        found = naive.first_match(boxes, dict(zip(LIFECYCLE_FIELDS, map(int, row))))
        out.append(-1 if found is None else found)
    return out


@settings(max_examples=60, deadline=None)
@given(table=tables(), n=st.integers(0, 60), seed=st.integers(0, 2**32 - 1),
       threads=st.sampled_from([1, 2]))
def test_lifecycle_kernel_matches_naive(table, n, seed, threads):
    rng = np.random.default_rng(seed)
    columns = (rng.integers(-8, 45, n).astype(np.int32), rng.integers(-8, 45, n).astype(np.int32),
               rng.integers(-8, 45, n).astype(np.int64))
    numba.set_num_threads(threads)
    try:
        got = assign_lifecycle(*columns, table)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert got.dtype == np.int16 and got.shape == (n,)
    assert got.tolist() == _naive(table, columns)


def test_lifecycle_extreme_values_and_open_bounds():
    big = np.iinfo(np.int64).max
    table = RuleTable("lifecycle", LIFECYCLE_FIELDS, ((0, None),) * 3, (
        Rule("a", "a", "", (("frequency", 2**40, None),)),
        Rule("b", "b", "", (("recency_days", None, 0), ("tenure_days", 5, 5))),
        Rule("rest", "rest", "", ())))
    rec = np.array([0, 0, 1, -3], dtype=np.int32)
    ten = np.array([5, 5, 5, 5], dtype=np.int32)
    freq = np.array([big, 1, 1, 2**40 - 1], dtype=np.int64)
    assert assign_lifecycle(rec, ten, freq, table).tolist() == [0, 1, 2, 1]


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


@pytest.mark.parametrize("n", [0, 1])
def test_lifecycle_empty_and_single_row(n):
    table = load_config().lifecycle
    cols = (np.full(n, 400, np.int32), np.full(n, 900, np.int32), np.full(n, 1, np.int64))
    got = assign_lifecycle(*cols, table)
    assert got.tolist() == _naive(table, cols)


def test_lifecycle_refuses_non_integer_fields():
    table = load_config().lifecycle
    ints = np.zeros(3, np.int32)
    with pytest.raises(TypeError, match="integer"):
        assign_lifecycle(ints, ints, np.zeros(3), table)
