"""CLI end to end: demo, run output layout (SPEC §5), --model re-apply, exit codes."""

import json

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from segscore.cli import main
from segscore_datasets import generate_transactions


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return generate_transactions(root / "gen", 3000, seed=3).out_dir / "transactions"


@pytest.fixture(scope="module")
def first_run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "night1"
    r = CliRunner().invoke(main, ["run", str(data), "--out", str(out), "--as-of", "2026-05-31",
                                  "--quiet"])
    assert r.exit_code == 0, r.output
    return out


def test_output_layout_and_readers(first_run):
    out = first_run
    for name in ("model.json", "manifest.json", "report/report.json", "report/index.html",
                 "rejected/part-00000.parquet", "unscored/part-00000.parquet"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["rows"]["balanced"]
    customers = pl.scan_parquet(out / "customers", hive_partitioning=True).collect()
    assert customers.height == manifest["customers"]["scored"]
    assert customers["customer_id"].n_unique() == customers.height
    keys = {p.name.split("=", 1)[1] for p in (out / "customers").iterdir()}
    assert keys == set(customers["segment"].unique())
    for col in ("recency_days", "tenure_days", "frequency", "monetary", "r_score", "f_score",
                "m_score", "rfm_code", "value_tier", "lifecycle_stage", "cluster", "as_of"):
        assert col in customers.columns, col
    n = duckdb.sql(f"select count(*) from read_parquet('{out}/customers/*/*.parquet', "
                   "hive_partitioning=true)").fetchall()[0][0]
    assert n == customers.height
    model = json.loads((out / "model.json").read_text())
    assert len(model["cut_points"]["r"]) == 4 and model["clusters"]["k"] >= 3
    assert model["config_hash"] == manifest["config_hash"]


def test_model_reapplies_frozen_cut_points(first_run, data, tmp_path):
    out = tmp_path / "night2"
    r = CliRunner().invoke(main, ["run", str(data), "--out", str(out), "--as-of", "2026-06-30",
                                  "--model", str(first_run / "model.json"), "--quiet"])
    assert r.exit_code == 0, r.output
    m1 = json.loads((first_run / "model.json").read_text())
    m2 = json.loads((out / "model.json").read_text())
    assert m2["cut_points"] == m1["cut_points"] and m2["refit"] is False
    assert m2["clusters"]["centroids"] == m1["clusters"]["centroids"]
    assert m2["value_tier_bounds"] == m1["value_tier_bounds"]
    # refitting on the new night gives different cut points (the data moved on)
    refit = tmp_path / "refit"
    CliRunner().invoke(main, ["run", str(data), "--out", str(refit), "--as-of", "2026-06-30", "--quiet"])
    assert json.loads((refit / "model.json").read_text())["cut_points"] != m1["cut_points"]


def test_exit_codes_and_messages(data, tmp_path, first_run):
    runner = CliRunner()
    r = runner.invoke(main, ["run", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no such file or directory" in r.output
    assert not (tmp_path / "o").exists()
    r = runner.invoke(main, ["run", str(data), "--out", str(first_run), "--quiet"])
    assert r.exit_code == 2 and "--overwrite" in r.output
    r = runner.invoke(main, ["run", str(data), "--out", str(tmp_path / "o"), "--k", "x"])
    assert r.exit_code == 2 and "--k" in r.output
    r = runner.invoke(main, ["run", str(data), "--out", str(tmp_path / "o"), "--bins", "12"])
    assert r.exit_code == 2
    r = runner.invoke(main, ["run", str(data), "--out", str(tmp_path / "o"), "--as-of", "June"])
    assert r.exit_code == 2 and "--as-of" in r.output
    assert "Traceback" not in r.output


def test_overwrite_replaces_a_segscore_output(data, first_run, tmp_path):
    out = tmp_path / "o"
    runner = CliRunner()
    assert runner.invoke(main, ["run", str(data), "--out", str(out), "--quiet", "--k", "off"]).exit_code == 0
    before = json.loads((out / "manifest.json").read_text())["run_id"]
    r = runner.invoke(main, ["run", str(data), "--out", str(out), "--quiet", "--k", "off", "--overwrite"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "manifest.json").read_text())["run_id"] != before
    assert [p.name for p in tmp_path.iterdir()] == ["o"]  # no temp or old dirs left


def test_demo_and_report_commands(tmp_path):
    runner = CliRunner()
    d = tmp_path / "d"
    r = runner.invoke(main, ["demo", "--customers", "2000", "--out", str(d)])
    assert r.exit_code == 0, r.output
    assert "Champions" in r.output and "report:" in r.output
    manifest = json.loads((d / "output" / "manifest.json").read_text())
    seen = manifest["customers"]["seen"]
    text = " ".join(r.output.split())
    assert (f"2,000 customers generated, {manifest['customers']['scored']:,} scored: the other "
            f"{2000 - seen:,} have no transaction in the generated period") in text
    assert f"dataandoutput:{d.absolute()}(" in "".join(r.output.split())
    assert "MB, kept)" in text
    assert manifest["report_inputs"]["attributes"]["rows"] == 2000  # the demo passes them
    report = json.loads((d / "output" / "report" / "report.json").read_text())
    assert report["attributes"] is not None
    index = d / "output" / "report" / "index.html"
    index.unlink()
    r = runner.invoke(main, ["report", str(d / "output")])
    assert r.exit_code == 0 and index.is_file()
    # a second demo into the same --out: refused before anything is generated
    before = sorted(p.relative_to(d) for p in d.rglob("*"))
    r = runner.invoke(main, ["demo", "--customers", "2000", "--out", str(d), "--quiet"])
    assert r.exit_code == 2 and "choose another --out" in r.output, r.output
    assert sorted(p.relative_to(d) for p in d.rglob("*")) == before


def test_demo_in_a_temp_folder_says_where_it_is(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    r = CliRunner().invoke(main, ["demo", "--customers", "500", "--quiet"])
    assert r.exit_code == 0, r.output
    [root] = tmp_path.iterdir()
    assert f"dataandoutput:{root}(" in "".join(r.output.split())  # rich may wrap the path
    assert "kept in a temporary folder: remove it when done" in " ".join(r.output.split())
    assert (root / "output" / "manifest.json").is_file()


@pytest.mark.parametrize("command", [["generate", "--customers", "10"],
                                     ["demo", "--customers", "10", "--quiet"]])
def test_generate_and_demo_refuse_an_out_below_a_file(tmp_path, command):
    (tmp_path / "f").write_text("x")
    out = tmp_path / "f" / "x"
    r = CliRunner().invoke(main, [*command, "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert f"{out}: cannot write the output there ({tmp_path / 'f'} is a file, not a " \
           "directory)" in " ".join(r.output.split())
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


@pytest.mark.parametrize("content,problem", [
    ("{}", "missing schema_version, as_of, customers"),
    ("[1]", "a JSON list, not an object"),
    ('{"schema_version": 2, "as_of": "x"}', "missing customers"),
    (None, "missing customers"),  # a real report without one key
    ("newer", "schema_version 3 is newer than this segscore renders (2)"),
    ("segments", "segments holds something other than objects"),
    ("deep", "'dict object' has no attribute 'r'"),
])
def test_report_command_refuses_what_is_not_a_segscore_report(first_run, tmp_path, content,
                                                              problem):
    real = json.loads((first_run / "report" / "report.json").read_text())
    edits = {None: lambda r: r.pop("customers"), "newer": lambda r: r.update(schema_version=3),
             "segments": lambda r: r.update(segments=[1]),
             "deep": lambda r: r["score_ranges"].pop("r")}
    if content in edits:
        edits[content](real)
        content = json.dumps(real)
    (tmp_path / "o" / "report").mkdir(parents=True)
    (tmp_path / "o" / "report" / "report.json").write_text(content)
    r = CliRunner().invoke(main, ["report", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    assert f"report.json: not a segscore report ({problem}" in " ".join(r.output.split())
    assert not (tmp_path / "o" / "report" / "index.html").exists()


def test_validate_and_generate_commands(tmp_path, data):
    runner = CliRunner()
    r = runner.invoke(main, ["validate", str(data)])
    assert r.exit_code == 0 and "valid" in r.output
    r = runner.invoke(main, ["generate", "--customers", "500", "--out", str(tmp_path / "g")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["generate", "--customers", "500", "--out", str(tmp_path / "g")])
    assert r.exit_code == 2 and "exists and is not empty" in r.output


def test_failed_stage_is_reported_with_completed_stages_even_when_quiet(tmp_path):
    pl.DataFrame({"customer_id": [1], "order_ts": [None], "amount": [1.0]},
                 schema={"customer_id": pl.Int64, "order_ts": pl.Datetime("us"),
                         "amount": pl.Float64}).write_parquet(tmp_path / "t.parquet")
    r = CliRunner().invoke(main, ["run", str(tmp_path / "t.parquet"), "--out",
                                  str(tmp_path / "o"), "--quiet"])
    assert r.exit_code == 2
    assert "stage 'ingest_and_aggregate' failed after" in r.output
    assert "completed: discover" in r.output
    assert "no valid transaction" in r.output
    assert not (tmp_path / "o").exists()


def test_bad_previous_is_refused_before_any_stage(data, tmp_path):
    (tmp_path / "notes").mkdir()
    r = CliRunner().invoke(main, ["run", str(data), "--out", str(tmp_path / "o"), "--previous",
                                  str(tmp_path / "notes"), "--quiet"])
    assert r.exit_code == 2 and "notes" in r.output
    assert "ingest_and_aggregate" not in r.output and not (tmp_path / "o").exists()


def test_memory_limit_that_cannot_be_met_stops_before_reading(data, tmp_path):
    r = CliRunner().invoke(main, ["run", str(data), "--out", str(tmp_path / "o"), "--quiet",
                                  "--memory-limit", "0.1"])
    assert r.exit_code == 2 and "memory budget exceeded" in r.output
    assert "stage 'discover' failed" in r.output  # refused before any row is read
    assert not (tmp_path / "o").exists()
