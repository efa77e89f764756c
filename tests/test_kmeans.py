"""native_kernels.kmeans and segscore.clustering.MiniBatchKMeans against naive references."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import naive_kmeans as naive
from native_kernels.kmeans import (
    BLOCK,
    CHUNK,
    _all_finite,
    _assign,
    _assign_rows,
    _finite_rows,
    _kmeanspp,
    _lloyd_pass,
    _merge_chunks,
    _minibatch_step,
    _silhouette_samples,
    n_chunks,
)
from segscore.clustering import MiniBatchKMeans, _sample, assign_labels, check_matrix
from threads import with_threads

ROOT = Path(__file__).resolve().parents[1]


def blobs(n, k, d, seed, dtype=np.float64, spread=20.0, std=0.5):
    """Well-separated Gaussian blobs: (X (n, d), true labels (n,))."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-spread, spread, (k, d))
    y = rng.integers(0, k, n)
    return (centres[y] + rng.normal(0, std, (n, d))).astype(dtype), y


def rfm_like(n, seed):
    """Heavy-tailed RFM-like features, log-scaled and z-scored: float64 (n, 4)."""
    rng = np.random.default_rng(seed)
    freq = rng.negative_binomial(1, 0.25, n) + 1
    spend = freq * rng.lognormal(3.5, 1.0, n) * rng.pareto(3.0, n).clip(0.2, 50)
    recency = rng.exponential(120, n).round()
    tenure = recency + rng.gamma(2.0, 200, n).round()
    X = np.column_stack([np.log1p(recency), np.log1p(freq), np.log1p(spend), tenure])
    return (X - X.mean(axis=0)) / X.std(axis=0)


# ---------------------------------------------------------------- kernels vs naive

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, BLOCK, 1000, CHUNK + 1234])
def test_assign_matches_naive(dtype, n):
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 3)).astype(dtype)
    centers = rng.normal(size=(5, 3))
    labels, inertia = assign_labels(X, centers)
    ref_labels, ref_inertia = naive.assign(X, centers)
    np.testing.assert_array_equal(labels, ref_labels)
    assert inertia == pytest.approx(ref_inertia, rel=1e-12)


def test_parallel_and_serial_assign_agree_on_one_chunk():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(500, 4))
    centers = rng.normal(size=(6, 4))
    a, b = np.empty(500, np.int32), np.empty(500, np.int32)
    total = _assign(X, centers, a, np.empty(1))
    assert total == _assign_rows(X, centers, b, 0, 500)
    np.testing.assert_array_equal(a, b)


@given(
    arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 4)),
           elements=st.integers(-3, 3).map(float)),
    st.integers(1, 6),
    st.integers(0, 2**32 - 1),
)
def test_assign_property_ties_to_lowest_index(X, k, seed):
    """Small integer grids force exact ties (and duplicate centres): lowest index wins."""
    rng = np.random.default_rng(seed)
    centers = rng.integers(-3, 4, (k, X.shape[1])).astype(np.float64)
    if k > 1:
        centers[-1] = centers[0]  # a duplicate centre can never win
    labels, inertia = assign_labels(X, centers)
    ref_labels, ref_inertia = naive.assign(X, centers)
    np.testing.assert_array_equal(labels, ref_labels)
    assert inertia == ref_inertia  # integer arithmetic: exact


