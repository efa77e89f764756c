"""Synthetic retail transactions for segscore demos, tests and benchmarks.

Generative model (details and parameters in ``datasets/README.md``):

* each customer has a Pareto/NBD-style purchase rate (gamma across customers),
  an exponential lifetime with a gamma-distributed dropout rate, and an
  acquisition instant either before the period (an existing, still active
  customer) or inside it (growing acquisition, seasonal);
* order times follow a Poisson process modulated by a day-level seasonality
  (weekday, Black Friday, Christmas) and channel-specific hour-of-day profiles;
* order values follow the gamma-gamma spend model (heavy-tailed customer means);
* channel and category preferences are per-customer Dirichlet draws;
* some orders are followed by a full or partial return (negative amount, later
  timestamp, same customer and order id).

Customers are generated in chunks; each chunk's rows are spilled per output file
to temporary Arrow IPC pieces, then each output file is assembled, sorted by
``(order_ts, order_id)`` and written as Parquet.  Peak memory is bounded by one
chunk plus one output file.
"""

from __future__ import annotations

import datetime
import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

__all__ = ["GenerateSummary", "generate_transactions"]

CHANNELS = ("store", "web", "app", "marketplace")
CATEGORIES = (
    "grocery", "apparel", "home", "electronics", "beauty",
    "sports", "toys", "books", "garden", "pets",
)
REGIONS = ("North", "South", "East", "West", "Central")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")

_US_PER_DAY = 86_400_000_000
_DAYS_PER_YEAR = 365.25
_EPOCH = date(1970, 1, 1)

# Customer base: share acquired before the period, and how far back (days).
_PRE_PERIOD_SHARE = 0.45
_PRE_PERIOD_MAX_DAYS = 5 * 365
# In-period acquisition density grows like t**(_ACQ_GROWTH - 1).
_ACQ_GROWTH = 1.3
# Pareto/NBD: purchase rate lambda ~ Gamma(r, scale) orders/year,
# dropout rate mu ~ Gamma(s, scale) per year.
_RATE_SHAPE, _RATE_SCALE = 0.7, 3.6
_DROP_SHAPE, _DROP_SCALE = 1.0, 0.45
# Gamma-gamma spend: order value ~ Gamma(p, rate nu), nu ~ Gamma(q, rate gamma).
_SPEND_P, _SPEND_Q, _SPEND_GAMMA = 3.0, 3.5, 45.0
# Order lines: geometric count (P(1 line) = _LINE_P).
_LINE_P = 0.85
_EXTRA_QTY_MEAN = 0.4
# Discounts: probability per line (non-member, member) and rate range.
_DISC_PROB = (0.12, 0.30)
_DISC_RATE = (0.05, 0.35)
# Returns: per-customer propensity ~ Beta(a, b) times a channel multiplier.
_RET_BETA = (1.5, 22.0)
_RET_CHANNEL_MULT = np.array([0.6, 1.4, 1.1, 1.5])
_RET_EXTRA_LINE_P = 0.6
_RET_FULL_P = 0.7
_RET_DELAY_SHAPE, _RET_DELAY_SCALE = 2.0, 4.0  # whole days, after a 1-day minimum
# Preferences.
_REGION_P = np.array([0.22, 0.24, 0.18, 0.21, 0.15])
_REGION_STORE_MULT = np.array([1.0, 1.3, 0.8, 0.9, 1.4])
_AGE_P = np.array([0.12, 0.22, 0.21, 0.18, 0.15, 0.12])
_CHANNEL_ALPHA_YOUNG = np.array([0.8, 1.2, 2.0, 0.5])
_CHANNEL_ALPHA_OLD = np.array([2.5, 1.0, 0.3, 0.3])
_CATEGORY_POPULARITY = np.array([0.22, 0.15, 0.12, 0.08, 0.09, 0.08, 0.06, 0.07, 0.06, 0.07])
_CATEGORY_CONCENTRATION = 3.0
_WEEKDAY_WEIGHT = np.array([0.90, 0.90, 0.95, 1.00, 1.10, 1.30, 0.85])  # Mon..Sun


