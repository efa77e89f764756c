"""The ``segscore`` command (and ``python -m segscore``): the CLI, with SIGINT (Ctrl-C) and
SIGTERM answered from its first line.

The CLI sets its own handlers when a command starts (cli.main). Before that, while click and
rich load (≈ 50 ms) and the arguments are parsed, a signal got Python's traceback. Nothing
has been written then, so the handler set here prints the CLI's one-line message and exits 1
at once. (No ``from __future__ import``: it imports a module too.)
"""

import _signal  # the C module that signal wraps: importing signal builds enums (≈ 5 ms)
import os

#: the signals handled here, by name
SIGNALS = {_signal.SIGTERM: "SIGTERM", _signal.SIGINT: "SIGINT"}
#: the handlers the interpreter had before :func:`main`, put back when the command returns
#: (by cli.main, at once: the ones set here would say a finished command was stopped)
ORIGINAL: dict[int, object] = {}


def message(signal_name: str) -> str:
    """The CLI's line for a command that ``signal_name`` stopped (it exits 1)."""
    return (f"error: terminated ({signal_name}); the run's temporary files were removed and "
            "nothing was replaced unless it had finished")


def _stop_while_loading(signum, frame) -> None:
    try:
        os.write(2, f"{message(SIGNALS[signum])}\n".encode())
    except OSError:  # no stderr
        pass
    os._exit(1)


def main() -> None:
    """Run the ``segscore`` command line."""
    for sig in SIGNALS:
        ORIGINAL[sig] = _signal.signal(sig, _stop_while_loading)
    try:
        from segscore.cli import main as cli

        cli(prog_name="segscore")
    finally:  # also after --help, --version or a usage error, which end before cli.main's
        for sig, handler in ORIGINAL.items():
            _signal.signal(sig, handler)
