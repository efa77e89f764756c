"""Customer attributes as clustering features (``attr:<column>``, SPEC §1)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import segscore
from segscore.cli import main
from segscore.cluster_attributes import join_attribute_features
from segscore.clusters import cluster_label
from segscore.config import load_config
from segscore_datasets import generate_transactions


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """2,000 generated customers' transactions; an attributes file whose ``age`` is 25 or 70
    (random, independent of behaviour), with a boolean, a date, a string column, 30 scored
    customers left out and 20 with a null age."""
    root = tmp_path_factory.mktemp("cluster_attrs")
    gen = generate_transactions(root / "data", 2000, seed=3)
    files = sorted(gen.files)
    ids = pl.scan_parquet(files).select("customer_id").unique().collect()["customer_id"].sort()
    rng = np.random.default_rng(0)
    age = pl.Series("age", rng.choice([25.0, 70.0], ids.len()))
    attrs = pl.DataFrame({"customer_id": ids, "age": age,
                          "vip": rng.random(ids.len()) < 0.3,
                          "signup": pl.Series(rng.integers(18_000, 20_000, ids.len()),
                                              dtype=pl.Int32).cast(pl.Date),
                          "region": "north"})
    attrs = attrs.slice(30).with_columns(
        pl.when(pl.int_range(pl.len()) < 20).then(None).otherwise(pl.col("age")).alias("age"))
    path = root / "attrs.parquet"
    attrs.sample(fraction=1.0, shuffle=True, seed=5).write_parquet(path)  # file order ≠ id order
    config = root / "age.toml"
    config.write_text('[clustering]\nk = 2\nfeatures = ["attr:age"]\n')
    return {"root": root, "files": files, "attrs": attrs, "path": path, "config": config}


def test_attribute_feature_splits_the_customers_by_it(base, tmp_path):
    """With ``features = ["attr:age"]`` and K = 2 the clusters are exactly the two ages (the
    customers without an age sit at the mean, nearer neither: they go to one cluster, all of
    them), labelled by the attribute; the output has no attribute column; the manifest counts
    the customers without a value."""
    res = segscore.run(base["files"], tmp_path / "o", config_path=base["config"],
                       attributes=base["path"])
    c = res.customers.join(base["attrs"].select("customer_id", "age"), on="customer_id",
                           how="left")
    by_age = c.filter(pl.col("age").is_not_null()).group_by("age").agg(
        pl.col("cluster").unique().alias("clusters"), pl.col("cluster_label").first())
    assert by_age.height == 2
    assert all(len(x) == 1 for x in by_age["clusters"])
    assert set(by_age["clusters"].list.first()) == {0, 1}
    assert set(by_age["cluster_label"].cast(pl.String)) == {"low age", "high age"}
    without = res.customers.height - c["age"].is_not_null().sum()
    assert res.manifest["cluster_attributes"]["customers_without_value"] == {"attr:age": without}
    assert without >= 30
    assert not any(col.startswith("attr:") for col in
                   pl.read_parquet(tmp_path / "o" / "customers").columns)
    profiles = json.loads((tmp_path / "o" / "model.json").read_text())["clusters"]["profiles"]
    centroids = sorted(p["median"]["attr:age"] for p in profiles)
    assert centroids == [25.0, 70.0]


def test_model_reapplies_attribute_features_and_needs_the_file(base, tmp_path):
    """``--model`` re-applies the attribute scaling and centroids (same clusters); without
    ``--customers`` it is refused up front with exit 2 naming the feature."""
    first = segscore.run(base["files"], tmp_path / "a", config_path=base["config"],
                         attributes=base["path"])
    again = segscore.run(base["files"], tmp_path / "b", model_path=tmp_path / "a" / "model.json",
                         attributes=base["path"])
    assert again.customers["cluster"].equals(first.customers["cluster"])
    out = CliRunner().invoke(main, ["run", *map(str, base["files"]), "--out",
                                    str(tmp_path / "c"), "--model",
                                    str(tmp_path / "a" / "model.json"), "--quiet"])
    assert out.exit_code == 2, out.output
    assert "attr:age" in out.output and "--customers" in out.output
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("features, attrs_kind, message", [
    ('["attr:age"]', None, "no attributes file was given"),
    ('["attr:height"]', "file", "lacks"),
    ('["attr:region"]', "file", "must be numeric, boolean"),
])
def test_bad_attribute_features_exit_2_before_any_row(base, tmp_path, features, attrs_kind,
                                                      message):
    """A missing attributes file, an attribute column the file lacks, or a string column:
    exit 2 naming the config file, key and feature, before any stage, nothing written;
    ``validate --customers`` says the same."""
    config = tmp_path / "c.toml"
    config.write_text(f"[clustering]\nfeatures = {features}\n")
    extra = ["--customers", str(base["path"])] if attrs_kind else []
    out = CliRunner().invoke(main, ["run", *map(str, base["files"]), "--out",
                                    str(tmp_path / "o"), "--config", str(config), "--quiet",
                                    *extra])
    assert out.exit_code == 2, out.output
    assert message in out.output and f"{config}: clustering.features: " in out.output
    assert "stage" not in out.output and not (tmp_path / "o").exists()
    check = CliRunner().invoke(main, ["validate", *map(str, base["files"]), "--config",
                                      str(config), *extra])
    assert check.exit_code == 2 and message in check.output
    assert f"problem: {config}: clustering.features: " in check.output


def test_unknown_names_still_refused_and_attr_prefix_accepted(tmp_path):
    """``attr:`` alone is no feature; ``attr:<column>`` passes the config check."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[clustering]\nfeatures = ["attr:"]\n')
    with pytest.raises(segscore.errors.InputError, match="unknown feature"):
        load_config(bad)
    good = tmp_path / "good.toml"
    good.write_text('[clustering]\nfeatures = ["recency_days", "attr:income"]\n')
    assert load_config(good).clustering.features == ("recency_days", "attr:income")


