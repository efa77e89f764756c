"""CLI end to end: demo, run output layout (SPEC §5), --model re-apply, exit codes."""

import json
import re
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from segscore.cli import main
from segscore.errors import InputError
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
    assert m2["config"]["segments"]["name"] == "rfm"  # not renamed "custom"
    assert m2["config"] == m1["config"] and m2["config_hash"] == m1["config_hash"]
    # refitting on the new night gives different cut points (the data moved on)
    refit = tmp_path / "refit"
    CliRunner().invoke(main, ["run", str(data), "--out", str(refit), "--as-of", "2026-06-30", "--quiet"])
    assert json.loads((refit / "model.json").read_text())["cut_points"] != m1["cut_points"]


@pytest.mark.parametrize("edit, message", [
    ("manifest", "no field 'config' (is it a segscore model.json?)"),
    ("unsorted", "cut_points.r must be finite and ascending"),
    ("nan", "cut_points.m must be finite and ascending"),
    ("one_bound", "value_tier_bounds must hold 2 finite, descending values"),
    ("reversed", "value_tier_bounds must hold 2 finite, descending values"),
    ("means_nan", "clusters.means must hold 4 finite numbers"),
    ("means_short", "clusters.means must hold 4 finite numbers"),
    ("stds_zero", "clusters.stds must be positive"),
    ("centroid_inf", "clusters.centroids must hold"),
    ("transform_sqrt", "clusters.transforms must map each feature to 'log1p_clip0' or 'identity'"),
    ("k_zero", "clusters.k must be an integer in 1..64"),
    ("profiles_short", "clusters.profiles must hold"),
    ("features_string", "clusters.features must be a list of distinct feature names"),
    ("feature_unknown", "clusters.features must be a list of distinct feature names"),
    ("clusters_null", "config.clustering.enabled is true but clusters is null"),
    ("thresholds", "differ from the thresholds of its config.value_tier.tiers"),
    ("means_text", "clusters.means must hold 4 finite numbers"),
    ("profile_bool", "clusters.profiles must hold"),
    ("cut_bool", "cut_points must hold lists of numbers"),
    ("clusters_list", "clusters must be an object or null"),
    ("clusters_empty", "no field 'k'"),
    ("features_differ", "differ from config.clustering.features"),
    ("channels_value_twice", "channel_columns.columns must map at most 16 share_<slug> names"),
    ("channels_other", "channel_columns.columns must map at most 16 share_<slug> names"),
    ("channels_list", "channel_columns must be {\"columns\""),
    ("channels_missing", "no field 'channel_columns'"),
    ("ranges_number", "config.segments.rules[1].ranges must be an object, got 4"),
    ("lifecycle_ranges_text", "config.lifecycle.rules[0].ranges must be an object, got 'x'"),
    ("tier_number", "config.value_tier.tiers[2] must be an object, got 5"),
    ("cut_points_list", "cut_points must be an object, got []"),
    ("cut_huge", "cut_points.m must hold finite numbers"),
    ("bound_huge", "value_tier_bounds must hold finite numbers"),
    ("centroid_huge", "clusters.centroids must hold"),
    ("profile_z_text", "clusters.profiles[0].centroid_z must hold"),
    ("profile_z_list", "clusters.profiles[1].centroid_z must map each feature"),
    ("profile_centroid_missing", "clusters.profiles[0].centroid must map each feature"),
])
def test_model_with_broken_values_is_refused_before_the_row_pass(first_run, data, tmp_path,
                                                                 edit, message):
    """A hand-edited (or wrong) model.json: exit 2 naming the field, before any data is read
    (unsorted or NaN cut points and reversed tier bounds were an internal error after the row
    pass; one tier bound was taken silently and the last tier vanished). The clusters part
    too: NaN means or zero stds put every customer in one cluster, exit 0; k = 0 or short
    lists failed at the cluster stage, exit 1; a null clusters was refitted silently."""
    model = json.loads((first_run / "model.json").read_text())
    clusters = model["clusters"]
    cluster_edits = {
        "means_nan": lambda: clusters["means"].__setitem__(0, float("nan")),
        "means_short": lambda: clusters.update(means=clusters["means"][:2]),
        "stds_zero": lambda: clusters.update(stds=[0.0] * len(clusters["stds"])),
        "centroid_inf": lambda: clusters["centroids"][0].__setitem__(0, float("inf")),
        "transform_sqrt": lambda: clusters["transforms"].update(monetary="sqrt"),
        "k_zero": lambda: clusters.update(k=0, centroids=[], profiles=[]),
        "profiles_short": lambda: clusters.update(profiles=clusters["profiles"][:1]),
        "features_string": lambda: clusters.update(features="monetary"),
        "feature_unknown": lambda: clusters["features"].__setitem__(0, "nope"),
        "clusters_null": lambda: model.update(clusters=None),
        "means_text": lambda: clusters["means"].__setitem__(0, "1"),
        "profile_bool": lambda: clusters["profiles"][1].update(cluster=True),
        "cut_bool": lambda: model["cut_points"]["r"].__setitem__(0, True),
        "clusters_list": lambda: model.update(clusters=[1]),
        "clusters_empty": lambda: model.update(clusters={}),
        "features_differ": lambda: model["config"]["clustering"].update(
            features=model["config"]["clustering"]["features"][::-1]),
        "channels_value_twice": lambda: model["channel_columns"]["columns"].update(
            share_extra=next(iter(model["channel_columns"]["columns"].values()))),
        "channels_other": lambda: model["channel_columns"]["columns"].update(share_other="x"),
        "channels_list": lambda: model.update(channel_columns=[]),
        "channels_missing": lambda: model.pop("channel_columns"),
        # a number or text where an object goes: internal errors (AttributeError), found by
        # fuzzing model.json
        "ranges_number": lambda: model["config"]["segments"]["rules"][1].update(ranges=4),
        "lifecycle_ranges_text": lambda: model["config"]["lifecycle"]["rules"][0].update(
            ranges="x"),
        "tier_number": lambda: model["config"]["value_tier"]["tiers"].__setitem__(2, 5),
        "cut_points_list": lambda: model.update(cut_points=[]),
        # an integer beyond float64 (JSON integers have no limit): OverflowError, exit 1
        "cut_huge": lambda: model["cut_points"]["m"].__setitem__(0, -10**400),
        "bound_huge": lambda: model["value_tier_bounds"].__setitem__(0, 10**400),
        "centroid_huge": lambda: clusters["centroids"][0].__setitem__(0, 10**400),
        # the profiles' centroids that the report draws: a text, list or huge number there
        # failed in the report stage (exit 1, after the output was written)
        "profile_z_text": lambda: clusters["profiles"][0]["centroid_z"].update(
            monetary="x"),
        "profile_z_list": lambda: clusters["profiles"][1].update(centroid_z=[]),
        "profile_centroid_missing": lambda: clusters["profiles"][0].pop("centroid"),
    }
    if edit in cluster_edits:
        cluster_edits[edit]()
    elif edit == "thresholds":
        model["config"]["value_tier"] = {"method": "thresholds", "tiers": [
            {"key": "vip", "name": "VIP", "min_monetary": 500.0},
            {"key": "gold", "name": "Gold", "min_monetary": 100.0},
            {"key": "regular", "name": "Regular"}]}
        model["value_tier_bounds"] = [50.0, 10.0]
    elif edit == "manifest":
        model = json.loads((first_run / "manifest.json").read_text())
    elif edit == "unsorted":
        model["cut_points"]["r"] = model["cut_points"]["r"][::-1]
        if model["cut_points"]["r"] == sorted(model["cut_points"]["r"]):
            model["cut_points"]["r"] = [5.0, 1.0, 3.0, 2.0]
    elif edit == "nan":
        model["cut_points"]["m"][1] = float("nan")
    elif edit == "one_bound":
        model["value_tier_bounds"] = model["value_tier_bounds"][:1]
    else:
        model["value_tier_bounds"] = sorted(model["value_tier_bounds"])
        if model["value_tier_bounds"][0] == model["value_tier_bounds"][1]:
            model["value_tier_bounds"] = [1.0, 2.0]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model))
    r = CliRunner().invoke(main, ["run", str(data), "--out", str(tmp_path / "o"), "--quiet",
                                  "--model", str(path)])
    assert r.exit_code == 2, r.output
    assert message in " ".join(r.output.split())
    assert "stage" not in r.output  # refused before any stage ran
    assert not (tmp_path / "o").exists()


def _channel_night(path, channels: dict[str, int], seed: int):
    """Rows of 40 customers, ``channels[v]`` rows of channel v, amounts 5..100."""
    rng = np.random.default_rng(seed)
    values = [v for v, n in channels.items() for _ in range(n)]
    n = len(values)
    pl.DataFrame({"customer_id": rng.integers(1, 41, n),
                  "order_ts": [datetime(2026, 6, 1) + timedelta(hours=int(h))
                               for h in rng.integers(0, 600, n)],
                  "amount": rng.integers(500, 10_000, n) / 100,
                  "channel": values}).write_parquet(path)
    return path


