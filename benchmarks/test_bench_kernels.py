"""Kernel benchmarks (pytest-benchmark), 1M values:

quantile cut points (segscore selection kernel vs ``np.quantile``) and bin assignment
(segscore parallel kernel vs ``np.searchsorted``), on a continuous heavy-tailed metric
(monetary-like) and on a heavily tied integer metric (frequency-like). Results are checked
against numpy outside the timed region.

The k-means kernels (assignment and fit vs scikit-learn) live in ``bench_kmeans.py``
(another engineer's file, not named ``test_*``); they are imported here so that one command
runs every benchmark:

    python -m pytest benchmarks -q --benchmark-only
"""

import numpy as np
import pytest

from segscore.scoring import assign_scores, cut_points, quantile_scores, score_probabilities

from benchmarks.bench_kmeans import *  # noqa: F401,F403  (k-means benchmarks + fixtures)

N = 1_000_000
PROBS = score_probabilities(5)


def _data(kind: str) -> np.ndarray:
    rng = np.random.default_rng(42)
    if kind == "continuous":
        return rng.lognormal(4.0, 1.2, N) - rng.exponential(5.0, N)  # some ≤ 0, like net spend
    return (rng.negative_binomial(1, 0.3, N) + 1).astype(np.float64)  # ties, like frequency


@pytest.fixture(scope="module", params=["continuous", "tied"])
def x(request):
    v = _data(request.param)
    cuts = cut_points(v, PROBS)  # compiles / loads the kernels before timing
    np.testing.assert_array_equal(cuts, np.quantile(v, PROBS))
    ref = np.searchsorted(cuts, v, side="left") + 1  # 1 + #{k : x > c_k}
    np.testing.assert_array_equal(assign_scores(v, cuts), ref)
    return v


def test_cut_points_segscore(benchmark, x):
    benchmark(cut_points, x, PROBS)


def test_cut_points_np_quantile(benchmark, x):
    benchmark(np.quantile, x, PROBS)


def test_assign_segscore(benchmark, x):
    cuts = np.quantile(x, PROBS)
    benchmark(assign_scores, x, cuts)


def test_assign_np_searchsorted(benchmark, x):
    cuts = np.quantile(x, PROBS)
    benchmark(np.searchsorted, cuts, x, "left")


def test_quantile_scores_segscore(benchmark, x):
    benchmark(quantile_scores, x, 5)


def test_quantile_scores_numpy(benchmark, x):
    def numpy_scores(v):
        return np.searchsorted(np.quantile(v, PROBS), v, side="left").astype(np.int8) + 1

    benchmark(numpy_scores, x)
