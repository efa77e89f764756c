"""First-matching-rule kernel (numba) for rule tables over integer fields.

Private: it never validates. ``segscore.segments`` is the typed wrapper.
"""

import numpy as np
from numba import njit, prange

from native_kernels._options import PARALLEL


@njit(**PARALLEL)
def _first_match(a, b, c, lo, hi, out):
    """out[i] = the first rule j with lo[j, k] <= v_k <= hi[j, k] for the three fields
    (v_0 = a[i], v_1 = b[i], v_2 = c[i]), -1 when no rule matches.

    a, b, c: IN integer (n,); lo, hi: IN int64 (rules, 3), an open bound as the int64 limit;
    out: OUT int16 (n,). Each row is independent, so any thread count gives the same out.
    """
    rules = lo.shape[0]
    for i in prange(a.shape[0]):
        x0 = np.int64(a[i])
        x1 = np.int64(b[i])
        x2 = np.int64(c[i])
        found = -1
        for j in range(rules):
            if (lo[j, 0] <= x0 and x0 <= hi[j, 0] and lo[j, 1] <= x1 and x1 <= hi[j, 1]
                    and lo[j, 2] <= x2 and x2 <= hi[j, 2]):
                found = j
                break
        out[i] = found
