"""Plain-NumPy references for native_kernels.scaling (slow, obviously correct).

NaN means null: it is skipped by the moments and scores 0. The transform is the identity, or
log1p of the value clipped at 0.
"""

import numpy as np


def naive_scaling(column, log):
    """(transformed float64 values, mean, population std, count) of a column, NaN = null;
    (values, 0.0, 0.0, 0) without a non-null value; exactly (value, 0.0, count) when every
    non-null value is the same."""
    x = np.asarray(column, dtype=np.float64)
    if log:
        x = np.where(np.isnan(x), np.nan, np.log1p(np.clip(x, 0.0, None)))
    ok = x[~np.isnan(x)]
    if ok.size == 0:
        return x, 0.0, 0.0, 0
    if ok.min() == ok.max():  # a constant: exactly its value and 0 (a summed mean may be off)
        return x, float(ok[0]), 0.0, int(ok.size)
    return x, float(ok.mean()), float(ok.std()), int(ok.size)


def naive_z(values, mean, std):
    """z-scores of transformed values as float32: (value − mean) / std, 0 for null."""
    return np.where(np.isnan(values), 0.0, (values - mean) / std).astype(np.float32)
