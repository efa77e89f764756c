"""Ordering customer ids and turning group labels into small integer codes, without Python
loops over rows: used by the accumulator (the per-customer table in id order) and by the
report's attributes and migration sections.

The report's joins of integer ids against tonight's customers (sorted by id) are merge joins,
so the other side has to be sorted by id too; string ids are coded by their hashes against
tonight's instead (``string_codes``). ``id_order`` sorts integer ids with numpy's (SIMD)
sort of one packed int64 per row — (id − min) in the high bits, the row number in the low
bits —, several times faster than an argsort, and yields the sorted ids and the permutation
at once; other ids (strings only after a hash collision) take polars' argsort. The
accumulator orders its string ids itself (``CustomerAccumulator._string_order``).
"""

from __future__ import annotations

import numpy as np
import polars as pl


def id_order(ids: pl.Series) -> tuple[pl.Series, np.ndarray | None]:
    """(ids sorted ascending, flagged sorted; the permutation that sorts them, or None when
    ``ids`` is already sorted). ``ids`` must not contain nulls. Equal ids keep their order."""
    n = ids.len()
    if ids.is_sorted():
        return ids.set_sorted(), None
    if ids.dtype.is_integer():
        a = ids.to_numpy()
        lo, hi = int(a.min()), int(a.max())
        bits = max(1, (n - 1).bit_length())
        if hi - lo < 2 ** (63 - bits) and a.dtype != np.uint64:
            from native_kernels.report import _pack_ids, _unpack_ids

            packed = np.empty(n, dtype=np.int64)
            _pack_ids(a, np.int64(lo), np.int64(bits), packed)
            packed.sort()  # numpy's SIMD sort
            # int32 row numbers when they fit: half the fresh memory to fault in
            perm = np.empty(n, dtype=np.int32 if n < 2**31 else np.int64)
            _unpack_ids(packed, np.int64(lo), np.int64(bits), perm)
            srt = packed if a.dtype == np.int64 else packed.astype(a.dtype)
            return pl.Series(ids.name, srt, dtype=ids.dtype).set_sorted(), perm
        if hi - lo < 2 ** (63 - bits):  # uint64 ids
            packed = (a - np.uint64(lo)).astype(np.int64)
            packed <<= bits
            packed |= np.arange(n, dtype=np.int64)
            packed.sort()
            perm = packed & ((1 << bits) - 1)
            packed >>= bits
            srt = packed.astype(np.uint64) + np.uint64(lo)
            return pl.Series(ids.name, srt, dtype=ids.dtype).set_sorted(), perm
    perm = ids.arg_sort().to_numpy().astype(np.int64)  # one kernel signature, not uint32 too
    return ids.gather(perm).set_sorted(), perm


def duplicates(sorted_ids: pl.Series) -> pl.Series:
    """The distinct ids occurring more than once in ``sorted_ids`` (ascending)."""
    if sorted_ids.dtype.is_integer():
        a = sorted_ids.to_numpy()
        eq = a[1:] == a[:-1]
        if not eq.any():
            return sorted_ids.clear()
        return pl.Series(sorted_ids.name, np.unique(a[1:][eq]), dtype=sorted_ids.dtype)
    eq = (sorted_ids == sorted_ids.shift(1)).fill_null(False)
    if not eq.any():
        return sorted_ids.clear()
    return sorted_ids.filter(eq).unique(maintain_order=True)


def duplicates_unsorted(ids: pl.Series) -> pl.Series:
    """The distinct ids occurring more than once in ``ids`` (any order), ascending: one hash
    pass when there are none (for string ids, where a sort costs several times more)."""
    if ids.n_unique() == ids.len():
        return ids.clear()
    return ids.filter(ids.is_duplicated()).unique().sort()


#: seed of the 64-bit hash that keys string ids in ``string_codes``
STRING_ID_SEED = 20_261_124
#: rows compared with their code's string at a time in ``string_codes``
_CHECK_ROWS = 1 << 22