def test_model_keeps_each_share_column_on_its_channel(tmp_path):
    """SPEC §5: with --model, tonight's share columns are the model's (channel_columns), each
    on the channel the model recorded, whatever tonight's ranking. "In Store" and "in-store"
    share a slug and swap ranks on night 2, where ranking named "in-store" share_in_store, the
    column the frozen clusters read as "In Store" (exit 0, no warning). A channel the model
    lacks ("kiosk") goes to share_other; one absent tonight ("web", no cluster feature) has
    shares of 0. validate checks the model's features against the model's columns too."""
    night1 = _channel_night(tmp_path / "n1.parquet", {"In Store": 700, "in-store": 300,
                                                        "web": 100}, 1)
    night2 = _channel_night(tmp_path / "n2.parquet", {"in-store": 600, "In Store": 200,
                                                        "kiosk": 50}, 2)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[clustering]\nk = 2\nfeatures = ["monetary", "share_in_store", '
                   '"share_in_store_2"]\n')
    model = ("--model", str(tmp_path / "o1" / "model.json"))
    for night, out, extra in ((night1, "o1", ()), (night2, "o2", model)):
        r = CliRunner().invoke(main, ["run", str(night), "--out", str(tmp_path / out), "--quiet",
                                      "--config", str(cfg), "--as-of", "2026-06-30", *extra])
        assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["validate", str(night2), "--config", str(cfg), *model])
    assert r.exit_code == 0, r.output
    mapping = json.loads((tmp_path / "o1" / "model.json").read_text())["channel_columns"]
    assert mapping == {"columns": {"share_in_store": "In Store", "share_in_store_2": "in-store",
                                   "share_web": "web"}, "other": False}
    m2 = json.loads((tmp_path / "o2" / "model.json").read_text())
    assert m2["channel_columns"] == {**mapping, "other": True}
    got = pl.read_parquet(tmp_path / "o2" / "customers" / "*" / "*.parquet").sort("customer_id")
    rows = pl.read_parquet(night2)
    spend = rows.group_by("customer_id").agg(
        [pl.col("amount").filter(pl.col("channel") == v).sum().alias(v)
         for v in ("In Store", "in-store", "web", "kiosk")]
        + [pl.col("amount").sum().alias("gross")]).sort("customer_id")
    for column, value in [*mapping["columns"].items(), ("share_other", "kiosk")]:
        want = (spend[value] / spend["gross"]).to_list()
        assert got[column].to_list() == pytest.approx(want, abs=1e-12), column


@pytest.mark.parametrize("flags, has", [
    (["--bins", "6"], "has 5 bins"),
    (["--bins", "5", "--segments", "value_behaviour"], "has segment table 'rfm'"),
    (["--k", "off"], "clusters (K chosen by 'auto')"),
    (["--k", "2"], "clusters (K chosen by 'auto')"),
])
def test_model_refuses_flags_that_differ_from_it(first_run, data, tmp_path, flags, has):
    model = first_run / "model.json"
    r = CliRunner().invoke(main, ["run", str(data), "--out", str(tmp_path / "o"), "--model",
                                  str(model), *flags])
    assert r.exit_code == 2
    flag = " ".join(flags[-2:])
    assert f"error: {flag}: --model {model} has" in r.output and has in r.output
    assert "a frozen model fixes the bins and cut points, the segment table and the clusters; " \
           f"drop {flags[-2]}, or leave out --model to refit" in r.output
    assert "stage" not in r.output and not (tmp_path / "o").exists()