def test_join_converts_types_and_matches_ids(tmp_path):
    """Booleans 0 / 1, dates and datetimes as days since 1970-01-01, durations as days, NaN as
    null; string ids cast to integer ones; rows in the customers' order; unknown customers
    null; duplicate ids refused naming the file and column."""
    path = tmp_path / "a.parquet"
    pl.DataFrame({
        "customer_id": ["3", " 1", "7"],
        "flag": [True, False, None],
        "day": pl.Series([2, 0, 1], dtype=pl.Int32).cast(pl.Date),
        "at": pl.Series([36 * 3600 * 10**6, 0, None], dtype=pl.Int64).cast(pl.Datetime("us")),
        "span": pl.Series([12 * 3600 * 1000, None, 0], dtype=pl.Int64).cast(
            pl.Duration("ms")),
        "x": [float("nan"), 2.5, 1.0],
    }).write_parquet(path)
    customers = pl.DataFrame({"customer_id": pl.Series([1, 2, 3], dtype=pl.Int64)})
    feats = ("recency_days", "attr:flag", "attr:day", "attr:at", "attr:span", "attr:x")
    out, info = join_attribute_features(customers, feats, path, load_config())
    assert out.rows() == [(1, 0.0, 0.0, 0.0, None, 2.5), (2, None, None, None, None, None),
                          (3, 1.0, 2.0, 1.5, 0.5, None)]
    assert info["customers_without_value"] == {"attr:flag": 1, "attr:day": 1, "attr:at": 1,
                                               "attr:span": 2, "attr:x": 2}
    pl.DataFrame({"customer_id": [1, 1], "x": [1.0, 2.0]}).write_parquet(path)
    with pytest.raises(segscore.errors.InputError, match="a.parquet.*'customer_id'.*duplicate"):
        join_attribute_features(customers, ("attr:x",), path, load_config())


def test_join_with_string_ids(tmp_path):
    """String ids are matched by value (the attributes file's order and unknown ids do not
    matter); an id listed twice is refused."""
    path = tmp_path / "s.parquet"
    pl.DataFrame({"customer_id": ["c", "zz", "a"], "x": [3.0, 9.0, 1.0]}).write_parquet(path)
    customers = pl.DataFrame({"customer_id": ["a", "b", "c"]})
    out, info = join_attribute_features(customers, ("attr:x",), path, load_config())
    assert out["attr:x"].to_list() == [1.0, None, 3.0]
    assert info["customers_without_value"] == {"attr:x": 1}
    pl.DataFrame({"customer_id": ["c", "a", "c"], "x": [3.0, 1.0, 4.0]}).write_parquet(path)
    with pytest.raises(segscore.errors.InputError, match="duplicate id"):
        join_attribute_features(customers, ("attr:x",), path, load_config())


