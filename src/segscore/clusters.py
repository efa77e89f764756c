"""Behavioural clusters stage: scaled features → mini-batch K-means → cluster id + profiles.

Scaling: every feature is cast to float64, NaN counts as null; a feature also listed in
``log_features`` is clipped at 0 then ``log1p``-ed (net spend may be ≤ 0); then z-scored with
the mean and population std of the whole table (std 0 → 1; a feature every customer shares
gets exactly its value as mean and std 0, so z = 0, not round-off). Nulls become z = 0 (the
mean).
Clustering runs on the z-scores as a float32 matrix (n, d).

Automatic K (``ClusterSettings.k is None``): on a seeded sample of ``sample_size`` rows, fit
each K in k_min..k_max and score it by the mean silhouette coefficient (Euclidean, on a seeded
sub-sample of ``SILHOUETTE_ROWS`` rows of that sample); the highest score wins, ties to the
smaller K. Every candidate and its score is recorded in the model.

Canonical ids: clusters are numbered by descending centroid z of ``monetary`` (the first
feature when monetary is not used), ties by the other features in order, descending.

Labels: for each feature in order, z ≥ ``Z_HIGH`` gives its "high" word and z ≤ −``Z_HIGH``
its "low" word (recency: low = "recent", high = "lapsed"; an attribute ``attr:age``: "low age"
/ "high age", one named as an engine feature keeps its prefix: "high attr:r_score"); words are
joined with " · ",
"average" when no feature passes; a repeated label gets " (2)", " (3)"… in id order.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np
import polars as pl

from native_kernels.kmeans import _silhouette_samples, n_chunks
from native_kernels.scaling import (_lookup_into, _transform_moments, _transform_table,
                                    _transform_zscore_into)
from segscore.clustering import MiniBatchKMeans, assign_labels
from segscore.errors import InputError

SCHEMA_VERSION = 1
#: numeric per-customer columns a clustering may use, besides the channel shares
FEATURES = ("recency_days", "tenure_days", "frequency", "monetary", "avg_order_value",
            "return_amount", "return_rate", "distinct_categories", "rows",
            "r_score", "f_score", "m_score")
#: ``share_<channel slug>`` / ``share_other``: whether one exists depends on the input
SHARE_FEATURE = re.compile(r"^share_[a-z0-9_]+$")
#: ``attr:<column>``: a numeric / boolean / date column of the customer attributes file
#: (``--customers``; segscore.cluster_attributes joins it onto the customers)
ATTRIBUTE_PREFIX = "attr:"
SILHOUETTE_ROWS = 4000
#: integer log features with at most this many distinct values are transformed by lookup
LOOKUP_SPAN = 1 << 16
Z_HIGH = 0.5
_WORDS = {  # feature: (word when z <= -Z_HIGH, word when z >= Z_HIGH)
    "recency_days": ("recent", "lapsed"),
    "frequency": ("infrequent", "frequent"),
    "monetary": ("low spend", "high spend"),
    "tenure_days": ("new", "long-standing"),
    "avg_order_value": ("small baskets", "large baskets"),
    "return_rate": ("few returns", "many returns"),
}


#: the most clusters a fit may have (config k and k_max)
MAX_K = 64


@dataclass(frozen=True)
class ClusterSettings:
    """Clustering options. ``k=None`` picks K automatically in k_min..k_max.

    Log transforms apply to the features listed in both ``features`` and ``log_features``.
    ``enabled`` is read by the pipeline (the stage is skipped when False).
    """

    k: int | None = None
    k_min: int = 3
    k_max: int = 10
    features: tuple[str, ...] = ("recency_days", "frequency", "monetary", "tenure_days")
    log_features: tuple[str, ...] = ("recency_days", "frequency", "monetary")
    random_state: int = 0
    sample_size: int = 50_000
    enabled: bool = True

    def __post_init__(self):
        if self.k is not None and self.k < 1:
            raise ValueError(f"cluster k must be >= 1, got {self.k}")
        if not 2 <= self.k_min <= self.k_max <= MAX_K:
            raise ValueError(f"need 2 <= k_min <= k_max <= {MAX_K}, got "
                             f"{self.k_min}..{self.k_max}")
        if not 0 <= self.random_state < 2**63:
            raise ValueError(f"random_state must be a non-negative integer, got "
                             f"{self.random_state}")
        if not self.features or len(set(self.features)) != len(self.features):
            raise ValueError(f"cluster features must be non-empty and unique: {self.features}")
        if self.sample_size < 100:
            raise ValueError(f"sample_size must be >= 100, got {self.sample_size}")


@dataclass(frozen=True, eq=False)
class ClusterModel:
    """A fitted clustering: re-applies scaling + centroids without refitting.

    means, stds: float64 (d,) of the transformed features; centroids: float64 (k, d) z-scores;
    selection: how K was chosen (candidates with scores); profiles: one dict per cluster id.
    """

    features: tuple[str, ...]
    log_features: tuple[str, ...]
    means: np.ndarray
    stds: np.ndarray
    centroids: np.ndarray
    selection: dict = field(default_factory=dict)
    profiles: tuple[dict, ...] = ()

    @property
    def k(self) -> int:
        """Number of clusters."""
        return self.centroids.shape[0]

    def standardize(self, features: pl.DataFrame) -> np.ndarray:
        """The z-score matrix of a feature table: float32 C-contiguous (n, d)."""
        _check_columns(features, self.features)
        X = np.empty((features.height, len(self.features)), dtype=np.float32)
        for j, name in enumerate(self.features):
            _transform_zscore_into(_raw_column(features, name), name in self.log_features,
                                   float(self.means[j]), float(self.stds[j]), X, j)
        return X

    def assign(self, features: pl.DataFrame) -> np.ndarray:
        """Cluster id of every row of a feature table: int32 (n,)."""
        return assign_labels(self.standardize(features), self.centroids)[0]

    def to_dict(self) -> dict:
        """JSON-safe description (floats round-trip exactly through JSON)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "k": self.k,
            "features": list(self.features),
            "transforms": {f: "log1p_clip0" if f in self.log_features else "identity"
                           for f in self.features},
            "means": [float(v) for v in self.means],
            "stds": [float(v) for v in self.stds],
            "centroids": [[float(v) for v in row] for row in self.centroids],
            "selection": self.selection,
            "profiles": list(self.profiles),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ClusterModel:
        """Rebuild a model written by ``to_dict``. ValueError naming the field
        ("clusters.stds: …") when one is not what ``to_dict`` writes: a hand-edited model
        would otherwise assign every customer to one cluster, or fail mid-run."""
        if not isinstance(d, dict):
            raise ValueError(f"clusters must be an object or null, got {d!r}")
        if d.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"unsupported cluster model schema {d.get('schema_version')!r}")
        features = d["features"]
        if (not isinstance(features, list) or not features
                or not all(isinstance(f, str) for f in features)
                or len(set(features)) != len(features) or unknown_features(tuple(features))):
            raise ValueError(f"clusters.features must be a list of distinct feature names, "
                             f"got {features!r}")
        k, dims = d["k"], len(features)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise ValueError(f"clusters.k must be an integer in 1..{MAX_K}, got {k!r}")
        transforms = d["transforms"]
        if (not isinstance(transforms, dict) or set(transforms) != set(features)
                or not set(transforms.values()) <= {"log1p_clip0", "identity"}):
            raise ValueError("clusters.transforms must map each feature to 'log1p_clip0' or "
                             f"'identity', got {transforms!r}")
        means = _finite(d["means"], (dims,), "clusters.means")
        stds = _finite(d["stds"], (dims,), "clusters.stds")
        if (stds <= 0).any():
            raise ValueError(f"clusters.stds must be positive, got {stds.tolist()}")
        centroids = _finite(d["centroids"], (k, dims), "clusters.centroids")
        profiles = d["profiles"]
        if (not isinstance(profiles, list) or len(profiles) != k
                or any(not isinstance(p, dict) or type(p.get("cluster")) is not int
                       or p["cluster"] != i or not isinstance(p.get("label"), str)
                       for i, p in enumerate(profiles))):
            raise ValueError(f"clusters.profiles must hold {k} objects, the i-th with "
                             "cluster = i and a label")
        for i, p in enumerate(profiles):  # the report draws them (a text there was exit 1)
            for part in ("centroid_z", "centroid"):
                values = p.get(part)
                if not isinstance(values, dict) or set(values) != set(features):
                    raise ValueError(f"clusters.profiles[{i}].{part} must map each feature "
                                     f"({', '.join(features)}) to a number, got "
                                     f"{values!r}"[:300])
                _finite(list(values.values()), (dims,), f"clusters.profiles[{i}].{part}")
        if not isinstance(d["selection"], dict):
            raise ValueError("clusters.selection must be an object")
        return cls(
            features=tuple(features),
            log_features=tuple(f for f in features if transforms[f] == "log1p_clip0"),
            means=means, stds=stds, centroids=centroids,
            selection=d["selection"],
            profiles=tuple(profiles),
        )


