"""The streaming row pass (segscore.passes): batches, restarts and the default as_of."""

from datetime import datetime, timedelta
from unittest.mock import patch

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import segscore.passes as passes
from segscore.accumulate import MAX_TRACKED_CHANNELS, CustomerAccumulator, IdHashCollision
from segscore.config import build_config
from segscore.features import ChannelColumns, channel_columns
from segscore.ingest import AFTER_AS_OF, STATUSES, USED, resolve_roles
from segscore.schema import discover, inspect_inputs


def write_rows(path, n, channels, seed=0, string_ids=False):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 200, size=n)
    pl.DataFrame({
        "customer_id": [f"c{v}" for v in ids] if string_ids else ids,
        "order_ts": (1_700_000_000_000_000 + rng.integers(0, 10**13, size=n)
                     ).astype("datetime64[us]"),
        "amount": np.round(rng.normal(20, 30, size=n), 2),
        "channel": [f"ch{v:03d}" for v in rng.zipf(1.3, size=n) % channels],
    }).write_parquet(path, row_group_size=300)
    return path


def gather(path, batch_rows=2_000_000):
    config = build_config({})
    infos = inspect_inputs(discover(path), config.columns)
    with patch.object(passes, "BATCH_ROWS", batch_rows):
        return passes.gather(infos, config, resolve_roles(infos), None, 1)


def test_batches_are_whole_row_groups_or_slices_of_one(tmp_path):
    path = write_rows(tmp_path / "t.parquet", 1000, 3)  # row groups of 300
    info = inspect_inputs([path], build_config({}).columns)[0]
    with patch.object(passes, "BATCH_ROWS", 650):
        assert passes.batches(info) == [(0, 600), (600, 400)]
    with patch.object(passes, "BATCH_ROWS", 100):
        assert passes.batches(info) == [(0, 100), (100, 100), (200, 100), (300, 100),
                                        (400, 100), (500, 100), (600, 100), (700, 100),
                                        (800, 100), (900, 100)]


def test_more_channels_than_tracked_restarts_with_the_ranked_top(tmp_path):
    path = write_rows(tmp_path / "t.parquet", 5000, MAX_TRACKED_CHANNELS + 30)
    g = gather(path, batch_rows=700)
    scan = pl.scan_parquet(path).filter(pl.col("amount").is_not_null())
    want = channel_columns(scan)
    assert g.channels == want and g.channels.other
    small = gather(path.parent, batch_rows=10**6)  # same answer in one batch
    assert small.raw.equals(g.raw)


def test_few_channels_are_ranked_without_a_restart(tmp_path):
    path = write_rows(tmp_path / "t.parquet", 3000, 20)
    calls = []
    original = passes.channel_columns
    with patch.object(passes, "channel_columns", lambda *a: calls.append(1) or original(*a)):
        g = gather(path, batch_rows=500)
    assert calls == []
    assert g.channels == channel_columns(pl.scan_parquet(path))


@given(st.lists(st.sampled_from(["in-store", "In Store", "IN_STORE", "in store 2", "other",
                                  "Other", "web", "Web!", "", "é"]), unique=True),
       st.randoms())
def test_share_column_names_do_not_depend_on_the_ranking(values, rnd):
    """Clashing slugs get _2, _3… in sorted order of the values, so a column keeps its channel
    when the channels' ranking changes (it followed the ranking: "in-store" was
    share_in_store on a night it led and share_in_store_2 on one "In Store" led)."""
    shuffled = values[:]
    rnd.shuffle(shuffled)
    a, b = ChannelColumns.named(values, False), ChannelColumns.named(shuffled, False)
    assert sorted(b.values) == sorted(shuffled)
    assert a == b and list(a.names) == sorted(a.names)  # in name order, as model.json has them
    assert dict(zip(a.values, a.names)) == dict(zip(b.values, b.names))
    assert len(set(a.names)) == len(values) and "share_other" not in a.names


