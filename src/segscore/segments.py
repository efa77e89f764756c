"""Rule tables → segment, value_tier and lifecycle_stage for every scored customer (SPEC §4).

Every customer gets exactly one value of each: tables end in a catch-all (checked in config).
"""

from __future__ import annotations

import itertools

import numpy as np

from segscore.config import RunConfig, ValueTierConfig
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


def assign_segments(r: np.ndarray, f: np.ndarray, m: np.ndarray, table: RuleTable,
                    bins: int) -> np.ndarray:
    """Rule index (int16 (n,)) of every customer from its 1..bins scores (int8 (n,) each)."""
    lut = segment_lookup(table, bins)
    return lut[r.astype(np.intp) - 1, f.astype(np.intp) - 1, m.astype(np.intp) - 1]


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
    """Lifecycle rule index (int16 (n,)), first match wins."""
    values = {"recency_days": recency, "tenure_days": tenure, "frequency": frequency}
    out = np.full(recency.shape[0], -1, dtype=np.int16)
    open_rows = np.ones(recency.shape[0], dtype=bool)
    for i, rule in enumerate(table.rules):
        hit = open_rows.copy()
        for field, lo, hi in rule.ranges:
            if lo is not None:
                hit &= values[field] >= lo
            if hi is not None:
                hit &= values[field] <= hi
        out[hit] = i
        open_rows &= ~hit
    return out


def label_all(features: dict[str, np.ndarray], scores: dict[str, np.ndarray], config: RunConfig,
              tier_bounds: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Segment, tier and lifecycle indices for every customer, and the tier bounds used.

    ``tier_bounds`` re-applies frozen bounds (from a previous model) instead of refitting.
    """
    seg = assign_segments(scores["r"], scores["f"], scores["m"], config.segments, config.bins)
    if tier_bounds is None:
        tier_bounds = tier_cut_values(features["monetary"], config.value_tier)
    tier = assign_tiers(features["monetary"], config.value_tier, tier_bounds)
    life = assign_lifecycle(features["recency_days"], features["tenure_days"],
                            features["frequency"], config.lifecycle)
    return {"segment": seg, "value_tier": tier, "lifecycle_stage": life}, tier_bounds
