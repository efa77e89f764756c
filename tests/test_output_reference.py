"""docs/output.md against a real run: every column and key it lists is written, and every
column and key written is listed (so the page cannot drift from the code)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from segscore_datasets import generate_transactions

import segscore

DOC = Path(__file__).resolve().parents[1] / "docs" / "output.md"


def sections() -> dict[str, str]:
    """output.md's ``## heading`` → body."""
    parts = re.split(r"^## (.+)$", DOC.read_text("utf-8"), flags=re.M)
    return {head.strip(): body for head, body in zip(parts[1::2], parts[2::2])}


def table_names(body: str) -> set[str]:
    """The backticked names in the first cell of each table row of ``body``."""
    names = set()
    for line in body.splitlines():
        cells = line.split("|")
        if line.startswith("| `") and len(cells) > 2:
            names.update(re.findall(r"`([^`]+)`", cells[1]))
    return names


def section(title_start: str) -> str:
    return next(body for head, body in sections().items() if head.startswith(title_start))


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("outref")
    gen = generate_transactions(root / "data", 1500, seed=5)
    src = gen.out_dir / "transactions"
    segscore.run(src, root / "prev", as_of="2026-06-29")
    segscore.run(src, root / "cur", previous=root / "prev", attributes=gen.attributes_path)
    return root / "cur"


def columns(path: Path) -> list[str]:
    return pq.read_schema(next(path.rglob("*.parquet")) if path.is_dir() else path).names


def test_customers_columns_are_the_documented_ones(out):
    documented = table_names(section("customers/"))
    written = set(columns(out / "customers")) | {"segment"}
    shares = {c for c in written if c.startswith("share_")}
    assert shares and "share_<channel>" in documented
    assert written - shares == documented - {"share_<channel>"}


@pytest.mark.parametrize("name", ["unscored", "rejected"])
def test_row_tables_have_the_documented_columns(out, name):
    assert set(columns(out / name)) == table_names(section(f"{name}/"))


def test_migration_columns_are_the_documented_ones(out):
    body = section("migration.parquet")
    listed = re.findall(r"`([a-z_]+)`", body.split("Columns:")[1].split("(")[0])
    assert columns(out / "migration.parquet") == listed


@pytest.mark.parametrize("name", ["model.json", "manifest.json"])
def test_json_keys_are_the_documented_ones(out, name):
    data = json.loads((out / name).read_text())
    assert set(data) == table_names(section(name))