@given(
    arrays(np.float32, st.tuples(st.integers(1, 3 * BLOCK), st.integers(1, 5)),
           elements=st.integers(-3, 3).map(float)),
    st.integers(1, 9),
    st.integers(0, 2**32 - 1),
)
def test_lloyd_pass_property_exact_on_ties(X, k, seed):
    """Integer grids (exact ties, duplicate centres) over several row blocks: labels, sizes,
    means and inertia equal the naive step exactly (integer sums are exact)."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    centers = rng.integers(-3, 4, (k, d)).astype(np.float64)
    if k > 1:
        centers[-1] = centers[0]
    labels = np.full(n, -1, np.int32)
    sums, counts = np.empty((1, k, d)), np.empty((1, k), np.int64)
    inertia, changed = np.empty(1), np.empty(1, np.int64)
    _lloyd_pass(X, centers, labels, sums, counts, inertia, changed)
    new, sizes = np.empty_like(centers), np.empty(k, np.int64)
    _merge_chunks(sums, counts, centers, new, sizes)
    ref_labels, ref_new, ref_sizes = naive.lloyd_step(X, centers)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(sizes, ref_sizes)
    np.testing.assert_array_equal(sums[0], [X[ref_labels == j].sum(axis=0, dtype=np.float64)
                                            for j in range(k)])
    np.testing.assert_allclose(new, ref_new, rtol=1e-12)
    assert inertia[0] == naive.inertia(X, centers, ref_labels)
    assert changed[0] == n


@pytest.mark.parametrize("n", [10, CHUNK * 2 + 5])
def test_lloyd_pass_matches_naive_step(n):
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    centers = np.vstack([rng.normal(size=(4, 3)), [[50.0, 50.0, 50.0]]])  # last one stays empty
    m = n_chunks(n)
    labels = np.full(n, -1, np.int32)
    sums, counts = np.empty((m, 5, 3)), np.empty((m, 5), np.int64)
    inertia, changed = np.empty(m), np.empty(m, np.int64)
    _lloyd_pass(X, centers, labels, sums, counts, inertia, changed)
    new, sizes = np.empty_like(centers), np.empty(5, np.int64)
    _merge_chunks(sums, counts, centers, new, sizes)
    ref_labels, ref_new, ref_sizes = naive.lloyd_step(X, centers)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(sizes, ref_sizes)
    np.testing.assert_allclose(new, ref_new, rtol=1e-9)
    assert new[4].tolist() == [50.0, 50.0, 50.0]
    assert changed.sum() == n
    assert inertia.sum() == pytest.approx(naive.inertia(X, centers, ref_labels), rel=1e-12)
    _lloyd_pass(X, centers, labels, sums, counts, inertia, changed)
    assert changed.sum() == 0


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [64, 2 * BLOCK + 3])  # one partial block; several blocks
def test_minibatch_step_matches_naive(dtype, batch, threads):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 2)).astype(dtype)
    idx = rng.integers(0, 300, batch)
    centers = rng.normal(size=(4, 2))
    weights = np.array([0.0, 3.0, 10.0, 1.0])
    ref_labels, ref_centers, ref_w, ref_inertia = naive.minibatch_update(X, idx, centers, weights)
    labels = np.empty(batch, np.int32)
    inertia = with_threads(threads, _minibatch_step, X, idx, centers, weights, labels,
                           np.empty((4, 2)), np.empty(4, np.int64))
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(centers, ref_centers, rtol=1e-12)
    np.testing.assert_array_equal(weights, ref_w)
    assert inertia == pytest.approx(ref_inertia, rel=1e-12)


def test_kmeanspp_picks_distinct_rows_and_spreads_out():
    X, _ = blobs(2000, 6, 3, seed=1)
    rng = np.random.default_rng(0)
    centers, ids = np.empty((6, 3)), np.empty(6, np.int64)
    _kmeanspp(X, 17, rng.random((5, 3)), centers, ids)
    assert ids[0] == 17 and len(set(ids.tolist())) == 6
    np.testing.assert_array_equal(centers, X[ids])
    _, y = blobs(2000, 6, 3, seed=1)
    assert len(set(y[ids].tolist())) == 6  # one seed per well-separated blob



def _all_finite_chunks(X, threads):
    """(_all_finite's result, its per-chunk flags) with ``threads`` numba threads."""
    chunk_ok = np.zeros(n_chunks(X.shape[0]), dtype=np.bool_)
    return with_threads(threads, _all_finite, X, chunk_ok), chunk_ok


def _ref_chunks(X):
    return [naive.finite_rows(X, c * CHUNK, (c + 1) * CHUNK) for c in range(n_chunks(len(X)))]


_BAD = [np.nan, np.inf, -np.inf]
# first row, last row of chunk 0, first row of chunk 1, last row of chunk 1, first of chunk 2,
# last row (chunk 2 holds 3 rows)
_ROWS = [0, CHUNK - 1, CHUNK, 2 * CHUNK - 1, 2 * CHUNK, 2 * CHUNK + 2]


@pytest.fixture(scope="module", params=[np.float32, np.float64])
def three_chunks(request):
    """A finite (2 * CHUNK + 3, 2) matrix: three chunks, the last one 3 rows."""
    return np.random.default_rng(0).normal(size=(2 * CHUNK + 3, 2)).astype(request.param)


@pytest.mark.parametrize("threads", [1, 2])
def test_all_finite_equals_isfinite_at_chunk_boundaries(three_chunks, threads):
    """One NaN / +inf / -inf at a time at the first and last row of every chunk, in the first
    and the last column: result and per-chunk flags equal np.isfinite, with 1 or 2 threads."""
    X = three_chunks
    ok, chunks = _all_finite_chunks(X, threads)
    assert ok is True and naive.all_finite(X) and chunks.tolist() == [True] * 3
    for row in _ROWS:
        for col in (0, 1):
            for bad in _BAD:
                keep = X[row, col]
                X[row, col] = bad
                try:
                    ok, chunks = _all_finite_chunks(X, threads)
                    assert ok == naive.all_finite(X) is False, (row, col, bad)
                    assert chunks.tolist() == _ref_chunks(X), (row, col, bad)
                finally:
                    X[row, col] = keep
    # several chunks bad at once, one good
    X[[0, 2 * CHUNK + 2], [1, 0]] = [np.inf, np.nan]
    try:
        ok, chunks = _all_finite_chunks(X, threads)
        assert ok is False and chunks.tolist() == _ref_chunks(X) == [False, True, False]
    finally:
        X[[0, 2 * CHUNK + 2], [1, 0]] = 0.0


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0, 3), (1, 3), (1, 1), (5, 0), (7, 4)])
def test_all_finite_and_finite_rows_small_inputs(shape, dtype, threads):
    """Empty (no rows / no columns), single-row and one-chunk matrices, each finite and with
    one NaN / +inf / -inf in every possible cell: both kernels equal np.isfinite."""
    X = np.arange(np.prod(shape), dtype=dtype).reshape(shape) - 3
    cases = [X]
    for i in range(shape[0]):
        for j in range(shape[1]):
            for bad in _BAD:
                Y = X.copy()
                Y[i, j] = bad
                cases.append(Y)
    for Y in cases:
        want = naive.all_finite(Y)
        ok, chunks = _all_finite_chunks(Y, threads)
        assert ok == want and chunks.tolist() == [want]
        assert with_threads(threads, _finite_rows, Y, 0, shape[0]) == want
        for start in range(shape[0] + 1):  # every sub-range, including empty ones
            for stop in range(start, shape[0] + 1):
                assert _finite_rows(Y, start, stop) == naive.finite_rows(Y, start, stop)


