"""K-means benchmarks: segscore MiniBatchKMeans vs scikit-learn KMeans / MiniBatchKMeans.

pytest-benchmark suite (CI-sized, 200k x 4 float32, k = 8):
    pytest benchmarks/bench_kmeans.py --benchmark-only
Large comparison (10M x 4 float32, k = 8; each run in its own process, peak RSS measured):
    python benchmarks/bench_kmeans.py [n_rows] [seeds] [timeout_s] [run_minibatch 0/1]
(ours and sklearn KMeans alternate for random_state 0..seeds-1; sklearn MiniBatchKMeans with
its defaults runs once, seed 0: at 10M it takes ~15 min).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
K = 8
WARM_GIB = 2.0
WARM_ROWS = 200_000  # > 1 kernel chunk (65,536 rows): the warm-up loads the parallel kernels


def rfm_matrix(n: int, seed: int = 0, chunk: int = 1_000_000) -> np.ndarray:
    """RFM-like standardized features (heavy-tailed spend/frequency), float32 (n, 4).

    Built chunk by chunk so the peak stays near the size of the result.
    """
    rng = np.random.default_rng(seed)
    X = np.empty((n, 4), dtype=np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        freq = rng.negative_binomial(1, 0.25, m) + 1.0
        spend = freq * rng.lognormal(3.5, 1.0, m) * rng.pareto(3.0, m).clip(0.2, 50)
        recency = rng.exponential(120, m).round()
        tenure = recency + rng.gamma(2.0, 200, m).round()
        X[start:start + m] = np.column_stack(
            [np.log1p(recency), np.log1p(freq), np.log1p(spend), tenure / 400.0])
    mean = X.mean(axis=0, dtype=np.float64)
    std = X.std(axis=0, dtype=np.float64)
    for j in range(4):
        X[:, j] = (X[:, j] - mean[j]) / std[j]
    return X


@pytest.fixture(scope="module")
def X200k():
    return rfm_matrix(200_000)


@pytest.fixture(scope="module")
def fitted(X200k):
    from segscore.clustering import MiniBatchKMeans

    return MiniBatchKMeans(K, random_state=0).fit(X200k)


def test_assign_ours(benchmark, X200k, fitted):
    benchmark(fitted.predict, X200k)


def test_assign_sklearn(benchmark, X200k):
    from sklearn.cluster import KMeans

    km = KMeans(K, n_init=1, max_iter=5, random_state=0).fit(X200k)
    benchmark(km.predict, X200k)


def test_fit_ours(benchmark, X200k):
    from segscore.clustering import MiniBatchKMeans

    benchmark(lambda: MiniBatchKMeans(K, random_state=0).fit(X200k))


def test_fit_sklearn_kmeans(benchmark, X200k):
    from sklearn.cluster import KMeans

    benchmark.pedantic(lambda: KMeans(K, n_init=1, random_state=0).fit(X200k), rounds=3)


def test_fit_sklearn_minibatch(benchmark, X200k):
    from sklearn.cluster import MiniBatchKMeans

    benchmark.pedantic(lambda: MiniBatchKMeans(K, random_state=0).fit(X200k), rounds=3)


# ---------------------------------------------------------------- 10M comparison

def _one_run(which: str, path: str, seed: int = 0) -> dict:
    """fit_predict (fit + the final assignment of every row) with ``random_state=seed`` in
    this process: wall time, inertia and peak RSS above the RSS with X loaded (bytes).
    Compilation, numba cache loads and thread-pool start-up happen before, on a warm-up
    matrix large enough (WARM_ROWS) to take the multi-chunk parallel kernels' code paths."""
    warm = rfm_matrix(WARM_ROWS, seed=1)
    if which == "ours":
        from segscore.clustering import MiniBatchKMeans

        make = lambda: MiniBatchKMeans(K, random_state=seed)  # noqa: E731
    elif which == "sklearn_kmeans":
        from sklearn.cluster import KMeans

        make = lambda: KMeans(K, n_init=1, random_state=seed)  # noqa: E731
    else:
        from sklearn.cluster import MiniBatchKMeans as SkMiniBatchKMeans

        make = lambda: SkMiniBatchKMeans(K, random_state=seed)  # noqa: E731
    make().fit(warm).predict(warm)  # compile / import outside the measurement
    X = np.load(path)
    # touch and free WARM_GIB first: this VM charges ~2.5 s/GiB for pages it has not handed
    # out recently, which would bill each estimator for its allocations' page faults
    np.ones(int(WARM_GIB * 2**27)).sum()
    base = _reset_peak_rss()
    t0 = time.perf_counter()
    model = make()
    labels = model.fit_predict(X)
    wall = time.perf_counter() - t0
    return {"which": which, "seed": seed, "seconds": wall, "inertia": float(model.inertia_),
            "extra_peak_bytes": _status_bytes("VmHWM") - base, "x_bytes": X.nbytes,
            "n_labels": int(labels.shape[0])}


