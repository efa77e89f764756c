"""Per-customer raw aggregates, built batch by batch from the used rows (exact, mergeable).

``CustomerAccumulator.add`` folds one batch of used rows into growing per-customer tables
(numba hash group-by in ``native_kernels.groupby``); ``raw`` returns one row per customer
seen. Money is summed exactly as integer 1/10_000 currency units and every aggregate is a
sum, min, max, count, bit-or or distinct count, so the result does not depend on file
order, row order, batch boundaries or thread count.

String values (channels, categories) get small integer codes from a shared
:class:`Codebook`. String customer ids are keyed by a 64-bit hash and every row is checked
against its group's first id, so a hash collision is detected (:class:`IdHashCollision`),
never merged. String order ids are keyed by a 64-bit hash without that check: two orders
of *one* customer would have to collide (probability below 1e-12 per run at 100M orders).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import polars as pl

import native_kernels.codebook as cb
import native_kernels.groupby as gb

from segscore.ids import id_order
from segscore.ingest import AMOUNT_SCALE, Roles
from segscore.kernel_threads import parallel_kernels_may_overlap

#: channels tracked one spend column each while streaming; beyond this the run restarts
#: with the top channels counted first (see passes.gather)
MAX_TRACKED_CHANNELS = 64
#: category codes kept as a 64-bit mask per customer; more categories switch to pairs
MASK_CATEGORIES = 64
ORDER_SEED = 7_919
#: first seed of the hash that looks up channel / category values (see Codebook)
VALUE_SEED = 104_729


class IdHashCollision(Exception):
    """Two distinct string customer ids share a 64-bit hash under the current seed."""


class TooManyValues(Exception):
    """A growing codebook passed its limit."""


class OrderKeysDescend(Exception):
    """A customer's order keys went down while (group, key) pairs were not being collected."""


class Codebook:
    """Stable small integer codes for the non-null values of one string column.

    Either fixed (``values`` given: other values code -1) or growing (new values get the next
    codes, at most ``limit``). Also counts the coded rows per value (for the channel ranking).
    Shared by the accumulators of all partition passes so codes mean the same everywhere.

    Values are looked up by their 64-bit polars hash (``native_kernels.codebook``), an order
    of magnitude cheaper than casting the strings. Known values never share a hash (the seed
    changes if two do); an unseen value whose hash equals a known value's would take that
    value's code without being noticed (probability about 2**-64 per pair of values).
    """

    def __init__(self, values: tuple[str, ...] | None = None, limit: int | None = None):
        self.values: list[str] = list(values or ())
        self._index = {v: i for i, v in enumerate(self.values)}
        self._uncoded: list[str] = []  # values seen that get no code (fixed book only)
        self.fixed = values is not None
        self.limit = limit
        self.rows = np.zeros(len(self.values), dtype=np.int64)
        self._seed = VALUE_SEED
        self._build()

    def _build(self) -> None:
        """(Re)build the hash table of the known values (a new seed if two share a hash)."""
        known = self.values + self._uncoded
        codes = np.array(list(range(len(self.values))) + [-1] * len(self._uncoded),
                         dtype=np.int32)
        size = gb.table_size(2 * len(known))  # at most a quarter full
        while True:
            self._slot_hash = np.zeros(size, dtype=np.uint64)
            self._slot_code = np.full(size, cb.EMPTY, dtype=np.int32)
            hashes = pl.Series(known, dtype=pl.String).hash(seed=self._seed).to_numpy()
            if cb._insert(hashes, codes, self._slot_hash, self._slot_code):
                return
            self._seed += 1

    @property
    def uncoded(self) -> bool:
        """Whether a fixed book has met values it has no code for."""
        return bool(self._uncoded)

    def _learn(self, col: pl.Series) -> None:
        """Add the batch's unknown values (sorted; growing book) or note them as uncoded."""
        uncoded = set(self._uncoded)
        new = [v for v in col.drop_nulls().unique().sort().to_list()
               if v not in self._index and v not in uncoded]
        if self.fixed:
            self._uncoded += new
        else:
            for v in new:
                self._index[v] = len(self.values)
                self.values.append(v)
            if self.limit is not None and len(self.values) > self.limit:
                raise TooManyValues(f"more than {self.limit} distinct values")
            self.rows = np.concatenate([self.rows, np.zeros(len(new), dtype=np.int64)])
        self._build()

    def encode(self, col: pl.Series) -> np.ndarray:
        """int32 (n,) codes of ``col`` (String; -1 = null or not in a fixed book)."""
        nulls = (np.ascontiguousarray(col.is_null().to_numpy()) if col.null_count()
                 else np.empty(0, dtype=np.bool_))
        codes = np.empty(len(col), dtype=np.int32)
        for attempt in range(2):
            hashes = col.hash(seed=self._seed).to_numpy()
            counts = np.zeros(len(self.values), dtype=np.int64)
            if cb._lookup(hashes, nulls, self._slot_hash, self._slot_code, codes, counts) == 0:
                self.rows += counts
                return codes
            if attempt == 0:
                self._learn(col)
        raise RuntimeError("a value is missing from its codebook after being added")