@pytest.mark.parametrize("n_channels", [15, 16, 17])
def test_share_other_only_beyond_sixteen_channels(tmp_path, n_channels):
    """At most MAX_CHANNEL_COLUMNS (16) share columns, the channels with the most used rows,
    ties by value; ``share_other`` exists only when there are more channels than that. The
    row pass's ranking and ``features.channel_columns`` (the ranked restart, ``validate``)
    agree at the boundary."""
    from segscore.features import MAX_CHANNEL_COLUMNS

    channels = [f"ch{i:02d}" for i in range(n_channels) for _ in range(1 + i % 3)]
    n = len(channels)
    path = tmp_path / "t.parquet"
    pl.DataFrame({"customer_id": np.arange(n) % 7,
                  "order_ts": [datetime(2025, 1, 1 + i % 28) for i in range(n)],
                  "amount": [10.0] * n, "channel": channels}).write_parquet(path)
    g = gather(path)
    ranked = channel_columns(pl.scan_parquet(path))
    assert g.channels == ranked
    assert ranked.other == (n_channels > MAX_CHANNEL_COLUMNS)
    assert len(ranked.names) == min(n_channels, MAX_CHANNEL_COLUMNS)
    assert ("share_other" in ranked.columns) == (n_channels > 16)
    # the channels with the most rows (3, 2, then 1 per channel by i % 3, ties by value) get
    # the columns, listed in name order
    want = sorted((-(1 + i % 3), f"ch{i:02d}") for i in range(n_channels))
    assert list(ranked.values) == sorted(v for _, v in want[:MAX_CHANNEL_COLUMNS])


def test_string_id_hash_collision_retries_with_the_next_seed(tmp_path):
    path = write_rows(tmp_path / "t.parquet", 2000, 3, string_ids=True)
    clean = gather(path, batch_rows=400)
    original = CustomerAccumulator._check_ids
    seeds = []

    def collide_once(self, ids, codes, new_rows):
        seeds.append(self.id_seed)
        if self.id_seed == passes.ID_SEEDS[0]:
            raise IdHashCollision("forced")
        return original(self, ids, codes, new_rows)

    with patch.object(CustomerAccumulator, "_check_ids", collide_once):
        retried = gather(path, batch_rows=400)
    assert set(seeds) == {passes.ID_SEEDS[0], passes.ID_SEEDS[1]}
    assert retried.raw.equals(clean.raw)
    with patch.object(CustomerAccumulator, "_check_ids",
                      lambda *a: (_ for _ in ()).throw(IdHashCollision("always"))):
        with pytest.raises(RuntimeError, match="collisions under every seed"):
            gather(path)


def test_default_as_of_recounts_late_rejected_rows(tmp_path):
    """A null-amount row later than every valid row is after_as_of, not rejected, even when
    it is read before the latest valid row."""
    path = tmp_path / "t.parquet"
    pl.DataFrame({"customer_id": [1, 2, 1], "amount": [None, 5.0, 3.0],
                  "order_ts": [datetime(2026, 3, 1), datetime(2026, 1, 1),
                               datetime(2026, 2, 1, 10)]}).write_parquet(path, row_group_size=1)
    g = gather(path, batch_rows=1)
    assert g.as_of == datetime(2026, 2, 1, 23, 59, 59, 999999)
    assert g.rejected.collect().height == 0
    counts = dict(zip(g.counts["status"].to_list(), g.counts["len"].to_list()))
    assert counts == {0: 2, 1: 1}


