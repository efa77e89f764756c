"""Value tiers (segscore.segments) against a plain-NumPy reference: rank tiers cut at
numpy-linear quantiles of monetary (a customer is in the first tier whose bound it exceeds),
threshold tiers by minimum monetary; heavy ties, negative spend and single rows."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import naive
from segscore.config import Tier, ValueTierConfig
from segscore.segments import assign_tiers, tier_cut_values

RANK = ValueTierConfig("rank", (Tier("vip", "VIP", top_share=0.05),
                                Tier("gold", "Gold", top_share=0.15),
                                Tier("regular", "Regular", top_share=0.80)))
THRESHOLDS = ValueTierConfig("thresholds", (Tier("high", "High", min_monetary=500.0),
                                            Tier("medium", "Medium", min_monetary=100.0),
                                            Tier("low", "Low", min_monetary=0.0)))
spend = st.one_of(st.sampled_from([-20.0, 0.0, 99.99, 100.0, 100.0, 250.0, 500.0, 500.0]),
                  st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
monetary_arrays = arrays(np.float64, st.integers(1, 400), elements=spend)


@given(monetary_arrays)
def test_rank_tiers_equal_naive_and_ties_share_a_tier(m):
    got = assign_tiers(m, RANK, tier_cut_values(m, RANK))
    np.testing.assert_array_equal(
        got, naive.rank_tiers(m, [t.top_share for t in RANK.tiers[:-1]]))
    for value in np.unique(m):
        assert len(np.unique(got[m == value])) == 1


@given(monetary_arrays)
def test_threshold_tiers_equal_naive_at_the_exact_bounds(m):
    got = assign_tiers(m, THRESHOLDS, tier_cut_values(m, THRESHOLDS))
    np.testing.assert_array_equal(
        got, naive.threshold_tiers(m, [t.min_monetary for t in THRESHOLDS.tiers[:-1]]))


def test_single_customer_and_all_equal_go_to_the_last_rank_tier():
    for m in (np.array([42.0]), np.full(50, 42.0)):
        assert (assign_tiers(m, RANK, tier_cut_values(m, RANK)) == 2).all()