def _hour_profile(weights: list[float]) -> np.ndarray:
    """Cumulative hour-of-day distribution, shape (24,), from 24 raw weights."""
    w = np.asarray(weights, dtype=np.float64)
    return np.cumsum(w / w.sum())


_HOUR_CUM = np.stack([
    _hour_profile([0] * 8 + [2, 4, 6, 8, 9, 8, 6, 6, 7, 8, 9, 8, 5, 3] + [0] * 2),    # store
    _hour_profile([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4, 4,
                   5, 4, 4, 4, 4, 5, 6, 7, 8, 8, 6, 3]),                               # web
    _hour_profile([1.5, 1, 0.5, 0.3, 0.3, 0.5, 1.5, 3, 4, 3, 3, 4,
                   6, 5, 3, 3, 3, 4, 5, 7, 9, 9, 7, 4]),                               # app
    _hour_profile([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4, 4,
                   5, 4, 4, 4, 4, 5, 6, 7, 7, 7, 5, 3]),                               # marketplace
])

TRANSACTION_SCHEMA = pa.schema([
    ("customer_id", pa.int64()),
    ("order_id", pa.int64()),
    ("order_ts", pa.timestamp("us")),
    ("amount", pa.float64()),
    ("channel", pa.string()),
    ("category", pa.string()),
    ("quantity", pa.int32()),
    ("discount", pa.float64()),
])
ATTRIBUTE_SCHEMA = pa.schema([
    ("customer_id", pa.int64()),
    ("region", pa.string()),
    ("age_band", pa.string()),
    ("signup_date", pa.date32()),
    ("loyalty_member", pa.bool_()),
])
_ID_BASE = 100_000_000          # customer ids are 9-digit numbers
_ID_SPACE = 900_000_000
_ORDER_ID_BASE = 1_000_000_000
_ROW_GROUP_ROWS = 1_000_000


@dataclass(frozen=True)
class GenerateSummary:
    """What ``generate_transactions`` wrote."""

    out_dir: Path
    customers: int
    rows: int
    files: tuple[Path, ...]
    start: datetime.date
    end: datetime.date
    attributes_path: Path | None
    bytes_written: int


@dataclass(frozen=True)
class _Period:
    """The generated period: ``ndays`` whole days from ``start``; ``day_cum`` is the
    cumulative seasonal intensity at day boundaries, shape (ndays + 1,), mean 1/day."""

    start: date
    ndays: int
    day_cum: np.ndarray

    @property
    def start_us(self) -> int:
        """Microseconds since the Unix epoch of ``start`` 00:00."""
        return (self.start - _EPOCH).days * _US_PER_DAY


# ---------------------------------------------------------------------------
# Period, seasonality, file ranges


def _day_weights(start: date, ndays: int) -> np.ndarray:
    """Seasonal order intensity per day, shape (ndays,), normalised to mean 1."""
    epoch_days = (start - _EPOCH).days + np.arange(ndays)
    days = epoch_days.astype("datetime64[D]")
    doy = (days - days.astype("datetime64[Y]")).astype(np.int64)
    weekday = (epoch_days + 3) % 7                      # 1970-01-01 was a Thursday
    w = (1.0
         + 0.6 * np.exp(-(((doy - 352) / 10.0) ** 2))   # Christmas
         + 0.5 * np.exp(-(((doy - 331) / 3.0) ** 2))    # Black Friday week
         + 0.1 * np.cos(2 * np.pi * (doy - 200) / 365.0))
    w = w * _WEEKDAY_WEIGHT[weekday]
    return w / w.mean()


def _make_period(start: date, end: date) -> _Period:
    """The period [start 00:00, end 24:00) with its seasonal intensity."""
    ndays = (end - start).days + 1
    day_cum = np.concatenate([[0.0], np.cumsum(_day_weights(start, ndays))])
    return _Period(start=start, ndays=ndays, day_cum=day_cum)


