"""Obviously-correct slow reference implementations used by the tests.

Nothing here is fast or clever on purpose: each function restates the SPEC in plain
Python / NumPy so the engine can be compared against it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import numpy as np

DAY_US = 86_400_000_000


def quantile_scores(x, q):
    """SPEC §3 literally: cut points = np.quantile (linear) at k/q; score = 1 + #{k: x > c_k}."""
    x = np.asarray(x, dtype=np.float64)
    cuts = np.quantile(x, [k / q for k in range(1, q)])
    return [1 + sum(1 for c in cuts if v > c) for v in x], cuts


def nan_cut_points(x, probs):
    """cut_points' documented result: np.nanquantile (numpy's default "linear" method over the
    non-NaN values, with numpy's NaN where its interpolation meets inf - inf or inf * 0); all
    NaN when x has no non-NaN value."""
    x = np.asarray(x, dtype=np.float64)
    if np.isnan(x).all():
        return np.full(len(probs), np.nan)
    with np.errstate(invalid="ignore"):
        return np.nanquantile(x, probs) if len(probs) else np.empty(0)


def rank_tiers(m, top_shares):
    """Rank value tiers (0 = highest) of monetary ``m``: bounds = np.quantile (linear) of m at
    1 - cumulative top share; a value is in the first tier whose bound it exceeds, else the
    last."""
    bounds = np.quantile(np.asarray(m, dtype=np.float64), 1.0 - np.cumsum(top_shares))
    return np.array([next((i for i, b in enumerate(bounds) if v > b), len(bounds)) for v in m])


def threshold_tiers(m, mins):
    """Threshold value tiers (0 = highest): the first tier whose minimum monetary (``mins``,
    descending) the value reaches, else the last."""
    return np.array([next((i for i, b in enumerate(mins) if v >= b), len(mins)) for v in m])


def customer_features(rows, as_of: datetime, window_days: int | None = None, has_order_id=False):
    """Per-customer RFM features from a list of dict rows (SPEC §2), one dict per customer.

    rows: dicts with customer_id, order_ts (datetime), amount (float), optional order_id,
    channel, category. Only rows with order_ts <= as_of (and inside the window) count.
    Customers with no purchase (amount > 0) are returned with scored=False.
    """
    start = as_of - timedelta(days=window_days) if window_days else None
    by_customer = defaultdict(list)
    for r in rows:
        if r["order_ts"] > as_of or (start is not None and r["order_ts"] <= start):
            continue
        by_customer[r["customer_id"]].append(r)
    out = {}
    for cid, rs in by_customer.items():
        purchases = [r for r in rs if r["amount"] > 0]
        monetary = sum(round(r["amount"] * 10_000) for r in rs) / 10_000
        feats = {"monetary": monetary, "scored": bool(purchases)}
        if purchases:
            first = min(r["order_ts"] for r in purchases)
            last = max(r["order_ts"] for r in purchases)
            if has_order_id:
                freq = len({r["order_id"] for r in purchases})
            else:
                freq = len(purchases)
            gross_units = sum(round(r["amount"] * 10_000) for r in purchases)
            gross = gross_units / 10_000
            return_units = -sum(round(r["amount"] * 10_000) for r in rs if r["amount"] < 0)
            feats.update(
                # timedelta // timedelta: exact integer floor (a float quotient rounds
                # k days - 1 µs up to k beyond ~285 years)
                recency_days=(as_of - last) // timedelta(days=1),
                tenure_days=(as_of - first) // timedelta(days=1),
                frequency=freq,
                avg_order_value=gross / freq,
                return_amount=return_units / 10_000,
                return_rate=return_units / gross_units,
            )
        out[cid] = feats
    return out


def first_match(rules, values):
    """Index of the first rule whose inclusive ranges all contain ``values`` (dicts)."""
    for i, rule in enumerate(rules):
        if all(lo <= values[f] <= hi for f, (lo, hi) in rule.items()):
            return i
    return None


def first_match_rows(rules, fields, columns):
    """first_match of every row (``columns``: one sequence per field, in ``fields``' order;
    values as Python integers), -1 where no rule matches."""
    out = []
    for row in zip(*columns):
        found = first_match(rules, dict(zip(fields, (int(v) for v in row))))
        out.append(-1 if found is None else found)
    return out


def hll_registers(keys, p: int) -> list[int]:
    """HyperLogLog registers (2**p) of 64-bit keys, one key at a time with Python integers:
    splitmix64's finalizer, register = top p bits, rank = 1 + leading zeros of the other
    64 − p bits (64 − p + 1 when they are all zero)."""
    mask = (1 << 64) - 1
    regs = [0] * (1 << p)
    for k in keys:
        x = int(k) & mask
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
        x ^= x >> 31
        j, rest = x >> (64 - p), x & ((1 << (64 - p)) - 1)
        rank = (64 - p) - rest.bit_length() + 1
        regs[j] = max(regs[j], rank)
    return regs