def _status_bytes(field: str) -> int:
    """A memory field of /proc/self/status (Linux), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> int:
    """Reset the peak-RSS mark (Linux clear_refs 5); return the current RSS in bytes."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_bytes("VmRSS")


def _run_subprocess(which: str, path: str, seed: int, timeout: float) -> dict:
    paths = [os.environ.get("PYTHONPATH", ""), str(ROOT / "src"), str(ROOT)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r});"
            f"import bench_kmeans as b; print(json.dumps(b._one_run({which!r}, {path!r}, {seed})))")
    try:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"which": which, "seed": seed, "timeout": timeout}
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(n: int = 10_000_000, seeds: int = 3, timeout: float = 300.0,
            minibatch: bool = True) -> list[dict]:
    """Fit + assign on n x 4 float32, k = 8, every run in a fresh process: ours and sklearn
    KMeans(n_init=1) alternating for random_state 0..seeds-1, then (optionally) one sklearn
    MiniBatchKMeans run with its defaults. Returns one dict per run (also printed)."""
    path = f"/tmp/segscore_bench_kmeans_{n}.npy"
    if not os.path.exists(path):
        np.save(path, rfm_matrix(n))
    plan = [(which, seed) for seed in range(seeds) for which in ("ours", "sklearn_kmeans")]
    plan += [("sklearn_minibatch", 0)] if minibatch else []
    results = []
    for which, seed in plan:
        res = _run_subprocess(which, path, seed, timeout)
        print(json.dumps(res), flush=True)
        results.append(res)
    return results


USAGE = """usage: python benchmarks/bench_kmeans.py [n_rows] [seeds] [timeout_s] [run_minibatch 0/1]

defaults: 10000000 3 300 1. Fit + assign on n_rows x 4 float32, k = 8, every run in a fresh
process: ours and sklearn KMeans(n_init=1) alternating for random_state 0..seeds-1, then one
sklearn MiniBatchKMeans run with its defaults unless run_minibatch is 0 (at 10M it takes
~15 min). A run over timeout_s seconds is killed. Prints one JSON line per run (seconds,
inertia, peak memory above X); nothing is written to benchmarks/RESULTS_kmeans.md, which is
kept by hand. The matrix is cached in /tmp/segscore_bench_kmeans_<n_rows>.npy."""


def main(argv: list[str]) -> list[dict] | None:
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return None
    try:
        args = [float(a) for a in argv]
    except ValueError:
        raise SystemExit(USAGE) from None
    if len(args) > 4:
        raise SystemExit(USAGE)
    return compare(int(args[0]) if args else 10_000_000, int(args[1]) if len(args) > 1 else 3,
                   args[2] if len(args) > 2 else 300.0, minibatch=len(args) < 4 or bool(args[3]))


if __name__ == "__main__":
    main(sys.argv[1:])