@pytest.mark.parametrize("descending", [False, True])
def test_integer_order_ids_counted_on_the_fly_or_from_pairs_after_a_restart(tmp_path,
                                                                           descending):
    """Rising integer order ids: one pass without pairs. Ids going down for some customer:
    the pass restarts collecting pairs. Either way frequency = distinct ids with a purchase."""
    rng = np.random.default_rng(3)
    n = 4000
    ids = rng.integers(0, 150, size=n)
    order = np.arange(n) // 3  # three lines per order, ids rising through the file
    if descending:
        order = order[::-1].copy()
    amount = np.round(rng.normal(20, 30, size=n), 2)
    path = tmp_path / "t.parquet"
    pl.DataFrame({"customer_id": ids, "order_id": order,
                  "order_ts": (1_700_000_000_000_000 + rng.integers(0, 10**12, size=n)
                               ).astype("datetime64[us]"),
                  "amount": amount}).write_parquet(path, row_group_size=500)
    made = []
    real = CustomerAccumulator.__init__

    def spy(self, *args, **kwargs):
        real(self, *args, **kwargs)
        made.append(self.orders is not None)

    with patch.object(CustomerAccumulator, "__init__", spy):
        g = gather(path, batch_rows=1000)
    assert made == ([False, True] if descending else [False])
    want = (pl.read_parquet(path).filter(pl.col("amount") > 0).group_by("customer_id")
            .agg(pl.col("order_id").n_unique().alias("want")))
    got = g.raw.select("customer_id", "frequency").join(want, on="customer_id", how="left")
    assert got["frequency"].to_list() == got["want"].fill_null(0).to_list()


def _status_counts(g):
    return dict(zip(g.counts["status"].to_list(), g.counts["len"].to_list()))


def test_default_as_of_leaves_a_rejected_row_at_as_of_rejected(tmp_path):
    """The derived as_of is the last microsecond of the latest valid day. A rejected row at
    that very instant is not after as_of (only rows *after* it are set aside, SPEC §1): it
    keeps its reason, as when that as_of is given; a row one microsecond later is after it."""
    eod = datetime(2026, 2, 1, 23, 59, 59, 999999)
    path = tmp_path / "t.parquet"
    pl.DataFrame({"customer_id": [1, 2, 3], "amount": [5.0, None, None],
                  "order_ts": [datetime(2026, 2, 1, 10), eod, eod + timedelta(microseconds=1)]}
                 ).write_parquet(path, row_group_size=1)
    derived = gather(path, batch_rows=1)
    assert derived.as_of == eod
    want = {USED: 1, AFTER_AS_OF: 1, STATUSES.index("null_amount"): 1}
    assert _status_counts(derived) == want
    rejected = derived.rejected.select("customer_id", "reason").collect()
    assert rejected.rows() == [("2", "null_amount")]
    config = build_config({})
    infos = inspect_inputs(discover(path), config.columns)
    given = passes.gather(infos, config, resolve_roles(infos), eod, 1)
    assert (_status_counts(given) == want
            and given.rejected.collect().equals(derived.rejected.collect()))


@pytest.mark.parametrize("bad", ["null_customer_id", "null_amount", "non_finite_amount",
                                 "amount_out_of_bounds"])
def test_a_window_derives_as_of_from_the_usable_rows_only(tmp_path, bad):
    """With a lookback window and no as_of, as_of comes from a pre-pass (the window start
    depends on it). Like the as_of the row pass learns without a window, it is the end of the
    day of the latest *usable* row: a later row with a null id, a null / non-finite amount or
    an amount beyond max_abs_amount does not move it, and is after as_of."""
    cid, amount = {"null_customer_id": (None, 5.0), "null_amount": (1, None),
                   "non_finite_amount": (1, float("nan")),
                   "amount_out_of_bounds": (1, 1e12)}[bad]
    path = tmp_path / "t.parquet"
    pl.DataFrame({"customer_id": pl.Series([1, cid], dtype=pl.Int64),
                  "amount": pl.Series([5.0, amount], dtype=pl.Float64),
                  "order_ts": [datetime(2026, 1, 10, 8), datetime(2026, 3, 1, 12)]}
                 ).write_parquet(path)
    for window in (None, 30):
        config = build_config({"scoring": {"window_days": window}} if window else {})
        infos = inspect_inputs(discover(path), config.columns)
        g = passes.gather(infos, config, resolve_roles(infos), None, 1)
        assert g.as_of == datetime(2026, 1, 10, 23, 59, 59, 999999), window
        assert _status_counts(g) == {USED: 1, AFTER_AS_OF: 1}, window