def test_model_accepts_flags_that_agree_with_it(first_run, data, tmp_path):
    model = json.loads((first_run / "model.json").read_text())
    out = tmp_path / "o"
    r = CliRunner().invoke(main, ["run", str(data), "--out", str(out), "--quiet", "--model",
                                  str(first_run / "model.json"), "--bins", "5", "--segments",
                                  "rfm", "--k", str(model["clusters"]["k"])])
    assert r.exit_code == 0, r.output
    again = json.loads((out / "model.json").read_text())
    assert again["cut_points"] == model["cut_points"] and again["config"] == model["config"]


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
    ("newer", "schema_version 4 is newer than this segscore renders (3)"),
    ("segments", "segments holds something other than objects"),
    ("deep", "a field the page needs is missing: 'dict object' has no attribute 'r'"),
    ("point", "a field the page needs is missing: 'revenue_share'"),
    ("grid", "a list is shorter than the page needs"),  # was an internal error, exit 1
    # a field deeper down of the wrong type (used to be an internal error, exit 1)
    ("stages", "a field does not have the type the page needs"),
    ("share", "a field does not have the type the page needs"),
    ("cuts", "a field does not have the type the page needs"),
    ("as_of", "as_of is not a JSON string"),
    # an integer beyond float64 in a number the page formats (was an internal error,
    # OverflowError; found by fuzzing report.json)
    ("huge_share", "a number is too large for a float64"),
    ("huge_point", "a number is too large for a float64"),
])
def test_report_command_refuses_what_is_not_a_segscore_report(first_run, tmp_path, content,
                                                              problem):
    real = json.loads((first_run / "report" / "report.json").read_text())
    edits = {None: lambda r: r.pop("customers"), "newer": lambda r: r.update(schema_version=4),
             "segments": lambda r: r.update(segments=[1]),
             "deep": lambda r: r["score_ranges"].pop("r"),
             "point": lambda r: r["concentration"]["pareto"][3].pop("revenue_share"),
             "grid": lambda r: r["rf_grid"]["counts"].pop(),
             "stages": lambda r: r["performance"].update(stages="x"),
             "share": lambda r: r["segments"][0].update(customer_share="x"),
             "cuts": lambda r: r["cut_points"].update(r=None),
             "as_of": lambda r: r.update(as_of=5),
             "huge_share": lambda r: r["segments"][0].update(customer_share=10**400),
             "huge_point": lambda r: r["concentration"]["pareto"][3].update(
                 customer_share=10**400)}
    if content in edits:
        edits[content](real)
        content = json.dumps(real)
    (tmp_path / "o" / "report").mkdir(parents=True)
    (tmp_path / "o" / "report" / "report.json").write_text(content)
    r = CliRunner().invoke(main, ["report", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    assert f"report.json: not a segscore report ({problem}" in " ".join(r.output.split())
    assert not (tmp_path / "o" / "report" / "index.html").exists()


def test_report_command_shows_a_dash_for_a_number_report_json_lacks(first_run, tmp_path):
    """Numbers a report.json lacks (an older report, or an edited one) render as "–", exit 0:
    they were blank, like a null, which stays blank (a statistic of no customers)."""
    r = json.loads((first_run / "report" / "report.json").read_text())
    first, second = r["segments"][0], r["segments"][1]
    for d, key in ((r["customers"], "not_scored"), (r["totals"], "orders"),
                   (r["data_quality"], "used"), (first, "revenue"), (first, "customer_share"),
                   (r["performance"]["stages"][0], "cpu_s")):
        del d[key]
    second["median_monetary"] = None
    (tmp_path / "o" / "report").mkdir(parents=True)
    (tmp_path / "o" / "report" / "report.json").write_text(json.dumps(r))
    out = CliRunner().invoke(main, ["report", str(tmp_path / "o")])
    assert out.exit_code == 0, out.output
    html = (tmp_path / "o" / "report" / "index.html").read_text()
    assert "not scored<b>–</b>" in html and "orders<b>–</b>" in html
    dq = r["data_quality"]
    assert f"<td>{dq['read']:,}</td><td>–</td><td>{dq['rejected_total']:,}</td>" in html

    def cells(p):  # the segment's row of the segments table: its cells' text
        row = re.search(rf'<tr><td class="text">{p["key"]}</td>(.*?)</tr>', html, re.S).group(1)
        return re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    # name, customers, share, revenue, revenue share, orders, median recency, mean recency,
    # median orders, mean orders, median spend, ...
    assert cells(first)[2:4] == ["–", "–"] and cells(first)[1] == f"{first['customers']:,}"
    assert cells(second)[10] == ""
    bars = re.search(r"<title>Segment size vs revenue share</title>(.*?)</svg>", html, re.S)
    assert f'{first["name"]}: – of customers' in bars.group(1)
    assert re.search(r"[0-9.]+ s wall · – s CPU", html)


@pytest.mark.parametrize("command", [["generate", "--customers", "10"], ["demo", "--quiet"]])
def test_a_negative_seed_is_refused_naming_the_option(tmp_path, command):
    """--seed -1: exit 2 naming --seed, nothing created (demo exited 1 as an internal
    error, generate did not name the option)."""
    r = CliRunner().invoke(main, [*command, "--seed", "-1", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    assert "--seed" in r.output
    assert not (tmp_path / "o").exists()


def test_generate_and_demo_refusals_name_the_option(tmp_path):
    """More customers than the generator's id space: click refuses --customers for both
    commands (demo exited 1); generate's own checks name --files / --out."""
    from segscore.cli import CUSTOMERS
    from segscore_datasets import generate as gen

    assert CUSTOMERS.max == gen._ID_SPACE  # the CLI's bound is the generator's
    for command in (["generate"], ["demo", "--quiet"]):
        r = CliRunner().invoke(main, [*command, "--customers", str(gen._ID_SPACE + 1),
                                      "--out", str(tmp_path / "o")])
        assert r.exit_code == 2 and "'--customers'" in r.output, r.output
        assert not (tmp_path / "o").exists()
    r = CliRunner().invoke(main, ["generate", "--customers", "10", "--files", "9999", "--out",
                                  str(tmp_path / "o")])
    assert r.exit_code == 2 and "--files must be between 1 and the number of days" in r.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    r = CliRunner().invoke(main, ["generate", "--customers", "10", "--out",
                                  str(tmp_path / "full")])
    assert r.exit_code == 2 and f"--out {tmp_path / 'full'}: output directory" in r.output


def test_an_empty_out_directory_is_used_and_long_paths_print_whole(tmp_path, data):
    """An existing empty --out (a scheduler's mkdir -p) is written without --overwrite (it
    was refused either way); printed paths are never broken across lines when the output is
    not a terminal (rich wrapped them at 80 columns)."""
    out = tmp_path / ("a_rather_long_directory_name_for_the_nightly_segmentation_" * 2) / "out"
    out.mkdir(parents=True)
    r = CliRunner().invoke(main, ["run", str(data), "--out", str(out), "--k", "off"])
    assert r.exit_code == 0, r.output
    assert (out / "manifest.json").is_file()
    assert any(str(out / "report" / "index.html") in line for line in r.output.splitlines())
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    r = CliRunner().invoke(main, ["run", str(data), "--out", str(tmp_path / "full"), "--quiet"])
    assert r.exit_code == 2 and "output directory exists" in r.output


def test_validate_and_generate_commands(tmp_path, data):
    runner = CliRunner()
    r = runner.invoke(main, ["validate", str(data)])
    assert r.exit_code == 0 and "valid" in r.output
    r = runner.invoke(main, ["validate", str(data), "--as-of", "20260530"])
    assert r.exit_code == 0 and "as_of 2026-05-30T23:59:59.999999" in r.output
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


DEEP_JSON = "[" * 100_000 + "]" * 100_000  # deeper than Python's JSON parser recurses


@pytest.mark.parametrize("command, file, needle", [
    ("model", "model.json", "cannot use as --model: invalid JSON: arrays or objects nested "
                            "too deeply"),
    ("previous", "manifest.json", "--previous is not a segscore output directory"),
    ("report", "report/report.json", "cannot read report.json: invalid JSON: arrays or "
                                     "objects nested too deeply"),
])
def test_json_nested_too_deeply_is_refused_naming_the_file(first_run, data, tmp_path, command,
                                                           file, needle):
    """A model.json, a --previous manifest.json or a report.json of nested arrays deeper than
    the JSON parser recurses: exit 2 naming the file, as for any invalid JSON (it was an
    internal error, RecursionError); found by fuzzing."""
    import shutil

    out = tmp_path / "night"
    shutil.copytree(first_run, out)
    (out / file).write_text(DEEP_JSON)
    args = {"model": ["validate", str(data), "--model", str(out / file)],
            "previous": ["validate", str(data), "--previous", str(out)],
            "report": ["report", str(out)]}[command]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and needle in " ".join(r.output.split()), r.output
    assert "internal error" not in r.output


def _tiny_channel_input(path):
    pl.DataFrame({"customer_id": [1, 2, 3, 4], "amount": [10.0, 20.0, 30.0, 40.0],
                  "order_ts": [datetime(2026, 6, d) for d in (1, 2, 3, 4)],
                  "channel": ["web", "store", "web", "store"]}).write_parquet(path)
    return path


@pytest.mark.parametrize("features, message, stage", [
    ('["monetary", "share_app"]', "'share_app' is not a channel share column of this input; "
                                  "its share columns: share_store, share_web",
     "ingest_and_aggregate"),
    # no category column in any file: known from the footers, before the row pass
    ('["distinct_categories"]', "'distinct_categories' needs a category column", "discover"),
])
def test_cluster_features_the_input_lacks_stop_after_the_row_pass(tmp_path, features, message,
                                                                  stage):
    """Exit 2 naming the config file and key (the message named only the key), as soon as the
    input shows the feature is not there; validate lists the same."""
    tx = _tiny_channel_input(tmp_path / "t.parquet")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[clustering]\nfeatures = {features}\n")
    r = CliRunner().invoke(main, ["run", str(tx), "--out", str(tmp_path / "o"), "--config",
                                  str(cfg), "--quiet"])
    assert r.exit_code == 2, r.output
    assert f"error: {cfg}: clustering.features: {message}" in r.output
    assert f"stage '{stage}' failed" in r.output and not (tmp_path / "o").exists()
    r = CliRunner().invoke(main, ["validate", str(tx), "--config", str(cfg)])
    assert r.exit_code == 2 and f"problem: {cfg}: clustering.features: {message}" in r.output


def test_a_share_feature_without_a_channel_column_stops_before_the_row_pass(tmp_path):
    tx = tmp_path / "t.parquet"
    pl.read_parquet(_tiny_channel_input(tx)).drop("channel").write_parquet(tx)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[clustering]\nfeatures = ["monetary", "share_web"]\n')
    r = CliRunner().invoke(main, ["run", str(tx), "--out", str(tmp_path / "o"), "--config",
                                  str(cfg), "--quiet"])
    assert r.exit_code == 2, r.output
    assert (f"error: {cfg}: clustering.features: 'share_web' is not a channel share column of "
            "this input; its share columns: none (no channel column)") in r.output
    assert "stage 'discover' failed" in r.output and not (tmp_path / "o").exists()


def _first_night(tmp_path, toml: str, *flags: str):
    """The tiny channel input run into tmp_path/n1 with config ``toml`` and ``flags`` (exit
    0); returns the input's path."""
    tx = _tiny_channel_input(tmp_path / "t.parquet")
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    r = CliRunner().invoke(main, ["run", str(tx), "--out", str(tmp_path / "n1"), "--config",
                                  str(cfg), *flags, "--quiet"])
    assert r.exit_code == 0, r.output
    return tx


def test_frozen_clusters_on_a_channel_tonight_lacks_stop_after_the_row_pass(tmp_path):
    """The model's share_web column exists tonight (the model's columns), but no purchase has
    channel "web": the frozen clusters would read 0 for everyone; refused, as validate does."""
    tx = _first_night(tmp_path, '[clustering]\nk = 2\nfeatures = ["monetary", "share_web"]\n')
    runner = CliRunner()
    pl.read_parquet(tx).with_columns(channel=pl.lit("store")).write_parquet(tx)
    model = tmp_path / "n1" / "model.json"
    message = (f"error: {model}: clusters.features: 'share_web' is the share of channel 'web' "
               "(channel_columns), and no purchase tonight has that channel: the frozen "
               "clusters would read 0 for every customer; check the input's channel values, "
               "or leave out --model to refit")
    r = runner.invoke(main, ["run", str(tx), "--out", str(tmp_path / "n2"), "--quiet",
                             "--model", str(model)])
    assert r.exit_code == 2, r.output
    assert message in " ".join(r.output.split())
    assert not (tmp_path / "n2").exists()
    r = runner.invoke(main, ["validate", str(tx), "--model", str(model)])
    assert r.exit_code == 2 and message[len("error: "):] in " ".join(r.output.split()), r.output


def test_unknown_cluster_feature_is_refused_before_any_stage(tmp_path, data):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[clustering]\nfeatures = ["monetary", "rfm_code"]\n')
    r = CliRunner().invoke(main, ["run", str(data), "--out", str(tmp_path / "o"), "--config",
                                  str(cfg), "--quiet"])
    assert r.exit_code == 2
    assert f"{cfg}: clustering.features: unknown feature(s) 'rfm_code'; allowed:" in r.output
    assert "stage" not in r.output and not (tmp_path / "o").exists()
    r = CliRunner().invoke(main, ["validate", str(data), "--config", str(cfg)])
    assert r.exit_code == 2 and "unknown feature(s) 'rfm_code'" in r.output


def test_flags_override_the_config_file(tmp_path):
    tx = _tiny_channel_input(tmp_path / "t.parquet")
    cfg = tmp_path / "rules.toml"
    cfg.write_text('[scoring]\nbins = 4\n\n[[segments.rules]]\nkey = "top"\nr = [4, 4]\n\n'
                   '[[segments.rules]]\nkey = "rest"\n\n[clustering]\nenabled = false\n')
    r = CliRunner().invoke(main, ["run", str(tx), "--out", str(tmp_path / "o"), "--config",
                                  str(cfg), "--segments", "rfm", "--bins", "5", "--k", "2",
                                  "--quiet"])
    assert r.exit_code == 0, r.output
    model = json.loads((tmp_path / "o" / "model.json").read_text())
    assert model["bins"] == 5 and model["config"]["segments"]["name"] == "rfm"
    assert model["clusters"]["k"] == 2


@pytest.mark.parametrize("k", ["off", "auto", "3"])
def test_k_flag_replaces_the_files_k(tmp_path, k):
    from segscore.cli import _overrides
    from segscore.config import load_config

    cfg = tmp_path / "c.toml"
    cfg.write_text('[clustering]\nk = "many"\nenabled = true\n')
    with pytest.raises(InputError, match="clustering.k: expected 'auto', 'off'"):
        load_config(cfg)
    settings = load_config(cfg, *_overrides(None, None, None, k)).clustering
    assert (settings.enabled, settings.k) == (k != "off", int(k) if k.isdigit() else None)


@pytest.mark.parametrize("flags, message", [
    (["--bins", "3"], "--bins 3: scoring.bins is 3, but the built-in preset 'rfm' is written "
                      "for 5 bins; with 3 bins give your own [[segments.rules]]"),
    (["--bins", "8", "--segments", "value_behaviour"],
     "--bins 8 --segments value_behaviour: scoring.bins is 8, but the built-in preset "
     "'value_behaviour' is written for 5 bins"),
    (["--k", "1"], "--k 1: clustering.k: expected 'auto'"),
])
def test_errors_caused_by_flags_name_the_flag(tmp_path, flags, message):
    tx = _tiny_channel_input(tmp_path / "t.parquet")
    r = CliRunner().invoke(main, ["run", str(tx), "--out", str(tmp_path / "o"), *flags])
    assert r.exit_code == 2 and f"error: {message}" in r.output
    assert "defaults" not in r.output and "stage" not in r.output
    assert not (tmp_path / "o").exists()


def test_model_with_k_set_by_flag_outside_the_files_bounds_reapplies(tmp_path):
    tx = _first_night(tmp_path, "[clustering]\nk_min = 2\nk_max = 2\n", "--k", "3")
    runner = CliRunner()
    r = runner.invoke(main, ["run", str(tx), "--out", str(tmp_path / "n2"), "--quiet", "--model",
                             str(tmp_path / "n1" / "model.json")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "n2" / "model.json").read_text())["clusters"]["k"] == 3


def test_model_with_k_at_its_k_min_reapplies_with_the_same_config(tmp_path):
    """A model whose k equals its own k_min (k = 2 in 2..5) keeps those bounds when
    re-applied: the second night's model.json has the first's config and config hash (the
    bounds hold the k, so they are part of the model's clustering options)."""
    tx = _first_night(tmp_path, "[clustering]\nk = 2\nk_min = 2\nk_max = 5\n")
    r = CliRunner().invoke(main, ["run", str(tx), "--out", str(tmp_path / "n2"), "--quiet",
                                  "--model", str(tmp_path / "n1" / "model.json")])
    assert r.exit_code == 0, r.output
    m1, m2 = (json.loads((tmp_path / n / "model.json").read_text()) for n in ("n1", "n2"))
    assert m1["config"]["clustering"]["k_min"] == 2
    assert m2["config"] == m1["config"] and m2["config_hash"] == m1["config_hash"]


def test_model_keeps_tonights_window_and_quality_bounds(first_run, data, tmp_path):
    """--model fixes the scoring (cut points, tables, clusters), not what describes tonight's
    input: --window-days restricts the rows as in a refit run, and the config's quality
    bound is tonight's."""
    from segscore.config import build_config
    from segscore.model import load_model

    tonight = build_config({"scoring": {"window_days": 30},
                            "quality": {"max_abs_amount": 5e5}})
    merged, _ = load_model(first_run / "model.json", tonight)
    assert (merged.window_days, merged.max_abs_amount) == (30, 5e5)
    rows = []
    for name, extra in (("model", ["--model", str(first_run / "model.json")]), ("refit", [])):
        out = tmp_path / name
        r = CliRunner().invoke(main, ["run", str(data), "--out", str(out), "--as-of",
                                      "2026-06-30", "--window-days", "30", "--quiet", *extra])
        assert r.exit_code == 0, r.output
        rows.append(json.loads((out / "manifest.json").read_text())["rows"])
    assert rows[0]["outside_window"] > 0 and rows[0] == rows[1]


def test_validate_config_option_has_help():
    r = CliRunner().invoke(main, ["validate", "--help"])
    assert r.exit_code == 0
    assert "--config FILE TOML config to check" in " ".join(r.output.split())


def test_memory_limit_that_cannot_be_met_stops_before_reading(data, tmp_path):
    r = CliRunner().invoke(main, ["run", str(data), "--out", str(tmp_path / "o"), "--quiet",
                                  "--memory-limit", "0.1"])
    assert r.exit_code == 2 and "memory budget exceeded" in r.output
    assert "stage 'discover' failed" in r.output  # refused before any row is read
    assert not (tmp_path / "o").exists()


#: (tonight's --as-of, the warning a --previous as of 2026-05-31 gives: first_run)
PREVIOUS_NOT_BEFORE = [
    ("2026-05-01", "--previous {prev} is the run as of 2026-05-31T23:59:59.999999, after "
                   "tonight's as_of 2026-05-01T23:59:59.999999: the migration runs backwards "
                   "(nights swapped?); give the run before tonight as --previous"),
    ("2026-05-31", "--previous {prev} has tonight's as_of 2026-05-31T23:59:59.999999: the "
                   "migration compares tonight with another run of the same night, not with "
                   "the night before"),
    ("2026-06-30", None),
]


@pytest.mark.parametrize("counts", ["amount", [1, 2], {"scored": "12"}, {"scored": 10**30}])
def test_previous_manifest_with_odd_customer_counts_is_used(first_run, data, tmp_path, counts):
    """The memory budget sizes the migration from the rows in the previous customers/
    footers, not from the manifest's customers.scored: an edited one that is text, a list
    or a huge count changes nothing, and run and validate work (a non-object was an
    internal error, AttributeError, before any stage; a scored of 10**30 was a refusal,
    "the report's --customers / --previous inputs need about 8e22 GiB")."""
    import shutil

    from segscore.config import load_config
    from segscore.report import check_report_inputs

    prev = tmp_path / "prev"
    shutil.copytree(first_run, prev)
    manifest = json.loads((prev / "manifest.json").read_text())
    manifest["customers"] = counts
    (prev / "manifest.json").write_text(json.dumps(manifest))
    rows = pl.scan_parquet(prev / "customers", hive_partitioning=True).select(pl.len()).collect()
    assert check_report_inputs(load_config(), previous_dir=prev).previous_customers \
        == rows.item() > 0
    v = CliRunner().invoke(main, ["validate", str(data), "--previous", str(prev)])
    assert v.exit_code == 0, v.output
    r = CliRunner().invoke(main, ["run", str(data), "--out", str(tmp_path / "o"), "--quiet",
                                  "--k", "off", "--as-of", "2026-06-30", "--previous", str(prev)])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "o" / "report" / "report.json").read_text())
    assert report["migration"]["previous_dir"] == str(prev.resolve())


@pytest.mark.parametrize("as_of, says", PREVIOUS_NOT_BEFORE)
def test_previous_not_before_tonight_is_warned(first_run, data, tmp_path, as_of, says):
    """A --previous as of a later night (nights swapped) was taken silently, the migration
    run backwards; one of the same as_of compares the night with itself. Both warn, on
    stderr (even with --quiet) and in the manifest; an earlier night does not."""
    r = CliRunner().invoke(main, ["run", str(data), "--out", str(tmp_path / "o"), "--quiet",
                                  "--k", "off", "--as-of", as_of, "--previous", str(first_run)])
    assert r.exit_code == 0, r.output
    warnings = json.loads((tmp_path / "o" / "manifest.json").read_text())["warnings"]
    if says is None:
        assert warnings == [] and "warning" not in r.stderr
    else:
        assert warnings == [says.format(prev=first_run)]
        assert f"warning: {warnings[0]}" in r.stderr


@pytest.mark.parametrize("as_of, says", PREVIOUS_NOT_BEFORE)
def test_validate_warns_of_a_previous_not_before_tonight(first_run, data, as_of, says):
    """validate --previous gives the warning run gives for a --previous not before tonight
    (it said nothing): on stderr, and in validation_report's ``warnings``; a warning is no
    problem, so the input stays valid, exit 0."""
    from segscore.config import parse_as_of
    from segscore.validation import validation_report

    r = CliRunner().invoke(main, ["validate", str(data), "--as-of", as_of,
                                  "--previous", str(first_run)])
    assert r.exit_code == 0 and r.stdout.rstrip().endswith("valid"), r.output
    report = validation_report(str(data), as_of=parse_as_of(as_of), previous=first_run)
    assert report["ok"]
    if says is None:
        assert report["warnings"] == [] and "warning" not in r.stderr
    else:
        assert report["warnings"] == [says.format(prev=first_run)]
        assert r.stderr == f"warning: {report['warnings'][0]}\n"



#: (tonight's flags against first_run's defaults, the rules the warning names as changed)
RULES_CHANGED = [
    (["--segments", "value_behaviour"], "the segment table"),
    (["--window-days", "365"], "scoring.window_days"),
    (["--k", "off"], None),  # clustering takes no part in the migration
]


@pytest.mark.parametrize("flags, changed", RULES_CHANGED)
def test_previous_scored_with_other_rules_is_warned(first_run, data, tmp_path, flags, changed):
    """A --previous scored with another segment table (or bins, window, tiers, stages) was
    compared silently: nearly every customer "moved" because the rules changed, exit 0,
    no warning. run and validate now warn, naming what changed; a change that moves nobody
    (the clustering) does not."""
    from segscore.config import load_config, parse_as_of
    from segscore.validation import validation_report

    r = CliRunner().invoke(main, ["run", str(data), "--out", str(tmp_path / "o"), "--quiet",
                                  "--as-of", "2026-06-30", "--previous", str(first_run),
                                  *flags])
    assert r.exit_code == 0, r.output
    warnings = json.loads((tmp_path / "o" / "manifest.json").read_text())["warnings"]
    v = CliRunner().invoke(main, ["validate", str(data), "--as-of", "2026-06-30",
                                  "--previous", str(first_run), *flags])
    assert v.exit_code == 0 and v.stdout.rstrip().endswith("valid"), v.output
    if changed is None:
        assert warnings == [] and "warning" not in r.stderr and "warning" not in v.stderr
        return
    says = (f"--previous {first_run} was scored with other rules than tonight's (changed: "
            f"{changed}): the migration shows the change of rules as well as the "
            "customers' movement")
    assert warnings == [says] and f"warning: {says}" in r.stderr
    assert v.stderr == f"warning: {says}\n"
    overrides = {"--segments": ("segments", "preset"), "--window-days": ("scoring", "window_days")}
    section, key = overrides[flags[0]]
    value = int(flags[1]) if flags[1].isdigit() else flags[1]
    report = validation_report(str(data), load_config(None, {section: {key: value}}),
                               as_of=parse_as_of("2026-06-30"), previous=first_run)
    assert report["ok"] and report["warnings"] == [says]


def test_previous_without_a_customer_in_common_is_warned(first_run, data, tmp_path):
    """Tonight's ids in another form than last night's (an upstream change from 123 to
    "C123": last night's integers are cast to "123") share no customer: the migration called
    every customer new and every one of last night's disappeared, exit 0, no warning."""
    src = tmp_path / "tx"
    src.mkdir()
    for f in sorted(data.glob("*.parquet")):
        pl.read_parquet(f).with_columns(pl.format("C{}", "customer_id").alias("customer_id")
                                        ).write_parquet(src / f.name)
    r = CliRunner().invoke(main, ["run", str(src), "--out", str(tmp_path / "o"), "--quiet",
                                  "--as-of", "2026-06-30", "--previous", str(first_run)])
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    mig = json.loads((tmp_path / "o" / "report" / "report.json").read_text())["migration"]
    previous_n = json.loads((first_run / "manifest.json").read_text())["customers"]["scored"]
    assert mig["segments"]["new"] == manifest["customers"]["scored"] == mig["current_customers"]
    assert mig["segments"]["disappeared"] == previous_n == mig["previous_customers"]
    says = (f"--previous {first_run}: none of its {previous_n:,} customers is among tonight's "
            f"{mig['current_customers']:,}, so the migration shows every customer as new and "
            "every one of last night's as disappeared; check that both runs' customer ids "
            "are in the same form")
    assert manifest["warnings"] == [says] and f"warning: {says}" in r.stderr
    # the same ids as last night: customers in common, no warning
    r = CliRunner().invoke(main, ["run", str(data), "--out", str(tmp_path / "same"), "--quiet",
                                  "--as-of", "2026-06-30", "--previous", str(first_run)])
    assert r.exit_code == 0 and "warning" not in r.stderr, r.output
    assert json.loads((tmp_path / "same" / "manifest.json").read_text())["warnings"] == []


def test_integer_amounts_beside_float_ones_are_warned(tmp_path):
    """A night's file whose amounts are integer cents beside float files of currency units
    was read without a word (exit 0): its customers' spend counted 100 times. run and
    validate now warn, naming both kinds of file; a float file beside a decimal one (the
    same unit) is not warned about, nor are integer amounts throughout."""
    from decimal import Decimal

    ts = [datetime(2026, 6, d) for d in (1, 2)]
    night = {"customer_id": [1, 2], "order_ts": ts}
    src = tmp_path / "tx"
    src.mkdir()
    pl.DataFrame({**night, "amount": [12.5, 30.0]}).write_parquet(src / "a.parquet")
    pl.DataFrame({**night, "amount": [1250, 3000]}).write_parquet(src / "b.parquet")
    says = (f"column 'amount' holds integers in 1 file(s) (e.g. {src / 'b.parquet'}) and "
            f"floats or decimals in 1 (e.g. {src / 'a.parquet'}): integers are read as "
            "currency units, so amounts stored in cents would count 100 times; check that "
            "every file has the same unit (set [columns] amount_decimals = 2 if the integers "
            "are cents)")
    r = CliRunner().invoke(main, ["run", str(src), "--out", str(tmp_path / "o"), "--quiet",
                                  "--k", "off"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["warnings"] == [says]
    assert f"warning: {says}" in r.stderr
    v = CliRunner().invoke(main, ["validate", str(src)])
    assert v.exit_code == 0 and v.stderr == f"warning: {says}\n", v.output
    decimals = pl.Series([Decimal("12.50"), Decimal("30.00")], dtype=pl.Decimal(18, 2))
    for case, (a, b) in enumerate((([12.5, 30.0], decimals), ([1250, 3000], [1250, 3000]))):
        pl.DataFrame({**night, "amount": a}).write_parquet(src / "a.parquet")
        pl.DataFrame({**night, "amount": b}).write_parquet(src / "b.parquet")
        r = CliRunner().invoke(main, ["run", str(src), "--out", str(tmp_path / f"o{case}"),
                                      "--quiet", "--k", "off"])
        assert r.exit_code == 0 and "warning" not in r.stderr, r.output
        v = CliRunner().invoke(main, ["validate", str(src)])
        assert v.exit_code == 0 and "warning" not in v.stderr, v.output

def test_as_of_after_today_is_warned(tmp_path):
    """A mis-dated row (next year) becomes the default as_of (SPEC §1) and would make every
    customer look lapsed: the run warns on stderr, even with --quiet, and in the manifest;
    with --as-of, or data up to today, there is no warning."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    days = [now - timedelta(days=d) for d in (1, 40, 90)]
    rows = pl.DataFrame({"customer_id": [1, 2, 3, 1], "order_ts": days + [now + timedelta(days=400)],
                         "amount": [10.0, 20.0, 30.0, 5.0]})
    rows.write_parquet(tmp_path / "t.parquet")
    result = CliRunner().invoke(main, ["run", str(tmp_path / "t.parquet"), "--out",
                                       str(tmp_path / "o"), "--quiet", "--k", "off"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    (warning,) = manifest["warnings"]
    assert "after today" in warning and "--as-of" in warning
    assert "warning: as_of" in result.stderr and "after today" in result.stderr
    given = CliRunner().invoke(main, ["run", str(tmp_path / "t.parquet"), "--out",
                                      str(tmp_path / "g"), "--quiet", "--k", "off",
                                      "--as-of", now.date().isoformat()])
    assert given.exit_code == 0 and "warning" not in given.stderr
    assert json.loads((tmp_path / "g" / "manifest.json").read_text())["warnings"] == []
    rows.head(3).write_parquet(tmp_path / "t.parquet")
    past = CliRunner().invoke(main, ["run", str(tmp_path / "t.parquet"), "--out",
                                     str(tmp_path / "p"), "--quiet", "--k", "off"])
    assert past.exit_code == 0 and "warning" not in past.stderr


def test_a_panic_inside_polars_is_an_internal_error_without_a_traceback(tmp_path, monkeypatch):
    """pyo3's PanicException is a BaseException: the CLI turns it into "internal error",
    exit 1, one line on stderr, instead of letting a traceback out."""
    import polars.exceptions
    import segscore.validation

    def panic(*args, **kwargs):
        raise polars.exceptions.PanicException("unable to parse time zone: 'x'\nbacktrace")

    monkeypatch.setattr(segscore.validation, "validation_report", panic)
    r = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert r.exit_code == 1
    assert "internal error (a panic in polars): unable to parse time zone: 'x'" in r.output
    assert "backtrace" not in r.output
    assert isinstance(r.exception, SystemExit)  # exited, did not raise


def test_k_cut_to_the_distinct_feature_rows_is_said_and_the_model_takes_the_asked_k(tmp_path):
    """--k 10 on customers with only 2 distinct feature rows: K = 2, with a warning (stderr
    and manifest.json) and the cut in model.json's selection (it was silent); re-applying
    that model with the same --k 10 is accepted (it was refused as disagreeing)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datetime import datetime

    n = 50
    src = tmp_path / "t.parquet"
    pq.write_table(pa.table({
        "customer_id": pa.array(range(n), pa.int64()),
        "order_ts": pa.array([datetime(2025, 1, 1)] * (n - 1) + [datetime(2024, 1, 1)],
                             pa.timestamp("us")),
        "amount": pa.array([10.0] * (n - 1) + [99.0])}), src)
    first = tmp_path / "first"
    r = CliRunner().invoke(main, ["run", str(src), "--out", str(first), "--k", "10", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "10 clusters asked for" in r.output
    model = json.loads((first / "model.json").read_text())
    assert model["clusters"]["k"] == 2
    assert model["clusters"]["selection"]["k_reduced"] == {"asked": 10, "distinct_feature_rows": 2,
                                                           "k": 2}
    manifest = json.loads((first / "manifest.json").read_text())
    assert any("10 clusters asked for" in w for w in manifest["warnings"])
    again = CliRunner().invoke(main, ["run", str(src), "--out", str(tmp_path / "again"),
                                      "--k", "10", "--model", str(first / "model.json"),
                                      "--quiet"])
    assert again.exit_code == 0, again.output
    # the re-applied model fits nothing tonight: no warning about tonight's data
    assert "clusters asked for" not in again.output
    again_manifest = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert not any("clusters asked for" in w for w in again_manifest["warnings"])


@pytest.mark.parametrize("args", [
    ["run", "DATA", "--out", ""], ["run", "DATA", "--out", " ", "--overwrite"],
    ["run", "", "--out", "OUT"], ["run", "DATA", "--out", "OUT", "--config", ""],
    ["run", "DATA", "--out", "OUT", "--previous", ""],
    ["run", "DATA", "--out", "OUT", "--customers", ""], ["validate", ""], ["report", ""],
    ["generate", "--customers", "10", "--out", ""], ["demo", "--out", ""]])
def test_an_empty_path_is_refused_not_read_as_the_current_directory(args, data, tmp_path,
                                                                     monkeypatch):
    """An unset variable (``--out "$OUT"``) must not make the current directory the output
    (it was written into, or with --overwrite replaced) or the input."""
    monkeypatch.chdir(tmp_path)
    argv = [str(data) if a == "DATA" else str(tmp_path / "o") if a == "OUT" else a for a in args]
    r = CliRunner().invoke(main, argv)
    assert r.exit_code == 2, r.output
    assert "an empty path" in r.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("arg", ["out", "source", "source item", "config_path", "model_path",
                                 "previous", "attributes"])
def test_api_refuses_an_empty_path(data, tmp_path, monkeypatch, arg):
    """Every path argument of segscore.run, as the CLI's options: "" (or blank) is not the
    current directory (a source read recursively, a config "Is a directory", last night's
    output checked in the working directory)."""
    import segscore

    monkeypatch.chdir(tmp_path)
    (tmp_path / "old").mkdir()  # something the current directory would have offered
    kw = {"source": str(data), "out": str(tmp_path / "o")}
    if arg == "source item":
        kw["source"] = [str(data), " "]
    else:
        kw[arg] = ""
    with pytest.raises(InputError, match=f"^{arg.split()[0]}: an empty path"):
        segscore.run(kw.pop("source"), kw.pop("out"), **kw)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


def test_validate_window_days_reconciles_as_run_does(data, tmp_path):
    """``validate --window-days N`` gives the reconciliation of ``run --window-days N`` (it
    had no such flag: only a config file could set the window)."""
    out = tmp_path / "w"
    r = CliRunner().invoke(main, ["run", str(data), "--out", str(out), "--as-of", "2026-05-31",
                                  "--window-days", "30", "--quiet"])
    assert r.exit_code == 0, r.output
    rows = json.loads((out / "manifest.json").read_text())["rows"]
    assert rows["outside_window"] > 0
    r = CliRunner().invoke(main, ["validate", str(data), "--as-of", "2026-05-31",
                                  "--window-days", "30"])
    assert r.exit_code == 0, r.output
    assert (f"used {rows['used']:,} + after as_of {rows['after_as_of']:,} + outside window "
            f"{rows['outside_window']:,}") in r.output
    r = CliRunner().invoke(main, ["validate", str(data), "--window-days", "99999999"])
    assert r.exit_code == 2 and "--window-days 99999999" in r.output


def test_generate_shows_progress_on_stderr_and_quiet_silences_it(tmp_path):
    """generate reports its two phases (customers generated, files written) on stderr, as
    run shows its stages; --quiet leaves only the summary line on stdout."""
    loud = CliRunner().invoke(main, ["generate", "--customers", "1200", "--files", "3",
                                     "--out", str(tmp_path / "a")])
    assert loud.exit_code == 0, loud.output
    assert "1200/1200" in loud.stderr and "3/3" in loud.stderr
    assert "1,200 customers" in loud.stdout
    quiet = CliRunner().invoke(main, ["generate", "--customers", "1200", "--files", "3",
                                      "--out", str(tmp_path / "b"), "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""
    assert quiet.stdout.startswith("1,200 customers")
    # an error before the first step prints alone (a blank progress line came first)
    refused = CliRunner().invoke(main, ["generate", "--customers", "10", "--out",
                                        str(tmp_path / "a")])
    assert refused.exit_code == 2 and refused.stderr.startswith("error: --out")


def test_a_threshold_tier_model_reapplies(data, tmp_path):
    """A model fitted with threshold tiers re-applies (its bounds are its thresholds, which
    load_model now checks) and gives the same tiers on the same data."""
    cfg = tmp_path / "tiers.toml"
    cfg.write_text('[value_tier]\nmethod = "thresholds"\n'
                   '[[value_tier.tiers]]\nkey = "vip"\nname = "VIP"\nmin_monetary = 500.0\n'
                   '[[value_tier.tiers]]\nkey = "gold"\nname = "Gold"\nmin_monetary = 100.0\n'
                   '[[value_tier.tiers]]\nkey = "regular"\nname = "Regular"\n')
    first = tmp_path / "n1"
    args = ["run", str(data), "--as-of", "2026-05-31", "--quiet"]
    assert CliRunner().invoke(main, [*args, "--out", str(first), "--config", str(cfg)]).exit_code == 0
    again = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "n2"),
                                      "--model", str(first / "model.json")])
    assert again.exit_code == 0, again.output
    tiers = [pl.read_parquet(d / "customers", hive_partitioning=True).sort("customer_id")
             ["value_tier"].cast(pl.String) for d in (first, tmp_path / "n2")]
    assert tiers[0].equals(tiers[1]) and set(tiers[0]) == {"vip", "gold", "regular"}


def test_validate_checks_previous_and_model_as_run_does(first_run, data, tmp_path):
    """validate --previous / --model: what run would refuse before its row pass, validate
    reports (it had neither option); a good pair is valid."""
    ok = CliRunner().invoke(main, ["validate", str(data), "--previous", str(first_run),
                                   "--model", str(first_run / "model.json")])
    assert ok.exit_code == 0 and ok.output.rstrip().endswith("valid"), ok.output
    not_output = CliRunner().invoke(main, ["validate", str(data), "--previous", str(data)])
    assert not_output.exit_code == 2 and "not a segscore output" in " ".join(
        not_output.output.split()), not_output.output
    run = CliRunner().invoke(main, ["run", str(data), "--out", str(tmp_path / "o"), "--quiet",
                                    "--previous", str(data)])
    assert run.exit_code == 2
    broken = tmp_path / "model.json"
    model = json.loads((first_run / "model.json").read_text())
    model["cut_points"]["m"][0] = float("nan")
    broken.write_text(json.dumps(model))
    bad = CliRunner().invoke(main, ["validate", str(data), "--model", str(broken)])
    assert bad.exit_code == 2 and "cut_points.m must be finite" in bad.output, bad.output


def _broken_previous(first_run, root, how):
    """A copy of ``first_run`` under ``root``/``how`` that run refuses when its report reads
    the previous customers: a corrupt data page, a string id '12x' (the other ids cast to
    tonight's integers and the footers' statistics show no letter) or an id listed twice."""
    import shutil

    import pyarrow.parquet as pq

    prev = root / how
    shutil.copytree(first_run, prev)
    parts = sorted((prev / "customers").rglob("*.parquet"))
    if how == "corrupt":
        meta = pq.read_metadata(parts[-1])
        col = meta.row_group(0).column(meta.schema.names.index("monetary"))
        data = bytearray(parts[-1].read_bytes())
        data[col.data_page_offset + 8:col.data_page_offset + 40] = b"\xff" * 32
        parts[-1].write_bytes(bytes(data))
    elif how == "string":
        for i, part in enumerate(parts):
            ids = pl.col("customer_id").cast(pl.String)
            if i == 0:
                ids = pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("12x")).otherwise(ids)
            pl.read_parquet(part).with_columns(ids.alias("customer_id")).write_parquet(part)
    else:
        shutil.copy(parts[0], parts[0].with_name("extra-copy.parquet"))
    return prev


def test_validate_reads_the_previous_rows_as_run_does(first_run, data, tmp_path):
    """validate --previous reads the columns the migration reads and refuses what run refuses
    reading them, with run's message: a corrupt data page (its file and row group), a string
    id that cannot be cast to tonight's integer ids, an id listed twice (it checked the
    manifest and the footers only and called them valid, exit 0)."""
    for how, says in (("corrupt", "corrupt Parquet data in row group 0"),
                      ("string", "has 1 id(s) that cannot be cast to tonight's customer ids "
                                 "(Int64) (e.g. '12x')"),
                      ("duplicate", "previous output has ")):
        prev = _broken_previous(first_run, tmp_path, how)
        run = CliRunner().invoke(main, ["run", str(data), "--out", str(tmp_path / "o"),
                                        "--quiet", "--previous", str(prev)])
        assert run.exit_code == 2 and not (tmp_path / "o").exists(), run.output
        error = run.output.strip().splitlines()[-1]
        assert error.startswith("error: ") and says in error, error
        v = CliRunner().invoke(main, ["validate", str(data), "--previous", str(prev)])
        assert v.exit_code == 2, v.output
        assert f"problem: {error.removeprefix('error: ')}" in v.output.splitlines(), v.output
    ok = CliRunner().invoke(main, ["validate", str(data), "--previous", str(first_run)])
    assert f"ok previous output {first_run} · every row checked" in ok.output.splitlines()


def test_validate_checks_customers_and_previous_whatever_else_is_wrong(first_run, data,
                                                                       tmp_path):
    """validate reports a bad --customers and --previous beside every other problem (it
    stopped before them at any file, config or model problem, and after an attributes
    problem): with a bad config and a missing --model, each with run's message; after an
    attributes problem, the row checks too; with a transactions file it cannot read, what
    can be checked without tonight's id type (the ids as stored: duplicates, not the cast)."""
    def problems(*args):
        r = CliRunner().invoke(main, ["validate", *map(str, args)])
        assert r.exit_code == 2, r.output
        assert r.output.rstrip().endswith("problem(s): invalid"), r.output
        return [line.removeprefix("problem: ") for line in r.output.splitlines()
                if line.startswith("problem: ")], r.output

    ids = pl.read_parquet(first_run / "customers")["customer_id"]
    dup_attrs = tmp_path / "dup.parquet"
    pl.DataFrame({"customer_id": pl.concat([ids, ids.head(1)]),
                  "age": range(ids.len() + 1)}).write_parquet(dup_attrs)
    attrs_alone, _ = problems(data, "--customers", dup_attrs)
    uncast = _broken_previous(first_run, tmp_path, "string")
    uncast_alone, _ = problems(data, "--previous", uncast)
    assert len(attrs_alone) == len(uncast_alone) == 1
    cfg = tmp_path / "c.toml"
    cfg.write_text("[scoring]\nbins = 99\n")
    found, _ = problems(data, "--config", cfg, "--model", tmp_path / "none.json",
                        "--customers", dup_attrs, "--previous", uncast)
    assert len(found) == 4 and found[2:] == attrs_alone + uncast_alone, found
    assert "c.toml" in found[0] and "none.json" in found[1]
    # nor does a bad config hide an input of no rows, or no input at all (whose id type
    # would have been taken as integers)
    empty = tmp_path / "empty.parquet"
    pl.DataFrame({"customer_id": [], "order_ts": [], "amount": []},
                 schema={"customer_id": pl.Int64, "order_ts": pl.Datetime,
                         "amount": pl.Float64}).write_parquet(empty)
    found, _ = problems(empty, "--config", cfg)
    assert len(found) == 2 and "the input has no rows" in found[1], found
    from segscore.validation import validation_report

    assert [p["message"] for p in validation_report([], cfg)["problems"]][1:] == [
        "no input files"]
    # an attributes problem no longer hides the row checks (nothing to score before 2000)
    found, _ = problems(data, "--as-of", "2000-01-01", "--customers", dup_attrs)
    assert found[0] == attrs_alone[0] and "nothing to score" in found[1]

    missing = tmp_path / "missing" / "t.parquet"  # the audit's case: no amount column
    missing.parent.mkdir()
    pl.DataFrame({"customer_id": [1, 2], "order_ts": [datetime(2026, 1, 1)] * 2}).write_parquet(
        missing)
    found, _ = problems(missing, "--customers", tmp_path / "nope.parquet")
    assert len(found) == 2 and "'amount'" in found[0], found
    assert found[1].startswith(f"{tmp_path / 'nope.parquet'}: cannot read customer attributes")
    features = tmp_path / "f.toml"  # an attr: feature finds it unreadable too: said once
    features.write_text('[clustering]\nfeatures = ["recency_days", "attr:age"]\n')
    assert sorted(problems(missing, "--config", features, "--customers",
                           tmp_path / "nope.parquet")[0]) == sorted(found)
    twice = _broken_previous(first_run, tmp_path, "duplicate")
    found, _ = problems(missing, "--previous", twice, "--customers", dup_attrs)
    assert len(found) == 3 and "'amount'" in found[0], found
    assert str(dup_attrs) in found[1] and "duplicate id" in found[1]
    assert found[2].startswith(f"{twice}: previous output has ") and "duplicate" in found[2]
    # '12x' is a fine string id as stored: tonight's id type is unknown, and the line says so
    found, output = problems(missing, "--previous", uncast)
    assert len(found) == 1 and "'amount'" in found[0], found
    assert (f"ok previous output {uncast} · every row checked · ids as stored: tonight's id "
            "type is unknown while a transactions file has a problem") in output.splitlines()


def test_validate_lists_flags_that_differ_from_the_model_among_its_problems(first_run, data,
                                                                             tmp_path):
    """validate --model with --bins / --segments that differ: each is listed as a problem with
    run's message, after the files, and the verdict is "invalid", exit 2 (it printed run's
    single error line for the first flag and stopped)."""
    model = first_run / "model.json"
    flags = ["--bins", "4", "--segments", "value_behaviour"]
    r = CliRunner().invoke(main, ["validate", str(data), "--model", str(model), *flags])
    assert r.exit_code == 2, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("ok ") and lines[-1] == "2 problem(s): invalid"
    run = CliRunner().invoke(main, ["run", str(data), "--out", str(tmp_path / "o"), "--model",
                                    str(model), "--bins", "4"])
    assert run.exit_code == 2 and not (tmp_path / "o").exists()
    assert f"problem: {run.output.removeprefix('error: ').strip()}" in lines
    assert "problem: --segments value_behaviour: --model " in r.output
    assert not any(line.startswith("error:") for line in lines)


def test_a_terminal_without_utf8_gets_escapes_not_a_failed_run(data, tmp_path):
    """stdout in ASCII (PYTHONIOENCODING, a C locale without UTF-8 mode): the summary's "·"
    and a segment name "Champions ★" print as escapes, exit 0 (the finished run exited 1,
    "internal error (UnicodeEncodeError)", after its output was in place)."""
    import os
    import subprocess
    import sys

    cfg = tmp_path / "c.toml"
    cfg.write_text('[[segments.rules]]\nkey = "top"\nname = "Champions ★"\nr = [4, 5]\n\n'
                   '[[segments.rules]]\nkey = "rest"\nname = "Müller"\n', encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "PYTHONUTF8": "0"}
    proc = subprocess.run([sys.executable, "-c", "from segscore.cli import main; main()", "run",
                           str(data), "--out", str(tmp_path / "o"), "--config", str(cfg),
                           "--k", "off"], env=env, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode("ascii", "replace")
    out = proc.stdout.decode("ascii")
    assert "Champions \\u2605" in out and "M\\xfcller" in out and "\\xb7" in out


def test_a_full_stdout_after_the_run_says_the_output_is_in_place(data, tmp_path):
    """stdout on a full disk (/dev/full): the run's output is committed, then printing the
    summary fails; the message says so, exit 1 (it said "nothing was replaced", which was
    false)."""
    import os
    import subprocess
    import sys

    out = tmp_path / "o"
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-c", "from segscore.cli import main; main()",
                               "run", str(data), "--out", str(out), "--k", "off"],
                              stdout=full, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ), timeout=600)
    assert proc.returncode == 1
    assert f"{out} is written and in place, but printing to the terminal failed" in proc.stderr
    assert "nothing was replaced" not in proc.stderr
    assert (out / "manifest.json").is_file()


def _into_a_closed_pipe(*args: str):
    """The CLI with ``args`` and a stdout whose reader has gone (``| head -1`` once head has
    exited): the first write fails with EPIPE."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-c", "from segscore.cli import main; main()",
                               *args], stdout=write, stderr=subprocess.PIPE, text=True,
                              timeout=600)
    finally:
        os.close(write)


def test_validate_into_a_closed_pipe_still_exits_with_its_verdict(data, tmp_path):
    """`segscore validate … | head -1`: the reader goes away, and the exit code still says
    whether the input is valid (0) or not (2); it was 1, "internal error (BrokenPipeError)",
    which hid an invalid input."""
    bad = tmp_path / "bad" / "x.parquet"
    bad.parent.mkdir()
    bad.write_text("not parquet")
    for sources, verdict in (([str(data)], 0), ([str(data), str(bad.parent)], 2)):
        proc = _into_a_closed_pipe("validate", *sources)
        assert proc.returncode == verdict, proc.stderr
        assert "internal error" not in proc.stderr


@pytest.mark.parametrize("command", ["run", "generate", "report", "demo"])
def test_commands_into_a_closed_pipe_exit_0_with_their_work_in_place(data, first_run, tmp_path,
                                                                     command):
    """`segscore run … | head -1` (and generate, report, demo): the summary cannot be printed,
    the command's work is done and in place, exit 0 (rich's handling of the closed pipe
    exited 1 with no message)."""
    import shutil

    if command == "report":
        shutil.copytree(first_run, tmp_path / "o")
        (tmp_path / "o" / "report" / "index.html").unlink()
    args, written = {
        "run": (["run", str(data), "--out", str(tmp_path / "o"), "--k", "off"],
                "manifest.json"),
        "generate": (["generate", "--customers", "200", "--out", str(tmp_path / "o")],
                     "transactions"),
        "report": (["report", str(tmp_path / "o")], "report/index.html"),
        "demo": (["demo", "--customers", "300", "--out", str(tmp_path / "o"), "--quiet"],
                 "output/manifest.json")}[command]
    proc = _into_a_closed_pipe(*args)
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr, proc.stderr
    assert (tmp_path / "o" / written).exists()


def _tbb_missing() -> bool:
    """Whether numba finds no usable TBB (then NUMBA_THREADING_LAYER=tbb cannot start)."""
    from numba.np.ufunc.parallel import _check_tbb_version_compatible

    try:
        _check_tbb_version_compatible()
    except ImportError:
        return True
    return False


@pytest.mark.parametrize("name, value", [
    ("NUMBA_NUM_THREADS", "0"), ("POLARS_MAX_THREADS", "0"), ("POLARS_MAX_THREADS", "-1"),
    ("NUMBA_THREADING_LAYER", "tbb"), ("NUMBA_THREADING_LAYER", "nope")])
def test_thread_variables_numba_or_polars_cannot_use_are_bad_usage(data, tmp_path, name, value):
    """A thread count of 0 (or one that is no number) or a threading layer numba cannot start:
    exit 2, one line naming the variable and its value, nothing written; --help still works.
    It was exit 1 with a traceback (NUMBA_NUM_THREADS=0, at import), a polars panic in the
    row pass, or numba's error at the first parallel kernel."""
    import os
    import shlex
    import subprocess
    import sys

    env = {**os.environ, name: value}
    cli = [sys.executable, "-c", "from segscore.cli import main; main()"]
    out = tmp_path / "o"
    proc = subprocess.run([*cli, "run", str(data), "--out", str(out), "--k", "off", "--quiet"],
                          env=env, capture_output=True, text=True, timeout=300)
    if value == "tbb" and not _tbb_missing():  # numba can start that layer: the run works
        assert proc.returncode == 0 and (out / "manifest.json").is_file(), proc.stderr
        return
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: {name}={shlex.quote(value)}: ")
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert not out.exists()
    usage = subprocess.run([*cli, "--help"], env=env, capture_output=True, text=True,
                           timeout=60)
    assert usage.returncode == 0 and "Usage:" in usage.stdout, usage.stderr


def test_empty_thread_variables_are_unset():
    """``POLARS_MAX_THREADS=`` (a script's ``${X:-}``) is no value, as both libraries read it:
    accepted, one thread per CPU."""
    from segscore import environment

    with pytest.MonkeyPatch.context() as mp:
        for name in ("NUMBA_NUM_THREADS", "POLARS_MAX_THREADS"):
            mp.setenv(name, " ")
        mp.delenv("NUMBA_THREADING_LAYER", raising=False)
        environment.check()


def test_python_dash_m_segscore_is_the_cli(data, tmp_path):
    """``python -m segscore`` runs the same CLI under the same name (usage, exit codes)."""
    import subprocess
    import sys

    usage = subprocess.run([sys.executable, "-m", "segscore", "--help"], capture_output=True,
                           text=True, timeout=120)
    assert usage.returncode == 0 and usage.stdout.startswith("Usage: segscore "), usage.stderr
    bad = subprocess.run([sys.executable, "-m", "segscore", "run", str(tmp_path / "none"),
                          "--out", str(tmp_path / "o")], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "none" in bad.stderr


def _python(code: str, **env: str):
    """``code`` run by a fresh interpreter (this one's), ``env`` added to the environment."""
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)


def test_the_package_lists_its_api_before_loading_it():
    """``import segscore`` loads neither polars nor numba (the CLI starts without them), yet
    ``dir(segscore)`` and ``__all__`` name the whole API, and each name resolves."""
    code = ("import sys, segscore; "
            "heavy = [m for m in ('polars', 'numba') if m in sys.modules]; "
            "listed = set(segscore.__all__) <= set(dir(segscore)); "
            "names = [getattr(segscore, n).__name__ for n in ('run', 'load_config', "
            "'RunConfig', 'RunResult')]; print(heavy, listed, names)")
    out = _python(code)
    assert out.stdout.strip() == ("[] True ['run', 'load_config', 'RunConfig', 'RunResult']"), \
        out.stderr


@pytest.mark.parametrize("name", ["NUMBA_NUM_THREADS", "POLARS_MAX_THREADS"])
def test_the_api_checks_the_environment_before_loading_numba(data, tmp_path, name):
    """``segscore.run`` (``from segscore import run`` alike) makes the CLI's environment check
    before it imports numba and polars: a thread count of 0 is segscore's InputError naming
    the variable, as the CLI's exit 2 is; it was numba's own error while it loaded (and a
    polars panic in the row pass). The check runs once, whichever API names are asked for."""
    code = ("import segscore\n"
            "try:\n"
            f"    segscore.run({str(data)!r}, None)\n"
            "except segscore.InputError as exc:\n"
            "    print('InputError:', exc)\n")
    bad = _python(code, **{name: "0"})
    assert bad.stdout.startswith(f"InputError: {name}=0: must be a positive integer"), \
        bad.stdout + bad.stderr
    assert bad.returncode == 0, bad.stderr
    once = ("import segscore, segscore.environment as env\n"
            "calls = []\n"
            "check = env.check\n"
            "env.check = lambda: calls.append(check())\n"
            "from segscore import run, load_config\n"
            "segscore.RunConfig, segscore.RunResult\n"
            "print(len(calls))\n")
    out = _python(once)
    assert out.stdout.strip() == "1", out.stderr


def test_validate_with_an_invalid_config_keeps_its_column_mapping(tmp_path):
    """A config whose [columns] maps the input's names but which is invalid elsewhere
    (bins = 1): validate reports that problem, and checks the files under the mapped names;
    under the default names it also called every mapped column missing. A config whose
    [columns] is itself invalid falls back to the default names."""
    pl.DataFrame({"cust": [1, 2], "ts": [datetime(2026, 3, 1)] * 2, "amt": [5.0, 7.0]}) \
        .write_parquet(tmp_path / "t.parquet")
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[columns]\ncustomer_id = "cust"\norder_ts = "ts"\namount = "amt"\n\n'
                   '[scoring]\nbins = 1\n')
    r = CliRunner().invoke(main, ["validate", str(tmp_path / "t.parquet"), "--config", str(cfg)])
    assert r.exit_code == 2
    assert "bins" in r.output
    assert "missing" not in r.output and "ok " in r.output, r.output
    cfg.write_text('[columns]\ncustomer_id = 7\n')
    r = CliRunner().invoke(main, ["validate", str(tmp_path / "t.parquet"), "--config", str(cfg)])
    assert r.exit_code == 2 and "customer_id" in r.output


