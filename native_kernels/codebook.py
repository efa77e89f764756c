"""Small integer codes of string values looked up by the values' 64-bit hashes (numba).

``segscore.accumulate.Codebook`` is the typed wrapper: it hashes a batch's strings with
polars (about 1 ns a value) and maps the hashes to codes here, instead of casting the strings
to an Enum (about 12 ns a value). The table is open addressing with linear probing over the
low bits of the hash; a slot is empty while its code is ``EMPTY``.
"""

import numpy as np
from numba import njit

from native_kernels._options import SERIAL

#: code of an empty slot (valid codes are >= -1: -1 = a value known to get no code)
EMPTY = -2


@njit(**SERIAL)
def _insert(hashes, codes, slot_hash, slot_code):
    """Put (hash, code) pairs into the table; returns False if a hash is already there with
    another code (two known values share a hash: the caller picks another seed).

    hashes: IN uint64 (m,).  codes: IN int32 (m,).
    slot_hash: INOUT uint64 (s,), s a power of two > number of entries.
    slot_code: INOUT int32 (s,), EMPTY where free.
    """
    mask = np.uint64(slot_hash.shape[0] - 1)
    for i in range(hashes.shape[0]):
        h = hashes[i]
        slot = h & mask
        while slot_code[slot] != EMPTY and slot_hash[slot] != h:
            slot = (slot + np.uint64(1)) & mask
        if slot_code[slot] != EMPTY and slot_code[slot] != codes[i]:
            return False
        slot_hash[slot] = h
        slot_code[slot] = codes[i]
    return True


@njit(**SERIAL)
def _lookup(hashes, nulls, slot_hash, slot_code, out, counts):
    """Code of every non-null row's hash; returns how many of those hashes are not in the
    table (the caller adds their values and looks up again).

    hashes: IN uint64 (n,).  nulls: IN bool (n,) True = null row (code -1); length 0 = none.
    slot_hash / slot_code: IN, as filled by _insert.
    out:    OUT int32 (n,): the code; -1 for nulls, absent hashes and values mapped to -1.
    counts: INOUT int64 (codes,): counts[c] += rows given code c >= 0.
    """
    mask = np.uint64(slot_hash.shape[0] - 1)
    missing = 0
    with_nulls = nulls.shape[0] > 0
    for i in range(hashes.shape[0]):
        if with_nulls and nulls[i]:
            out[i] = -1
            continue
        h = hashes[i]
        slot = h & mask
        code = -1
        while True:
            c = slot_code[slot]
            if c == EMPTY:
                missing += 1
                break
            if slot_hash[slot] == h:
                code = c
                break
            slot = (slot + np.uint64(1)) & mask
        out[i] = code
        if code >= 0:
            counts[code] += 1
    return missing