@given(arrays(np.float64, st.tuples(st.integers(0, 12), st.integers(0, 3)),
              elements=st.sampled_from([0.0, -1.5, 3e300, 5e-324, np.nan, np.inf, -np.inf])),
       st.data())
def test_finite_rows_property(X, data):
    start = data.draw(st.integers(0, X.shape[0]))
    stop = data.draw(st.integers(start, X.shape[0]))
    assert _finite_rows(X, start, stop) == naive.finite_rows(X, start, stop)
    ok, chunks = _all_finite_chunks(X, 1)
    assert ok == naive.all_finite(X) and chunks.tolist() == [naive.all_finite(X)]


@pytest.mark.parametrize("threads", [1, 2])
def test_check_matrix_above_one_chunk_rejects_exactly_non_finite(threads):
    """check_matrix takes the parallel _all_finite path above CHUNK rows: it accepts a
    finite matrix and rejects one NaN / inf in the last row or at the chunk boundary."""
    X = np.ones((CHUNK + 1, 2), dtype=np.float32)
    assert n_chunks(len(X)) == 2
    assert with_threads(threads, check_matrix, X) is X
    for row, bad in [(CHUNK, np.nan), (CHUNK - 1, np.inf), (CHUNK, -np.inf)]:
        Y = X.copy()
        Y[row, 1] = bad
        assert not naive.all_finite(Y)
        with pytest.raises(ValueError, match="NaN or infinity"):
            with_threads(threads, check_matrix, Y)