def test_a_file_name_with_a_newline_is_named_on_one_line(tmp_path):
    """A control character in a file name (here a newline) is written as its escape in an
    error message, so log tools that read one problem per line keep it whole."""
    src = tmp_path / "tx"
    src.mkdir()
    pl.DataFrame({"customer_id": [1], "amount": [1.0]}).write_parquet(src / "night\nly.parquet")
    r = CliRunner().invoke(main, ["run", str(src), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2
    *stage, line = r.stderr.splitlines()  # the failed stage's line, then the error
    assert [s.split(":")[0] for s in stage] == ["segscore"]
    assert line.startswith("error: ") and "night\\nly.parquet" in line and "order_ts" in line
    r = CliRunner().invoke(main, ["validate", str(src)])  # one line per problem
    assert r.exit_code == 2 and r.stdout.splitlines()[0].endswith(
        "night\\nly.parquet: column 'order_ts' (order_ts) is missing; the file has: "
        "customer_id, amount")


def _latin1_name(directory) -> str:
    """A Parquet file in ``directory`` whose name holds the Latin-1 byte é (0xE9), as Python
    names it (a surrogate); returned as that str."""
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    raw = os.path.join(os.fsencode(directory), b"caf\xe9.parquet")
    with open(raw, "wb") as fh:
        pq.write_table(pa.table({"customer_id": [1], "order_ts": [datetime(2026, 5, 1)],
                                 "amount": [1.0]}), fh)
    return os.fsdecode(raw)


def test_a_path_that_is_not_utf8_is_refused_naming_it(tmp_path):
    """polars and pyarrow open UTF-8 paths only: a file name with a Latin-1 byte was an
    internal error (UnicodeEncodeError, exit 1) in a directory source and at --out; now exit
    2 naming the path with the byte escaped, in run, validate and the API."""
    import segscore

    src = tmp_path / "tx"
    src.mkdir()
    bad = _latin1_name(src)
    expected = "caf\\xe9.parquet: the path is not valid UTF-8"
    for args in (["run", str(src), "--out", str(tmp_path / "out")], ["validate", str(src)],
                 ["run", bad, "--out", str(tmp_path / "out")]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2 and expected in r.output + r.stderr, args
    r = CliRunner().invoke(main, ["run", str(tmp_path / "x.parquet"),
                                  "--out", str(tmp_path) + "/caf\udce9"])
    assert r.exit_code == 2 and "'--out'" in r.stderr and "caf\\xe9" in r.stderr
    with pytest.raises(InputError, match=r"^previous: .*caf\\xe9.parquet: the path is not"):
        segscore.run(str(tmp_path / "x.parquet"), None, previous=bad)
    assert not (tmp_path / "out").exists()