def _finite(value, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``value`` (nested JSON lists of numbers) as a float64 array of ``shape`` with finite
    values only; ValueError naming the field otherwise."""
    try:  # numbers only: numpy would also take True and "1"
        bad = not all(type(v) in (int, float)
                      for v in np.ravel(np.asarray(value, dtype=object)))
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond float64
        bad, arr = True, np.empty(0)
    if bad or arr.shape != shape or not np.isfinite(arr).all():
        dims = " × ".join(map(str, shape))
        raise ValueError(f"{name} must hold {dims} finite numbers, got {value!r}"[:300])
    return arr


def fit_clusters(features: pl.DataFrame, settings: ClusterSettings) -> ClusterModel:
    """Fit the clustering of a per-customer feature table (one row per customer)."""
    return fit_assign_clusters(features, settings)[0]


def fit_assign_clusters(features: pl.DataFrame,
                        settings: ClusterSettings) -> tuple[ClusterModel, np.ndarray]:
    """Fit as ``fit_clusters`` and also return the cluster id of every row: int32 (n,)."""
    _check_columns(features, settings.features)
    if features.height == 0:
        raise ValueError("cannot cluster an empty feature table")
    logs = tuple(f for f in settings.features if f in settings.log_features)
    means, stds, X = _fit_scaling(features, settings.features, logs)
    rng = np.random.default_rng(settings.random_state)
    sample = X[_rows(rng, X.shape[0], settings.sample_size)]
    k_cap = _distinct_rows(sample, X, settings.k or settings.k_max)
    k, selection = _choose_k(sample, settings, k_cap, rng)
    est = MiniBatchKMeans(k, random_state=settings.random_state).fit(X)
    centroids = _canonical_order(est.cluster_centers_, settings.features)
    labels, inertia = assign_labels(X, centroids)
    selection["inertia"] = inertia
    profiles = _profiles(features, labels, settings.features, centroids, means, stds, logs)
    model = ClusterModel(settings.features, logs, means, stds, centroids, selection, profiles)
    return model, labels


def unknown_features(names: tuple[str, ...]) -> list[str]:
    """The names that are neither in FEATURES nor of the share_<channel> form."""
    return [n for n in names if n not in FEATURES and not SHARE_FEATURE.match(n)
            and not (n.startswith(ATTRIBUTE_PREFIX) and len(n) > len(ATTRIBUTE_PREFIX))]


def attribute_columns(names: tuple[str, ...]) -> list[str]:
    """The attribute columns named by ``attr:<column>`` features in ``names``, in order."""
    return [n[len(ATTRIBUTE_PREFIX):] for n in names if n.startswith(ATTRIBUTE_PREFIX)]


def check_input_features(names: tuple[str, ...], shares: tuple[str, ...] | None,
                         has_categories: bool, where: str) -> None:
    """InputError unless every input-dependent feature in ``names`` is this input's: a share
    column in ``shares``, or distinct_categories with ``has_categories`` (a category column).
    ``shares`` None: the input has a channel column whose values are not known yet (before
    the row pass), so share features are not checked; ``where`` names the feature list (the
    file and key)."""
    for name in names:
        if name == "distinct_categories":
            if has_categories:
                continue
            raise InputError(f"{where}: 'distinct_categories' needs a category column, "
                             "and this input has none")
        if name in FEATURES or name.startswith(ATTRIBUTE_PREFIX) or shares is None \
                or name in shares:
            continue
        raise InputError(f"{where}: {name!r} is not a channel share column of this input; "
                         f"its share columns: {', '.join(shares) or 'none (no channel column)'}")


def _check_columns(features: pl.DataFrame, names: tuple[str, ...]) -> None:
    missing = [f for f in names if f not in features.columns]
    if missing:
        raise ValueError(f"cluster features missing from the feature table: {missing}")
    bad = [f for f in names if not features.schema[f].is_numeric()]
    if bad:
        raise ValueError(f"cluster features must be numeric: {bad}")


def _raw_column(features: pl.DataFrame, name: str) -> np.ndarray:
    """A numeric column as a NumPy array, nulls as NaN (no copy for a null-free int/float)."""
    col = features.get_column(name)
    if not (col.dtype.is_integer() or col.dtype.is_float()):
        col = col.cast(pl.Float64)
    return col.to_numpy()


def _fit_scaling(features: pl.DataFrame, names, logs) -> tuple[np.ndarray, np.ndarray,
                                                              np.ndarray]:
    """Mean and population std of every transformed feature (float64 (d,) each; a std of 0
    or of no values becomes 1) and the z-score matrix float32 (n, d)."""
    d = len(names)
    means, stds = np.zeros(d), np.ones(d)
    X = np.empty((features.height, d), dtype=np.float32)
    values = np.empty(features.height, dtype=np.float64)
    for j, name in enumerate(names):
        mean, std, _ = _transform_moments(*_narrow_log(_raw_column(features, name),
                                                       name in logs, values), values)
        means[j], stds[j] = mean, std or 1.0
        _transform_zscore_into(values, False, means[j], stds[j], X, j)  # already transformed
    return means, stds, X


def _narrow_log(column: np.ndarray, log: bool, values: np.ndarray) -> tuple[np.ndarray, bool]:
    """(column, log) for _transform_moments. An integer column under log with a range of at
    most LOOKUP_SPAN values is transformed here by table lookup (one log1p per distinct
    value instead of per row: recency and frequency) and comes back as (values, False)."""
    if not log or column.dtype.kind not in "iu" or column.shape[0] == 0:
        return column, log
    lo, hi = int(column.min()), int(column.max())
    if hi - lo >= LOOKUP_SPAN or lo <= -(2**62) or hi >= 2**62:
        return column, log
    table = np.empty(hi - lo + 1, dtype=np.float64)
    _transform_table(np.int64(lo), True, table)
    _lookup_into(column, np.int64(lo), table, values)
    return values, False


def _rows(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """min(size, n) distinct sorted row indices."""
    if size >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


def _distinct_rows(sample: np.ndarray, X: np.ndarray, limit: int) -> int:
    """min(limit, number of distinct rows of X); looks at all of X only when the sample is short."""
    found = np.unique(sample, axis=0).shape[0]
    if found < limit and sample.shape[0] < X.shape[0]:
        found = np.unique(X, axis=0).shape[0]
    return min(limit, found)


def _choose_k(sample: np.ndarray, settings: ClusterSettings, k_cap: int,
              rng: np.random.Generator) -> tuple[int, dict]:
    """K to use (≤ k_cap) and the selection record."""
    selection = {"method": "fixed" if settings.k else "silhouette", "candidates": [],
                 "sample_rows": int(sample.shape[0])}
    if settings.k or k_cap < settings.k_min:
        k = min(settings.k, k_cap) if settings.k else k_cap
        asked = settings.k or settings.k_min
        if k < asked:  # fewer distinct feature rows than clusters asked for: said, not silent
            selection["k_reduced"] = {"asked": asked, "distinct_feature_rows": k_cap, "k": k}
        return k, selection
    sub = np.ascontiguousarray(sample[_rows(rng, sample.shape[0], SILHOUETTE_ROWS)])
    selection["silhouette_rows"] = int(sub.shape[0])
    best_k, best_score = 0, -np.inf
    candidates = range(settings.k_min, k_cap + 1)
    fitted = _fit_candidates(sample, candidates, settings.random_state)
    scores = silhouette_scores(sub, [est.predict(sub) for est in fitted])
    for k, est, score in zip(candidates, fitted, scores, strict=True):
        selection["candidates"].append({"k": k, "silhouette": score,
                                        "inertia": float(est.inertia_)})
        if score > best_score:
            best_k, best_score = k, score
    return best_k, selection


def _fit_candidates(sample: np.ndarray, ks, random_state: int) -> list[MiniBatchKMeans]:
    """One fitted estimator per K in ``ks``, on ``sample`` (n, d).

    The fits are independent, so they run in up to numba's thread count of Python threads
    when the sample is a single kernel chunk (serial, GIL-free kernels); the results do not
    depend on the number of threads.
    """
    def fit(k: int) -> MiniBatchKMeans:
        return MiniBatchKMeans(k, random_state=random_state).fit(sample)

    workers = min(len(ks), numba.get_num_threads()) if n_chunks(sample.shape[0]) == 1 else 1
    if workers <= 1:
        return [fit(k) for k in ks]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fit, ks))


def silhouette_score(X: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient (Euclidean) of X (n, d) under labels (n,); O(n² d).

    0.0 when fewer than two clusters are non-empty.
    """
    return silhouette_scores(X, [labels])[0]


def silhouette_scores(X: np.ndarray, labelings: list[np.ndarray]) -> list[float]:
    """``silhouette_score`` of X (n, d) under each labeling (n,) in ``labelings``, with each
    pair's distance computed once for all of them (same values as one at a time)."""
    X = np.ascontiguousarray(X)
    labels = np.ascontiguousarray(np.stack(labelings), dtype=np.int32).reshape(
        len(labelings), X.shape[0])
    k = int(labels.max()) + 1 if labels.size else 1
    sizes = np.stack([np.bincount(row, minlength=k) for row in labels]).astype(np.int64)
    scored = np.flatnonzero(np.count_nonzero(sizes, axis=1) >= 2)
    means = [0.0] * len(labelings)
    if scored.size:
        out = np.empty((scored.size, X.shape[0]), dtype=np.float64)
        _silhouette_samples(X, labels[scored], sizes[scored], out)
        for row, j in zip(out, scored.tolist()):
            means[j] = float(row.mean())
    return means


def _canonical_order(centers: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Centres sorted by descending monetary z, ties by the other features (descending)."""
    first = names.index("monetary") if "monetary" in names else 0
    priority = [first] + [j for j in range(len(names)) if j != first]
    order = np.lexsort([-centers[:, j] for j in reversed(priority)])
    return np.ascontiguousarray(centers[order])


def cluster_label(z: np.ndarray, names: tuple[str, ...]) -> str:
    """Plain-language label of one centroid from its z-scores (see the module docstring)."""
    words = []
    for name, value in zip(names, z, strict=True):
        low, high = _WORDS.get(name, (f"low {_shown(name)}", f"high {_shown(name)}"))
        if value >= Z_HIGH:
            words.append(high)
        elif value <= -Z_HIGH:
            words.append(low)
    return " · ".join(words) or "average"


def _shown(name: str) -> str:
    """How a label names a feature: an attribute without its ``attr:`` prefix, unless the
    column is named as an engine feature (``attr:frequency`` beside "frequent")."""
    shown = name.removeprefix(ATTRIBUTE_PREFIX)
    return name if shown in FEATURES or SHARE_FEATURE.match(shown) else shown


def _profiles(features, labels, names, centroids, means, stds, logs) -> tuple[dict, ...]:
    """Per cluster id: size, share, label, centroid (z and original units), medians."""
    n = labels.shape[0]
    sizes = np.bincount(labels, minlength=centroids.shape[0])
    medians = (features.select(names).with_columns(pl.Series("_cluster", labels))
               .group_by("_cluster").agg(pl.col(f).median() for f in names))
    by_id = {row["_cluster"]: row for row in medians.iter_rows(named=True)}
    original = centroids * stds + means
    for j, f in enumerate(names):
        if f in logs:
            original[:, j] = np.expm1(original[:, j])
    labels_text = _unique_labels([cluster_label(z, names) for z in centroids])
    return tuple(
        {
            "cluster": c,
            "label": labels_text[c],
            "size": int(sizes[c]),
            "share": float(sizes[c] / n),
            "centroid_z": {f: float(centroids[c, j]) for j, f in enumerate(names)},
            "centroid": {f: float(original[c, j]) for j, f in enumerate(names)},
            "median": {f: _json_number(by_id.get(c, {}).get(f)) for f in names},
        }
        for c in range(centroids.shape[0])
    )


def _unique_labels(labels: list[str]) -> list[str]:
    """Append " (2)", " (3)"… to repeated labels, in order."""
    seen: dict[str, int] = {}
    out = []
    for text in labels:
        seen[text] = seen.get(text, 0) + 1
        out.append(text if seen[text] == 1 else f"{text} ({seen[text]})")
    return out


def _json_number(v) -> float | None:
    """A median as a JSON-safe float (None when missing or NaN)."""
    return None if v is None or v != v else float(v)