# ---------------------------------------------------------------- estimator

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blobs_recovered(dtype):
    from sklearn.metrics import adjusted_rand_score

    X, y = blobs(20_000, 6, 4, seed=2, dtype=dtype)
    km = MiniBatchKMeans(6, batch_size=1024, random_state=0).fit(X)
    assert adjusted_rand_score(y, km.labels_) >= 0.99
    assert km.labels_.dtype == np.int32 and km.cluster_centers_.shape == (6, 4)
    ref_labels, ref_inertia = naive.assign(X, km.cluster_centers_)
    np.testing.assert_array_equal(km.labels_, ref_labels)
    assert km.inertia_ == pytest.approx(ref_inertia, rel=1e-9)


def test_inertia_not_worse_than_sklearn_lloyd():
    from sklearn.cluster import KMeans

    X = rfm_like(30_000, seed=7)
    for k in (4, 8):
        ours = MiniBatchKMeans(k, random_state=0).fit(X).inertia_
        theirs = np.median([KMeans(k, n_init=1, algorithm="lloyd", random_state=s).fit(X).inertia_
                            for s in range(3)])
        assert ours <= theirs * 1.005, (k, ours, theirs)


def test_api_predict_fit_predict():
    X, _ = blobs(3000, 4, 3, seed=4, dtype=np.float32)
    km = MiniBatchKMeans(4, random_state=1)
    labels = km.fit_predict(X)
    np.testing.assert_array_equal(labels, km.labels_)
    np.testing.assert_array_equal(km.predict(X), labels)
    assert km.n_iter_ >= 1 and km.n_refine_passes_ >= 1
    with pytest.raises(ValueError, match="features"):
        km.predict(X[:, :2])


def test_same_seed_same_result_and_duplicates():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]), 40, axis=0)
    a = MiniBatchKMeans(3, random_state=3).fit(X)
    b = MiniBatchKMeans(3, random_state=3).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.inertia_ == 0.0
    same = MiniBatchKMeans(2, random_state=0).fit(np.ones((10, 2)))  # all rows identical
    assert same.inertia_ == 0.0 and set(same.labels_.tolist()) == {0}


def test_edge_cases():
    single = MiniBatchKMeans(1, random_state=0).fit(np.array([[1.5, -2.0]]))
    assert single.labels_.tolist() == [0] and single.inertia_ == 0.0
    np.testing.assert_array_equal(single.cluster_centers_, [[1.5, -2.0]])
    with pytest.raises(ValueError, match="n_clusters"):
        MiniBatchKMeans(3).fit(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="at least one sample"):
        MiniBatchKMeans(1).fit(np.empty((0, 2)))
    with pytest.raises(ValueError, match="NaN"):
        MiniBatchKMeans(1).fit(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="2-d"):
        MiniBatchKMeans(1).fit(np.zeros(5))
    with pytest.raises(ValueError, match="not fitted"):
        MiniBatchKMeans(1).predict(np.zeros((1, 1)))


def test_no_copy_of_contiguous_float_input():
    for dtype in (np.float32, np.float64):
        X = np.zeros((10, 2), dtype=dtype)
        assert check_matrix(X) is X
    fortran = np.asfortranarray(np.zeros((10, 2)))
    assert check_matrix(fortran).flags.c_contiguous
    assert check_matrix(np.zeros((3, 2), dtype=np.int64)).dtype == np.float64