def test_infinite_attribute_values_count_as_missing(base, tmp_path):
    """±inf attribute values are no value (z = 0, counted in the manifest) as NaN is: the run
    clusters by the finite ages instead of failing with an internal error (K-means on NaN)."""
    attrs = base["attrs"].with_columns(
        pl.when(pl.int_range(pl.len()) % 50 == 1).then(float("inf"))
        .when(pl.int_range(pl.len()) % 50 == 2).then(float("-inf"))
        .otherwise(pl.col("age")).alias("age"))
    path = tmp_path / "inf.parquet"
    attrs.write_parquet(path)
    res = segscore.run(base["files"], None, config_path=base["config"], attributes=path,
                       report=False)
    infinite = attrs.filter(pl.col("age").is_infinite())["customer_id"]
    scored_inf = res.customers["customer_id"].is_in(infinite.implode()).sum()
    finite = res.customers.join(attrs.filter(pl.col("age").is_finite()), on="customer_id")
    assert scored_inf > 0
    assert finite.group_by("age").agg(pl.col("cluster").n_unique())["cluster"].to_list() == [1, 1]
    without = res.customers.height - finite.height
    assert res.manifest["cluster_attributes"]["customers_without_value"] == {"attr:age": without}


def test_attribute_named_as_an_engine_feature_keeps_its_prefix_in_labels():
    """An attribute column named ``r_score`` / ``frequency`` / ``share_web`` is labelled with its
    ``attr:`` prefix, so a label never reads "low r_score · high r_score" or says "high
    frequency" of infrequent customers; other attributes drop the prefix."""
    names = ("r_score", "attr:r_score", "frequency", "attr:frequency", "attr:share_web",
             "attr:age")
    label = cluster_label(np.array([-1.0, 1.0, -1.0, 1.0, 1.0, -1.0]), names)
    assert label == ("low r_score · high attr:r_score · infrequent · high attr:frequency · "
                     "high attr:share_web · low age")


def test_corrupt_attribute_column_is_named_not_blamed_on_the_ids(tmp_path):
    """A data page of an attribute column destroyed: the error names the file and that column
    (it used to say the id column could not be converted, Int64 to Int64)."""
    path = tmp_path / "a.parquet"
    rng = np.random.default_rng(1)
    pl.DataFrame({"customer_id": np.arange(5000), "x": rng.normal(size=5000)}).write_parquet(
        path, compression="snappy", statistics=False)
    col = pq.read_metadata(path).row_group(0).column(1)
    data = bytearray(path.read_bytes())
    for i in range(col.data_page_offset + 30, col.data_page_offset + 230):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    customers = pl.DataFrame({"customer_id": np.arange(10)})
    with pytest.raises(segscore.errors.InputError,
                       match=r"a\.parquet: cannot read customer attribute column 'x'"):
        join_attribute_features(customers, ("attr:x",), path, load_config())


def test_huge_attribute_values_count_as_missing(base, tmp_path):
    """A sentinel such as 1e300 or -1.7e308 (beyond ±1e100) is no value, as ±inf is: it used to
    overflow the scaling (exit 1 from K-means, or a feature all z = 0 and NaN in model.json)."""
    attrs = base["attrs"].with_columns(
        pl.when(pl.int_range(pl.len()) % 40 == 1).then(1e300)
        .when(pl.int_range(pl.len()) % 40 == 2).then(-1.7e308)
        .otherwise(pl.col("age")).alias("age"))
    path = tmp_path / "huge.parquet"
    attrs.write_parquet(path)
    res = segscore.run(base["files"], None, config_path=base["config"], attributes=path,
                       report=False)
    finite = res.customers.join(attrs.filter(pl.col("age").abs() < 100), on="customer_id")
    assert finite.group_by("age").agg(pl.col("cluster").n_unique())["cluster"].to_list() == [1, 1]
    without = res.customers.height - finite.height
    assert res.manifest["cluster_attributes"]["customers_without_value"] == {"attr:age": without}
    assert without > 30 + 20
    json.dumps(res.model, allow_nan=False)


