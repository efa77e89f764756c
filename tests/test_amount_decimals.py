"""[columns] amount_decimals: integer amounts with implied decimal places (integer cents).

An integer amount a with d decimals is a / 10^d currency units, summed exactly as
a × 10^(4 − d) 1/10,000 units; floats and decimals are read as they are.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import segscore
from segscore.cli import main
from segscore.config import build_config
from segscore.errors import ConfigError
from segscore.validation import validation_report

BASE = datetime(2025, 3, 1)
END = datetime(2025, 3, 31, 23, 59, 59, 999999)  # as_of of every run here
#: a customer per list of amounts in cents: purchases, a return, a large amount, a VIP
CENTS = {1: [1999, 250, -500], 2: [100_000, 1], 3: [99_999_999_999_999], 4: [600_000, -1]}
THRESHOLDS = {"method": "thresholds", "tiers": [
    {"key": "vip", "min_monetary": 5000}, {"key": "regular", "min_monetary": 100},
    {"key": "low"}]}


def _config(decimals: int | None = None, max_abs: float = 1e12) -> dict:
    user = {"clustering": {"enabled": False}, "quality": {"max_abs_amount": max_abs},
            "value_tier": THRESHOLDS}
    if decimals is not None:
        user["columns"] = {"amount_decimals": decimals}
    return user


def _write(path: Path, amounts: pa.Array, ids: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"customer_id": pa.array(ids), "order_ts": pa.array(
        [BASE.replace(day=1 + i % 27) for i in range(len(ids))]), "amount": amounts}), path)


def _rows(only: set[int] | None = None) -> tuple[list[int], list[int]]:
    pairs = [(c, a) for c, amounts in CENTS.items() for a in amounts if only is None or c in only]
    return [c for c, _ in pairs], [a for _, a in pairs]


def _customers(source: Path, user: dict) -> pl.DataFrame:
    return segscore.run(str(source), None, config=user, as_of="2025-03-31").customers


def test_integer_cents_score_as_the_same_amounts_in_units(tmp_path):
    """Integer cents under amount_decimals = 2 give exactly the customers table (monetary,
    returns, value tiers by min_monetary) of the same amounts written as decimal(18,2), and
    as float64 units where a float holds them (customer 3's 999,999,999,999.99 is too
    large for float units to be exact, so the float input leaves it out)."""
    ids, cents = _rows()
    _write(tmp_path / "int" / "a.parquet", pa.array(cents, pa.int64()), ids)
    _write(tmp_path / "dec" / "a.parquet", pa.array(
        [Decimal(a).scaleb(-2) for a in cents], pa.decimal128(18, 2)), ids)
    small_ids, small = _rows({1, 2, 4})
    _write(tmp_path / "float" / "a.parquet", pa.array([a / 100 for a in small]), small_ids)
    _write(tmp_path / "int_small" / "a.parquet", pa.array(small, pa.int32()), small_ids)
    cents_run = _customers(tmp_path / "int", _config(2))
    assert cents_run.equals(_customers(tmp_path / "dec", _config()))
    assert dict(zip(*cents_run.select("customer_id", "monetary"))) == {
        1: 17.49, 2: 1000.01, 3: 999_999_999_999.99, 4: 5999.99}
    assert dict(zip(*cents_run.select("customer_id", "value_tier"))) == {
        1: "low", 2: "regular", 3: "vip", 4: "vip"}
    assert _customers(tmp_path / "int_small", _config(2)).equals(
        _customers(tmp_path / "float", _config()))
    # without the key the integers are currency units: 100 times the spend
    as_units = _customers(tmp_path / "int_small", _config())
    assert dict(zip(*as_units.select("customer_id", "monetary")))[1] == 1749.0


@pytest.mark.parametrize("decimals", [1, 3, 4])
def test_other_decimal_places_scale_by_their_power_of_ten(tmp_path, decimals):
    """amount_decimals = d reads an integer a as a / 10^d, beside a float file of units,
    which is read as it is (the run then carries exact units for every row)."""
    _write(tmp_path / "in" / "i.parquet", pa.array([12345, -45], pa.int64()), [1, 1])
    _write(tmp_path / "in" / "f.parquet", pa.array([2.5]), [2])
    got = _customers(tmp_path / "in", _config(decimals))
    scale = 10**decimals
    assert dict(zip(*got.select("customer_id", "monetary"))) == {
        1: float(Decimal(12345 - 45) / scale), 2: 2.5}


def test_integer_units_are_exact_where_a_float_is_not(tmp_path):
    """9,999,999,999,999,999 with 4 decimals is 999,999,999,999.9999: exactly that many
    1/10,000 units, as the decimal(20,4) of that value gives (through a float64 it would be
    1e16 or 9,999,999,999,999,998 units), so with a return of 999,999,999,999 the net spend
    is 0.9999 in both."""
    for name, amounts in (("int", pa.array([9_999_999_999_999_999, -9_999_999_999_990_000],
                                           pa.int64())),
                          ("dec", pa.array([Decimal("999999999999.9999"),
                                            Decimal("-999999999999.0000")],
                                           pa.decimal128(20, 4)))):
        _write(tmp_path / name / "a.parquet", amounts, [1, 1])
    got = _customers(tmp_path / "int", _config(4))
    assert got.equals(_customers(tmp_path / "dec", _config()))
    assert got["monetary"].to_list() == [0.9999]


def test_max_abs_amount_applies_to_the_scaled_amount_exactly(tmp_path):
    """quality.max_abs_amount bounds a / 10^d, compared exactly: 1000.00 under a bound of
    1000 is used, 1000.01 (shown as 1000.01 in rejected/) is not; under the largest bound
    (1e12) with 4 decimals 1e12 + 0.0001 is rejected though its float64 is 1e12. validate
    counts the same."""
    src = tmp_path / "in"
    _write(src / "a.parquet", pa.array([100_000, 100_001, -100_001, 500], pa.int64()),
           [1, 2, 3, 4])
    res = segscore.run(str(src), None, config=_config(2, max_abs=1000), as_of="2025-03-31")
    assert res.customers["customer_id"].to_list() == [1, 4]
    rejected = res.rejected.collect()
    assert rejected["amount"].to_list() == [1000.01, -1000.01]
    assert set(rejected["reason"]) == {"amount_out_of_bounds"}
    report = validation_report(str(src), build_config(_config(2, max_abs=1000)), as_of=END)
    assert report["rows"]["rejected"] == {"amount_out_of_bounds": 2}, report
    assert report["rows"]["used"] == 2
    _write(src / "a.parquet", pa.array([10**16, 10**16 + 1], pa.int64()), [1, 2])
    res = segscore.run(str(src), None, config=_config(4), as_of="2025-03-31")
    assert res.customers["customer_id"].to_list() == [1]
    assert res.manifest["rows"]["rejected"] == {"amount_out_of_bounds": 1}
    report = validation_report(str(src), build_config(_config(4)), as_of=END)
    assert report["rows"]["rejected"] == {"amount_out_of_bounds": 1}, report


@pytest.mark.parametrize("value,says", [
    (-1, "expected an integer in 0..4"), (5, "expected an integer in 0..4"),
    ("2", "expected int, got '2'"), (2.5, "expected int, got 2.5"),
    (True, "expected int, got True")])
def test_a_bad_amount_decimals_is_refused_naming_the_key(value, says):
    with pytest.raises(ConfigError, match=r"\[columns\]\.amount_decimals: " + says):
        build_config({"columns": {"amount_decimals": value}})


def test_amount_decimals_is_part_of_the_config_and_its_hash(tmp_path):
    """It is a [columns] key: in model.json's config and the config hash when set; 0 (the
    default) is left out, so a config without it keeps its hash (test_config pins the
    defaults')."""
    assert "amount_decimals" not in build_config({}).to_dict()["columns"]
    assert build_config({"columns": {"amount_decimals": 0}}).config_hash() == \
        build_config({}).config_hash()
    cents = build_config({"columns": {"amount_decimals": 2}})
    assert cents.columns.amount_decimals == 2
    assert cents.config_hash() != build_config({}).config_hash()
    _write(tmp_path / "in" / "a.parquet", pa.array([1999], pa.int64()), [1])
    segscore.run(str(tmp_path / "in"), tmp_path / "out", config=_config(2),
                 as_of="2025-03-31")
    model = json.loads((tmp_path / "out" / "model.json").read_text())
    assert model["config"]["columns"]["amount_decimals"] == 2


def test_integer_cents_beside_float_units_are_not_warned_when_declared(tmp_path):
    """An integer file beside a float one is warned about (the warning names the key);
    with amount_decimals set the user said what the integers are: run and validate are
    silent, and the cents count as units."""
    src = tmp_path / "tx"
    _write(src / "a.parquet", pa.array([12.5, 30.0]), [1, 2])
    _write(src / "b.parquet", pa.array([1250, 3000], pa.int64()), [1, 2])
    config = tmp_path / "cents.toml"
    config.write_text("[columns]\namount_decimals = 2\n[clustering]\nenabled = false\n")
    r = CliRunner().invoke(main, ["run", str(src), "--out", str(tmp_path / "plain"),
                                  "--quiet", "--k", "off"])
    assert r.exit_code == 0 and "set [columns] amount_decimals = 2" in r.stderr, r.output
    r = CliRunner().invoke(main, ["run", str(src), "--out", str(tmp_path / "o"), "--quiet",
                                  "--config", str(config)])
    assert r.exit_code == 0 and "warning" not in r.stderr, r.output
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["warnings"] == []
    monetary = pl.read_parquet(tmp_path / "o" / "customers").sort("customer_id")["monetary"]
    assert monetary.to_list() == [25.0, 60.0]
    v = CliRunner().invoke(main, ["validate", str(src), "--config", str(config)])
    assert v.exit_code == 0 and "warning" not in v.stderr, v.output


def test_the_memory_plan_counts_the_units_integer_cents_carry(tmp_path):
    """With amount_decimals > 0 every row of an integer-amount input carries the units and
    above_bound columns, as a decimal input's do: the batches' working set counts them."""
    from segscore.memory import batch_bytes
    from segscore.schema import inspect_inputs

    _write(tmp_path / "a.parquet", pa.array([1999, 250], pa.int64()), [1, 2])
    infos = inspect_inputs([tmp_path / "a.parquet"], build_config({}).columns)
    assert batch_bytes(infos, 2) > batch_bytes(infos, 0) == batch_bytes(infos)
