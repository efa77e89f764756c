"""Whether parallel numba kernels may be launched from two Python threads at once.

numba's ``workqueue`` threading layer (its fallback when neither libgomp nor TBB is
installed: slim containers, macOS) aborts the whole process (SIGABRT) when two threads
launch parallel kernels at the same time; ``omp`` and ``tbb`` allow it. The places that run
kernels side by side in threads (the score cut points, the accumulator's distinct counts)
ask here and run one after another under ``workqueue``; the results are the same either way.
"""

from __future__ import annotations

from functools import lru_cache

import numba


@lru_cache(maxsize=1)
def parallel_kernels_may_overlap() -> bool:
    """True unless numba's threading layer is ``workqueue`` (or cannot be determined). Starts
    numba's thread pool if no parallel kernel has run yet (the layer is chosen then)."""
    try:
        from numba.np.ufunc.parallel import _launch_threads

        _launch_threads()
        return numba.threading_layer() != "workqueue"
    except Exception:  # an unknown numba internals change: one at a time is always safe
        return False