def test_validate_checks_the_attributes_ids(base, tmp_path):
    """``validate --customers`` runs the run's up-front checks of the attributes file: no id
    column, or ids of a type that cannot be cast to the transactions' (categorical against
    integer ids), exit 2 naming the file; a good file passes."""
    ok = CliRunner().invoke(main, ["validate", *map(str, base["files"]),
                                   "--customers", str(base["path"])])
    assert ok.exit_code == 0, ok.output
    # a good file is listed as checked (the output was the same with and without it)
    assert f"ok customer attributes {base['path']} · every row checked" in ok.output
    no_id = tmp_path / "no_id.parquet"
    pl.DataFrame({"cust": [1, 2], "age": [3.0, 4.0]}).write_parquet(no_id)
    cat = tmp_path / "cat.parquet"
    pl.DataFrame({"customer_id": pl.Series(["1", "2"], dtype=pl.Categorical),
                  "age": [3.0, 4.0]}).write_parquet(cat)
    for path, message in ((no_id, "no customer id column"), (cat, "incompatible")):
        out = CliRunner().invoke(main, ["validate", *map(str, base["files"]),
                                        "--customers", str(path)])
        assert out.exit_code == 2, out.output
        assert str(path) in out.output and message in out.output


def test_uint64_attribute_ids_beyond_int64_refused_up_front(base, tmp_path):
    """An attributes file whose uint64 ids exceed int64, written without statistics, is
    refused before the row pass by the run and by ``validate --customers`` (its largest id
    read from the column), exit 2 naming the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "u64.parquet"
    ids = pa.array([2**64 - 1 - i for i in range(5)] + [1, 2], type=pa.uint64())
    pq.write_table(pa.table({"customer_id": ids, "age": [1.0] * 7}), path,
                   write_statistics=False)
    for args in (["validate", *map(str, base["files"])],
                 ["run", *map(str, base["files"]), "--out", str(tmp_path / "o"), "--quiet"]):
        out = CliRunner().invoke(main, [*args, "--customers", str(path)])
        assert out.exit_code == 2, out.output
        assert "u64.parquet" in out.output and f"largest {2**64 - 1}" in out.output
    assert not (tmp_path / "o").exists()


def test_validate_finds_what_the_run_finds_reading_the_attributes(base, tmp_path):
    """``validate --customers`` reads the file as the run would: duplicate ids and ids that
    do not cast (which the run refuses only after its row pass) are exit 2 naming the file;
    a good file passes."""
    attrs = pl.read_parquet(base["path"])
    dup = tmp_path / "dup.parquet"
    pl.concat([attrs, attrs.head(2)]).write_parquet(dup)
    odd = tmp_path / "odd.parquet"
    attrs.with_columns(pl.col("customer_id").cast(pl.String)).with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("12x"))
        .otherwise(pl.col("customer_id")).alias("customer_id")).write_parquet(odd)
    for path, message in ((dup, "duplicate id"), (odd, "1 id(s) that cannot be cast")):
        out = CliRunner().invoke(main, ["validate", *map(str, base["files"]),
                                        "--customers", str(path)])
        assert out.exit_code == 2, out.output
        assert path.name in out.output and message in out.output


def test_blank_string_ids_match_no_customer(tmp_path):
    """Blank string ids ("" or whitespace only) are null ids, as in the transactions: they
    match no customer and several of them are not refused as duplicates."""
    path = tmp_path / "s.parquet"
    pl.DataFrame({"customer_id": ["a", "", "", " ", " ", "\t", "\u00a0"],
                  "x": [1.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]}).write_parquet(path)
    customers = pl.DataFrame({"customer_id": ["a", "b"]})
    out, info = join_attribute_features(customers, ("attr:x",), path, load_config())
    assert out["attr:x"].to_list() == [1.0, None]
    assert info["customers_without_value"] == {"attr:x": 1}
