"""The one place for numba compilation options.

``fastmath`` stays off everywhere: results must be bit-identical whatever the thread count,
and reassociation would break that. ``cache=True`` keeps the warm start well under a second.

Where numba can write no cache (a read-only install whose HOME is read-only too, as in many
containers, and no ``NUMBA_CACHE_DIR``), it refuses every ``cache=True`` kernel at import, so
even ``segscore --help`` failed: the cache then goes to a private directory under the system
temp dir, or, when there is none either, kernels are compiled in every process.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def _can_write(directory: Path) -> bool:
    """Whether a file can be created in ``directory`` (created if missing), as numba checks."""
    try:
        os.makedirs(directory, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
        return True
    except OSError:
        return False


def _private_dir(directory: Path) -> bool:
    """Whether ``directory`` is (made) a real directory of this user that no one else can
    write: numba loads code from its cache, so a shared temp dir must not be another's."""
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        st = os.lstat(directory)
    except OSError:
        return False
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
            and not st.st_mode & 0o022 and _can_write(directory))


def cache_choice(candidates: list[Path], fallback: Path) -> tuple[bool, str | None]:
    """(cache or not, the directory to give numba or None for its own choice): numba's own
    when it can write one of ``candidates``, else the private ``fallback``, else no cache."""
    if any(_can_write(d) for d in candidates):
        return True, None
    if _private_dir(fallback):
        return True, str(fallback)
    return False, None


def _configure() -> bool:
    """Point numba at a usable cache directory when it has none; whether to cache."""
    from numba.core import config
    from numba.misc.appdirs import AppDirs

    if config.CACHE_DIR:  # the user's choice (NUMBA_CACHE_DIR): numba reports its problems
        return True
    in_tree = Path(__file__).resolve().parent / "__pycache__"
    user_wide = Path(AppDirs(appname="numba", appauthor=False).user_cache_dir)
    try:
        fallback = Path(tempfile.gettempdir()) / f"segscore-numba-cache-{os.getuid()}"
    except FileNotFoundError:  # no usable temp dir either
        fallback = Path(os.devnull) / "none"
    cache, directory = cache_choice([in_tree, user_wide], fallback)
    if directory is not None:
        config.CACHE_DIR = directory
    return cache


SERIAL = {"nogil": True, "cache": _configure(), "fastmath": False}
PARALLEL = {**SERIAL, "parallel": True}
