"""Reading only regular files where a file is expected: a FIFO, a device or a socket
(``--config /dev/zero``, a named pipe given as ``--customers``) would block the read, or
never end it."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    """What a non-regular file of ``mode`` (st_mode) is, in words."""
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def not_regular(path) -> str | None:
    """Why ``path`` cannot be read as a file, when it exists and is neither a regular file
    nor a directory ("not a regular file (a FIFO)"); None otherwise (a missing path or a
    directory gets its own message where it is read). Symlinks are followed."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return f"not a regular file ({_kind(mode)})"


def read_text(path: Path | str, encoding: str) -> str:
    """The text of the regular file ``path``. OSError (its text: "not a regular file (a
    FIFO)") for a FIFO, device or socket: opened without blocking and checked before any
    read; IsADirectoryError for a directory, as ``Path.read_text`` raises."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(mode):
            raise OSError(f"not a regular file ({_kind(mode)})")
        os.set_blocking(fd, True)
        with os.fdopen(fd, encoding=encoding) as f:
            fd = -1  # closed with f
            return f.read()
    finally:
        if fd >= 0:
            os.close(fd)
