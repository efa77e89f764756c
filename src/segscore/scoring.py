"""Quantile scoring (SPEC §3): typed wrappers over ``native_kernels.quantile``.

For a metric x over all scored customers and q bins, cut points c_k are numpy's default
("linear") quantiles at k/q, k = 1..q-1, and score = 1 + #{k : x > c_k}. Equal values
always get equal scores, whatever the input order or thread count.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from native_kernels.quantile import (RADIX_BITS, RADIX_CHUNKS, _assign_bins, _cut_points,
                                     _cut_points_counted, _interpolate, _radix_gather,
                                     _radix_hist, _radix_plan, _rank_plan, _select_ranks)

from segscore.kernel_threads import parallel_kernels_may_overlap

#: integer ranges up to this many values are always counted (a histogram of ≤ 512 KiB)
COUNTING_MIN_SPAN = 1 << 16
#: other columns of at least this many values are selected by radix buckets (parallel passes)
RADIX_MIN_ROWS = 1 << 18


def score_probabilities(q: int) -> np.ndarray:
    """The probabilities k/q, k = 1..q-1, as float64 (shape (q-1,))."""
    return np.arange(1, q, dtype=np.float64) / q


def cut_points(x: np.ndarray, probs: Sequence[float] | np.ndarray) -> np.ndarray:
    """numpy-"linear" quantiles of the non-NaN values of ``x`` at ``probs``.

    x: 1-d numeric array (n,); probs: values in [0, 1]. Returns float64 (len(probs),),
    equal bit for bit to ``np.nanquantile(x, probs)`` but for the sign of a zero (0.0 and
    -0.0 may differ; they compare and score equal); all NaN when x has no non-NaN value.
    Integers with a range narrower than max(COUNTING_MIN_SPAN, n) are counted (one pass and a
    histogram); anything else uses selection: from RADIX_MIN_ROWS values on, two parallel
    passes first narrow it to the few radix buckets that hold the wanted ranks (a zero cut
    point is then always 0.0, never -0.0). None sorts.
    """
    values = np.asarray(x)
    if values.ndim != 1:
        raise ValueError(f"cut_points expects a 1-d array, got shape {values.shape}")
    p = np.ascontiguousarray(probs, dtype=np.float64)
    if p.ndim != 1 or np.any(~((p >= 0.0) & (p <= 1.0))):
        raise ValueError("probabilities must be a 1-d sequence of values in [0, 1]")
    out = np.full(p.shape[0], np.nan)
    if values.dtype.kind in "iu" and values.shape[0] > 0:
        lo, hi = int(values.min()), int(values.max())
        narrow = hi - lo < max(COUNTING_MIN_SPAN, values.shape[0])  # histogram ≤ the data
        if narrow and -(2**62) < lo and hi < 2**62:
            if p.shape[0] > 0:
                _cut_points_counted(values, np.int64(lo), np.int64(hi - lo + 1), p, out)
            return out
    work = np.ascontiguousarray(values, dtype=np.float64)  # no copy for float64 input
    nan = np.isnan(work)
    if nan.any():
        work = work[~nan]
    if work.shape[0] >= RADIX_MIN_ROWS and p.shape[0] > 0:  # reads work, never reorders it
        lows, highs, gammas, ranks = _rank_plan(work.shape[0], p)
        stats = np.empty(ranks.shape[0])
        _select_by_radix(work, ranks, stats)
        _interpolate(lows, highs, gammas, ranks, stats, out)
    elif work.shape[0] > 0 and p.shape[0] > 0:
        # selection reorders its input: a private copy unless work already is one
        _cut_points(work.copy() if np.may_share_memory(work, values) else work, p, out)
    return out


def _select_by_radix(work: np.ndarray, ranks: np.ndarray, out: np.ndarray) -> None:
    """``_select_ranks`` for large inputs, the heavy passes parallel: one pass counts the
    values' radix buckets per chunk, one pass copies the values of the (few) buckets that
    hold a wanted rank, and the serial multi-quickselect runs on those candidates only. The
    order statistics are exact, so out is what _select_ranks gives, except that a zero is
    always 0.0 (_select_ranks may give -0.0, which equals it).
    work: float64 (n,), no NaN; ranks: int64 sorted unique; out: float64 (len(ranks),)."""
    hist = np.zeros((RADIX_CHUNKS, 1 << RADIX_BITS), dtype=np.int64)
    _radix_hist(work, hist)
    bucket_of, inner, wanted, slot_start, offsets = _radix_plan(hist, ranks)
    candidates = np.empty(slot_start[-1], dtype=np.float64)
    _radix_gather(work, wanted, offsets, candidates)
    for s in range(slot_start.shape[0] - 1):
        mine = np.flatnonzero(wanted[bucket_of] == s)
        values = np.empty(mine.shape[0])
        _select_ranks(candidates[slot_start[s]:slot_start[s + 1]], inner[mine], values)
        out[mine] = values


def cut_points_of(wanted: Sequence[tuple[np.ndarray, Sequence[float] | np.ndarray]],
                  threads: int = 1) -> list[np.ndarray]:
    """``cut_points(column, probs)`` of every (column, probs) pair, up to ``threads`` at once.

    The selection kernel releases the GIL, so the selections run in parallel (not under
    numba's workqueue layer: ``kernel_threads``); each result is the same as computed alone
    (float64 (len(probs),) per pair, in order).
    """
    if threads <= 1 or len(wanted) <= 1 or not parallel_kernels_may_overlap():
        return [cut_points(x, p) for x, p in wanted]
    with ThreadPoolExecutor(max_workers=min(threads, len(wanted))) as pool:
        return list(pool.map(lambda pair: cut_points(*pair), wanted))


def assign_scores(x: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Score of every value: 1 + #{k : x > cuts[k]}, 0 for NaN. Returns int8 (n,).

    ``cuts`` must be ascending and hold fewer than 127 values.
    """
    values = np.ascontiguousarray(x, dtype=np.float64)
    c = np.ascontiguousarray(cuts, dtype=np.float64)
    if values.ndim != 1 or c.ndim != 1:
        raise ValueError("assign_scores expects 1-d arrays")
    if c.shape[0] >= 127 or np.any(np.diff(c) < 0) or np.any(np.isnan(c)):
        raise ValueError("cut points must be fewer than 127, ascending and not NaN")
    out = np.empty(values.shape[0], dtype=np.int8)
    _assign_bins(values, c, out)
    return out


def quantile_scores(x: np.ndarray, q: int, *, invert: bool = False,
                    cuts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scores 1..q of ``x`` (int8 (n,)) and the cut points used (float64 (q-1,)).

    ``cuts`` re-applies frozen cut points instead of fitting them; ``invert`` returns
    q + 1 - score (recency: recent buyers score high).
    """
    if cuts is None:
        cuts = cut_points(x, score_probabilities(q))
    scores = assign_scores(x, cuts)
    if invert:
        scores = (q + 1 - scores).astype(np.int8)
    return scores, cuts