class _Pairs:
    """(group int32, key int64) pairs collected across batches for an exact distinct count,
    in buffers that double when full (untouched capacity is never resident)."""

    def __init__(self, capacity: int) -> None:
        self.n = 0
        self.codes = np.empty(max(capacity, 1024), dtype=np.int32)
        self.keys = np.empty(max(capacity, 1024), dtype=np.int64)

    def _reserve(self, m: int) -> None:
        if self.n + m > self.codes.shape[0]:
            size = max(2 * self.codes.shape[0], self.n + m)
            for name in ("codes", "keys"):
                old = getattr(self, name)
                new = np.empty(size, dtype=old.dtype)
                new[:self.n] = old[:self.n]
                setattr(self, name, new)

    def add(self, codes: np.ndarray, keys: np.ndarray) -> None:
        """Append pairs as given."""
        self._reserve(len(codes))
        self.codes[self.n:self.n + len(codes)] = codes
        self.keys[self.n:self.n + len(codes)] = keys
        self.n += len(codes)

    def add_rows(self, codes: np.ndarray, units: np.ndarray, keyless: np.ndarray,
                 keys: np.ndarray) -> None:
        """Append (group, key) of the purchase rows that have a key."""
        self._reserve(len(codes))
        self.n = gb._collect_pairs(codes, units, keyless, keys, self.codes, self.keys, self.n)

    def distinct(self, k: int, only: np.ndarray | None = None) -> np.ndarray:
        """int64 (k,) distinct keys per group, counting only the groups where ``only`` (bool
        (k,)) is True when given (the others get 0). Frees the pairs."""
        counts = np.zeros(k, dtype=np.int64)
        codes, keys, n = self.codes, self.keys, self.n
        self.codes = self.keys = None
        if only is not None:
            n = gb._keep_pairs(codes, keys, n, only) if only.any() else 0
        if n:
            gb._count_distinct(codes[:n], keys[:n], np.zeros(k + 1, dtype=np.int64),
                               np.empty(n, dtype=np.int64), counts)
        return counts


@dataclass
class Batch:
    """Kernel inputs of one batch of n used rows (see CustomerAccumulator.prepare)."""

    ids: pl.Series | None        # string customer ids (for the collision check), else None
    keys: np.ndarray             # int64 (n,) customer key (id, or hash of a string id)
    ts: np.ndarray               # int64 (n,) microseconds since the epoch
    units: np.ndarray            # int64 (n,) amount in 1/10_000 currency units
    chan: np.ndarray             # int32 (n,) channel code, -1 = none; (0,) without channels
    cat: np.ndarray              # int32 (n,) category code, -1 = none; (0,) without categories
    keyless: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.bool_))
    order_keys: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


