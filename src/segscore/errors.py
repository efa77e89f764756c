"""Exception types: the CLI maps InputError to exit code 2, anything else to 1."""

import os
import unicodedata


class SegscoreError(Exception):
    """Base class of segscore's own errors."""


class InputError(SegscoreError):
    """Bad input, config or usage: the user can fix it. Exit code 2, nothing written."""


class ConfigError(InputError):
    """A config file or option is invalid; the message names the file and the key.
    ``key``: the config key at fault ("scoring.window_days"), when one is, so a caller that
    set it from a flag can name the flag."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


def naming_flag(exc: InputError, flags: dict[str, str], source=None) -> InputError:
    """``exc``, or, for a ConfigError about a config key, the same error naming where the key
    was set first, as the config checks do: the CLI flag (``flags``: key → "--flag value"),
    else the config file ``source`` when one was given."""
    if isinstance(exc, ConfigError) and exc.key is not None:
        if exc.key in flags:
            return ConfigError(f"{flags[exc.key]}: {exc}", key=exc.key)
        if source is not None:
            return ConfigError(f"{source}: {exc.key}: {exc}", key=exc.key)
    return exc


def one_line(text: str) -> str:
    """``text`` with its control characters (a newline or tab in a file or column name)
    written as Python escapes (``\\n``), so a message naming them stays one line."""
    return "".join(repr(c)[1:-1] if unicodedata.category(c) == "Cc" else c for c in text)


def not_utf8(path) -> str | None:
    """Why ``path`` cannot be used, when a name in it is not valid UTF-8 (a Latin-1 ``é``
    byte, which Python keeps as a surrogate): polars and pyarrow open UTF-8 paths only.
    The message shows the path with such bytes as ``\\xe9``. None when it is valid."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(text).decode("utf-8", "backslashreplace")
        return (f"{one_line(shown)}: the path is not valid UTF-8, and polars and pyarrow "
                "open UTF-8 paths only; rename it")
    return None
