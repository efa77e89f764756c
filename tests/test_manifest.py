"""manifest.json's file lists (SPEC §5): inputs as absolute paths with bytes and rows, the
report's inputs, and every file the run wrote (docs/decisions.md, Output)."""

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from segscore.cli import main
from segscore_datasets import generate_transactions


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two nights run from inside the data directory with relative paths; the second with
    --previous and --customers (so it writes migration.parquet and the attributes section)."""
    root = tmp_path_factory.mktemp("manifest")
    generate_transactions(root / "gen", 1500, seed=11, files=2)
    cwd = Path.cwd()
    try:
        os.chdir(root)
        runner = CliRunner()
        for args in (["--out", "night1", "--as-of", "2026-05-31"],
                     ["--out", "night2", "--previous", "night1", "--customers",
                      "gen/attributes/customers.parquet"]):
            r = runner.invoke(main, ["run", "gen/transactions", "--quiet", "--k", "off", *args])
            assert r.exit_code == 0, r.output
    finally:
        os.chdir(cwd)
    return root


def _files(out: Path) -> dict[str, int]:
    return {p.relative_to(out).as_posix(): p.stat().st_size for p in out.rglob("*")
            if p.is_file() and p != out / "manifest.json"}


@pytest.mark.parametrize("night", ["night1", "night2"])
def test_outputs_list_every_file_with_its_bytes_and_rows(runs, night):
    out = runs / night
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {e["path"]: e for e in manifest["outputs"]}
    assert len(listed) == len(manifest["outputs"])
    assert {k: e["bytes"] for k, e in listed.items()} == _files(out)
    for rel, entry in listed.items():
        want = pq.read_metadata(out / rel).num_rows if rel.endswith(".parquet") else None
        assert entry["rows"] == want, rel
    assert {"model.json", "report/report.json", "report/index.html"} <= set(listed)
    assert ("migration.parquet" in listed) == (night == "night2")


def test_input_paths_are_absolute_and_resolved(runs):
    manifest = json.loads((runs / "night2" / "manifest.json").read_text())
    tx = sorted((runs / "gen" / "transactions").glob("*.parquet"))
    assert [e["path"] for e in manifest["inputs"]] == [str(p.resolve()) for p in tx]
    assert [e["bytes"] for e in manifest["inputs"]] == [p.stat().st_size for p in tx]
    rejected = pl.read_parquet(runs / "night2" / "rejected")
    assert set(rejected["source_file"]) <= {str(p.resolve()) for p in tx}


def test_report_inputs_are_listed(runs):
    first = json.loads((runs / "night1" / "manifest.json").read_text())
    assert first["report_inputs"] == {"attributes": None, "previous": None}
    second = json.loads((runs / "night2" / "manifest.json").read_text())
    attrs = runs / "gen" / "attributes" / "customers.parquet"
    assert second["report_inputs"]["attributes"] == {
        "path": str(attrs.resolve()), "bytes": attrs.stat().st_size, "rows": 1500}
    prev_parts = sorted((runs / "night1" / "customers").rglob("*.parquet"))
    assert second["report_inputs"]["previous"] == {
        "path": str((runs / "night1").resolve()),
        "bytes": sum(p.stat().st_size for p in prev_parts),
        "rows": first["customers"]["scored"], "run_id": first["run_id"]}


def test_report_command_keeps_the_index_entry_true(runs, tmp_path, monkeypatch):
    """`segscore report OUT` renders index.html again (a newer template may change its size):
    the manifest's entry follows; every other entry is left as it was."""
    import segscore.report.rerender as rerender

    out = tmp_path / "night2"
    shutil.copytree(runs / "night2", out)
    before = json.loads((out / "manifest.json").read_text())
    monkeypatch.setattr(rerender, "render_html", lambda r: "<!doctype html><p>newer</p>\n")
    r = CliRunner().invoke(main, ["report", str(out)])
    assert r.exit_code == 0, r.output
    after = json.loads((out / "manifest.json").read_text())
    assert {e["path"]: e["bytes"] for e in after["outputs"]} == _files(out)
    changed = [e["path"] for e, b in zip(after["outputs"], before["outputs"]) if e != b]
    assert changed == ["report/index.html"]
    assert sorted(p.name for p in (out / "report").iterdir()) == ["index.html", "report.json"]


def test_output_files_lists_all_but_the_manifest_data_files_first(tmp_path):
    """``output_files`` (docs/decisions.md, Output): every file under the run directory but
    manifest.json itself (as when a directory is listed again with its manifest in place),
    the data files first in written order with their given rows, then the others by
    path; Parquet files not in ``written`` get their footer's rows, other files None."""
    from segscore.manifest import output_files

    (tmp_path / "customers" / "segment=a").mkdir(parents=True)
    (tmp_path / "report").mkdir()
    pl.DataFrame({"x": [1, 2]}).write_parquet(tmp_path / "customers" / "segment=a" / "p.parquet")
    pl.DataFrame({"x": [1, 2, 3]}).write_parquet(tmp_path / "migration.parquet")
    for name in ("manifest.json", "model.json", "report/report.json"):
        (tmp_path / name).write_text("{}")
    listed = output_files(tmp_path, [{"path": "customers/segment=a/p.parquet", "rows": 2}])
    assert [(e["path"], e["rows"]) for e in listed] == [
        ("customers/segment=a/p.parquet", 2), ("migration.parquet", 3), ("model.json", None),
        ("report/report.json", None)]
    assert all(e["bytes"] == (tmp_path / e["path"]).stat().st_size for e in listed)
