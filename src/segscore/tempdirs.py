"""Temporary directories named after the process that made them, so that one a killed
process left behind (SIGKILL: the OOM killer, a scheduler's timeout) can be told from one a
running process is using, and removed by a later run.

A name is ``<prefix><host>-<pid>-<start>-<random>``: the host (a temporary directory shared
between machines holds other hosts' directories, never touched), the owner's pid and its
start time (clock ticks after boot, from /proc/<pid>/stat; 0 where there is no /proc), so
that a pid taken again by another process after the owner died (a container whose command
is always pid 1) does not pass for the owner.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

#: what follows the prefix in a name ``make`` gave: host (which may hold "-"), pid, start and
#: mkdtemp's random letters
_OWNER = re.compile(r"(.*)-([0-9]+)-([0-9]+)-[^-]+")


def make(prefix: str, parent: Path | None) -> Path:
    """A new private directory under ``parent`` (None: the system's temporary directory)
    named after this process."""
    pid = os.getpid()
    owner = f"{prefix}{_host()}-{pid}-{_start(pid)}-"
    return Path(tempfile.mkdtemp(prefix=owner, dir=parent))


def remove_stale(prefix: str) -> None:
    """Remove the directories ``make(prefix, None)`` made in the system's temporary
    directory whose owner is no longer running on this host. Other hosts' directories,
    those of a running process (this one included) and names of another form are kept; one
    that cannot be removed (another user's) is left."""
    root = Path(tempfile.gettempdir())
    try:
        names = [p.name for p in root.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for name in names:
        owner = _OWNER.fullmatch(name[len(prefix):])
        if owner is None or owner[1] != _host():
            continue
        path = root / name
        if not _running(int(owner[2]), owner[3]) and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


def _host() -> str:
    return socket.gethostname().replace(os.sep, "_")


def _running(pid: int, start: str) -> bool:
    """True while the process that made a directory named ``pid`` and ``start`` runs."""
    now = _start(pid)
    return now is not None and (now == start or "0" in (now, start))


def _start(pid: int) -> str | None:
    """Process ``pid``'s start time in clock ticks after boot; "0" when it runs but this
    cannot tell (no /proc); None when no such process runs (a zombie is not running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:  # another user's
            pass
        return "0"
    except OSError:
        return "0"
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return None if fields[0] in ("Z", "X") else fields[19]
