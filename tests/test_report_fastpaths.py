"""The report's fast paths (packed id sort, histogram / bisection medians, merge kernels) give
exactly what the plain polars computations give."""

from __future__ import annotations

import collections
import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive_groupby
import segscore
from segscore.config import build_config, load_config
from segscore.errors import InputError
from segscore.ids import (duplicates, duplicates_unsorted, id_order, label_codes, recode,
                          string_codes)
from segscore.report import attributes as attributes_mod
from segscore.report.attributes import attribute_breakdowns
from segscore.report.migration import migration_report
from segscore.report.profile import (_combination_sums, _fast_medians, _median_query,
                                     _sum_query)
from segscore_datasets import generate_transactions
from threads import with_threads


@pytest.mark.parametrize("dtype,lo,hi", [
    (pl.Int64, -10**12, 10**12), (pl.Int64, -2**63, 2**63 - 1), (pl.Int32, -2**31, 2**31 - 1),
    (pl.Int8, -128, 127), (pl.UInt32, 0, 2**32 - 1), (pl.UInt64, 0, 2**64 - 1),
    (pl.UInt64, 2**63, 2**63 + 10**6)])
def test_id_order_and_duplicates(dtype, lo, hi):
    rng = np.random.default_rng(7)
    kind = np.uint64 if dtype == pl.UInt64 else np.int64
    a = rng.integers(lo, hi, size=3000, dtype=kind, endpoint=True)
    s = pl.Series("id", a).cast(dtype, wrap_numerical=True)
    srt, perm = id_order(s)
    assert srt.dtype == s.dtype and srt.to_list() == sorted(s.to_list())
    assert s.gather(perm).to_list() == srt.to_list()
    want = sorted(k for k, n in collections.Counter(s.to_list()).items() if n > 1)
    assert duplicates(srt).to_list() == want
    assert duplicates_unsorted(s).to_list() == want
    assert duplicates_unsorted(s.unique()).len() == 0
    assert id_order(srt)[1] is None  # already sorted: no permutation