def string_codes(values: pl.Series, known: pl.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """(code of every row of ``values``; first row of every code from len(known) on) for
    string ids, keyed by their 64-bit hashes in a numba hash table (polars' join and distinct
    count of strings cost several times as much). Code c < len(known) means the value equals
    ``known[c]`` (``known``: distinct strings); codes from len(known) on number the other
    distinct values in order of first appearance (code len(known) + j first at row
    ``first[j]``), so a value listed twice shares a code. Every row is compared with its
    code's string, so a hash collision never merges two ids: it returns None instead (the
    caller falls back to a join). ``values`` must hold no nulls."""
    from native_kernels.groupby import _fill_table, _lookup_or_insert, table_size

    k, n = known.len(), values.len()
    uniques = np.empty(k + n, dtype=np.int64)
    uniques[:k] = known.hash(seed=STRING_ID_SEED).to_numpy().view(np.int64)
    table = np.full(table_size(k + n), -1, dtype=np.int32)
    _fill_table(uniques, k, table)
    codes, first = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    total = _lookup_or_insert(values.hash(seed=STRING_ID_SEED).to_numpy().view(np.int64),
                              table, uniques, k, codes, first)
    del table, uniques
    first = first[:total - k]
    # each row against its code's string, a slice at a time (the gathered strings of all
    # rows at once would double the ids' memory)
    for lo in range(0, n, _CHECK_ROWS):
        part = codes[lo:lo + _CHECK_ROWS]
        rows = values.slice(lo, _CHECK_ROWS)
        old = part < k
        mask = pl.Series(old)
        if not ((known.gather(part[old]) == rows.filter(mask)).all()
                and (values.gather(first[part[~old] - k]) == rows.filter(~mask)).all()):
            return None
    return codes, first


def coded_duplicates(codes: np.ndarray, first: np.ndarray, values: pl.Series,
                     known: pl.Series) -> pl.Series:
    """The distinct ``values`` occurring more than once, ascending, from their
    ``string_codes`` (a count per code)."""
    k = known.len()
    twice = np.flatnonzero(np.bincount(codes) > 1)
    return pl.concat([known.gather(twice[twice < k]).rename(values.name),
                      values.gather(first[twice[twice >= k] - k])]).sort()


def label_codes(s: pl.Series) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(unsigned code per row, the labels the codes index, rows per label) of a label column
    (Enum, Categorical or String). Nulls get the code ``len(labels)``; labels never used by
    a row may be listed (an Enum's unused categories) — the row counts tell."""
    from native_kernels.report import _count_codes

    if isinstance(s.dtype, pl.Enum):
        labels = s.dtype.categories.to_list()
        codes = s.to_physical()
    else:
        s = s.cast(pl.String)
        labels = s.unique().drop_nulls().sort().to_list()
        codes = s.cast(pl.Enum(labels)).to_physical()
    if codes.null_count():
        codes = codes.cast(pl.UInt32).fill_null(len(labels))
    codes = codes.to_numpy()
    counts = np.zeros(len(labels) + 1, dtype=np.int64)
    _count_codes(codes, counts)
    return codes, labels, counts[:len(labels)]


def recode_table(labels: list[str], target: list[str], null_code: int) -> np.ndarray:
    """Lookup table: code (index into ``labels``, null = len(labels)) → index into ``target``
    (labels missing from ``target`` and nulls → ``null_code``)."""
    pos = {k: i for i, k in enumerate(target)}
    return np.array([pos.get(k, null_code) for k in labels] + [null_code], dtype=np.int32)


def recode(codes: np.ndarray, labels: list[str], target: list[str],
           null_code: int) -> np.ndarray:
    """``codes`` (indexes into ``labels``, null = len(labels)) as int32 indexes into
    ``target`` (labels missing from ``target`` and nulls map to ``null_code``); ``codes``
    itself when that changes nothing (an Enum of ``target``)."""
    if list(labels) == list(target) and null_code == len(labels):
        return codes
    return recode_table(labels, target, null_code)[codes]
