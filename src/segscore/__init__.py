"""segscore: batch customer segmentation — RFM features, quantile scores, named segments,
value tiers, lifecycle stages and behavioural clusters from Parquet transactions."""

__version__ = "0.1.0"

import os

# polars' own switch, read when polars is imported (so set before anything imports it):
# its allocator (jemalloc) backs its arenas with transparent huge pages, so a batch's fresh
# buffers take one page fault per 2 MiB instead of one per 4 KiB. Measured at 10M customers
# over six alternating CLI pairs: median 8.7 vs 9.2 s, the same peak RSS (docs/decisions.md).
# Without effect if polars was imported first; a user's own setting wins.
os.environ.setdefault("POLARS_THP", "1")

from segscore.errors import ConfigError, InputError, SegscoreError  # noqa: E402

#: the API's names that need polars and numba, imported on first use: the CLI (which
#: imports this package first) starts without them, so it can check the environment
#: variables they read and catch a Ctrl-C while they load (docs/bad-input.md)
_LAZY = {"RunConfig": "segscore.config", "load_config": "segscore.config",
         "RunResult": "segscore.pipeline", "run": "segscore.pipeline"}
#: segscore.environment.check() has passed in this process (numba and polars read those
#: variables once, when they load)
_environment_checked = False


def __getattr__(name: str):
    """``segscore.run`` and the other names of ``_LAZY``, imported when first asked for,
    after the environment check the CLI makes (an InputError naming a variable numba or
    polars cannot use, not numba's own error while it loads)."""
    global _environment_checked
    if name not in _LAZY:
        raise AttributeError(f"module 'segscore' has no attribute {name!r}")
    import importlib

    if not _environment_checked:
        importlib.import_module("segscore.environment").check()
        _environment_checked = True
    value = globals()[name] = getattr(importlib.import_module(_LAZY[name]), name)
    return value


def __dir__() -> list[str]:
    """The module's names with the API's not yet imported ones (help(), completion)."""
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["ConfigError", "InputError", "RunConfig", "RunResult", "SegscoreError", "__version__",
           "load_config", "run"]