@pytest.mark.parametrize("n", [2, 3, 5, 9, 17, 1025])
@pytest.mark.parametrize("span", ["narrow", "edge-1", "edge", "edge+1"])
def test_id_order_at_the_packing_limits(n, span):
    """Integer ids are sorted as one packed int64 per row ((id - min) beside the row number):
    exact, equal ids in row order, for row counts just past a power of two (the row numbers
    need one more bit) and for id ranges at the edge of what fits beside the row numbers'
    bits (a wider range takes polars' argsort), against a plain stable sort."""
    from naive_report import naive_id_order

    fit = 2 ** (63 - max(1, (n - 1).bit_length()))  # ranges below this fit beside the rows
    width = {"narrow": 5, "edge-1": fit - 1, "edge": fit, "edge+1": fit + 1}[span]
    lo = -(width // 2) - 7
    rng = np.random.default_rng(n)
    ids = rng.integers(lo, lo + width, size=n, endpoint=True, dtype=np.int64)
    ids[0], ids[-1] = lo + width, lo  # the extremes, unsorted
    if n > 3:
        ids[1] = ids[2]  # a tie
    srt, perm = id_order(pl.Series("id", ids, dtype=pl.Int64))
    want_perm, want = naive_id_order(ids.tolist())
    assert srt.to_list() == want and list(perm) == want_perm


def test_recode_maps_nulls_to_the_null_code_also_when_the_labels_are_the_target():
    """recode's contract: nulls (code len(labels)) and labels missing from the target map
    to ``null_code``, whatever it is, also when the labels already are the target."""
    codes, labels, _ = label_codes(pl.Series(["b", None, "a"], dtype=pl.Enum(["a", "b"])))
    assert recode(codes, labels, ["a", "b"], 9).tolist() == [1, 9, 0]
    assert recode(codes, labels, ["a", "b"], 2).tolist() == [1, 2, 0]


@given(st.lists(st.text(max_size=12), max_size=80))
def test_id_order_strings_property(values):
    """String ids (polars' argsort, the fallback after a hash collision): sorted values and
    the permutation, ties in row order."""
    s = pl.Series("id", values, dtype=pl.String)
    srt, perm = id_order(s)
    want = sorted(range(len(values)), key=lambda i: (values[i].encode(), i))
    assert srt.to_list() == [values[i] for i in want]
    if perm is None:
        assert want == list(range(len(values)))
    else:
        assert list(perm) == want


def test_id_order_strings():
    s = pl.Series("id", ["b", "a", "c", "a"])
    srt, perm = id_order(s)
    assert srt.to_list() == ["a", "a", "b", "c"] and s.gather(perm).to_list() == srt.to_list()
    assert duplicates(srt).to_list() == ["a"]
    assert duplicates_unsorted(pl.Series("id", ["b", "a", "c", "b", "a", "b"])).to_list() == \
        ["a", "b"]


@pytest.mark.parametrize("values,dtype,target", [
    (["b", "a", None, "c", "a"], pl.Enum(["a", "b", "c"]), ["a", "b", "c"]),  # no-op
    (["b", "a", None, "c", "a"], pl.Enum(["a", "b", "c"]), ["c", "a", "b", "z"]),
    (["b", "x", None], pl.String, ["a", "b"]),  # "x" unknown to the target
    (["a", "b"], pl.Enum(["a", "b"]), ["a", "b"])])
def test_recode_equals_a_lookup_by_label(values, dtype, target):
    codes, labels, _ = label_codes(pl.Series(values, dtype=dtype))
    got = recode(codes, labels, target, len(target))
    want = [target.index(v) if v in target else len(target) for v in values]
    assert got.tolist() == want


def test_fast_medians_equal_polars():
    rng = np.random.default_rng(3)
    n = 20_000
    seg = pl.Enum(["a", "b", "c", "unused"])
    df = pl.DataFrame({
        "segment": pl.Series(rng.choice(["a", "b", "c"], n)).cast(seg),
        "value_tier": pl.Series(rng.choice(["x", "y"], n, p=[0.999, 0.001]))
        .cast(pl.Enum(["x", "y"])),
        "cluster": pl.Series(rng.integers(2, 6, n), dtype=pl.Int32),
        "recency_days": pl.Series(rng.integers(0, 700, n), dtype=pl.Int32),
        "frequency": pl.Series(rng.integers(1, 4, n), dtype=pl.Int64),  # many ties
        "tenure_days": pl.Series(rng.integers(0, 5, n), dtype=pl.Int32),
        "monetary": np.round(rng.normal(50, 200, n), 2),  # negatives, ties
        "avg_order_value": np.concatenate([np.zeros(n // 2), rng.exponential(30, n - n // 2)]),
        "return_amount": rng.random(n), "return_rate": rng.random(n),
    })
    dims = ["segment", "value_tier", "cluster"]
    sums, combo, values, counts = _combination_sums(df, dims, [])
    fast, done = _fast_medians(df, dims, combo, values, counts)
    assert len(done) == 5
    for d, slow in zip(dims, pl.collect_all([_median_query(df.lazy(), d) for d in dims])):
        a = fast[d].sort(d)
        assert a.equals(slow.sort(d).select(a.columns)), d  # bit-identical
    # the float medians in worker threads (as the report runs them): the same frames
    with ThreadPoolExecutor(max_workers=2) as pool:
        pooled, pooled_done = _fast_medians(df, dims, combo, values, counts, pool)
    assert pooled_done == done
    for d in dims:
        assert pooled[d].equals(fast[d]), d
    assert "unused" not in fast["segment"]["segment"].cast(pl.String).to_list()
    # a null in a dimension or a summed column: left to polars
    assert _combination_sums(df.with_columns(pl.lit(None, pl.Int32).alias("cluster")), dims,
                             []) is None
    assert _combination_sums(df.with_columns(pl.lit(None, pl.Float64).alias("return_rate")),
                             dims, []) is None


def test_float_medians_never_see_nan(monkeypatch):
    """_group_medians' contract (no NaN): a float statistic holding a NaN is left to polars
    by _fast_medians (not in ``done``), so the kernel only ever gets NaN-free keys."""
    import native_kernels.report as rk

    real, seen = rk._group_medians, []

    def spy(keys, starts, member, n_groups, out):
        values = np.where(keys >= 0, keys, keys ^ np.int64(0x7FFFFFFFFFFFFFFF)).view(np.float64)
        seen.append(bool(np.isnan(values).any()))
        return real(keys, starts, member, n_groups, out)

    monkeypatch.setattr(rk, "_group_medians", spy)
    df = _profile_frame(500)
    df = df.with_columns(monetary=pl.Series(np.where(np.arange(500) == 7, np.nan,
                                                     df["monetary"].to_numpy())))
    dims = ["segment", "cluster"]
    _, combo, values, counts = _combination_sums(df, dims, [])
    fast, done = _fast_medians(df, dims, combo, values, counts)
    assert "monetary" not in done and "avg_order_value" in done
    assert seen == [False]  # avg_order_value only
    for d, slow in zip(dims, pl.collect_all([_median_query(df.lazy(), d, done) for d in dims])):
        a = fast[d].sort(d)
        assert a.equals(slow.sort(d).select(a.columns)), d


def _profile_frame(n, seed=4):
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "segment": pl.Series(rng.choice(["a", "b", "c"], n)).cast(pl.Enum(["a", "b", "c", "d"])),
        "cluster": pl.Series(rng.integers(2, 6, n), dtype=pl.Int32),
        "recency_days": pl.Series(rng.integers(0, 700, n), dtype=pl.Int32),
        "frequency": pl.Series(rng.integers(1, 4, n), dtype=pl.Int64),
        "tenure_days": pl.Series(rng.integers(0, 5, n), dtype=pl.Int32),
        "monetary": np.round(rng.normal(50, 200, n), 2),
        "avg_order_value": np.round(rng.exponential(30, n), 2),
        "return_amount": np.round(rng.exponential(3, n), 2),
        "return_rate": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
        "share_web": rng.random(n), "share_app": rng.random(n),
    })


@pytest.mark.parametrize("n", [1, 3000])
@pytest.mark.parametrize("channels", [[], ["share_web", "share_app"]])
def test_combination_sums_equal_polars_group_by(n, channels):
    """The numba combination sums = polars' group_by sums (integers exactly, floats up to
    summation order; NaN return rates propagate the same way)."""
    df = _profile_frame(n)
    dims = ["segment", "cluster"]
    fast = _combination_sums(df, dims, channels)[0].sort(dims)
    slow = _sum_query(df.lazy(), dims, channels).collect().sort(dims)
    assert sorted(fast.columns) == sorted(slow.columns)
    fast = fast.select(slow.columns)
    for col in slow.columns:
        a, b = fast[col], slow[col]
        if b.dtype.is_float():
            np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-12, atol=1e-9)
        else:
            assert a.cast(b.dtype).equals(b), col


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fast")
    gen = generate_transactions(root / "data", 4000, seed=5)
    files = sorted(gen.files)
    prev = segscore.run(files, root / "prev", as_of="2026-03-31")
    cur = segscore.run(files[1:], root / "cur")
    return {"root": root, "gen": gen, "prev": prev, "cur": cur}


def test_attribute_histogram_medians_equal_polars(small_runs, tmp_path, monkeypatch):
    attrs = pl.read_parquet(small_runs["gen"].attributes_path)
    rng = np.random.default_rng(1)
    n = attrs.height
    attrs = attrs.with_columns(
        pl.Series("kids", rng.integers(0, 9, n)).cast(pl.Int16),
        pl.Series("since", attrs["signup_date"]).cast(pl.Datetime("us")),
    ).with_columns(
        pl.when(pl.lit(rng.random(n) < 0.3)).then(None).otherwise(pl.col("kids")).alias("kids"),
        pl.when(pl.lit(rng.random(n) < 0.2)).then(None).otherwise(pl.col("signup_date"))
        .alias("signup_date"))
    path = tmp_path / "attrs.parquet"
    attrs.write_parquet(path)
    cfg, cur = load_config(None), small_runs["cur"].customers
    fast = attribute_breakdowns(cur, path, cfg)
    monkeypatch.setattr(attributes_mod, "_hist_medians", lambda *a: None)
    slow = attribute_breakdowns(cur, path, cfg)
    assert fast == slow
    assert fast["overall"]["median"]["kids"] is not None


@given(st.lists(st.text(max_size=14), max_size=60, unique=True),
       st.lists(st.integers(0, 80), max_size=120), st.sampled_from([1, 2]))
def test_string_codes_equal_a_dict(known, picks, threads):
    """Codes of string ids against tonight's: ties (repeated ids), unknown ids, empty
    strings, empty and single-row inputs; 1 or 2 numba threads."""
    pool = known + [f"new-{i}" for i in range(20)]
    values = [pool[i % len(pool)] for i in picks] if pool else []
    got = with_threads(threads, string_codes, pl.Series("v", values, dtype=pl.String),
                       pl.Series("k", known, dtype=pl.String))
    assert got is not None
    want_codes, want_first = naive_groupby.string_codes(values, known)
    assert got[0].tolist() == want_codes and got[1].tolist() == want_first


def test_string_codes_check_the_rows_a_slice_at_a_time(monkeypatch):
    from segscore import ids as ids_mod

    monkeypatch.setattr(ids_mod, "_CHECK_ROWS", 7)
    known = [f"k{i}" for i in range(30)]
    values = [known[i % 30] if i % 4 else f"x{i % 9}" for i in range(100)]
    got = string_codes(pl.Series(values), pl.Series(known))
    assert [x.tolist() for x in got] == list(naive_groupby.string_codes(values, known))
    # a collision in a later slice is found too
    real_hash = pl.Series.hash
    monkeypatch.setattr(pl.Series, "hash", lambda self, seed=0: real_hash(self, seed).set(
        self == "k29", 0).set(self == "k3", 0))
    assert string_codes(pl.Series(values), pl.Series(known)) is None


def test_string_codes_refuse_a_hash_collision(monkeypatch):
    """Two different ids with one hash are never merged: None, the caller joins instead."""
    monkeypatch.setattr(pl.Series, "hash",
                        lambda self, seed=0: pl.Series([7] * self.len(), dtype=pl.UInt64))
    known = pl.Series(["a", "b"])
    assert string_codes(pl.Series(["b"]), known) is None
    assert string_codes(pl.Series(["a", "a"]), known) is not None  # equal ids: no collision


def test_string_attributes_without_the_hash_path(small_runs, tmp_path, monkeypatch):
    """String ids: the section from the hash codes equals the one from the join fallback,
    duplicates included."""
    cur = small_runs["cur"].customers.with_columns(
        pl.format("c{}", pl.col("customer_id")).alias("customer_id")).sort("customer_id")
    attrs = pl.read_parquet(small_runs["gen"].attributes_path).with_columns(
        pl.format("c{}", pl.col("customer_id")).alias("customer_id"))
    path = tmp_path / "attrs.parquet"
    attrs.write_parquet(path)
    cfg = load_config(None)
    fast = attribute_breakdowns(cur, path, cfg)
    dup = tmp_path / "dup.parquet"
    pl.concat([attrs, attrs.head(2), attrs.head(1)]).write_parquet(dup)
    with pytest.raises(InputError) as fast_err:
        attribute_breakdowns(cur, dup, cfg)
    monkeypatch.setattr(attributes_mod, "string_codes", lambda *a: None)
    assert attribute_breakdowns(cur, path, cfg) == fast
    with pytest.raises(InputError) as slow_err:
        attribute_breakdowns(cur, dup, cfg)
    assert str(slow_err.value) == str(fast_err.value)
    assert "2 duplicate id(s)" in str(fast_err.value)


def test_migration_from_a_flat_unsorted_previous(small_runs, tmp_path):
    """A previous customers/ dataset that is not hive-partitioned nor sorted (and whose
    labels are strings) gives the same matrices and table as the segscore layout."""
    prev = small_runs["root"] / "prev"
    flat = tmp_path / "flat"
    (flat / "customers").mkdir(parents=True)
    for name in ("manifest.json", "model.json"):
        shutil.copy(prev / name, flat / name)
    d = pl.scan_parquet(prev / "customers", hive_partitioning=True).collect()
    d.sample(fraction=1.0, shuffle=True, seed=2).with_columns(
        pl.col("value_tier").cast(pl.String)).write_parquet(flat / "customers" / "p.parquet")
    cfg, cur = load_config(None), small_runs["cur"].customers
    a, ta = migration_report(cur, prev, cfg)
    b, tb = migration_report(cur, flat, cfg)
    for key in ("segments", "value_tiers", "lifecycle_stages"):
        assert json.dumps(a[key]) == json.dumps(b[key])
    assert ta.equals(tb)
    assert ta["customer_id"].is_sorted() and ta["customer_id"].n_unique() == ta.height


@pytest.mark.parametrize("ids", ["integer", "string coded", "string joined"])
def test_migration_sparse_cells_equal_the_dense_arrays(small_runs, tmp_path, monkeypatch, ids):
    """Beyond DENSE_CELLS (previous × current packed codes) the migration counts only the
    cells holding customers: the same matrices, sums and table, bit for bit, on every id
    path (the integer merge, string ids coded by hash, the join when two share a hash)."""
    from segscore.report import migration as migration_mod

    prev, cur = small_runs["root"] / "prev", small_runs["cur"].customers
    if ids != "integer":
        flat = tmp_path / "flat"
        (flat / "customers").mkdir(parents=True)
        for name in ("manifest.json", "model.json"):
            shutil.copy(prev / name, flat / name)
        as_text = pl.format("c{}", pl.col("customer_id")).alias("customer_id")
        pl.scan_parquet(prev / "customers", hive_partitioning=True).with_columns(
            as_text).collect().write_parquet(flat / "customers" / "p.parquet")
        prev, cur = flat, cur.with_columns(as_text)
    if ids == "string joined":
        monkeypatch.setattr(migration_mod, "string_codes", lambda *a: None)
    cfg = load_config(None)
    dense, dense_table = migration_report(cur, prev, cfg)
    monkeypatch.setattr(migration_mod, "DENSE_CELLS", 0)
    sparse, sparse_table = migration_report(cur, prev, cfg)
    assert json.dumps(sparse) == json.dumps(dense)
    assert sparse_table.equals(dense_table)
    assert dense["segments"]["moved"] > 0 and dense["segments"]["new"] > 0


def test_migration_of_rule_tables_with_many_keys(tmp_path):
    """729 segments (bins 9, one rule per R×F×M cell) × 10 tiers × 10 stages are 72,900 packed
    codes: the dense cell arrays would need 5.3e9 cells × 3 × 8 B, and the run failed with
    MemoryError (exit 1, nothing written). Counted by the cells that hold customers, the
    matrices' rows sum to last night's sizes and their columns to tonight's."""
    rules = [{"key": f"c{r}{f}{m}", "name": f"Cell {r}{f}{m}", "r": [r, r], "f": [f, f],
              "m": [m, m], "action": "-"}
             for r in range(1, 10) for f in range(1, 10) for m in range(1, 10)]
    rules[-1] = {"key": "c999", "name": "Cell 999", "action": "-"}  # the catch-all
    tiers = [{"key": f"t{i}", "name": f"T{i}", "min_monetary": 2000 / 2 ** i} for i in range(9)]
    tiers.append({"key": "t_rest", "name": "Rest"})
    stages = [{"key": f"s{i}", "name": f"S{i}", "recency_days": {"min": 40 * i,
                                                                  "max": 40 * i + 39}}
              for i in range(9)] + [{"key": "s_rest", "name": "S rest"}]
    cfg = build_config({"scoring": {"bins": 9}, "segments": {"rules": rules},
                        "value_tier": {"method": "thresholds", "tiers": tiers},
                        "lifecycle": {"rules": stages}, "clustering": {"enabled": False}})
    gen = generate_transactions(tmp_path / "data", 3000, seed=3)
    files = sorted(gen.files)
    segscore.run(files, tmp_path / "prev", as_of="2026-03-31", config=cfg, report=False)
    # the section itself: the page of three 730 × 730 matrices takes a while to render
    cur = segscore.run(files[1:], None, config=cfg, report=False).customers
    section, _ = migration_report(cur, tmp_path / "prev", cfg)
    prev = pl.scan_parquet(tmp_path / "prev" / "customers", hive_partitioning=True).collect()
    for dim, plural in (("segment", "segments"), ("value_tier", "value_tiers"),
                        ("lifecycle_stage", "lifecycle_stages")):
        m = section[plural]
        counts = np.array(m["customers"])
        before = prev[dim].cast(pl.String).value_counts()
        before = dict(zip(before[dim], before["count"]))
        after = cur[dim].cast(pl.String).value_counts()
        after = dict(zip(after[dim], after["count"]))
        assert counts[:-1].sum(axis=1).tolist() == [before.get(k, 0) for k in m["rows"][:-1]]
        assert counts[:, :-1].sum(axis=0).tolist() == [after.get(k, 0)
                                                        for k in m["columns"][:-1]]
    assert len(section["segments"]["rows"]) > 100 and section["segments"]["moved"] > 0
