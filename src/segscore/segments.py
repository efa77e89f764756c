"""Rule tables → segment, value_tier and lifecycle_stage for every scored customer (SPEC §4).

Every customer gets exactly one value of each: tables end in a catch-all (checked in config).
"""

from __future__ import annotations

import itertools

import numpy as np

from segscore.config import LIFECYCLE_FIELDS, RunConfig, ValueTierConfig
from segscore.rules import RuleTable
from segscore.scoring import assign_scores, cut_points


def segment_lookup(table: RuleTable, bins: int) -> np.ndarray:
    """int16 (bins, bins, bins) array: rule index of every (r, f, m) score cell (0-based)."""
    lut = np.empty((bins, bins, bins), dtype=np.int16)
    for r, f, m in itertools.product(range(1, bins + 1), repeat=3):
        values = {"r": r, "f": f, "m": m}
        for i, rule in enumerate(table.rules):
            if all(lo is None or values[fld] >= lo for fld, lo, _ in rule.ranges) and \
               all(hi is None or values[fld] <= hi for fld, _, hi in rule.ranges):
                lut[r - 1, f - 1, m - 1] = i
                break
    return lut


def assign_segments(cell: np.ndarray, table: RuleTable, bins: int) -> np.ndarray:
    """Rule index (int16 (n,)) of every customer from its score cell
    ((r − 1) · bins + (f − 1)) · bins + (m − 1) (integer (n,), scores 1..bins)."""
    return segment_lookup(table, bins).ravel()[cell]


def tier_cut_values(monetary: np.ndarray, tiers: ValueTierConfig) -> np.ndarray:
    """Descending monetary bounds: a customer is in tier i if monetary > bound[i] (rank) or
    >= bound[i] (thresholds), for the first such i; the last tier takes the rest.

    Rank tiers cut at numpy-linear quantiles of monetary (1 - cumulative top share), so equal
    spend always gets the same tier, exactly like the R/F/M scores.
    """
    if tiers.method == "thresholds":
        return np.array([t.min_monetary for t in tiers.tiers[:-1]], dtype=np.float64)
    return cut_points(monetary, tier_probabilities(tiers))


def tier_probabilities(tiers: ValueTierConfig) -> np.ndarray | None:
    """Quantile probabilities (float64, descending) of rank tiers' monetary bounds:
    1 - cumulative top share; None for threshold tiers."""
    if tiers.method == "thresholds":
        return None
    return 1.0 - np.cumsum([t.top_share for t in tiers.tiers[:-1]])


def assign_tiers(monetary: np.ndarray, tiers: ValueTierConfig, bounds: np.ndarray) -> np.ndarray:
    """Tier index (int8 (n,)) of every customer; 0 = the first (highest) tier."""
    ascending = bounds[::-1].copy()
    if tiers.method == "thresholds":
        # x >= t  <=>  not (t > x): count thresholds met using nextafter to reuse the kernel
        ascending = np.nextafter(ascending, -np.inf)
    above = assign_scores(monetary, ascending) - 1  # how many bounds the value exceeds
    return (len(bounds) - above).astype(np.int8)


def assign_lifecycle(recency: np.ndarray, tenure: np.ndarray, frequency: np.ndarray,
                     table: RuleTable) -> np.ndarray:
    """Lifecycle rule index (int16 (n,)) of every customer, first match wins (-1: none).

    recency, tenure, frequency: integer (n,) each, in the table's fields' order
    (LIFECYCLE_FIELDS)."""
    from native_kernels.rules import _first_match

    if any(np.asarray(a).dtype.kind not in "iu" for a in (recency, tenure, frequency)):
        raise TypeError("lifecycle fields must be integer arrays")
    limits = np.iinfo(np.int64)
    lo = np.full((len(table.rules), 3), limits.min, dtype=np.int64)
    hi = np.full((len(table.rules), 3), limits.max, dtype=np.int64)
    for j, rule in enumerate(table.rules):
        for k, field in enumerate(LIFECYCLE_FIELDS):
            low, high = rule.bounds(field)
            lo[j, k] = limits.min if low is None else low
            hi[j, k] = limits.max if high is None else high
    out = np.empty(recency.shape[0], dtype=np.int16)
    _first_match(recency, tenure, frequency, lo, hi, out)
    return out


def label_all(features: dict[str, np.ndarray], cell: np.ndarray, config: RunConfig,
              tier_bounds: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Segment, tier and lifecycle indices for every customer, and the tier bounds used.

    ``cell``: the score cell of every customer (see assign_segments). ``tier_bounds``
    re-applies frozen bounds (from a previous model) instead of refitting.
    """
    seg = assign_segments(cell, config.segments, config.bins)
    if tier_bounds is None:
        tier_bounds = tier_cut_values(features["monetary"], config.value_tier)
    tier = assign_tiers(features["monetary"], config.value_tier, tier_bounds)
    life = assign_lifecycle(features["recency_days"], features["tenure_days"],
                            features["frequency"], config.lifecycle)
    return {"segment": seg, "value_tier": tier, "lifecycle_stage": life}, tier_bounds
