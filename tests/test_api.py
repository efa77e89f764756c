"""The Python API as a notebook or an Airflow task calls it: the README's example as
written, the argument forms it takes (config as a dict, source as a tuple or an iterator),
the TypeError of an argument it cannot use, the result's repr, and a call from a worker
thread."""

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

import segscore
from segscore.config import load_config
from segscore_datasets import generate_transactions

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def tx(tmp_path_factory) -> Path:
    """A small generated base in ``tx/`` (three files), with five rows rejected (null
    amounts) in a file of its own."""
    root = tmp_path_factory.mktemp("api")
    gen = generate_transactions(root / "gen", 400, seed=3, files=3, attributes=False)
    (root / "tx").mkdir()
    for f in gen.files:
        (root / "tx" / f.name).write_bytes(f.read_bytes())
    first = pl.read_parquet(gen.files[0]).head(5)
    first.with_columns(pl.lit(None, dtype=pl.Float64).alias("amount")).write_parquet(
        root / "tx" / "bad.parquet")
    return root / "tx"


def test_readme_api_example_runs_as_written(tx, monkeypatch):
    """The README's Python block, copied into a script beside tx/, runs unchanged."""
    block = re.search(r"Python API:\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    monkeypatch.chdir(tx.parent)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.out_dir == tx.parent / "out"
    assert result.rejected.collect().height == 5


def test_config_as_a_dict_is_the_config_file(tx, tmp_path):
    """``config=`` takes the TOML's tables as a dict, checked as the file is (it was an
    AttributeError: 'dict' object has no attribute 'clustering')."""
    toml = tmp_path / "c.toml"
    toml.write_text("[scoring]\nwindow_days = 365\n[clustering]\nk = 3\n")
    by_dict = segscore.run(tx, config={"scoring": {"window_days": 365}, "clustering": {"k": 3}},
                           report=False)
    by_file = segscore.run(str(tx), config_path=str(toml), report=False)
    by_config = segscore.run([tx], config=load_config(toml), report=False)
    assert by_dict.manifest["config_hash"] == load_config(toml).config_hash()
    for other in (by_file, by_config):
        assert by_dict.customers.equals(other.customers)
        assert by_dict.model == other.model
    with pytest.raises(segscore.ConfigError, match=r"^config: unknown field\(s\) scorng"):
        segscore.run(tx, config={"scorng": {"window_days": 365}})


def test_a_config_key_the_run_refuses_names_the_file_as_the_cli_does(tx, tmp_path):
    """A window_days reaching before the year 1 names the config file and key, as the CLI's
    message does (the API's message named neither)."""
    toml = tmp_path / "w.toml"
    toml.write_text("[scoring]\nwindow_days = 365\n")
    with pytest.raises(segscore.ConfigError,
                       match=f"^{re.escape(str(toml))}: scoring.window_days: window_days = 365"):
        segscore.run(tx, config_path=toml, as_of="0001-03-01")
    with pytest.raises(segscore.ConfigError, match="^config: scoring.window_days: "):
        segscore.run(tx, config={"scoring": {"window_days": 365}}, as_of="0001-03-01")


def test_source_as_a_tuple_or_an_iterator_is_the_list(tx):
    """``Path.glob`` gives an iterator and a tuple is a sequence: both are the list of their
    paths (each was "…: no such file or directory" naming the object's repr)."""
    files = sorted(tx.glob("*.parquet"))
    by_list = segscore.run(files, report=False)
    for source in (tuple(files), iter(files), (str(f) for f in files)):
        assert segscore.run(source, report=False).customers.equals(by_list.customers)


@pytest.mark.parametrize("kwargs, message", [
    ({"source": "frame"}, r"got polars\.DataFrame: segscore reads Parquet files; write the "
                          r"frame first \(df\.write_parquet\(path\)\)"),
    ({"source": "pandas"}, r"got pandas\.DataFrame: segscore reads Parquet files"),
    ({"source": {"tx"}}, r"^source takes the path of a Parquet file, directory or glob .* got set"),
    ({"source": None}, r"^source takes .* got NoneType"),
    ({"source": [3]}, r"^source: every item must be a path \(str or pathlib.Path\), got int"),
    ({"out": 5}, r"^out takes a path \(str or pathlib.Path\) or None, got int"),
    ({"model_path": 1}, r"^model_path takes a path"),
    ({"config": 7}, r"^config takes a RunConfig, a dict of the TOML's tables or None, got int"),
    ({"as_of": 20260630}, r"^as_of takes an ISO date or timestamp string, a datetime\.date or "
                          r"a datetime\.datetime \(pandas\.Timestamp is one\), got int"),
    ({"as_of": np.datetime64("2026-06-30")}, r"^as_of takes .* got numpy\.datetime64"),
    ({"overwrite": "no"}, r"^overwrite takes True or False, got str"),
    ({"report": None}, r"^report takes True or False, got NoneType"),
    ({"partitions": "2"}, r"^partitions takes an integer or None, got str"),
    ({"memory_limit_bytes": 1.5e9}, r"^memory_limit_bytes takes an integer or None, got float"),
    ({"on_stage": 3}, r"^on_stage takes a function"),
])
def test_an_argument_of_a_type_the_run_cannot_use_is_a_type_error(tx, tmp_path, kwargs,
                                                                   message):
    """A TypeError naming the argument and what it takes, before anything is read or
    written (they were an AttributeError, an OSError "File name too long" for a DataFrame
    as source, a TypeError from a comparison deep inside, or ``overwrite="no"``
    overwriting)."""
    frame = pl.read_parquet(next(tx.glob("*.parquet")))
    source = kwargs.pop("source", tx)
    if isinstance(source, str):  # the frames by name
        source = {"frame": frame, "pandas": frame.to_pandas()}[source]
    with pytest.raises(TypeError, match=message):
        segscore.run(source, kwargs.pop("out", tmp_path / "o"), **kwargs)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("limit", [0, -1])
def test_a_memory_limit_that_is_not_positive_is_an_input_error(tx, limit):
    """0 was the default budget and -1 "the budget is -0.00 GiB; raise --memory-limit"."""
    with pytest.raises(segscore.InputError,
                       match=f"^memory_limit_bytes must be a positive number of bytes, got "
                             f"{limit}$"):
        segscore.run(tx, memory_limit_bytes=limit)


def test_as_of_as_date_time_and_pandas_timestamp(tx):
    """A pandas Timestamp is a datetime: that instant, an aware one converted to UTC; a
    string with an offset is the same instant."""
    by_string = segscore.run(tx, as_of="2026-06-30T12:00:00+02:00", report=False)
    by_timestamp = segscore.run(tx, as_of=pd.Timestamp("2026-06-30T12:00", tz="Europe/Berlin"),
                                report=False)
    by_naive = segscore.run(tx, as_of=datetime(2026, 6, 30, 10), report=False)
    assert by_string.manifest["as_of"] == "2026-06-30T10:00:00"
    assert by_timestamp.customers.equals(by_string.customers)
    assert by_naive.customers.equals(by_string.customers)


def test_repr_is_a_one_line_summary(tx, tmp_path):
    """repr (a notebook cell's last line) summarizes; it printed the model, manifest and
    report dicts in full (65,770 characters at 3,000 customers)."""
    result = segscore.run(tx, tmp_path / "o", as_of="2026-06-30")
    assert repr(result) == (
        f"RunResult(as_of='2026-06-30T23:59:59.999999', customers=DataFrame("
        f"{result.customers.height:,} × {result.customers.width}), unscored=DataFrame("
        f"{result.unscored.height:,} × {result.unscored.width}), rejected=LazyFrame(5 rows), "
        f"out_dir={tmp_path / 'o'!r}, warnings=0)")


def test_a_run_from_worker_threads_is_the_run_from_the_main_thread(tx, tmp_path):
    """An Airflow task or a ThreadPoolExecutor calls run off the main thread (where no
    signal handler can be set): the same result, two at once too."""
    expected = segscore.run(tx, as_of="2026-06-30")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda d: segscore.run(tx, tmp_path / d, as_of="2026-06-30"),
                                ["a", "b"]))
    for result in results:
        assert result.customers.equals(expected.customers)
        assert result.report["segments"] == expected.report["segments"]
