"""The one place for numba compilation options.

``fastmath`` stays off everywhere: results must be bit-identical whatever the thread count,
and reassociation would break that. ``cache=True`` keeps the warm start well under a second.
"""

SERIAL = {"nogil": True, "cache": True, "fastmath": False}
PARALLEL = {**SERIAL, "parallel": True}