def test_bit_identical_with_one_and_two_threads():
    script = textwrap.dedent("""
        import hashlib, numpy as np, numba
        from segscore.clustering import MiniBatchKMeans
        rng = np.random.default_rng(0)
        X = rng.standard_normal((150_000, 3)).astype(np.float32)
        km = MiniBatchKMeans(5, batch_size=2048, random_state=0).fit(X)
        h = hashlib.sha256(km.cluster_centers_.tobytes() + km.labels_.tobytes()
                           + np.float64(km.inertia_).tobytes())
        print(numba.get_num_threads(), h.hexdigest())
    """)
    outs = []
    for threads in ("1", "2"):
        env = {**os.environ, "NUMBA_NUM_THREADS": threads,
               "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT), *sys.path])}
        res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, check=True)
        outs.append(res.stdout.split())
    assert [o[0] for o in outs] == ["1", "2"]
    assert outs[0][1] == outs[1][1]


@pytest.mark.parametrize("n,size", [(10, 3), (10, 10), (10, 20), (1000, 300), (100_000, 50)])
def test_sample_is_sorted_distinct_and_in_range(n, size):
    idx = _sample(np.random.default_rng(n + size), n, size)
    assert idx.shape == (min(n, size),)
    assert (np.diff(idx) > 0).all() and idx[0] >= 0 and idx[-1] < n


def test_sample_is_uniform():
    """Every index equally likely (chi-square over many draws from the sparse path)."""
    rng = np.random.default_rng(0)
    n, size, draws = 200, 20, 4000
    hits = np.zeros(n)
    for _ in range(draws):
        hits[_sample(rng, n, size)] += 1
    expected = draws * size / n
    chi2 = float(((hits - expected) ** 2 / expected).sum())
    assert chi2 < 290  # 199 degrees of freedom: p < 1e-4 above ~ 275


# ---------------------------------------------------------------- k-means++ vs naive


def _kernel_kmeanspp(X, first, rand, threads=1):
    k = rand.shape[0] + 1
    centers, ids = np.full((k, X.shape[1]), np.nan), np.full(k, -1, np.int64)
    with_threads(threads, _kmeanspp, X, first, rand, centers, ids)
    return centers, ids


class _ScriptedRandomState(np.random.RandomState):
    """A RandomState for sklearn's kmeans_plusplus that returns the given first row and the
    given uniforms, so sklearn and the kernel draw the same candidates."""

    def __init__(self, first, rand):
        super().__init__(0)
        self._first, self._rows = first, iter(rand)

    def choice(self, *args, **kwargs):
        return self._first

    def uniform(self, *args, size=None, **kwargs):
        row = next(self._rows)
        assert size == row.shape[0]
        return row


@given(
    arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 3)),
           elements=st.integers(-3, 3).map(float)),
    st.integers(1, 6), st.integers(1, 4), st.data(),
)
def test_kmeanspp_property_equals_naive_and_sklearn_on_ties(X, k, trials, data):
    """Integer grids (exact sums: duplicate rows, equal potentials, all-zero distances once
    every distinct row is chosen, k = 1, a single row): the kernel picks exactly the rows of
    the naive reference and of scikit-learn's kmeans_plusplus fed the same uniforms."""
    from sklearn.cluster import kmeans_plusplus

    k = min(k, X.shape[0])
    first = data.draw(st.integers(0, X.shape[0] - 1))
    rand = np.array(data.draw(st.lists(st.lists(st.floats(0, 1, exclude_max=True),
                                                min_size=trials, max_size=trials),
                                       min_size=k - 1, max_size=k - 1)),
                    dtype=np.float64).reshape(k - 1, trials)
    centers, ids = _kernel_kmeanspp(X, first, rand)
    assert ids.tolist() == naive.kmeanspp(X, first, rand)
    np.testing.assert_array_equal(centers, X[ids])
    sk_centers, sk_ids = kmeans_plusplus(X, k, random_state=_ScriptedRandomState(first, rand),
                                         n_local_trials=trials)
    assert ids.tolist() == sk_ids.tolist()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(3))
