"""Mini-batch K-means over ``native_kernels.kmeans``, with scikit-learn's fit / predict /
fit_predict interface.

Algorithm (``fit``):
1. Greedy k-means++ seeding (2 + ln k local trials, as scikit-learn) on ``n_init`` random
   samples of ``init_size`` rows; the seeding with the lowest inertia on one shared random
   validation sample wins.
2. Sculley mini-batch updates with per-centre learning rates (rows seen per centre). Batches
   are ``batch_size`` row indices drawn uniformly with replacement: O(batch), not O(n).
   Centres whose row count falls below ``reassignment_ratio`` × the largest count (or that
   are empty) are moved to random rows of the batch, as in scikit-learn.
   Stops after ``max_no_improvement`` steps without a new minimum of the smoothed batch
   inertia (exponentially weighted average, alpha = max(2 b / (n + 1), 1/16), per row),
   or after ``max_iter`` epochs (max_iter × n / b steps).
3. Over-relaxed Lloyd refinement. Every pass assigns each row to its nearest centre and
   computes the means of the new partition (the plain Lloyd step). The next centres are
   ``centres + s × (means − centres)`` with the stretch s doubling each pass from 1 up to 16;
   when a pass's inertia is higher than the best pass's (the stretch overshot), the next
   centres are that best pass's means and s restarts at 1 (a plain Lloyd step never raises
   the inertia). On this project's heavy-tailed RFM features plain Lloyd creeps along flat
   directions for dozens of passes; the stretch covers them in a few.
   Stops when the centres equal the means of their own partition, when the squared plain
   step is ≤ ``tol`` × mean feature variance (as scikit-learn's KMeans; the variance is taken
   on the validation sample), or after ``max_refine_passes`` passes. When
   n > ``refine_sample_size``, the passes run first on a random sample of that many rows to
   a 100× tighter tolerance (budget 5 × ``max_refine_passes``; sample passes are cheap), then
   on the full data, where two or three passes were enough in our 10M runs. An empty cluster
   keeps its centre.
4. ``labels_`` and the exact ``inertia_`` come from a full assignment against the returned
   centres. When the pass budget runs out that is one extra pass; otherwise the last pass
   already was this assignment and its centres are returned (the means themselves at a fixed
   point, within the tolerance of them otherwise), saving one pass over X.

Results are deterministic for a given ``random_state`` and bit-identical for any numba
thread count. Centres are float64 whatever the input dtype (float32 input is accumulated in
float64). X is never copied when it is already C-contiguous float32 or float64.
"""

from __future__ import annotations

import math

import numpy as np

from native_kernels.kmeans import (
    _all_finite,
    _assign,
    _assign_rows,
    _finite_rows,
    _kmeanspp,
    _lloyd_pass,
    _lloyd_rows,
    _merge_chunks,
    _minibatch_step,
    n_chunks,
)

_EWA_MIN_ALPHA = 1.0 / 16.0
_MAX_STRETCH = 16.0  # largest multiple of the Lloyd step taken by the over-relaxed passes
_SAMPLE_TOL_SCALE = 0.01  # the refinement sample converges to tol / 100 ...
_SAMPLE_PASS_SCALE = 5  # ... within 5 x max_refine_passes passes (sample passes are cheap)


def check_matrix(X) -> np.ndarray:
    """X as a C-contiguous float32/float64 (n, d) array, copied only when needed.

    Raises ValueError on a wrong shape, no rows, no columns, or non-finite values.
    """
    arr = np.asarray(X)
    if arr.dtype not in (np.float32, np.float64) or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-d array (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"expected at least one sample and one feature, got shape {arr.shape}")
    m = n_chunks(arr.shape[0])
    finite = (_finite_rows(arr, 0, arr.shape[0]) if m == 1
              else _all_finite(arr, np.empty(m, dtype=np.bool_)))
    if not finite:
        raise ValueError("input contains NaN or infinity")
    return arr


def assign_labels(X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, float]:
    """Nearest centre of each row of a checked X: (labels int32 (n,), inertia float)."""
    labels = np.empty(X.shape[0], dtype=np.int32)
    return labels, _assign_into(X, centers, labels)


def _assign_into(X, centers, labels) -> float:
    """Fill labels (OUT int32 (n,)); return the inertia. One chunk runs serially (same result,
    no thread launch)."""
    m = n_chunks(X.shape[0])
    if m == 1:
        return float(_assign_rows(X, centers, labels, 0, X.shape[0]))
    return float(_assign(X, centers, labels, np.empty(m)))


