"""The Python API's arguments, checked before a run reads anything: a wrong type is a
TypeError naming the argument and what it takes (it was an AttributeError or a TypeError
from deep inside the run, a polars DataFrame given as ``source`` an OSError "File name too
long", ``overwrite="no"`` an overwrite), an empty or non-UTF-8 path an InputError."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from numbers import Integral
from pathlib import Path

from segscore.config import RunConfig, build_config
from segscore.errors import InputError, not_utf8

#: what a path argument takes, for the messages
_A_PATH = "a path (str or pathlib.Path)"


def source_paths(source) -> str | Path | list[str | Path]:
    """``source`` as the run reads it: a path, or a list of paths (from a list, a tuple or
    an iterator such as ``Path("tx").glob("*.parquet")``)."""
    if _is_path(source):
        return _path("source", source)
    if isinstance(source, (list, tuple, Iterator)):
        items = list(source)
        for item in items:
            if not _is_path(item):
                raise TypeError(f"source: every item must be {_A_PATH}, got "
                                f"{_kind(item)} in {type(source).__name__}")
        return [_path("source", item) for item in items]
    hint = (": segscore reads Parquet files; write the frame first (df.write_parquet(path)) "
            "and pass that path" if _is_frame(source) else "")
    raise TypeError(f"source takes the path of a Parquet file, directory or glob (str or "
                    f"pathlib.Path) or a list of them, got {_kind(source)}{hint}")


def path_or_none(name: str, value) -> str | Path | None:
    """``value`` of the path argument ``name`` (``out``, ``config_path`` …), None when not
    given."""
    if value is None:
        return None
    if not _is_path(value):
        raise TypeError(f"{name} takes {_A_PATH} or None, got {_kind(value)}")
    return _path(name, value)


def run_config(config, config_path) -> tuple[RunConfig | None, str | Path | None]:
    """``config`` as a RunConfig (a dict is the TOML's tables, validated as a config file
    is; None: loaded from ``config_path`` later) and the source a message about one of its
    keys names: ``config_path`` when the config comes from it, "config" for a dict."""
    if config is None:
        return None, config_path
    if isinstance(config, RunConfig):
        return config, None
    if isinstance(config, dict):
        return build_config(config, "config"), "config"
    if isinstance(config, (str, os.PathLike)):
        raise TypeError(f"config takes a RunConfig (segscore.load_config); pass the TOML file "
                        f"{os.fspath(config)!r} as config_path=")
    raise TypeError(f"config takes a RunConfig, a dict of the TOML's tables or None, got "
                    f"{_kind(config)}")


def check_others(as_of, overwrite, report, memory_limit_bytes, partitions,
                 on_stage) -> None:
    """TypeError for the first of the other arguments that has a type the run cannot use;
    InputError for a memory limit that is not positive (the CLI's --memory-limit is at
    least 0.1 GiB; 0 was the default budget, a negative one "the budget is -0.00 GiB")."""
    if as_of is not None and not isinstance(as_of, (str, date)):
        raise TypeError("as_of takes an ISO date or timestamp string, a datetime.date or a "
                        f"datetime.datetime (pandas.Timestamp is one), got {_kind(as_of)}")
    for name, value in (("overwrite", overwrite), ("report", report)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} takes True or False, got {_kind(value)}")
    for name, value in (("memory_limit_bytes", memory_limit_bytes),
                        ("partitions", partitions)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, Integral)):
            raise TypeError(f"{name} takes an integer or None, got {_kind(value)}")
    if memory_limit_bytes is not None and memory_limit_bytes <= 0:
        raise InputError(f"memory_limit_bytes must be a positive number of bytes, got "
                         f"{memory_limit_bytes}")
    if on_stage is not None and not callable(on_stage):
        raise TypeError(f"on_stage takes a function on_stage(name, 'start'|'end') or None, "
                        f"got {_kind(on_stage)}")


def _is_path(value) -> bool:
    """A str, or an os.PathLike whose path is a str (not bytes)."""
    return isinstance(value, str) or (isinstance(value, os.PathLike)
                                      and isinstance(os.fspath(value), str))


def _path(name: str, value: str | os.PathLike) -> str | Path:
    """``value`` (a str or a Path as given, another os.PathLike as its str), or the
    InputError of an empty or blank path (the current directory, which a run would read,
    check as last night's output or write into) or one that is not valid UTF-8."""
    value = value if isinstance(value, (str, Path)) else os.fspath(value)
    if not str(value).strip():
        raise InputError(f"{name}: an empty path; give the path itself")
    if problem := not_utf8(value):
        raise InputError(f"{name}: {problem}")
    return value


def _is_frame(value) -> bool:
    """A polars, pandas or pyarrow table (by its module: none of them is imported here)."""
    return type(value).__module__.split(".")[0] in ("polars", "pandas", "pyarrow")


def _kind(value) -> str:
    """The type of ``value`` as a message names it (``polars.DataFrame``, ``int``)."""
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return kind.__name__ if module == "builtins" else f"{module}.{kind.__name__}"
