"""segscore.clusters: scaling, automatic K, canonical ids, labels, profiles, frozen models."""

import json

import numpy as np
import polars as pl
import pytest

import naive_kmeans as naive
from segscore.clusters import (
    Z_HIGH,
    ClusterModel,
    ClusterSettings,
    cluster_label,
    fit_assign_clusters,
    fit_clusters,
    silhouette_score,
)


def feature_table(n=6000, seed=0):
    """Synthetic per-customer features with heavy tails, returns (monetary ≤ 0) and nulls."""
    rng = np.random.default_rng(seed)
    freq = rng.negative_binomial(1, 0.3, n) + 1
    spend = np.round(freq * rng.lognormal(3.0, 1.0, n), 2)
    spend[rng.random(n) < 0.03] *= -1
    recency = rng.exponential(150, n).astype(np.int64)
    aov = spend / freq
    return pl.DataFrame({
        "customer_id": np.arange(n),
        "recency_days": recency,
        "frequency": freq,
        "monetary": spend,
        "tenure_days": recency + rng.gamma(2.0, 200, n).astype(np.int64),
        "avg_order_value": pl.Series(aov).set(pl.Series(rng.random(n) < 0.01), None),
    })


@pytest.fixture(scope="module")
def table():
    return feature_table()


@pytest.fixture(scope="module")
def fitted(table):
    return fit_assign_clusters(table, ClusterSettings(k_max=6, sample_size=3000))


def test_auto_k_records_candidates_and_picks_best(fitted):
    model, labels = fitted
    sel = model.selection
    assert sel["method"] == "silhouette"
    assert [c["k"] for c in sel["candidates"]] == [3, 4, 5, 6]
    best = max(sel["candidates"], key=lambda c: c["silhouette"])
    assert model.k == best["k"]
    assert labels.dtype == np.int32 and set(np.unique(labels)) <= set(range(model.k))


def test_run_to_run_identical(table, fitted):
    model, labels = fitted
    again, labels2 = fit_assign_clusters(table, ClusterSettings(k_max=6, sample_size=3000))
    assert json.dumps(model.to_dict()) == json.dumps(again.to_dict())
    np.testing.assert_array_equal(labels, labels2)


def test_frozen_model_reapplies_without_refit(table, fitted):
    model, labels = fitted
    frozen = ClusterModel.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_array_equal(frozen.assign(table), labels)
    np.testing.assert_array_equal(frozen.centroids, model.centroids)
    np.testing.assert_array_equal(model.assign(table), labels)
    # a new batch of customers is scaled with the stored means/stds, not its own
    part = table.head(100)
    np.testing.assert_array_equal(frozen.assign(part), labels[:100])