def _lloyd_into(X, centers, labels, chunk_sums, chunk_counts, chunk_inertia, chunk_changed):
    """One Lloyd pass (see ``_lloyd_pass``); one chunk runs serially (same result)."""
    if chunk_inertia.shape[0] == 1:
        s, moved = _lloyd_rows(X, centers, labels, 0, X.shape[0], chunk_sums[0], chunk_counts[0])
        chunk_inertia[0], chunk_changed[0] = s, moved
    else:
        _lloyd_pass(X, centers, labels, chunk_sums, chunk_counts, chunk_inertia, chunk_changed)


class MiniBatchKMeans:
    """Mini-batch K-means with k-means++ seeding and full-data Lloyd refinement.

    Attributes after ``fit``: ``cluster_centers_`` float64 (k, d); ``labels_`` int32 (n,);
    ``inertia_`` (sum of squared distances to the nearest centre); ``n_iter_`` (epochs of
    mini-batch steps, rounded up); ``n_steps_`` (mini-batch steps); ``n_refine_passes_``
    (Lloyd passes, sample and full data).
    """

    def __init__(self, n_clusters: int = 8, *, batch_size: int = 4096, max_iter: int = 100,
                 n_init: int = 1, tol: float = 1e-4, max_no_improvement: int = 10,
                 reassignment_ratio: float = 0.01, max_refine_passes: int = 30,
                 refine_sample_size: int = 500_000, init_size: int | None = None,
                 random_state: int | None = None):
        self.n_clusters = n_clusters
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.n_init = n_init
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.reassignment_ratio = reassignment_ratio
        self.max_refine_passes = max_refine_passes
        self.refine_sample_size = refine_sample_size
        self.init_size = init_size
        self.random_state = random_state

    def __repr__(self) -> str:
        return f"MiniBatchKMeans(n_clusters={self.n_clusters}, random_state={self.random_state})"

    def _check_params(self, n: int) -> None:
        k = self.n_clusters
        if not (isinstance(k, int | np.integer) and k >= 1):
            raise ValueError(f"n_clusters must be a positive integer, got {k!r}")
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}")
        for name in ("batch_size", "max_iter", "n_init", "max_no_improvement",
                     "refine_sample_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.max_refine_passes < 0 or self.tol < 0 or self.reassignment_ratio < 0:
            raise ValueError("max_refine_passes, tol and reassignment_ratio must be >= 0")

    def fit(self, X, y=None) -> MiniBatchKMeans:
        """Fit on X (n, d); y is ignored. Returns self."""
        X = check_matrix(X)
        n = X.shape[0]
        self._check_params(n)
        rng = np.random.default_rng(self.random_state)
        batch = min(self.batch_size, n)
        init_size = min(n, self.init_size or max(3 * batch, 10 * self.n_clusters))
        valid = X[_sample(rng, n, init_size)]
        centers, self.n_steps_ = self._best_start(X, valid, rng, batch, init_size)
        self.n_iter_ = math.ceil(self.n_steps_ * batch / n)
        shift_tol = self.tol * float(np.mean(np.var(valid, axis=0, dtype=np.float64)))
        self.cluster_centers_, self.labels_, self.inertia_ = self._refine(X, centers, shift_tol, rng)
        self.n_features_in_ = X.shape[1]
        return self

    def _best_start(self, X, valid, rng, batch, init_size) -> tuple[np.ndarray, int]:
        """Best of ``n_init`` (k-means++ seeding + mini-batch run) by inertia on ``valid``.

        Returns the centres float64 (k, d) and the total number of mini-batch steps.
        """
        best, best_inertia, steps = None, np.inf, 0
        for _ in range(self.n_init):
            centers = self._seed(X[_sample(rng, X.shape[0], init_size)], rng)
            steps += self._minibatch(X, centers, rng, batch)
            inertia = assign_labels(valid, centers)[1]
            if inertia < best_inertia:
                best, best_inertia = centers, inertia
        return best, steps

    def _seed(self, sample, rng) -> np.ndarray:
        """Greedy k-means++ centres picked among the rows of ``sample``: float64 (k, d)."""
        k = self.n_clusters
        rand = rng.random((k - 1, 2 + int(np.log(k))))
        centers = np.empty((k, sample.shape[1]), dtype=np.float64)
        _kmeanspp(sample, int(rng.integers(sample.shape[0])), rand, centers,
                  np.empty(k, dtype=np.int64))
        return centers

    def _minibatch(self, X, centers, rng, batch) -> int:
        """Mini-batch steps on ``centers`` (INOUT); returns the number of steps taken."""
        n = X.shape[0]
        k, d = centers.shape
        weight_sums = np.zeros(k, dtype=np.float64)
        labels = np.empty(batch, dtype=np.int32)
        sums = np.empty((k, d), dtype=np.float64)
        counts = np.empty(k, dtype=np.int64)
        alpha = min(1.0, max(2.0 * batch / (n + 1), _EWA_MIN_ALPHA))
        ewa, ewa_min, no_improvement = None, np.inf, 0
        max_steps = max(1, (self.max_iter * n) // batch)
        for step in range(1, max_steps + 1):
            idx = rng.integers(0, n, batch)
            inertia = _minibatch_step(X, idx, centers, weight_sums, labels, sums, counts) / batch
            self._reassign(X, idx, centers, weight_sums, rng)
            ewa = inertia if ewa is None else ewa * (1.0 - alpha) + inertia * alpha
            if ewa < ewa_min:
                ewa_min, no_improvement = ewa, 0
            else:
                no_improvement += 1
            if no_improvement >= self.max_no_improvement:
                break
        return step

    def _reassign(self, X, idx, centers, weight_sums, rng) -> None:
        """Move centres with few rows to random batch rows (INOUT centers, weight_sums)."""
        if self.reassignment_ratio <= 0:
            return
        low = weight_sums < self.reassignment_ratio * weight_sums.max()
        if low.all():
            return
        if low.sum() > 0.5 * idx.shape[0]:
            low[np.argsort(weight_sums, kind="stable")[int(0.5 * idx.shape[0]):]] = False
        n_low = int(low.sum())
        if n_low:
            picks = idx[rng.choice(idx.shape[0], size=n_low, replace=False)]
            centers[low] = X[picks]
            weight_sums[low] = weight_sums[~low].min()

    def _refine(self, X, centers, shift_tol, rng) -> tuple[np.ndarray, np.ndarray, float]:
        """Lloyd passes (on a sample first when X is large), then the final assignment."""
        self.n_refine_passes_ = 0
        if X.shape[0] > self.refine_sample_size:
            sample = X[_sample(rng, X.shape[0], self.refine_sample_size)]
            centers = self._lloyd(sample, centers, shift_tol * _SAMPLE_TOL_SCALE,
                                  self.max_refine_passes * _SAMPLE_PASS_SCALE)[0]
        return self._lloyd(X, centers, shift_tol, self.max_refine_passes)

    def _lloyd(self, X, centers, shift_tol, max_passes) -> tuple[np.ndarray, np.ndarray, float]:
        """Over-relaxed Lloyd passes over X (see the module docstring) until the centres are
        the means of their own partition, the squared Lloyd step is ≤ shift_tol, or
        ``max_passes`` were made: (centres, labels int32 (n,), exact inertia)."""
        n, d = X.shape
        k = centers.shape[0]
        m = n_chunks(n)
        labels = np.full(n, -1, dtype=np.int32)
        chunk_sums = np.empty((m, k, d), dtype=np.float64)
        chunk_counts = np.empty((m, k), dtype=np.int64)
        chunk_inertia = np.empty(m, dtype=np.float64)
        chunk_changed = np.empty(m, dtype=np.int64)
        counts = np.empty(k, dtype=np.int64)
        best_inertia, best_means, step = np.inf, centers, 1.0
        for _ in range(max_passes):
            _lloyd_into(X, centers, labels, chunk_sums, chunk_counts, chunk_inertia, chunk_changed)
            means = np.empty_like(centers)
            _merge_chunks(chunk_sums, chunk_counts, centers, means, counts)
            self.n_refine_passes_ += 1
            inertia = float(chunk_inertia.sum())
            if inertia > best_inertia:  # the stretched step overshot: plain step instead
                centers, step = best_means, 1.0
                continue
            if np.array_equal(means, centers):  # a fixed point: labels, centres agree exactly
                return centers, labels, inertia
            if float(((means - centers) ** 2).sum()) <= shift_tol:
                # converged: keep the centres the labels and inertia were computed against
                return centers, labels, inertia
            best_inertia, best_means = inertia, means
            centers = means if step == 1.0 else centers + step * (means - centers)
            step = min(2.0 * step, _MAX_STRETCH)
        return centers, labels, _assign_into(X, centers, labels)

    def _check_fitted(self, X) -> np.ndarray:
        if not hasattr(self, "cluster_centers_"):
            raise ValueError("this MiniBatchKMeans instance is not fitted yet; call fit first")
        X = check_matrix(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the model expects {self.n_features_in_}")
        return X

    def predict(self, X) -> np.ndarray:
        """Index of the nearest centre for every row of X (n, d): int32 (n,)."""
        return assign_labels(self._check_fitted(X), self.cluster_centers_)[0]

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit on X and return ``labels_`` (int32 (n,))."""
        return self.fit(X).labels_


def _sample(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``size`` distinct row indices out of n, sorted (O(size) for size << n)."""
    if size >= n:
        return np.arange(n)
    # shuffle=False: for size <= n / 20 NumPy draws with Floyd's algorithm (a set of ``size``
    # entries) instead of permuting all n indices (an n x 8-byte transient: half of X at
    # 10M x 4 float32)
    return np.sort(rng.choice(n, size=size, replace=False, shuffle=False))
