"""native_kernels.codebook and the Codebook wrapper against tests/naive_groupby.py."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import native_kernels.codebook as cb
import naive_groupby as naive
from segscore.accumulate import Codebook, TooManyValues
from threads import with_threads


def encode_all(batches, fixed=None, limit=None):
    book = Codebook(tuple(fixed) if fixed is not None else None, limit)
    try:
        codes = [book.encode(pl.Series(b, dtype=pl.String)).tolist() for b in batches]
    except TooManyValues:
        return "too many"
    return codes, book.values, book.rows.tolist()


values = st.one_of(st.none(), st.sampled_from(["web", "app", "store", "", " web", "é", "<x>"]),
                   st.text(max_size=6))
batch_lists = st.lists(st.lists(values, max_size=30), max_size=5)


@given(batch_lists)
def test_growing_book_equals_naive(batches):
    assert encode_all(batches) == naive.codebook_codes(batches)


@given(batch_lists, st.lists(st.text(max_size=4), unique=True, max_size=5))
def test_fixed_book_equals_naive(batches, fixed):
    assert encode_all(batches, fixed) == naive.codebook_codes(batches, fixed)


@given(batch_lists, st.integers(0, 4))
def test_growing_book_limit(batches, limit):
    assert encode_all(batches, limit=limit) == naive.codebook_codes(batches, limit=limit)


@pytest.mark.parametrize("threads", [1, 2])
def test_empty_single_and_all_null_batches(threads):
    batches = [[], ["web"], [None], [None, "app", None], []]
    assert with_threads(threads, encode_all, batches) == naive.codebook_codes(batches)
    assert with_threads(threads, encode_all, batches, ["app"]) == \
        naive.codebook_codes(batches, ["app"])


def test_many_values_grow_the_table():
    rng = np.random.default_rng(0)
    batches = [[f"v{x}" for x in rng.integers(0, 3000, size=2000)] for _ in range(3)]
    assert encode_all(batches) == naive.codebook_codes(batches)


def test_lookup_probes_past_shared_low_bits():
    """Hashes equal in their low bits land in one slot and probe onwards."""
    hashes = (np.arange(1, 9, dtype=np.uint64) << np.uint64(40)) | np.uint64(5)
    slot_hash = np.zeros(16, dtype=np.uint64)
    slot_code = np.full(16, cb.EMPTY, dtype=np.int32)
    codes = np.array([3, -1, 0, 1, 2, 4, 5, 6], dtype=np.int32)
    assert cb._insert(hashes[:7], codes[:7], slot_hash, slot_code)
    out, counts = np.empty(8, dtype=np.int32), np.zeros(7, dtype=np.int64)
    nulls = np.array([False] * 6 + [True, False])
    missing = cb._lookup(hashes, nulls, slot_hash, slot_code, out, counts)
    assert missing == 1  # the eighth hash was never inserted
    assert out.tolist() == [3, -1, 0, 1, 2, 4, -1, -1]
    assert counts.tolist() == [1, 1, 1, 1, 1, 0, 0]


def test_insert_refuses_one_hash_with_two_codes():
    hashes = np.array([7, 7], dtype=np.uint64)
    for codes, ok in (([0, 1], False), ([2, 2], True)):
        slot_hash = np.zeros(16, dtype=np.uint64)
        slot_code = np.full(16, cb.EMPTY, dtype=np.int32)
        assert cb._insert(hashes, np.array(codes, dtype=np.int32), slot_hash, slot_code) == ok


def test_a_shared_hash_among_known_values_changes_the_seed(monkeypatch):
    """If two known values collide the book rebuilds under the next seed; codes stay exact."""
    real_insert, calls = cb._insert, []

    def insert_failing_once(*args):
        calls.append(1)
        return False if len(calls) == 1 else real_insert(*args)

    monkeypatch.setattr(cb, "_insert", insert_failing_once)
    book = Codebook(("web", "app"))
    seed = book._seed
    assert book.encode(pl.Series(["app", None, "web", "x"])).tolist() == [1, -1, 0, -1]
    assert seed == Codebook(("web",))._seed + 1


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [0, 1, 17, 5000])
def test_lookup_with_and_without_nulls(n, threads):
    rng = np.random.default_rng(n)
    hashes = rng.integers(0, 2**63, size=n).astype(np.uint64)
    slot_hash = np.zeros(2 ** 14, dtype=np.uint64)
    slot_code = np.full(2 ** 14, cb.EMPTY, dtype=np.int32)
    known = np.unique(hashes)[: max(0, len(np.unique(hashes)) - 3)]
    assert cb._insert(known, np.arange(len(known), dtype=np.int32) % 7 - 1, slot_hash, slot_code)
    want_code = dict(zip(known.tolist(), (np.arange(len(known)) % 7 - 1).tolist()))
    for nulls in (np.empty(0, dtype=np.bool_), rng.random(n) < 0.3):
        out, counts = np.empty(n, dtype=np.int32), np.zeros(6, dtype=np.int64)
        missing = with_threads(threads, cb._lookup, hashes, nulls, slot_hash, slot_code, out,
                               counts)
        is_null = nulls if len(nulls) else np.zeros(n, dtype=bool)
        want = [-1 if is_null[i] else want_code.get(h, -1) for i, h in enumerate(hashes.tolist())]
        assert out.tolist() == want
        assert missing == sum(1 for i, h in enumerate(hashes.tolist())
                              if not is_null[i] and h not in want_code)
        assert counts.tolist() == [want.count(c) for c in range(6)]
