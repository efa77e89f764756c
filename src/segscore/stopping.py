"""A stop that a signal asked for (SIGTERM, Ctrl-C), remembered for the output's commit.

The CLI's signal handlers raise in the main thread, wherever it is. When that lands inside
a library's callback (llvmlite calls Python from C), the library may swallow the exception
and the run goes on; the request stays set here, and ``RunDirectory.commit`` refuses to
replace the output once a stop was asked for.
"""

from __future__ import annotations

import threading

_REQUESTED = threading.Event()
_SIGNAL: list[str] = []


class Terminated(BaseException):
    """A signal asked the run to stop (its name is the message: "SIGTERM", "SIGINT")."""


def request(signal_name: str) -> None:
    """Remember that ``signal_name`` asked the process to stop."""
    _SIGNAL[:] = [signal_name]
    _REQUESTED.set()


def requested() -> str | None:
    """The name of the signal that asked for a stop, when one did."""
    return (_SIGNAL[0] if _SIGNAL else "a signal") if _REQUESTED.is_set() else None


def check() -> None:
    """Raise Terminated when a stop was asked for (the commit calls it before the swap)."""
    if (name := requested()) is not None:
        raise Terminated(name)


def reset() -> None:
    """Forget a stop request (a process that runs again, e.g. the tests)."""
    _REQUESTED.clear()
    _SIGNAL.clear()
