"""K-means kernels (numba): k-means++ seeding, mini-batch step, Lloyd pass, assignment.

All kernels are private: they never validate. ``segscore.clustering`` is the typed wrapper.
Shapes: X (n, d) float32 or float64, C-contiguous; centers (k, d) float64. Distances are
squared Euclidean, accumulated in float64. Ties go to the lowest centre index.

Determinism: parallel kernels split rows into fixed chunks of ``CHUNK`` rows (boundaries
depend only on n), write one partial result per chunk inside ``prange`` and merge the
partials serially in chunk order, so results are bit-identical whatever the thread count.
"""

import numpy as np
from numba import njit, prange

from native_kernels._options import PARALLEL, SERIAL

CHUNK = 65536
BLOCK = 256  # rows per transposed block in the nearest-centre loops (d x 2 KiB: in L1)


def n_chunks(n):
    """Number of row chunks for n rows (at least 1)."""
    return max(1, (n + CHUNK - 1) // CHUNK)


@njit(**SERIAL)
def _sq_dist(X, i, centers, j):
    """Squared distance between row X[i] and centre centers[j] (float64)."""
    s = 0.0
    for f in range(X.shape[1]):
        t = np.float64(X[i, f]) - centers[j, f]
        s += t * t
    return s


@njit(**SERIAL)
def _load_block(X, start, m, xt):
    """xt[:, :m] = X[start:start + m] transposed, as float64. xt: OUT float64 (d, BLOCK)."""
    for r in range(m):
        for f in range(X.shape[1]):
            xt[f, r] = X[start + r, f]


@njit(**SERIAL)
def _gather_block(X, idx, start, m, xt):
    """xt[:, :m] = X[idx[start:start + m]] transposed, as float64. xt: OUT float64 (d, BLOCK)."""
    for r in range(m):
        i = idx[start + r]
        for f in range(X.shape[1]):
            xt[f, r] = X[i, f]


@njit(**SERIAL)
def _nearest_block(xt, m, centers, dist, best_d, best):
    """Nearest centre of the m rows held in xt[:, :m]; ties -> lowest index.

    xt: IN float64 (d, BLOCK), rows as columns; centers: IN float64 (k, d);
    dist: scratch float64 (BLOCK,); best_d: OUT float64 (BLOCK,), squared distance to the
    nearest centre; best: OUT int64 (BLOCK,), its index. Every loop runs across the block's
    rows (it vectorizes); each row's sum over features runs in feature order, as ``_sq_dist``.
    """
    for r in range(m):
        best_d[r] = np.inf
        best[r] = 0
    for j in range(centers.shape[0]):
        for r in range(m):
            dist[r] = 0.0
        for f in range(xt.shape[0]):
            c = centers[j, f]
            for r in range(m):
                t = xt[f, r] - c
                dist[r] += t * t
        for r in range(m):
            closer = dist[r] < best_d[r]
            best[r] = j if closer else best[r]
            best_d[r] = dist[r] if closer else best_d[r]


@njit(**SERIAL)
def _block_scratch(dim):
    """Scratch for ``_nearest_block``: (xt float64 (dim, BLOCK), dist, best_d float64
    (BLOCK,), best int64 (BLOCK,))."""
    return (np.empty((dim, BLOCK)), np.empty(BLOCK), np.empty(BLOCK),
            np.empty(BLOCK, dtype=np.int64))


@njit(**SERIAL)
def _finite_rows(X, start, stop):
    """True when X[start:stop] holds no NaN/inf."""
    for i in range(start, stop):
        for f in range(X.shape[1]):
            if not np.isfinite(X[i, f]):
                return False
    return True


@njit(**PARALLEL)
def _all_finite(X, chunk_ok):
    """True when X holds no NaN/inf. chunk_ok: OUT bool (n_chunks,), per-chunk results."""
    n = X.shape[0]
    for c in prange(chunk_ok.shape[0]):
        chunk_ok[c] = _finite_rows(X, c * CHUNK, min(n, (c + 1) * CHUNK))
    for c in range(chunk_ok.shape[0]):
        if not chunk_ok[c]:
            return False
    return True


@njit(**SERIAL)
def _assign_rows(X, centers, labels, start, stop):
    """Nearest centre of rows start..stop; returns their inertia (float64).

    X: IN (n, d); centers: IN float64 (k, d); labels: OUT int32 (n,), rows start..stop written.
    """
    xt, dist, best_d, best = _block_scratch(X.shape[1])
    s = 0.0
    for b in range(start, stop, BLOCK):
        m = min(BLOCK, stop - b)
        _load_block(X, b, m, xt)
        _nearest_block(xt, m, centers, dist, best_d, best)
        for r in range(m):
            labels[b + r] = best[r]
            s += best_d[r]
    return s


@njit(**PARALLEL)
def _assign(X, centers, labels, chunk_inertia):
    """Nearest centre of every row; returns the total inertia (float64).

    X: IN (n, d); centers: IN float64 (k, d); labels: OUT int32 (n,);
    chunk_inertia: OUT float64 (n_chunks,), per-chunk sums of squared distances.
    With one chunk, ``_assign_rows(X, centers, labels, 0, n)`` gives the same result.
    """
    n = X.shape[0]
    for c in prange(chunk_inertia.shape[0]):
        chunk_inertia[c] = _assign_rows(X, centers, labels, c * CHUNK, min(n, (c + 1) * CHUNK))
    total = 0.0
    for c in range(chunk_inertia.shape[0]):
        total += chunk_inertia[c]
    return total


@njit(**SERIAL)
def _lloyd_rows(X, centers, labels, start, stop, sums, counts):
    """Lloyd assignment + accumulation over rows start..stop; returns (inertia, moved).

    X: IN (n, d); centers: IN float64 (k, d); labels: INOUT int32 (n,), previous labels in,
    new labels out (rows start..stop); sums: OUT float64 (k, d), counts: OUT int64 (k,),
    per-cluster sums and sizes of these rows; inertia is w.r.t. ``centers``; moved counts
    rows whose label changed.
    """
    k, dim = centers.shape
    xt, dist, best_d, best = _block_scratch(dim)
    for j in range(k):
        counts[j] = 0
        for f in range(dim):
            sums[j, f] = 0.0
    s = 0.0
    moved = 0
    for b in range(start, stop, BLOCK):
        m = min(BLOCK, stop - b)
        _load_block(X, b, m, xt)
        _nearest_block(xt, m, centers, dist, best_d, best)
        for r in range(m):
            j = best[r]
            moved += labels[b + r] != j
            labels[b + r] = j
            s += best_d[r]
            counts[j] += 1
            for f in range(dim):
                sums[j, f] += xt[f, r]
    return s, moved


@njit(**PARALLEL)
def _lloyd_pass(X, centers, labels, chunk_sums, chunk_counts, chunk_inertia, chunk_changed):
    """One Lloyd pass over all rows, chunk by chunk (``_lloyd_rows`` on each chunk).

    X: IN (n, d); centers: IN float64 (k, d); labels: INOUT int32 (n,);
    chunk_sums: OUT float64 (n_chunks, k, d); chunk_counts: OUT int64 (n_chunks, k);
    chunk_inertia: OUT float64 (n_chunks,); chunk_changed: OUT int64 (n_chunks,).
    Merge with ``_merge_chunks``.
    """
    n = X.shape[0]
    for c in prange(chunk_inertia.shape[0]):
        s, moved = _lloyd_rows(X, centers, labels, c * CHUNK, min(n, (c + 1) * CHUNK),
                               chunk_sums[c], chunk_counts[c])
        chunk_inertia[c] = s
        chunk_changed[c] = moved


@njit(**SERIAL)
def _merge_chunks(chunk_sums, chunk_counts, centers_old, centers_new, counts):
    """Merge per-chunk sums in chunk order into cluster means.

    chunk_sums: IN float64 (n_chunks, k, d); chunk_counts: IN int64 (n_chunks, k);
    centers_old: IN float64 (k, d); centers_new: OUT float64 (k, d), the means (an empty
    cluster keeps its old centre); counts: OUT int64 (k,), cluster sizes.
    """
    k, dim = centers_old.shape
    for j in range(k):
        cnt = 0
        for c in range(chunk_counts.shape[0]):
            cnt += chunk_counts[c, j]
        counts[j] = cnt
        for f in range(dim):
            if cnt == 0:
                centers_new[j, f] = centers_old[j, f]
            else:
                s = 0.0
                for c in range(chunk_sums.shape[0]):
                    s += chunk_sums[c, j, f]
                centers_new[j, f] = s / cnt


@njit(**SERIAL)
def _minibatch_step(X, idx, centers, weight_sums, labels, sums, counts):
    """Sculley mini-batch update on rows X[idx]; returns the batch inertia (float64).

    X: IN (n, d); idx: IN int64 (b,) row indices; centers: INOUT float64 (k, d);
    weight_sums: INOUT float64 (k,), rows seen per centre (the per-centre learning rate is
    counts / (weight_sums + counts)); labels: OUT int32 (b,) w.r.t. the old centres;
    sums: OUT float64 (k, d), counts: OUT int64 (k,), batch scratch.
    The batch inertia is measured against the centres before the update.
    """
    k, dim = centers.shape
    xt, dist, best_d, best = _block_scratch(dim)
    sums[:, :] = 0.0
    counts[:] = 0
    inertia = 0.0
    for b in range(0, idx.shape[0], BLOCK):
        m = min(BLOCK, idx.shape[0] - b)
        _gather_block(X, idx, b, m, xt)
        _nearest_block(xt, m, centers, dist, best_d, best)
        for r in range(m):
            j = best[r]
            labels[b + r] = j
            inertia += best_d[r]
            counts[j] += 1
            for f in range(dim):
                sums[j, f] += xt[f, r]
    for j in range(k):
        if counts[j] > 0:
            w = weight_sums[j]
            total = w + counts[j]
            for f in range(dim):
                centers[j, f] = (centers[j, f] * w + sums[j, f]) / total
            weight_sums[j] = total
    return inertia


@njit(**SERIAL)
def _kmeanspp(X, first, rand_trials, centers, center_ids):
    """Greedy k-means++ seeding (as scikit-learn's ``_kmeans_plusplus``).

    X: IN (n, d), the seeding sample; first: IN int, row of the first centre;
    rand_trials: IN float64 (k - 1, n_trials), uniforms in [0, 1): candidate c is drawn with
    probability proportional to its squared distance to the chosen centres, and the candidate
    that most lowers the potential wins (ties -> first trial);
    centers: OUT float64 (k, d); center_ids: OUT int64 (k,), chosen rows.
    """
    n, dim = X.shape
    k = centers.shape[0]
    n_trials = rand_trials.shape[1]
    closest = np.empty(n, dtype=np.float64)
    trial = np.empty(n, dtype=np.float64)
    best_dist = np.empty(n, dtype=np.float64)
    for f in range(dim):
        centers[0, f] = X[first, f]
    center_ids[0] = first
    pot = 0.0
    for i in range(n):
        closest[i] = _sq_dist(X, i, centers, 0)
        pot += closest[i]
    for c in range(1, k):
        cum = np.cumsum(closest)
        best_pot = np.inf
        best_id = 0
        for t in range(n_trials):
            cand = min(np.searchsorted(cum, rand_trials[c - 1, t] * pot), n - 1)
            for f in range(dim):
                centers[c, f] = X[cand, f]
            p = 0.0
            for i in range(n):
                trial[i] = min(closest[i], _sq_dist(X, i, centers, c))
                p += trial[i]
            if p < best_pot:
                best_pot = p
                best_id = cand
                best_dist[:] = trial
        for f in range(dim):
            centers[c, f] = X[best_id, f]
        center_ids[c] = best_id
        closest[:] = best_dist
        pot = best_pot


@njit(**PARALLEL)
def _silhouette_samples(X, labels, sizes, out):
    """Silhouette coefficient of every row (Euclidean) under each of several labelings of the
    same rows, O(n^2 d) once: each pair's distance is computed once and added to every
    labeling's per-cluster sums (in row order, so each labeling's result is what it would
    get alone). Keep n to a few thousand.

    X: IN (n, d); labels: IN int32 (c, n), labeling l's cluster of each row in [0, k);
    sizes: IN int64 (c, k), the cluster sizes per labeling (0 for clusters it does not have);
    out: OUT float64 (c, n): (b - a) / max(a, b), 0 for rows of singleton clusters.
    """
    n, dim = X.shape
    c_count, k = sizes.shape
    for i in prange(n):
        acc = np.zeros((c_count, k), dtype=np.float64)
        for m in range(n):
            s = 0.0
            for f in range(dim):
                t = np.float64(X[i, f]) - np.float64(X[m, f])
                s += t * t
            d = np.sqrt(s)
            for c in range(c_count):
                acc[c, labels[c, m]] += d
        for c in range(c_count):
            own = labels[c, i]
            if sizes[c, own] <= 1:
                out[c, i] = 0.0
                continue
            a = acc[c, own] / (sizes[c, own] - 1)
            b = np.inf
            for j in range(k):
                if j != own and sizes[c, j] > 0:
                    b = min(b, acc[c, j] / sizes[c, j])
            out[c, i] = (b - a) / max(a, b) if max(a, b) > 0 else 0.0