def _file_bounds(start: date, end: date, files: int | None) -> np.ndarray:
    """Day offsets from ``start`` of the output files' boundaries, shape (files + 1,).

    ``files=None``: one file per calendar quarter touching the period;
    otherwise ``files`` ranges of (nearly) equal whole-day length."""
    ndays = (end - start).days + 1
    if files is None:
        cuts = []
        y, m = start.year, (start.month - 1) // 3 * 3 + 1
        while True:
            m += 3
            if m > 12:
                y, m = y + 1, m - 12
            q = date(y, m, 1)
            if q > end:
                break
            cuts.append((q - start).days)
        return np.array([0, *cuts, ndays], dtype=np.int64)
    return np.round(np.linspace(0, ndays, files + 1)).astype(np.int64)


# ---------------------------------------------------------------------------
# Customers


def _customer_ids(index: np.ndarray, seed: int) -> np.ndarray:
    """Sparse unique 9-digit customer ids, int64 shape (n,), for global customer
    indices ``index`` (< 9e8): a seeded 30-bit Feistel permutation, cycle-walked
    into [0, 9e8)."""
    keys = np.random.default_rng([seed, 0x1D5]).integers(1, 1 << 15, size=4, dtype=np.uint64)

    def permute(x: np.ndarray) -> np.ndarray:
        left, right = x >> np.uint64(15), x & np.uint64(0x7FFF)
        for k in keys:
            f = ((right * np.uint64(0x2545F491) + k) ^ (right >> np.uint64(5)))
            f = (f * np.uint64(0x9E3779B1)) >> np.uint64(7) & np.uint64(0x7FFF)
            left, right = right, left ^ f
        return (left << np.uint64(15)) | right

    y = permute(index.astype(np.uint64))
    out = y >= _ID_SPACE
    while out.any():
        y[out] = permute(y[out])
        out = y >= _ID_SPACE
    return y.astype(np.int64) + _ID_BASE


