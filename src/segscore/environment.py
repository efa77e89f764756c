"""The environment variables numba and polars read to size and choose their thread pools,
checked before either is imported: a value they cannot use is an InputError naming the
variable and its value (numba failed at import with a traceback, polars panicked in the row
pass, a missing threading layer failed at the first parallel kernel), and an address-space
limit (``ulimit -v``) too small for them (segscore.address_space)."""

from __future__ import annotations

import os
import re
import shlex

from segscore import address_space
from segscore.errors import InputError

#: a count as both read it (numba with int(), polars trims and takes an optional "+")
_COUNT = re.compile(r"\s*\+?[0-9]+\s*")

#: variable → what it sizes
_COUNTS = {"NUMBA_NUM_THREADS": "the threads of numba's pool",
           "POLARS_MAX_THREADS": "the threads of polars' pool"}


def check(address_space_limit: bool = True) -> None:
    """Raise InputError for the first of these variables numba or polars cannot use, then
    (``address_space_limit``: for commands that load them) for an address-space limit too
    small for them. A set NUMBA_THREADING_LAYER starts numba's thread pool to see that the
    layer loads."""
    for name, sizes in _COUNTS.items():
        value = os.environ.get(name)
        # empty (``NAME=${X:-}`` in a script) is unset to both libraries: the default
        if value is not None and value.strip() and not (_COUNT.fullmatch(value)
                                                        and int(value) > 0):
            raise InputError(f"{name}={shlex.quote(value)}: must be a positive integer "
                             f"({sizes}); unset it for one per CPU")
    if address_space_limit:
        address_space.check()
    layer = os.environ.get("NUMBA_THREADING_LAYER")
    if layer is not None:
        from numba.np.ufunc.parallel import _launch_threads

        try:
            _launch_threads()
        except ValueError as exc:  # unknown, or its library (TBB, OpenMP) is not installed
            raise InputError(f"NUMBA_THREADING_LAYER={shlex.quote(layer)}: numba cannot start "
                             f"this threading layer ({' '.join(str(exc).split())}); unset it "
                             "for numba's default") from None