def test_scaling_and_assignment_match_naive(table, fitted):
    model, labels = fitted
    cols = []
    for f in model.features:
        x = table[f].cast(pl.Float64).to_numpy()
        if f in model.log_features:
            x = np.log1p(np.clip(x, 0, None))
        cols.append(x)
    raw = np.column_stack(cols)
    np.testing.assert_allclose(model.means, raw.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(model.stds, raw.std(axis=0), rtol=1e-9)
    X = model.standardize(table)
    assert X.dtype == np.float32 and X.flags.c_contiguous and np.isfinite(X).all()
    np.testing.assert_allclose(X, (raw - model.means) / model.stds, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(labels, naive.assign(X, model.centroids)[0])


def test_canonical_order_by_monetary(fitted):
    model, _ = fitted
    m = model.features.index("monetary")
    assert np.all(np.diff(model.centroids[:, m]) <= 0)


def test_profiles(table, fitted):
    model, labels = fitted
    profiles = model.profiles
    assert [p["cluster"] for p in profiles] == list(range(model.k))
    assert sum(p["size"] for p in profiles) == table.height
    assert sum(p["share"] for p in profiles) == pytest.approx(1.0)
    for p in profiles:
        members = table.filter(pl.Series(labels == p["cluster"]))
        assert p["median"]["monetary"] == pytest.approx(members["monetary"].median())
        assert p["label"] == cluster_label(model.centroids[p["cluster"]], model.features) or \
            p["label"].startswith(cluster_label(model.centroids[p["cluster"]], model.features))
        assert p["centroid"]["frequency"] >= 0
    assert len({p["label"] for p in profiles}) == model.k
    json.dumps(model.to_dict(), allow_nan=False)


def test_labels_from_z_thresholds():
    names = ("recency_days", "frequency", "monetary", "tenure_days", "share_web")
    assert cluster_label(np.array([-1.0, 1.0, Z_HIGH, 0.0, 0.0]), names) == \
        "recent · frequent · high spend"
    assert cluster_label(np.array([2.0, -0.6, -2.0, 0.7, 0.9]), names) == \
        "lapsed · infrequent · low spend · long-standing · high share_web"
    assert cluster_label(np.zeros(5), names) == "average"


def test_fixed_k_and_other_features(table):
    settings = ClusterSettings(k=4, features=("frequency", "avg_order_value"),
                               log_features=("avg_order_value",), sample_size=2000)
    model, labels = fit_assign_clusters(table, settings)
    assert model.k == 4 and model.selection["method"] == "fixed"
    assert model.log_features == ("avg_order_value",)
    assert np.all(np.diff(model.centroids[:, 0]) <= 0)  # no monetary: first feature orders ids
    assert len(labels) == table.height


def test_few_distinct_rows_caps_k():
    df = pl.DataFrame({"recency_days": [1, 1, 50, 50] * 30, "frequency": [1, 1, 9, 9] * 30,
                       "monetary": [5.0, 5.0, 900.0, 900.0] * 30, "tenure_days": [10] * 120})
    model = fit_clusters(df, ClusterSettings(sample_size=100))
    assert model.k == 2
    assert [p["size"] for p in model.profiles] == [60, 60]
    assert model.profiles[0]["median"]["monetary"] == 900.0


def test_constant_log_feature_is_neutral():
    """A feature every customer shares (here frequency 1, log-transformed) has std 0, so its
    z-score is 0 everywhere: no cluster is labelled by it, and a frozen model scales a later
    night's different values by std 1, not by round-off (z ≈ 1e15 before the fix)."""
    one_time = feature_table(1000).with_columns(frequency=pl.lit(1, pl.Int64))
    model, _ = fit_assign_clusters(one_time, ClusterSettings(k_max=4, sample_size=1000))
    j = model.features.index("frequency")
    assert (model.means[j], model.stds[j]) == (np.log1p(1.0), 1.0)
    assert all(p["centroid_z"]["frequency"] == 0.0 for p in model.profiles)
    assert not any("frequent" in p["label"] for p in model.profiles)  # nor "infrequent"
    same = pl.DataFrame({"recency_days": [60] * 40, "frequency": [1] * 40,
                         "monetary": [100.0] * 40, "tenure_days": [60] * 40})
    single = fit_clusters(same, ClusterSettings(sample_size=100))
    assert single.k == 1 and single.profiles[0]["label"] == "average"
    assert not single.centroids.any()
    later = one_time.with_columns(frequency=pl.Series([1, 2] * 500))
    frozen = ClusterModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert len(np.unique(frozen.assign(later)[1::2])) > 1  # twice-buyers are not all one cluster


def test_errors():
    with pytest.raises(ValueError, match="missing"):
        fit_clusters(pl.DataFrame({"frequency": [1, 2]}), ClusterSettings())
    with pytest.raises(ValueError, match="empty"):
        fit_clusters(feature_table(10).head(0), ClusterSettings())
    with pytest.raises(ValueError, match="numeric"):
        fit_clusters(pl.DataFrame({"monetary": ["a"]}), ClusterSettings(features=("monetary",)))
    with pytest.raises(ValueError, match="k_min"):
        ClusterSettings(k_min=5, k_max=4)
    with pytest.raises(ValueError, match="schema"):
        ClusterModel.from_dict({"schema_version": 99})


def test_silhouette_matches_sklearn_and_naive():
    from sklearn.metrics import silhouette_score as sk_silhouette

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    labels = rng.integers(0, 4, 300).astype(np.int32)
    labels[0] = 4  # a singleton cluster scores 0
    ours = silhouette_score(X, labels)
    assert ours == pytest.approx(sk_silhouette(X, labels), rel=1e-9)
    assert ours == pytest.approx(naive.silhouette(X, labels), rel=1e-9)
    assert silhouette_score(X, np.zeros(300, np.int32)) == 0.0


def test_auto_k_identical_with_one_and_two_threads(table):
    """The candidate fits run in Python threads only with >1 numba thread: same model."""
    import numba

    settings = ClusterSettings(k_max=6, sample_size=3000)
    models = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        try:
            models.append(fit_assign_clusters(table, settings))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    (one, labels_one), (two, labels_two) = models
    assert one.to_dict() == two.to_dict()
    np.testing.assert_array_equal(labels_one, labels_two)


@pytest.mark.parametrize("threads", [1, 2])
def test_silhouettes_of_several_labelings_at_once_equal_one_at_a_time(threads):
    """The batched kernel (each distance once for every labeling) gives each labeling the
    naive reference's value, including a one-cluster labeling (0.0), singleton clusters, a
    single row and no rows."""
    import numba

    from segscore.clusters import silhouette_scores

    rng = np.random.default_rng(11)
    X = rng.normal(size=(257, 3)).astype(np.float32)
    labelings = [rng.integers(0, k, 257).astype(np.int32) for k in (2, 3, 7, 10)]
    labelings.append(np.zeros(257, np.int32))
    single = np.zeros(257, np.int32)
    single[5] = 4  # a singleton cluster, clusters 1..3 empty
    labelings.append(single)
    numba.set_num_threads(threads)
    try:
        got = silhouette_scores(X, labelings)
        assert silhouette_scores(X[:1], [np.zeros(1, np.int32)]) == [0.0]
        assert silhouette_scores(X[:0], [np.zeros(0, np.int32)]) == [0.0]
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for labels, score in zip(labelings, got):
        assert score == silhouette_scores(X, [labels])[0]  # batching changes no bit
        want = naive.silhouette(X, labels) if len(np.unique(labels)) > 1 else 0.0
        assert score == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert got[4] == 0.0


def _groups(rows, repeat=30):
    """A feature table of the given (recency, frequency, monetary, tenure) rows, each repeated."""
    return pl.DataFrame([r for r in rows for _ in range(repeat)], orient="row",
                        schema={"recency_days": pl.Int64, "frequency": pl.Int64,
                                "monetary": pl.Float64, "tenure_days": pl.Int64})


def test_auto_k_ties_go_to_the_smaller_k(monkeypatch):
    """Equal silhouette scores: the smaller K wins (module docstring: "ties to the smaller
    K"). The scores are fixed here; each candidate is still fitted and recorded."""
    import segscore.clusters as clusters

    scores = [0.2, 0.5, 0.5, 0.5]
    monkeypatch.setattr(clusters, "silhouette_scores", lambda X, labelings: scores)
    model = fit_clusters(feature_table(1000), ClusterSettings(k_max=6, sample_size=1000))
    assert [(c["k"], c["silhouette"]) for c in model.selection["candidates"]] == [
        (3, 0.2), (4, 0.5), (5, 0.5), (6, 0.5)]
    assert model.k == 4


@pytest.mark.parametrize("random_state", range(4))
def test_canonical_ids_break_monetary_ties_by_the_other_features(random_state):
    """Cluster ids by descending monetary z; equal monetary by the other features in order
    (recency_days first), descending. Six distinct rows and K = 6: each cluster is one row,
    three pairs of clusters share a monetary value and differ in recency."""
    rows = [(r, 3, m, 400) for m in (5.0, 900.0, 50.0) for r in (10, 200)]
    df = _groups(rows)
    model, labels = fit_assign_clusters(df, ClusterSettings(k=6, random_state=random_state,
                                                            sample_size=100))
    cluster_of = {tuple(df.row(i)): int(labels[i]) for i in range(0, df.height, 30)}
    assert [cluster_of[r] for r in [(200, 3, 900.0, 400), (10, 3, 900.0, 400),
                                    (200, 3, 50.0, 400), (10, 3, 50.0, 400),
                                    (200, 3, 5.0, 400), (10, 3, 5.0, 400)]] == list(range(6))


def test_repeated_labels_are_numbered_in_id_order():
    """A repeated label gets " (2)", " (3)"… in id order; the first keeps it bare."""
    from segscore.clusters import _unique_labels

    assert _unique_labels(["average", "high spend", "average", "average", "high spend"]) == [
        "average", "high spend", "average (2)", "average (3)", "high spend (2)"]


def test_candidates_are_k_min_to_k_max_capped_by_the_distinct_rows():
    """Auto K fits every K from k_min to k_max, fewer when the customers have fewer distinct
    feature rows, and records each candidate with its score. With exactly k_min distinct
    rows that is one candidate (scored: identical rows per cluster give silhouette 1)."""
    many = _groups([(r, f, 10.0 * r * f, 400) for r in (1, 9, 40, 300) for f in (1, 2, 5)])
    sel = fit_clusters(many, ClusterSettings(k_max=5, sample_size=400)).selection
    assert [c["k"] for c in sel["candidates"]] == [3, 4, 5] and "k_reduced" not in sel
    three = fit_clusters(_groups([(1, 1, 5.0, 10), (50, 9, 900.0, 10), (200, 2, 40.0, 10)]),
                         ClusterSettings(sample_size=100))
    sel = three.selection
    assert three.k == 3 and sel["method"] == "silhouette" and "k_reduced" not in sel
    assert [(c["k"], c["silhouette"]) for c in sel["candidates"]] == [(3, 1.0)]


def test_k_reduced_is_recorded_only_when_k_was_cut():
    """docs/config.md: fewer distinct feature rows than the K asked for (or than k_min) make
    K that number, recorded as selection.k_reduced; a K that was not cut records nothing."""
    table = feature_table(1000)
    fixed = fit_clusters(table, ClusterSettings(k=4, sample_size=1000))
    assert fixed.k == 4 and "k_reduced" not in fixed.selection
    two = _groups([(1, 1, 5.0, 10), (50, 9, 900.0, 10)])
    for settings, asked in ((ClusterSettings(k=4, sample_size=100), 4),
                            (ClusterSettings(sample_size=100), 3)):
        model = fit_clusters(two, settings)
        assert model.k == 2
        assert model.selection["k_reduced"] == {"asked": asked, "distinct_feature_rows": 2,
                                                "k": 2}


def test_centroids_in_original_units_undo_the_scaling():
    """profiles[].centroid is the centroid in the features' own units (log1p undone by
    expm1): with one distinct row per cluster it is that row."""
    rows = [(50, 9, 900.0, 10), (1, 1, 5.0, 300), (7, 3, 0.0, 40)]
    model = fit_clusters(_groups(rows), ClusterSettings(k=3, sample_size=100))
    names = ("recency_days", "frequency", "monetary", "tenure_days")
    got = sorted(tuple(p["centroid"][f] for f in names) for p in model.profiles)
    for g, want in zip(got, sorted(rows)):
        assert g == pytest.approx(want, rel=1e-5, abs=1e-5)
