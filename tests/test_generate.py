"""Tests of the synthetic data generator (segscore_datasets.generate)."""

from datetime import date, datetime

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segscore_datasets import GenerateSummary, generate_transactions
from segscore_datasets.generate import ATTRIBUTE_SCHEMA, TRANSACTION_SCHEMA

N = 3_000
START, END = date(2024, 7, 1), date(2026, 6, 30)


@pytest.fixture(scope="module")
def gen(tmp_path_factory) -> GenerateSummary:
    """One default-period data set, in several generation chunks."""
    return generate_transactions(tmp_path_factory.mktemp("gen") / "out", N, seed=7,
                                 chunk_customers=1_000)


@pytest.fixture(scope="module")
def tx(gen) -> pl.DataFrame:
    """All transaction rows, files concatenated in order, with the file index."""
    return pl.concat([pl.read_parquet(p).with_columns(file=pl.lit(i)) for i, p in enumerate(gen.files)])


def _file_bytes(summary: GenerateSummary) -> list[bytes]:
    paths = list(summary.files) + ([summary.attributes_path] if summary.attributes_path else [])
    return [p.read_bytes() for p in paths]


def test_layout_and_schema(gen):
    assert [p.name for p in gen.files] == [f"transactions-{i:04d}.parquet" for i in range(8)]
    assert all(p.parent == gen.out_dir / "transactions" for p in gen.files)
    assert gen.attributes_path == gen.out_dir / "attributes" / "customers.parquet"
    assert sorted(p.name for p in gen.out_dir.iterdir()) == ["attributes", "transactions"]
    for p in gen.files:
        assert pq.read_schema(p).remove_metadata() == TRANSACTION_SCHEMA
    assert pq.read_schema(gen.attributes_path).remove_metadata() == ATTRIBUTE_SCHEMA
    assert gen.bytes_written == sum(p.stat().st_size for p in (*gen.files, gen.attributes_path))


def test_summary_counts(gen, tx):
    assert gen.customers == N
    assert gen.rows == tx.height
    assert sum(pq.read_metadata(p).num_rows for p in gen.files) == gen.rows
    assert (gen.start, gen.end) == (START, END)
    assert 2.5 * N < gen.rows < 6 * N


def test_time_order_and_file_ranges(tx):
    per_file = tx.group_by("file").agg(lo=pl.col.order_ts.min(), hi=pl.col.order_ts.max()).sort("file")
    assert (per_file["hi"].head(-1) < per_file["lo"].tail(-1)).all()
    for _, part in tx.group_by("file"):
        keys = part.select("order_ts", "order_id")
        assert keys.equals(keys.sort("order_ts", "order_id"))
    assert tx["order_ts"].min() >= datetime(2024, 7, 1)
    assert tx["order_ts"].max() < datetime(2026, 7, 1)


def test_quarter_boundaries(gen):
    quarters = [date(2024, 7, 1), date(2024, 10, 1), date(2025, 1, 1), date(2025, 4, 1),
                date(2025, 7, 1), date(2025, 10, 1), date(2026, 1, 1), date(2026, 4, 1), date(2026, 7, 1)]
    for p, lo, hi in zip(gen.files, quarters, quarters[1:]):
        ts = pl.read_parquet(p, columns=["order_ts"])["order_ts"]
        assert ts.min() >= datetime.combine(lo, datetime.min.time())
        assert ts.max() < datetime.combine(hi, datetime.min.time())


def test_values(tx):
    assert tx.null_count().sum_horizontal().item() == 0
    assert (tx["discount"] >= 0).all()
    for col in ("amount", "discount"):
        assert ((tx[col] - tx[col].round(2)).abs() < 1e-9).all()
    assert set(tx["channel"].unique()) == {"store", "web", "app", "marketplace"}
    assert tx["category"].n_unique() == 10
    purchases = tx.filter(pl.col.amount > 0)
    assert (purchases["quantity"] >= 1).all()
    assert (tx.filter(pl.col.amount == 0).height) == 0


def test_returns(tx):
    purchases = tx.filter(pl.col.amount > 0)
    returns = tx.filter(pl.col.amount < 0)
    share = returns["order_id"].n_unique() / purchases["order_id"].n_unique()
    assert 0.03 < share < 0.10
    assert (returns["quantity"] <= 0).all() and (returns["discount"] == 0).all()
    first_buy = purchases.group_by("customer_id").agg(first=pl.col.order_ts.min())
    joined = returns.join(first_buy, on="customer_id", how="left")
    assert joined["first"].null_count() == 0
    assert (joined["order_ts"] > joined["first"]).all()
    # same order: the purchase line exists, is earlier, and covers the refund
    orig = purchases.group_by("order_id").agg(cust=pl.col.customer_id.first(),
                                              ts=pl.col.order_ts.max(), paid=pl.col.amount.sum())
    per_order = returns.group_by("order_id").agg(cust=pl.col.customer_id.first(),
                                                 ts=pl.col.order_ts.min(), refund=-pl.col.amount.sum())
    j = per_order.join(orig, on="order_id", how="left", suffix="_o")
    assert j["cust_o"].null_count() == 0
    assert (j["cust"] == j["cust_o"]).all() and (j["ts"] > j["ts_o"]).all()
    assert (j["refund"] <= j["paid"] + 1e-9).all()