def _draw_category(cum: np.ndarray, owner: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Categorical draw per row from its owner's cumulative probabilities.

    cum: (customers, k); owner: (rows,) row -> customer; u: (rows,) uniforms.
    Returns int8 codes (rows,), without materialising a (rows, k) array."""
    code = np.zeros(len(owner), dtype=np.int8)
    for column in np.ascontiguousarray(cum[:, :-1].T):
        code += u > column[owner]
    return code


@dataclass
class _Customers:
    """Per-customer latent parameters of one chunk; every array has shape (n,)
    except ``channel_cum`` (n, 4) and ``category_cum`` (n, 10)."""

    ids: np.ndarray            # int64
    region: np.ndarray         # int8 code into REGIONS
    age: np.ndarray            # int8 code into AGE_BANDS
    signup_day: np.ndarray     # int64 days from period start (may be < 0)
    loyalty: np.ndarray        # bool
    first_day: np.ndarray      # float64 acquisition instant (days from start) or nan
    active_lo: np.ndarray      # float64 days from start
    active_hi: np.ndarray      # float64 days from start
    rate: np.ndarray           # float64 orders per year
    spend_nu: np.ndarray       # float64 gamma-gamma rate (1/currency)
    return_p: np.ndarray       # float64 per-order return propensity
    channel_cum: np.ndarray
    category_cum: np.ndarray


def _acquisition_days(rng: np.random.Generator, n: int, period: _Period) -> np.ndarray:
    """Acquisition instants in days from start, shape (n,): a share before the period
    (uniform over the preceding years), the rest inside it with growing, seasonal density."""
    pre = rng.random(n) < _PRE_PERIOD_SHARE
    w = rng.random(n) ** (1.0 / _ACQ_GROWTH) * period.day_cum[-1]
    inside = np.interp(w, period.day_cum, np.arange(period.ndays + 1, dtype=np.float64))
    before = -rng.uniform(0.0, _PRE_PERIOD_MAX_DAYS, n)
    return np.where(pre, before, inside)


def _make_customers(rng: np.random.Generator, index: np.ndarray, seed: int,
                    period: _Period) -> _Customers:
    """Latent parameters for the customers with global indices ``index``."""
    n = len(index)
    region = rng.choice(len(REGIONS), size=n, p=_REGION_P).astype(np.int8)
    age = rng.choice(len(AGE_BANDS), size=n, p=_AGE_P).astype(np.int8)
    rate = rng.gamma(_RATE_SHAPE, _RATE_SCALE, n)
    dropout = rng.gamma(_DROP_SHAPE, _DROP_SCALE, n)
    lifetime = rng.exponential(1.0, n) / dropout * _DAYS_PER_YEAR     # days (memoryless)
    acquired = _acquisition_days(rng, n, period)
    in_period = acquired >= 0
    active_lo = np.where(in_period, acquired, 0.0)
    active_hi = np.minimum(active_lo + lifetime, float(period.ndays))
    lead = np.where(rng.random(n) < 0.3, rng.geometric(1 / 30, n), 0)  # signup before 1st order
    signup_day = np.floor(acquired).astype(np.int64) - np.where(in_period, lead, 0)
    loyalty_logit = -0.9 + 0.9 * np.log(rate / (_RATE_SHAPE * _RATE_SCALE))
    loyalty = rng.random(n) < 1 / (1 + np.exp(-loyalty_logit))

    t = (age / (len(AGE_BANDS) - 1))[:, None]
    alpha = (1 - t) * _CHANNEL_ALPHA_YOUNG + t * _CHANNEL_ALPHA_OLD
    alpha[:, 0] *= _REGION_STORE_MULT[region]
    channel_p = rng.gamma(alpha)
    category_p = rng.gamma(_CATEGORY_POPULARITY * _CATEGORY_CONCENTRATION, size=(n, len(CATEGORIES)))
    return _Customers(
        ids=_customer_ids(index, seed), region=region, age=age, signup_day=signup_day,
        loyalty=loyalty, first_day=np.where(in_period, acquired, np.nan),
        active_lo=active_lo, active_hi=active_hi, rate=rate,
        spend_nu=rng.gamma(_SPEND_Q, 1.0 / _SPEND_GAMMA, n),
        return_p=rng.beta(*_RET_BETA, n),
        channel_cum=np.cumsum(channel_p / channel_p.sum(1, keepdims=True), axis=1),
        category_cum=np.cumsum(category_p / category_p.sum(1, keepdims=True), axis=1),
    )


def _attribute_table(c: _Customers, period: _Period) -> pa.Table:
    """The customer attributes rows of one chunk."""
    signup = (period.start - _EPOCH).days + c.signup_day
    return pa.table([
        pa.array(c.ids),
        pc.take(pa.array(REGIONS, pa.string()), pa.array(c.region)),
        pc.take(pa.array(AGE_BANDS, pa.string()), pa.array(c.age)),
        pa.array(signup.astype(np.int32), pa.date32()),
        pa.array(c.loyalty),
    ], schema=ATTRIBUTE_SCHEMA)


# ---------------------------------------------------------------------------
# Orders, lines, returns


def _order_times(rng: np.random.Generator, c: _Customers, period: _Period
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Order instants of a chunk: (owner (orders,) int64 customer row, t (orders,) float64
    days from start).  The acquisition order of in-period customers plus a seasonal
    Poisson process at ``rate`` over each customer's active interval."""
    grid = np.arange(period.ndays + 1, dtype=np.float64)
    w_lo = np.interp(c.active_lo, grid, period.day_cum)
    w_hi = np.interp(np.maximum(c.active_hi, c.active_lo), grid, period.day_cum)
    counts = rng.poisson(c.rate * (w_hi - w_lo) / _DAYS_PER_YEAR)
    owner = np.repeat(np.arange(len(counts)), counts)
    w = w_lo[owner] + rng.random(len(owner)) * (w_hi - w_lo)[owner]
    t = np.interp(w, period.day_cum, grid)
    first = np.flatnonzero(~np.isnan(c.first_day))
    owner = np.concatenate([first, owner])
    t = np.concatenate([c.first_day[first], t])
    return owner, t


def _timestamps_us(rng: np.random.Generator, t: np.ndarray, channel: np.ndarray,
                   period: _Period) -> np.ndarray:
    """Microsecond timestamps (int64, shape of ``t``): the day of ``t`` with an hour
    drawn from the channel's hour-of-day profile and a uniform instant in that hour."""
    day = np.minimum(np.floor(t).astype(np.int64), period.ndays - 1)
    hour = np.empty(len(t), dtype=np.int64)
    u = rng.random(len(t))
    for k in range(len(CHANNELS)):
        sel = channel == k
        hour[sel] = np.minimum(np.searchsorted(_HOUR_CUM[k], u[sel], side="right"), 23)
    within = rng.integers(0, 3_600_000_000, len(t))
    return period.start_us + day * _US_PER_DAY + hour * 3_600_000_000 + within


def _round_cents(x: np.ndarray) -> np.ndarray:
    """Round currency amounts to cents."""
    return np.round(x, 2)


def _chunk_rows(rng: np.random.Generator, c: _Customers, period: _Period,
                order_id_start: int) -> tuple[dict[str, np.ndarray], int]:
    """All transaction rows of one chunk as column arrays (channel/category as int8
    codes, order_ts as int64 µs), sorted by (order_ts, order_id, line); and the number
    of order ids used (ids ``order_id_start ..``, increasing with time in the chunk)."""
    owner, t = _order_times(rng, c, period)
    channel = _draw_category(c.channel_cum, owner, rng.random(len(owner)))
    ts = _timestamps_us(rng, t, channel, period)
    order = np.argsort(ts, kind="stable")
    owner, channel, ts = owner[order], channel[order], ts[order]
    n_orders = len(owner)
    order_id = order_id_start + np.arange(n_orders, dtype=np.int64)

    # Order lines: value ~ gamma-gamma, split across lines by Dirichlet(2, ..) shares.
    n_lines = rng.geometric(_LINE_P, n_orders)
    line_order = np.repeat(np.arange(n_orders), n_lines)
    line_owner = owner[line_order]
    value = rng.gamma(_SPEND_P, 1.0, n_orders) / c.spend_nu[owner]
    share = rng.gamma(2.0, 1.0, len(line_order))
    share /= np.bincount(line_order, weights=share, minlength=n_orders)[line_order]
    gross = np.maximum(_round_cents(value[line_order] * share), 0.01)
    disc_p = np.where(c.loyalty[line_owner], _DISC_PROB[1], _DISC_PROB[0])
    has_disc = rng.random(len(line_order)) < disc_p
    discount = np.where(has_disc, _round_cents(gross * rng.uniform(*_DISC_RATE, len(line_order))), 0.0)
    amount = np.maximum(_round_cents(gross - discount), 0.01)
    discount = _round_cents(gross - amount).clip(min=0.0)
    quantity = (1 + rng.poisson(_EXTRA_QTY_MEAN, len(line_order))).astype(np.int32)
    category = _draw_category(c.category_cum, line_owner, rng.random(len(line_order)))
    lines = {
        "customer_id": c.ids[line_owner], "order_id": order_id[line_order],
        "order_ts": ts[line_order], "amount": amount, "channel": channel[line_order],
        "category": category, "quantity": quantity, "discount": discount,
    }
    returns = _returns(rng, c, period, lines, line_order, owner, channel)
    rows = {k: np.concatenate([lines[k], returns[k]]) for k in lines}
    order = np.argsort(rows["order_ts"], kind="stable")
    return {k: v[order] for k, v in rows.items()}, n_orders


def _returns(rng: np.random.Generator, c: _Customers, period: _Period,
             lines: dict[str, np.ndarray], line_order: np.ndarray,
             owner: np.ndarray, channel: np.ndarray) -> dict[str, np.ndarray]:
    """Return rows for a chunk's order lines (columns as in ``lines``).

    An order is returned with probability customer propensity × channel multiplier;
    its first line always, other lines with probability ``_RET_EXTRA_LINE_P``.  A line is
    fully refunded (all units) or partially (some units, or a price adjustment with
    quantity 0 for single-unit lines), on a later day at a time drawn from the channel's
    hour profile.  Returns after the period end are dropped."""
    p = np.minimum(c.return_p[owner] * _RET_CHANNEL_MULT[channel], 1.0)
    returned_order = rng.random(len(owner)) < p
    first_line = np.r_[True, line_order[1:] != line_order[:-1]]
    pick = returned_order[line_order] & (first_line | (rng.random(len(line_order)) < _RET_EXTRA_LINE_P))
    idx = np.flatnonzero(pick)
    qty = lines["quantity"][idx]
    amt = lines["amount"][idx]
    full = rng.random(len(idx)) < _RET_FULL_P
    units = np.where(full, qty, 1 + np.floor(rng.random(len(idx)) * (qty - 1)).astype(np.int32))
    frac = np.where(full | (qty > 1), units / qty, rng.uniform(0.2, 0.8, len(idx)))
    units = np.where(~full & (qty == 1), 0, units).astype(np.int32)
    refund = np.minimum(np.maximum(_round_cents(amt * frac), 0.01), amt)
    day = (lines["order_ts"][idx] - period.start_us) // _US_PER_DAY
    day = day + 1 + np.floor(rng.gamma(_RET_DELAY_SHAPE, _RET_DELAY_SCALE, len(idx))).astype(np.int64)
    keep = day < period.ndays
    ts = _timestamps_us(rng, day.astype(np.float64), lines["channel"][idx], period)
    return {
        "customer_id": lines["customer_id"][idx][keep], "order_id": lines["order_id"][idx][keep],
        "order_ts": ts[keep], "amount": -refund[keep], "channel": lines["channel"][idx][keep],
        "category": lines["category"][idx][keep], "quantity": -units[keep],
        "discount": np.zeros(int(keep.sum())),
    }


# ---------------------------------------------------------------------------
# Spilling and assembling files


def _spill(rows: dict[str, np.ndarray], bounds_us: np.ndarray, tmp: Path, chunk: int) -> None:
    """Write the time-sorted rows of one chunk to ``tmp/f{file:04d}-c{chunk:06d}.arrow``,
    one Arrow IPC piece per output file they fall into (``bounds_us`` shape (files + 1,))."""
    cuts = np.searchsorted(rows["order_ts"], bounds_us)
    for f in range(len(bounds_us) - 1):
        lo, hi = cuts[f], cuts[f + 1]
        if hi > lo:
            table = pa.table({k: v[lo:hi] for k, v in rows.items()})
            with ipc.new_file(tmp / f"f{f:04d}-c{chunk:06d}.arrow", table.schema) as w:
                w.write_table(table)


def _read_pieces(paths: list[Path]) -> pa.Table | None:
    """Concatenate Arrow IPC pieces (in the given order), or None when there are none."""
    tables = [ipc.open_file(pa.memory_map(str(p))).read_all() for p in paths]
    return pa.concat_tables(tables) if tables else None


def _assemble_file(pieces: list[Path], out: Path) -> int:
    """Merge one output file's pieces, sort stably by (order_ts, order_id), map codes to
    strings and write Parquet; returns its row count."""
    raw = _read_pieces(pieces)
    if raw is None:
        table = TRANSACTION_SCHEMA.empty_table()
    else:
        raw = raw.take(pc.sort_indices(raw, [("order_ts", "ascending"), ("order_id", "ascending")]))
        table = pa.table([
            raw["customer_id"], raw["order_id"], raw["order_ts"].cast(pa.timestamp("us")),
            raw["amount"],
            pc.take(pa.array(CHANNELS, pa.string()), raw["channel"]),
            pc.take(pa.array(CATEGORIES, pa.string()), raw["category"]),
            raw["quantity"], raw["discount"],
        ], schema=TRANSACTION_SCHEMA)
    pq.write_table(table, out, compression="zstd", row_group_size=_ROW_GROUP_ROWS)
    return table.num_rows


def _check_args(out_dir: Path, customers: int, start: date, end: date,
                files: int | None, chunk_customers: int, seed: int) -> None:
    """Raise ValueError on unusable arguments or a non-empty ``out_dir`` (before anything is
    written)."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValueError(f"output directory {out_dir} exists and is not empty; "
                         "choose a new path or remove it first")
    if not 1 <= customers <= _ID_SPACE:
        raise ValueError(f"customers must be between 1 and {_ID_SPACE}, got {customers}")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    ndays = (end - start).days + 1
    if files is not None and not 1 <= files <= ndays:
        raise ValueError(f"files must be between 1 and the number of days ({ndays}), got {files}")
    if chunk_customers < 1:
        raise ValueError(f"chunk_customers must be >= 1, got {chunk_customers}")
    if seed < 0:  # numpy refuses it, after out_dir was made
        raise ValueError(f"seed must be a non-negative integer, got {seed}")


def generate_transactions(out_dir: Path | str, customers: int = 100_000, *, seed: int = 0,
                          start: datetime.date = date(2024, 7, 1),
                          end: datetime.date = date(2026, 6, 30),
                          files: int | None = None, attributes: bool = True,
                          chunk_customers: int = 500_000,
                          on_progress=None) -> GenerateSummary:
    """Write synthetic transactions for ``customers`` customers over [start, end] (dates,
    both inclusive) to ``out_dir/transactions/transactions-NNNN.parquet`` (disjoint,
    increasing time ranges; rows sorted by order_ts then order_id) and, if
    ``attributes``, one row per customer to ``out_dir/attributes/customers.parquet``.

    ``files=None`` writes one file per calendar quarter; an int splits the period into
    that many equal whole-day ranges.  Same arguments give byte-identical files.
    ``on_progress(phase, done, total)``, if given, is called after each step: phase
    "customers" (customers generated so far) then "files" (transaction files written).
    Raises ValueError if ``out_dir`` exists and is not empty."""
    out_dir = Path(out_dir)
    _check_args(out_dir, customers, start, end, files, chunk_customers, seed)
    period = _make_period(start, end)
    bounds_us = period.start_us + _file_bounds(start, end, files) * _US_PER_DAY
    tx_dir, attr_dir, tmp = out_dir / "transactions", out_dir / "attributes", out_dir / ".tmp"
    # the directories a failed or interrupted run removes: its own, and out_dir and its
    # missing parents when it created them
    # spelled out ("a/new/../x" creates a/new too), deepest first
    created = sorted({Path(os.path.normpath(os.path.abspath(d)))
                      for d in (out_dir, *out_dir.parents) if not d.exists()},
                     key=lambda d: len(d.parts), reverse=True)
    try:
        tmp.mkdir(parents=True)
        tx_dir.mkdir()
        next_order_id = _ORDER_ID_BASE
        for chunk, lo in enumerate(range(0, customers, chunk_customers)):
            rng = np.random.default_rng([seed, chunk])
            index = np.arange(lo, min(lo + chunk_customers, customers), dtype=np.int64)
            c = _make_customers(rng, index, seed, period)
            rows, n_orders = _chunk_rows(rng, c, period, next_order_id)
            next_order_id += n_orders
            _spill(rows, bounds_us, tmp, chunk)
            if attributes:
                with ipc.new_file(tmp / f"attr-c{chunk:06d}.arrow", ATTRIBUTE_SCHEMA) as w:
                    w.write_table(_attribute_table(c, period))
            del c, rows
            if on_progress is not None:
                on_progress("customers", int(index[-1]) + 1, customers)
        outputs, total_rows = [], 0
        n_files = len(bounds_us) - 1
        for f in range(n_files):
            out = tx_dir / f"transactions-{f:04d}.parquet"
            total_rows += _assemble_file(sorted(tmp.glob(f"f{f:04d}-c*.arrow")), out)
            outputs.append(out)
            if on_progress is not None:
                on_progress("files", f + 1, n_files)
        attributes_path = None
        if attributes:
            attr_dir.mkdir()
            attributes_path = attr_dir / "customers.parquet"
            pq.write_table(_read_pieces(sorted(tmp.glob("attr-c*.arrow"))), attributes_path,
                           compression="zstd", row_group_size=_ROW_GROUP_ROWS)
    except BaseException:
        for d in (tmp, tx_dir, attr_dir):
            shutil.rmtree(d, ignore_errors=True)
        for d in created:  # only the empty ones go
            try:
                d.rmdir()
            except OSError:
                pass
        raise
    shutil.rmtree(tmp)
    written = sum(p.stat().st_size for p in outputs)
    written += attributes_path.stat().st_size if attributes_path else 0
    return GenerateSummary(out_dir=out_dir, customers=customers, rows=total_rows,
                           files=tuple(outputs), start=start, end=end,
                           attributes_path=attributes_path, bytes_written=written)
