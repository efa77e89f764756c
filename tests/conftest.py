"""Shared pytest fixtures and hypothesis settings."""

import os

from hypothesis import settings

# The kernels are compared at 1 and 2 numba threads. numba's pool defaults to the CPUs usable,
# so on a 1-CPU runner ask for 2 (before numba is imported), or those tests could not run.
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
if "NUMBA_NUM_THREADS" not in os.environ and (_CPUS or 1) < 2:
    os.environ["NUMBA_NUM_THREADS"] = "2"

settings.register_profile("ci", max_examples=60, deadline=None)
settings.load_profile("ci")