class CustomerAccumulator:
    """Raw per-customer aggregates of the used rows fed to :meth:`add` (one partition)."""

    def __init__(self, roles: Roles, channels: Codebook | None, categories: Codebook | None,
                 id_seed: int, capacity: int = 0, order_pairs: bool = True):
        """``capacity``: expected rows (an upper bound of the customers); tables start that
        large but only the part the customers use becomes resident. ``order_pairs`` False:
        distinct orders come only from the running count, and :meth:`add` raises
        :class:`OrderKeysDescend` as soon as a customer's order keys go down (the caller
        starts again with pairs); saves the pairs' time and memory when keys rise."""
        self.roles = roles
        self.channels = channels
        self.categories = categories
        self.id_seed = id_seed
        self.k = 0
        self.capacity = max(capacity, 4096)
        self.acc = np.empty((0, gb.CHANNEL0), dtype=np.int64)
        self.uniques = np.empty(0, dtype=np.int64)
        self.table = np.full(gb.table_size(0), -1, dtype=np.int32)
        # string ids: each group's id in code order, in one chunk, then the newest groups'
        self.id_reps = pl.Series("customer_id", [], dtype=pl.String)
        self.recent_reps: list[pl.Series] = []
        self.keyed = roles.order_id_dtype is not None
        self.orders = _Pairs(self.capacity) if self.keyed and order_pairs else None
        self.category_pairs: _Pairs | None = None  # set once categories outgrow the mask

    def prepare(self, used: pl.DataFrame) -> Batch:
        """Kernel inputs of a batch of used rows (customer_id, order_ts, amount, and order_id /
        channel / category / units when the roles have them; no nulls in the first three, nor
        in units). Updates the shared codebooks, so batches must be prepared in the order they
        are added."""
        if self.roles.units:  # exact (ingest.amount_units)
            units = np.ascontiguousarray(used["units"].to_numpy(), dtype=np.int64)
        else:
            amount = np.ascontiguousarray(used["amount"].to_numpy(), dtype=np.float64)
            units = np.rint(amount * AMOUNT_SCALE).astype(np.int64)  # = polars round (half even)
        ids = used["customer_id"]
        keys = (ids.hash(seed=self.id_seed).to_numpy().view(np.int64)
                if self.roles.id_dtype == pl.String
                else np.ascontiguousarray(ids.to_numpy(), dtype=np.int64))
        batch = Batch(
            ids=ids if self.roles.id_dtype == pl.String else None, keys=keys,
            ts=np.ascontiguousarray(used["order_ts"].to_numpy()).view(np.int64), units=units,
            chan=(self.channels.encode(used["channel"]) if self.channels is not None
                  else np.empty(0, dtype=np.int32)),
            cat=(self.categories.encode(used["category"]) if self.categories is not None
                 else np.empty(0, dtype=np.int32)))
        if self.keyed:
            order = used["order_id"]
            batch.keyless = np.ascontiguousarray(order.is_null().to_numpy(), dtype=np.bool_)
            batch.order_keys = (order.hash(seed=ORDER_SEED).to_numpy().view(np.int64)
                                if self.roles.order_id_dtype == pl.String
                                else np.ascontiguousarray(order.fill_null(0).to_numpy(),
                                                          dtype=np.int64))
        return batch

    def _reserve(self, n: int, width: int) -> None:
        """Room for ``n`` more groups and ``width`` acc columns (capacity doubles). The tables
        are allocated zeroed (every aggregate starts at 0), so the OS hands out the pages of
        the rows groups take and untouched capacity costs no resident memory."""
        need = self.k + n
        if self.table.shape[0] < 2 * need:
            self.table = np.full(gb.table_size(2 * need), -1, dtype=np.int32)
            gb._fill_table(self.uniques, self.k, self.table)
        if self.acc.shape[0] < need or self.acc.shape[1] < width:
            rows = (max(2 * need, self.capacity) if self.acc.shape[0] < need
                    else self.acc.shape[0])
            acc = np.zeros((rows, width), dtype=np.int64)
            acc[:self.k, :self.acc.shape[1]] = self.acc[:self.k]
            self.acc = acc
            uniques = np.empty(rows, dtype=np.int64)
            uniques[:self.k] = self.uniques[:self.k]
            self.uniques = uniques

    def add(self, batch: Batch) -> None:
        """Fold a prepared batch into the tables (numba; runs in a worker thread)."""
        n = batch.units.shape[0]
        width = gb.CHANNEL0 + (len(self.channels.values) if self.channels is not None else 0)
        self._reserve(n, width)
        codes = np.empty(n, dtype=np.int64)
        new_rows = np.empty(n, dtype=np.int64)
        k0 = self.k
        self.k = gb._lookup_or_insert(batch.keys, self.table, self.uniques, k0, codes, new_rows)
        if batch.ids is not None:
            self._check_ids(batch.ids, codes, new_rows[:self.k - k0])
        if self.orders is not None:
            self.orders.add_rows(codes, batch.units, batch.keyless, batch.order_keys)
        cat = batch.cat
        if self.categories is not None:
            if self.category_pairs is None and len(self.categories.values) > MASK_CATEGORIES:
                self._categories_to_pairs()
            if self.category_pairs is not None:
                self.category_pairs.add_rows(codes, batch.units, cat < 0, cat.astype(np.int64))
                cat = np.empty(0, dtype=np.int32)
        went_down = gb._scatter_update(codes, batch.ts, batch.units, batch.chan, cat,
                                       batch.keyless, batch.order_keys, self.acc)
        if went_down and self.keyed and self.orders is None:
            raise OrderKeysDescend(f"{went_down} customers' order keys went down")

    def _check_ids(self, ids: pl.Series, codes: np.ndarray, new_rows: np.ndarray) -> None:
        """IdHashCollision unless every row's id is its group's first id. The groups' ids
        are kept in one chunk plus the newest batches' (merged into it once they reach a
        quarter of it): polars gathers from a Series of many chunks by copying it whole,
        which cost 3 s over the batches of 10M customers."""
        self.recent_reps.append(ids.gather(new_rows).rename("customer_id"))
        if sum(r.len() for r in self.recent_reps) > self.id_reps.len() // 4:
            self.id_reps = pl.concat([self.id_reps, *self.recent_reps], rechunk=True)
            self.recent_reps = []
        settled = self.id_reps.len()
        old = codes < settled
        mask = pl.Series(old)
        same = bool((self.id_reps.gather(codes[old]) == ids.filter(mask)).all())
        if same and not old.all():
            recent = pl.concat(self.recent_reps, rechunk=True)
            same = bool((recent.gather(codes[~old] - settled) == ids.filter(~mask)).all())
        if not same:
            raise IdHashCollision(f"customer id hash collision under seed {self.id_seed}")

    def _string_order(self) -> tuple[pl.Series, np.ndarray]:
        """(the groups' string ids sorted, the group of each: int64 (k,)). polars sorts the
        strings (its argsort costs several times as much); each sorted id finds its group by
        its hash in the group table. The row checks (``_check_ids``) guarantee that distinct
        ids here have distinct hashes, so no string needs comparing again."""
        srt = pl.concat([self.id_reps, *self.recent_reps], rechunk=True).sort()
        order = np.empty(self.k, dtype=np.int64)
        gb._lookup(srt.hash(seed=self.id_seed).to_numpy().view(np.int64), self.table,
                   self.uniques, order)
        if self.k and order.min() < 0:  # pragma: no cover - every id is its group's first id
            raise AssertionError("customer ids not found in their group table")
        return srt, order

    def _categories_to_pairs(self) -> None:
        """Switch distinct-category counting from the 64-bit masks to (group, code) pairs."""
        masks = np.ascontiguousarray(self.acc[:self.k, gb.CATMASK])
        total = int(np.bitwise_count(masks.view(np.uint64)).sum())
        codes, keys = np.empty(total, dtype=np.int32), np.empty(total, dtype=np.int64)
        gb._mask_pairs(masks, codes, keys)
        self.category_pairs = _Pairs(self.capacity)
        self.category_pairs.add(codes, keys)

    def raw(self) -> pl.DataFrame:
        """One row per customer, sorted by customer_id (flagged sorted): customer_id,
        first/last_purchase_at (null without a purchase), net/purchase/return_units
        (1/10_000 currency), rows, frequency, distinct_categories (Int32, with a category
        column) and ``_c<code>`` purchase units per tracked channel code. Frees the tables."""
        k = self.k
        acc = self.acc[:k]
        if self.roles.id_dtype == pl.String:
            customer_id, order = self._string_order()
        else:  # one packed numpy sort (several times faster than an argsort)
            customer_id, order = id_order(pl.Series(self.uniques[:k], dtype=pl.Int64))
        if order is None:
            order = np.arange(k, dtype=np.int32 if k < 2**31 else np.int64)
        self.uniques = self.table = None
        # orders: the running count is exact unless a customer's keys went down (ORDERS -1);
        # only those customers are counted from the pairs
        unordered = acc[:, gb.ORDERS] < 0 if self.orders is not None else None
        n_chan = acc.shape[1] - gb.CHANNEL0
        # every column needed is gathered in one pass over the rows in id order (a row's
        # columns share its cache lines), with the running order counts and the category
        # counts derived on the way (no dead columns kept alive by the output Series)
        columns = np.array([gb.FIRST, gb.LAST, gb.NET, gb.PURCHASE, gb.RETURNS, gb.ROWS, gb.BUYS]
                           + list(range(gb.CHANNEL0, gb.CHANNEL0 + n_chan)), dtype=np.int64)
        row = {c: j for j, c in enumerate(columns.tolist())}  # acc column -> row of ``cols``
        cols = np.empty((len(columns), k), dtype=np.int64)
        orders = np.empty(k if self.keyed else 0, dtype=np.int64)
        mask_counts = np.empty(k if self.categories is not None else 0, dtype=np.int64)

        def distinct_counts() -> list:
            return [pairs.distinct(k, only) if pairs is not None else None
                    for pairs, only in ((self.orders, unordered), (self.category_pairs, None))]

        if parallel_kernels_may_overlap():
            with ThreadPoolExecutor(max_workers=1) as worker:  # distinct counts beside the gather
                distinct = worker.submit(distinct_counts)
                gb._gather_columns(acc, order, columns, cols, orders, mask_counts)
                from_pairs, category_pairs = distinct.result()
        else:
            gb._gather_columns(acc, order, columns, cols, orders, mask_counts)
            from_pairs, category_pairs = distinct_counts()
        frequency = categories = None
        if self.keyed:  # without pairs no customer's keys went down (see add)
            frequency = orders
            if from_pairs is not None:
                down = np.flatnonzero(orders < 0)
                frequency[down] = from_pairs[order[down]] + (-1 - orders[down])
        if self.categories is not None:
            categories = (category_pairs[order] if category_pairs is not None
                          else mask_counts)
        self.acc = None
        no_buy = np.flatnonzero(cols[row[gb.BUYS]] == 0)

        def stamp(j: int) -> pl.Series:  # null where the customer has no purchase row
            return pl.Series(cols[row[j]]).cast(pl.Datetime("us")).scatter(no_buy, None)

        out = {
            "customer_id": customer_id.set_sorted(),
            "first_purchase_at": stamp(gb.FIRST),
            "last_purchase_at": stamp(gb.LAST),
            "net_units": cols[row[gb.NET]],
            "purchase_units": cols[row[gb.PURCHASE]],
            "return_units": cols[row[gb.RETURNS]],
            "rows": cols[row[gb.ROWS]],
            "frequency": cols[row[gb.BUYS]] if frequency is None else frequency,
        }
        if categories is not None:
            out["distinct_categories"] = categories.astype(np.int32)
        for j in range(n_chan):
            out[f"_c{j}"] = cols[row[gb.CHANNEL0 + j]]
        return pl.DataFrame({name: v if isinstance(v, pl.Series) else pl.Series(v)
                             for name, v in out.items()})
