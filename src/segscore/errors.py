"""Exception types: the CLI maps InputError to exit code 2, anything else to 1."""


class SegscoreError(Exception):
    """Base class of segscore's own errors."""


class InputError(SegscoreError):
    """Bad input, config or usage: the user can fix it. Exit code 2, nothing written."""


class ConfigError(InputError):
    """A config file or option is invalid; the message names the file and the key."""