def test_ids(gen, tx):
    attrs = pl.read_parquet(gen.attributes_path)
    assert attrs.height == N and attrs["customer_id"].n_unique() == N
    assert tx["customer_id"].is_in(attrs["customer_id"].implode()).all()
    assert attrs["customer_id"].is_between(100_000_000, 999_999_999).all()
    assert tx["customer_id"].n_unique() > 0.7 * N
    # an order belongs to one customer
    assert tx.group_by("order_id").agg(pl.col.customer_id.n_unique())["customer_id"].max() == 1
    assert attrs["loyalty_member"].any() and not attrs["loyalty_member"].all()
    assert attrs["signup_date"].max() <= END


def test_signup_not_after_first_purchase(gen, tx):
    attrs = pl.read_parquet(gen.attributes_path)
    first = tx.group_by("customer_id").agg(first=pl.col.order_ts.min().dt.date())
    j = first.join(attrs, on="customer_id")
    assert (j["signup_date"] <= j["first"]).all()


def test_deterministic(tmp_path, gen):
    again = generate_transactions(tmp_path / "a", N, seed=7, chunk_customers=1_000)
    assert _file_bytes(again) == _file_bytes(gen)
    other = generate_transactions(tmp_path / "b", N, seed=8, chunk_customers=1_000)
    assert _file_bytes(other) != _file_bytes(gen)
    assert not set(pl.read_parquet(other.files[0])["order_ts"]) & set(pl.read_parquet(gen.files[0])["order_ts"])


def test_refuses_non_empty_out_dir(tmp_path):
    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty"):
        generate_transactions(tmp_path, 10)
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_negative_seed_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        generate_transactions(tmp_path / "out", 10, seed=-1)
    assert not (tmp_path / "out").exists()


def test_empty_existing_dir_ok_and_options(tmp_path):
    s = generate_transactions(tmp_path, 200, seed=1, start=date(2025, 1, 1), end=date(2025, 1, 31),
                              files=3, attributes=False)
    assert len(s.files) == 3 and s.attributes_path is None
    assert not (tmp_path / "attributes").exists() and not (tmp_path / ".tmp").exists()
    df = pl.concat([pl.read_parquet(p) for p in s.files])
    assert df.height == s.rows
    assert df["order_ts"].min() >= datetime(2025, 1, 1) and df["order_ts"].max() < datetime(2025, 2, 1)


@pytest.mark.parametrize("kwargs", [dict(customers=0), dict(files=0),
                                    dict(start=date(2025, 2, 1), end=date(2025, 1, 1)),
                                    dict(chunk_customers=0)])
def test_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        generate_transactions(tmp_path / "o", **{"customers": 10, **kwargs})
    assert not (tmp_path / "o").exists()


def test_string_columns_are_plain_strings(gen):
    t = pq.read_table(gen.files[0])
    assert t.schema.field("channel").type == pa.string()


def test_progress_callback_counts_customers_then_files(tmp_path):
    """on_progress gets the customers generated so far after each chunk, then the files
    written, each ending at its total."""
    calls = []
    generate_transactions(tmp_path / "g", 2500, seed=2, files=4, chunk_customers=1000,
                          on_progress=lambda *a: calls.append(a))
    assert calls == [("customers", 1000, 2500), ("customers", 2000, 2500),
                     ("customers", 2500, 2500)] + [("files", f, 4) for f in range(1, 5)]


@pytest.mark.parametrize("existed", [False, True])
def test_an_interrupted_generation_leaves_nothing_it_created(tmp_path, existed):
    """Interrupted while writing its files (Ctrl-C, or SIGTERM, which the CLI turns into an
    exception), the generator removes what it wrote and the directories it created (out and
    its missing parents, also through "..": a/new/../b); an empty out that existed before
    stays. It left an empty out."""
    out = tmp_path / "a" / "new" / ".." / "b" / "gen"  # a/new is created too, then removed
    if existed:
        out.mkdir(parents=True)

    def interrupt(phase, done, total):
        if phase == "files" and done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_transactions(out, 2000, seed=1, files=4, on_progress=interrupt)
    if existed:
        assert out.is_dir() and not any(out.iterdir())
    else:
        assert not (tmp_path / "a").exists()