def test_kmeanspp_equals_naive_on_float_data(dtype, seed, threads):
    """Continuous data, as the estimator seeds (k - 1 rows of 2 + log k uniforms): the same rows
    as the naive reference (whose pairwise sums may differ from the kernel's running sums in
    the last bit; no draw here lands within an ulp of a boundary, so the picks are exact)."""
    X = rfm_like(800, seed).astype(dtype)
    rng = np.random.default_rng(seed)
    k = 8
    rand = rng.random((k - 1, 2 + int(np.log(k))))
    first = int(rng.integers(len(X)))
    centers, ids = _kernel_kmeanspp(X, first, rand, threads)
    assert ids.tolist() == naive.kmeanspp(X, first, rand)
    np.testing.assert_array_equal(centers, X[ids].astype(np.float64))


def test_kmeanspp_single_row_and_identical_rows():
    centers, ids = _kernel_kmeanspp(np.array([[2.5, -1.0]]), 0, np.empty((0, 3)))
    assert ids.tolist() == [0] and centers.tolist() == [[2.5, -1.0]]
    X = np.ones((5, 2))  # every distance 0: each draw lands on row 0
    centers, ids = _kernel_kmeanspp(X, 3, np.full((4, 2), 0.5))
    assert ids.tolist() == naive.kmeanspp(X, 3, np.full((4, 2), 0.5)) == [3, 0, 0, 0, 0]


# ---------------------------------------------------------------- more kernels vs naive


@given(
    arrays(np.float32, st.tuples(st.integers(1, 40), st.integers(1, 3)),
           elements=st.integers(-3, 3).map(float)),
    st.integers(1, 5), st.integers(0, 2 * BLOCK + 3), st.integers(0, 2**32 - 1),
)
def test_minibatch_step_property_exact_on_ties(X, k, batch, seed):
    """Integer grids and integer weights (exact sums): duplicate rows and batch indices,
    equidistant and duplicate centres, empty clusters, a one-row and an empty batch, several
    row blocks: labels, centres, weights and inertia equal the naive update exactly."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    idx = rng.integers(0, n, batch)
    centers = rng.integers(-3, 4, (k, d)).astype(np.float64)
    if k > 1:
        centers[-1] = centers[0]  # a duplicate centre never wins
    weights = rng.integers(0, 4, k).astype(np.float64)
    ref_labels, ref_centers, ref_w, ref_inertia = naive.minibatch_update(X, idx, centers, weights)
    labels = np.full(batch, -1, np.int32)
    inertia = _minibatch_step(X, idx, centers, weights, labels, np.empty((k, d)),
                              np.empty(k, np.int64))
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(centers, ref_centers)
    np.testing.assert_array_equal(weights, ref_w)
    assert inertia == ref_inertia


@pytest.mark.parametrize("threads", [1, 2])
def test_assign_and_lloyd_pass_over_three_chunks_with_one_and_two_threads(threads):
    """The parallel kernels on three chunks (the last one short), each thread count: labels,
    sizes and the moved count exactly the naive ones; means and inertia within 1e-12
    relative (per-chunk running sums merged in chunk order against NumPy's pairwise sums)."""
    rng = np.random.default_rng(21)
    n = 2 * CHUNK + 7
    X = rng.normal(size=(n, 3)).astype(np.float32)
    X[:50] = X[50:100]  # duplicate rows
    centers = np.vstack([rng.normal(size=(4, 3)), [[60.0, 60.0, 60.0]]])  # one stays empty
    ref_labels, ref_new, ref_sizes = naive.lloyd_step(X, centers)
    ref_inertia = naive.inertia(X, centers, ref_labels)
    m = n_chunks(n)
    labels = np.empty(n, np.int32)
    chunk_totals = np.empty(m)
    total = with_threads(threads, _assign, X, centers, labels, chunk_totals)
    np.testing.assert_array_equal(labels, ref_labels)
    assert total == pytest.approx(ref_inertia, rel=1e-12)
    labels = np.full(n, -1, np.int32)
    labels[::3] = ref_labels[::3]  # a third already in place: they do not count as moved
    sums, counts = np.empty((m, 5, 3)), np.empty((m, 5), np.int64)
    inertia, changed = np.empty(m), np.empty(m, np.int64)
    with_threads(threads, _lloyd_pass, X, centers, labels, sums, counts, inertia, changed)
    new, sizes = np.empty_like(centers), np.empty(5, np.int64)
    _merge_chunks(sums, counts, centers, new, sizes)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(sizes, ref_sizes)
    assert changed.sum() == n - len(range(0, n, 3))
    np.testing.assert_allclose(new, ref_new, rtol=1e-12)
    assert new[4].tolist() == [60.0, 60.0, 60.0]
    assert inertia.sum() == pytest.approx(ref_inertia, rel=1e-12)
    np.testing.assert_array_equal(inertia, chunk_totals)  # the same per-chunk sums


@given(
    arrays(np.float64, st.tuples(st.integers(2, 25), st.integers(1, 3)),
           elements=st.integers(-2, 2).map(float)),
    st.integers(1, 3), st.integers(2, 5), st.integers(0, 2**32 - 1), st.sampled_from([1, 2]),
)
def test_silhouette_samples_property(X, c_count, k, seed, threads):
    """Per-row coefficients of several labelings at once (integer grids: duplicate rows at
    distance 0, equal a and b, singleton and empty clusters), 1 or 2 threads, equal the naive
    per-row values within 1e-12 (distance sums in another order: the kernel adds in row
    order, NumPy pairwise)."""
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    labels = rng.integers(0, k, (c_count, n)).astype(np.int32)
    sizes = np.stack([np.bincount(row, minlength=k) for row in labels]).astype(np.int64)
    assume((np.count_nonzero(sizes, axis=1) >= 2).all())  # the wrapper's precondition
    out = np.full((c_count, n), np.nan)
    with_threads(threads, _silhouette_samples, X, labels, sizes, out)
    for row, got in zip(labels, out):
        np.testing.assert_allclose(got, naive.silhouette_samples(X, row), rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 2, 9])
