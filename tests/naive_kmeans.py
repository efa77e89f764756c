"""Plain NumPy reference implementations of the K-means kernels (slow, obviously correct)."""

import numpy as np


def sq_distances(X, centers):
    """Squared Euclidean distances, float64 (n, k), summed over features in order."""
    diff = X.astype(np.float64)[:, None, :] - np.asarray(centers, dtype=np.float64)[None, :, :]
    out = np.zeros(diff.shape[:2])
    for f in range(diff.shape[2]):
        out += diff[:, :, f] ** 2
    return out


def assign(X, centers):
    """(labels int32 (n,), inertia): nearest centre, ties to the lowest index."""
    d = sq_distances(X, centers)
    labels = np.argmin(d, axis=1).astype(np.int32)  # argmin returns the first minimum
    return labels, float(d[np.arange(len(X)), labels].sum())


def inertia(X, centers, labels):
    """Sum of squared distances of every row to its centre."""
    return float(sq_distances(X, centers)[np.arange(len(X)), labels].sum())


def lloyd_step(X, centers):
    """One Lloyd iteration: (labels, new centres, sizes); an empty cluster keeps its centre."""
    labels, _ = assign(X, centers)
    new = np.array(centers, dtype=np.float64)
    sizes = np.bincount(labels, minlength=len(centers))
    for j in range(len(centers)):
        if sizes[j]:
            new[j] = X[labels == j].astype(np.float64).mean(axis=0)
    return labels, new, sizes


def minibatch_update(X, idx, centers, weight_sums):
    """Sculley update on X[idx]: (labels, new centres, new weight sums, batch inertia)."""
    batch = X[idx]
    labels, batch_inertia = assign(batch, centers)
    new = np.array(centers, dtype=np.float64)
    w = np.array(weight_sums, dtype=np.float64)
    for j in range(len(centers)):
        members = batch[labels == j].astype(np.float64)
        if len(members):
            new[j] = (new[j] * w[j] + members.sum(axis=0)) / (w[j] + len(members))
            w[j] += len(members)
    return labels, new, w, batch_inertia


def silhouette(X, labels):
    """Mean silhouette coefficient, 0 for rows of singleton clusters."""
    return float(silhouette_samples(X, labels).mean())


def all_finite(X):
    """True when X holds no NaN/inf (an empty X is finite)."""
    return bool(np.isfinite(X).all())


def finite_rows(X, start, stop):
    """True when rows start..stop of X hold no NaN/inf."""
    return bool(np.isfinite(X[start:stop]).all())


def silhouette_samples(X, labels):
    """Silhouette coefficient of every row (Euclidean), 0 for rows of singleton clusters."""
    X = X.astype(np.float64)
    d = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2))
    sizes = np.bincount(labels)
    s = np.zeros(len(X))
    for i in range(len(X)):
        own = labels[i]
        if sizes[own] <= 1:
            continue
        a = d[i, labels == own].sum() / (sizes[own] - 1)
        b = min(d[i, labels == j].mean() for j in range(len(sizes)) if j != own and sizes[j])
        s[i] = (b - a) / max(a, b) if max(a, b) > 0 else 0.0
    return s


def kmeanspp(X, first, rand_trials):
    """Row indices of greedy k-means++ seeding (scikit-learn's ``_kmeans_plusplus``) with the
    uniforms given: the first centre is row ``first``; each further centre draws one candidate
    per uniform u of its row of ``rand_trials`` as the first row whose cumulative squared
    distance to the nearest chosen centre reaches u × (total of those distances), clipped to
    the last row, and keeps the candidate that leaves the smallest total (the first on ties)."""
    X = X.astype(np.float64)
    ids = [int(first)]
    closest = sq_distances(X, X[[first]])[:, 0]
    for uniforms in rand_trials:
        cands = np.minimum(np.searchsorted(np.cumsum(closest), uniforms * closest.sum()),
                           len(X) - 1)
        after = [np.minimum(closest, sq_distances(X, X[[c]])[:, 0]) for c in cands]
        best = int(np.argmin([a.sum() for a in after]))
        ids.append(int(cands[best]))
        closest = after[best]
    return ids
