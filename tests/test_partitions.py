"""Bounded-memory row passes: P customer-hash partitions give the same result as one pass,
and the memory plan picks P from the budget (or refuses clearly)."""

import json
from unittest.mock import patch

import pytest

import segscore
import segscore.passes as passes
from segscore.config import build_config
from segscore.memory import estimate_peak_bytes, partitioned_bytes, plan_memory
from segscore.schema import discover, inspect_inputs
from segscore_datasets import generate_transactions


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("p")
    return generate_transactions(root / "gen", 4000, seed=9).out_dir / "transactions"


def _customer_bytes(out):
    return {p.relative_to(out): p.read_bytes() for p in sorted((out / "customers").rglob("*.parquet"))}


@pytest.mark.parametrize("partitions,batch_rows", [(1, 997), (2, 2_000_000), (7, 5000)])
def test_partitioned_run_is_byte_identical_to_one_pass(data, tmp_path, partitions, batch_rows):
    """P partition passes and any batch size give the bytes of one pass in one batch each."""
    cfg = build_config({"clustering": {"k": 4}})
    one = segscore.run(data, tmp_path / "one", config=cfg, partitions=1)
    with patch.object(passes, "BATCH_ROWS", batch_rows):
        many = segscore.run(data, tmp_path / "many", config=cfg, partitions=partitions)
    assert _customer_bytes(tmp_path / "one") == _customer_bytes(tmp_path / "many")
    assert one.manifest["rows"] == many.manifest["rows"]
    assert one.manifest["inputs"] == many.manifest["inputs"]
    assert one.unscored.equals(many.unscored)
    key = ["source_file", "customer_id", "order_ts", "amount"]
    assert one.rejected.sort(key, nulls_last=True).equals(many.rejected.sort(key, nulls_last=True))
    assert json.loads((tmp_path / "many" / "manifest.json").read_text())["memory"]["partitions"] == partitions


def test_memory_budget_picks_partitions(data, tmp_path):
    infos = inspect_inputs(discover(data), build_config({}).columns)
    rows = sum(i.rows for i in infos)
    customers = 4000
    one = estimate_peak_bytes(infos, 1, customers)
    assert plan_memory(infos, one + 1, customers).partitions == 1
    tight = one - partitioned_bytes(infos, customers) // 2
    plan = plan_memory(infos, tight, customers)
    assert plan.partitions >= 2 and plan.estimate <= tight
    with pytest.raises(segscore.InputError, match="per-customer tables alone"):
        plan_memory(infos, estimate_peak_bytes(infos, 10**6, customers) // 2, customers)
    assert rows > customers


def test_run_under_a_tight_budget_counts_customers_and_partitions(data, tmp_path):
    infos = inspect_inputs(discover(data), build_config({}).columns)
    budget = estimate_peak_bytes(infos, 3, customers=4000)
    r = segscore.run(data, tmp_path / "o", config=build_config({"clustering": {"enabled": False}}),
                     memory_limit_bytes=budget)
    assert r.manifest["memory"]["partitions"] >= 3
    assert r.manifest["rows"]["balanced"]