def test_assign_and_lloyd_pass_empty_single_and_tied_rows(n, dtype, threads):
    """The parallel kernels themselves (not the one-chunk serial path the wrapper takes) on
    no row, one row and a few tied rows (integer grid: duplicate rows, rows equidistant from
    two centres, a duplicate centre): labels, sizes, means and inertia exactly the naive
    ones, with 1 and 2 threads."""
    rng = np.random.default_rng(n)
    X = rng.integers(-2, 3, (n, 2)).astype(dtype)
    centers = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [-1.0, 1.0]])  # 2 = copy of 0
    ref_labels, ref_new, ref_sizes = naive.lloyd_step(X, centers)
    ref_inertia = naive.inertia(X, centers, ref_labels)
    labels, totals = np.full(n, -7, np.int32), np.full(1, np.nan)
    total = with_threads(threads, _assign, X, centers, labels, totals)
    assert labels.tolist() == ref_labels.tolist() and total == ref_inertia == totals[0]
    labels = np.full(n, -1, np.int32)
    sums, counts = np.empty((1, 4, 2)), np.empty((1, 4), np.int64)
    inertia, changed = np.empty(1), np.empty(1, np.int64)
    with_threads(threads, _lloyd_pass, X, centers, labels, sums, counts, inertia, changed)
    new, sizes = np.empty_like(centers), np.empty(4, np.int64)
    _merge_chunks(sums, counts, centers, new, sizes)
    assert labels.tolist() == ref_labels.tolist() and sizes.tolist() == ref_sizes.tolist()
    np.testing.assert_array_equal(new, ref_new)  # means of small integers: exact
    assert inertia[0] == ref_inertia and changed[0] == n
