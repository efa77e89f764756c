"""Night-to-night migration against a previous segscore output directory.

Matrices (segment, value tier, lifecycle stage): rows = previous value plus a final "new"
row (customers scored tonight but not last night), columns = current value plus a final
"disappeared" column (scored last night, not tonight). Row sums over the previous values are
last night's group sizes; column sums over the current values are tonight's.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import polars as pl

from segscore import jsontext
from segscore.errors import InputError
from segscore.regular import read_text
from segscore.ingest import find_corrupt_file
from segscore.ids import (coded_duplicates, duplicates, id_order, label_codes, recode_table,
                          string_codes)
from segscore.report.input_ids import (cast_ids, footer_cast_problem, sorted_by_id,
                                       uncast_ids_problem)
from segscore.schema import discover, read_footer

DIMENSIONS = (("segment", "segments"), ("value_tier", "value_tiers"),
              ("lifecycle_stage", "lifecycle_stages"))
#: cells (previous packed code × current packed code) up to which the matrices are counted
#: in dense arrays (3 × 8 B per cell: 24 MiB; the default tables need 166² = 27,556).
#: Beyond — rule tables of hundreds of segments × tiers × stages, whose dense arrays grew with
#: the square of their product (155 GiB for 729 × 10 × 10) — only the cells holding customers
DENSE_CELLS = 1 << 20


def _check_previous_dir(prev: Path) -> dict:
    """The previous run's manifest; InputError unless ``prev`` is a segscore output."""
    manifest_path = prev / "manifest.json"
    try:
        manifest = jsontext.loads(read_text(manifest_path, "utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("producer") != "segscore":
        raise InputError(f"{prev}: --previous is not a segscore output directory "
                         f"(no segscore manifest.json at {manifest_path})")
    cust_dir = prev / "customers"
    if not cust_dir.is_dir() or not any(cust_dir.rglob("*.parquet")):
        raise InputError(f"{prev}: --previous has no customers/ Parquet dataset")
    return manifest


#: the previous customers' columns the migration reads
_NEED = ("customer_id", "segment", "value_tier", "lifecycle_stage", "monetary")
#: how the messages name the previous run's id column and the ids it is cast to
_PREVIOUS_IDS = ("previous customers' id column", "tonight's customer ids")


def check_previous(prev: Path, id_dtype: pl.DataType | None = None) -> int:
    """The up-front checks of ``--previous`` (``check_report_inputs``; manifest and Parquet
    footers only, no row read): a segscore output with a customers/ dataset holding the
    columns the migration reads, and, given tonight's ``id_dtype``, ids that can be cast to
    it (their dtype; their footers' statistics). Returns the previous customers: the rows
    the migration will read, from the footers of customers/ (not the manifest's
    ``customers.scored``, which an edit can make anything)."""
    _check_previous_dir(prev)
    cust_dir = prev / "customers"
    try:
        schema = pl.scan_parquet(cust_dir, hive_partitioning=True).collect_schema()
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"{cust_dir}: cannot read previous customers: "
                         f"{str(exc).splitlines()[0]}") from None
    missing = [c for c in _NEED if c not in schema]
    if missing:
        raise InputError(f"{cust_dir}: previous customers lack column(s) {', '.join(missing)}")
    files = discover(cust_dir)
    if id_dtype is not None:
        pid = schema["customer_id"]
        cast_ids(pid, id_dtype, cust_dir, "customer_id", _PREVIOUS_IDS)
        problem = footer_cast_problem(files, "customer_id", pid, id_dtype, _PREVIOUS_IDS)
        if problem is not None:
            raise InputError(problem)
    return sum(read_footer(f).num_rows for f in files)


def previous_not_before(previous, as_of: str) -> list[str]:
    """A warning when the ``--previous`` run's as_of (its manifest.json; ISO text, as
    ``as_of``, tonight's) is not before tonight's: later, the nights are swapped and the
    migration runs backwards; equal, it compares tonight with a run of the same night (a
    re-run), not with the night before. Nothing when that as_of is missing or no ISO text."""
    try:
        text = jsontext.loads(read_text(Path(previous) / "manifest.json", "utf-8"))["as_of"]
        before, tonight = datetime.fromisoformat(text), datetime.fromisoformat(as_of)
        if before < tonight:  # (a time zone in an edited manifest: TypeError)
            return []
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if before == tonight:
        return [f"--previous {previous} has tonight's as_of {as_of}: the migration compares "
                "tonight with another run of the same night, not with the night before"]
    return [f"--previous {previous} is the run as of {text}, after tonight's as_of {as_of}: "
            "the migration runs backwards (nights swapped?); give the run before tonight as "
            "--previous"]


def _group_rules(config: dict) -> dict:
    """What decides a customer's segment, value tier and lifecycle stage in an effective
    config (model.json's ``config``, or ``RunConfig.to_dict()`` through JSON), by the name a
    warning gives it; display names and actions are left out (a rename moves nobody)."""
    def table(t: dict) -> list:
        return [t.get("fields"), [(r.get("key"), r.get("ranges")) for r in t.get("rules", [])]]

    tiers = config.get("value_tier", {})
    return {"scoring.bins": config.get("bins"),
            "scoring.window_days": config.get("window_days"),
            "the segment table": table(config.get("segments", {})),
            "the value tiers": [tiers.get("method"),
                                [(t.get("key"), t.get("top_share"), t.get("min_monetary"))
                                 for t in tiers.get("tiers", [])]],
            "the lifecycle stages": table(config.get("lifecycle", {}))}


def previous_rules_differ(previous, config) -> list[str]:
    """A warning when the ``--previous`` run (its model.json's ``config``) was scored with
    other bins, lookback window, segment table, value tiers or lifecycle stages than
    tonight's ``config`` (a RunConfig): the migration then shows the change of rules as well
    as the customers' movement (after a change of the segment table nearly everyone
    "moves"). Nothing when that model.json is missing or not a segscore model's."""
    try:
        before = jsontext.loads(read_text(Path(previous) / "model.json", "utf-8"))["config"]
        if not isinstance(before, dict):
            return []
        old = _group_rules(before)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    new = _group_rules(json.loads(json.dumps(config.to_dict())))
    changed = [name for name in new
               if json.dumps(old[name], sort_keys=True) != json.dumps(new[name], sort_keys=True)]
    if not changed:
        return []
    return [f"--previous {previous} was scored with other rules than tonight's (changed: "
            f"{', '.join(changed)}): the migration shows the change of rules as well as the "
            "customers' movement"]


def previous_shares_no_customer(section: dict | None, previous) -> list[str]:
    """A warning when the migration ``section`` found no customer scored in both runs while
    each scored some: every customer is "new" and every one of last night's "disappeared",
    which nearly always means the ids changed form upstream (``123`` against ``C123``)."""
    if not section:
        return []
    seg = section["segments"]
    if seg["stayed"] + seg["moved"] or not section["previous_customers"] \
            or not section["current_customers"]:
        return []
    return [f"--previous {previous}: none of its {section['previous_customers']:,} customers "
            f"is among tonight's {section['current_customers']:,}, so the migration shows "
            "every customer as new and every one of last night's as disappeared; check that "
            "both runs' customer ids are in the same form"]


def _read_previous(prev: Path, id_dtype: pl.DataType | None) -> tuple[pl.DataFrame, dict]:
    """(previous customers: customer_id in tonight's dtype, segment / value_tier /
    lifecycle_stage as Enum or String labels, monetary; the previous manifest). Ids of
    another type are cast as the attributes' are (``input_ids.cast_ids``); ``id_dtype``
    None (tonight's unknown: ``check_previous_rows``) reads them as stored."""
    manifest = _check_previous_dir(prev)
    cust_dir = prev / "customers"
    # The segment normally lives in the path (customers/segment=<key>/…): read it as an Enum
    # of the directory names, so it costs nothing per row; anything else is read as strings.
    hive_keys = sorted(unquote(d.name[len("segment="):]) for d in cust_dir.iterdir()
                       if d.is_dir() and d.name.startswith("segment="))
    attempts = ([{"hive_schema": {"segment": pl.Enum(hive_keys)}}] if hive_keys else []) + [{}]
    for i, kw in enumerate(attempts):
        try:
            lf = pl.scan_parquet(cust_dir, hive_partitioning=True, **kw)
            schema = lf.collect_schema()
            missing = [c for c in _NEED if c not in schema]
            if missing:
                raise InputError(f"{cust_dir}: previous customers lack column(s) "
                                 f"{', '.join(missing)}")
            pid = schema["customer_id"]
            target = pid if id_dtype is None else id_dtype
            idx = cast_ids(pid, target, cust_dir, "customer_id", _PREVIOUS_IDS)
            labels = [pl.col(c) if isinstance(schema[c], pl.Enum) else pl.col(c).cast(pl.String)
                      for c in ("segment", "value_tier", "lifecycle_stage")]
            try:
                df = lf.select(idx, *labels, pl.col("monetary").cast(pl.Float64)).collect()
            except pl.exceptions.PolarsError:
                problem = (uncast_ids_problem(lf, "customer_id", pid, target, cust_dir,
                                              _PREVIOUS_IDS) if pid != target else None)
                if problem is not None:
                    raise InputError(problem) from None
                raise
            return df, manifest
        except (OSError, pl.exceptions.PolarsError) as exc:
            if i + 1 < len(attempts):
                continue
            # a corrupt page: name its file (the failure path only reads the files again)
            raise (find_corrupt_file(discover(cust_dir))
                   or InputError(f"{cust_dir}: cannot read previous customers: "
                                 f"{str(exc).splitlines()[0]}")) from None
    raise AssertionError("unreachable")  # pragma: no cover


def check_previous_rows(prev: Path, id_dtype: pl.DataType | None) -> None:
    """The checks a run makes when it reads the previous customers, for ``validate
    --previous``: the columns the migration reads decode, every id casts to tonight's
    ``id_dtype`` (None: unknown, the ids are taken as stored), no id occurs twice.
    InputError naming the directory or file, as the run's."""
    previous, _ = _read_previous(prev, id_dtype)
    _refuse_duplicates(prev, duplicates(id_order(previous["customer_id"].drop_nulls())[0]))


def _refuse_duplicates(prev: Path, dup: pl.Series) -> None:
    """InputError naming the previous output and a few of the ``dup`` ids, if any."""
    if dup.len():
        raise InputError(f"{prev}: previous output has {dup.len()} duplicate customer_id "
                         f"value(s) (e.g. {', '.join(map(str, dup.head(3).to_list()))})")


def _previous_names(prev: Path) -> dict[str, dict[str, str]]:
    """Display names of the previous run's keys (from its model.json config), if any."""
    out = {"segment": {}, "value_tier": {}, "lifecycle_stage": {}}
    try:
        cfg = jsontext.loads(read_text(prev / "model.json", "utf-8")).get("config", {})
        for dim, sec in (("segment", "segments"), ("lifecycle_stage", "lifecycle")):
            for r in (cfg.get(sec) or {}).get("rules", []):
                out[dim][r["key"]] = r.get("name", r["key"])
        for t in (cfg.get("value_tier") or {}).get("tiers", []):
            out["value_tier"][t["key"]] = t.get("name", t["key"])
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        pass
    return out


def _key_order(current: list[str], previous: list[str], seen: set[str]) -> list[str]:
    """Display order of a dimension's keys: tonight's config order (every key), then the keys
    ``seen`` (with customers in either run) that only last night's config had, in its order,
    then any other key seen, alphabetically (none in a segscore output)."""
    known = set(current)
    extra = [k for k in previous if k in seen and k not in known]
    return list(current) + extra + sorted(seen - known - set(extra))


def _matrix(cells: dict, order: list[str], current_order: list[str], names: dict,
            previous_names: dict) -> dict:
    """``cells``: {(previous key | None, current key | None): (customers, revenue previous,
    revenue current)} for the non-empty cells; ``order``: every key with a cell, tonight's
    configured keys first (``_key_order``); ``names``: tonight's names, ``previous_names``
    last night's (its model.json config)."""
    prev_keys = {a for a, _ in cells if a is not None}
    cur_keys = {b for _, b in cells if b is not None}
    rows = [k for k in order if k in prev_keys or k in current_order] + [None]
    cols = [k for k in order if k in cur_keys or k in current_order] + [None]
    counts = [[cells.get((a, b), (0, 0, 0))[0] for b in cols] for a in rows]
    rev_p = [[cells.get((a, b), (0, 0, 0))[1] for b in cols] for a in rows]
    rev_c = [[cells.get((a, b), (0, 0, 0))[2] for b in cols] for a in rows]
    stayed = sum(cells.get((k, k), (0,))[0] for k in prev_keys & cur_keys)
    new = sum(counts[-1])
    gone = sum(r[-1] for r in counts)
    total = sum(map(sum, counts))
    # tonight's name where tonight's config has the key, else last night's, else the key
    shown = lambda k: names.get(k, previous_names.get(k, k))  # noqa: E731
    row_names = [shown(k) if k is not None else "(new)" for k in rows]
    return {
        "rows": rows, "columns": cols,
        "row_names": row_names,
        "column_names": [shown(k) if k is not None else "(disappeared)" for k in cols],
        # last night's name of a row whose key tonight's config names otherwise
        "row_previous_names": [previous_names[k] if k in previous_names
                               and previous_names[k] != n else None
                               for k, n in zip(rows, row_names)],
        "customers": counts, "revenue_previous": rev_p, "revenue_current": rev_c,
        "previous_sizes": {k: sum(counts[i]) for i, k in enumerate(rows) if k is not None},
        "current_sizes": {k: sum(r[j] for r in counts) for j, k in enumerate(cols)
                          if k is not None},
        "new": new, "disappeared": gone, "stayed": stayed,
        "moved": total - new - gone - stayed,
    }


def _side_codes(frame: pl.DataFrame, cats: dict, label: dict, strides: dict) -> np.ndarray:
    """One int32 per row packing its segment / tier / stage (mixed radix over ``cats``)."""
    from native_kernels.report import _pack_codes

    luts = []
    for dim, _ in DIMENSIONS:
        _, labels, _ = label[dim]
        # a null label counts as the first key (cannot happen in a segscore output)
        luts.append(recode_table(labels, cats[dim], 0) * np.int32(strides[dim]))
    code = np.empty(frame.height, dtype=np.int32)
    _pack_codes(*[label[d][0] for d, _ in DIMENSIONS], *luts, code)
    return code


def migration_report(customers: pl.DataFrame, previous_dir, config) -> tuple[dict, pl.DataFrame]:
    """(report "migration" section, migration table for migration.parquet: the customers of
    either run whose segment, value tier or lifecycle stage differs between the runs, new and
    disappeared ones included, in id order)."""
    prev = Path(previous_dir)
    previous, manifest = _read_previous(prev, customers.schema["customer_id"])
    if previous["customer_id"].null_count():
        previous = previous.filter(pl.col("customer_id").is_not_null())
    cur_src = sorted_by_id(customers.select("customer_id", *[d for d, _ in DIMENSIONS],
                                             "monetary"))
    cur_names = {
        "segment": {r.key: r.name for r in config.segments.rules},
        "value_tier": {t.key: t.name for t in config.value_tier.tiers},
        "lifecycle_stage": {r.key: r.name for r in config.lifecycle.rules},
    }
    # Each side's three group keys packed into one small integer (mixed radix over the union
    # of both runs' keys): the join carries an int instead of three strings, and the cell
    # counts / sums of all three matrices come from one bincount over (previous, current).
    p_lab = {d: label_codes(previous[d]) for d, _ in DIMENSIONS}
    c_lab = {d: label_codes(cur_src[d]) for d, _ in DIMENSIONS}
    prev_names = _previous_names(prev)
    cats, strides, stride = {}, {}, 1
    for dim, _ in DIMENSIONS:
        seen = {k for lab in (p_lab[dim], c_lab[dim]) for k, n in zip(lab[1], lab[2]) if n}
        cats[dim] = _key_order(list(cur_names[dim]), list(prev_names[dim]), seen)
        strides[dim], stride = stride, stride * len(cats[dim])
    n_codes = stride  # codes 0..n_codes-1; n_codes = not scored in that run

    # integer ids: both sides sorted for one merge pass; string ids: coded by hash against
    # tonight's (a join and a sort only when two ids share a 64-bit hash)
    ids, perm = previous["customer_id"], None
    coded = None if ids.dtype.is_integer() else string_codes(ids, cur_src["customer_id"])
    if coded is None:
        ids, perm = id_order(ids)
        dup = duplicates(ids)
    else:
        dup = coded_duplicates(*coded, ids, cur_src["customer_id"])
    _refuse_duplicates(prev, dup)
    pc = _side_codes(previous, cats, p_lab, strides)
    pm = previous["monetary"].to_numpy()
    cc = _side_codes(cur_src, cats, c_lab, strides)
    cm = cur_src["monetary"].to_numpy()
    side = n_codes + 1
    size = side * side if side * side <= DENSE_CELLS else None  # None: sparse cells
    moved_ids = None  # the movers' ids, in id order
    if (size is not None and ids.dtype.is_integer()
            and ids.dtype == cur_src.schema["customer_id"]):
        # one merge pass over both id-sorted sides (numba): per cell (previous code, current
        # code) the customers and each side's net spend summed in id order, and the movers'
        # ids and codes in id order (only their pages of the output arrays are touched)
        from native_kernels.report import _merge_union

        p_ids, c_ids = ids.to_numpy(), cur_src["customer_id"].to_numpy()
        n_max = len(p_ids) + len(c_ids)
        u_ids = np.empty(n_max, dtype=p_ids.dtype)
        p_all, c_all = np.empty(n_max, np.int32), np.empty(n_max, np.int32)
        n_pair, rp_pair, rc_pair = np.zeros(size, np.int64), np.zeros(size), np.zeros(size)
        k = _merge_union(p_ids, perm if perm is not None else np.empty(0, np.int32), pc, pm,
                         c_ids, cc, cm, n_codes, u_ids, p_all, c_all, n_pair, rp_pair, rc_pair)
        moved_ids = pl.Series("customer_id", u_ids[:k].copy(), dtype=ids.dtype)
        p_moved, c_moved = p_all[:k].copy(), c_all[:k].copy()
        del u_ids, p_all, c_all
        nz = np.flatnonzero(n_pair)
        n_cell, rp_cell, rc_cell = n_pair[nz], rp_pair[nz], rc_pair[nz]
    elif coded is not None:
        # string ids coded against tonight's: the union in id order, then the cells by
        # bincount (each side summed in id order; the other side's rows add 0.0)
        union = _coded_union(coded[0], ids, pc, pm, cur_src["customer_id"], cc, cm, n_codes)
        union_ids = union["customer_id"]
        p_all, c_all = union["pc"].to_numpy(), union["cc"].to_numpy()
        pair = p_all.astype(np.int64) * side + c_all
        every = slice(None)
        nz, n_cell, rp_cell, rc_cell = _cell_sums(pair, every, union["pm"].to_numpy(), every,
                                                  union["cm"].to_numpy(), size)
    else:
        if perm is not None:
            pc, pm = pc[perm], pm[perm]
        # string ids: polars' join (it does not keep the order, so the narrow result is
        # sorted afterwards), then the cells by bincount (each side summed in id order: a
        # side's rows in the sorted union are that side in id order)
        joined = pl.DataFrame({"customer_id": ids, "pc": pc}).lazy().join(
            pl.DataFrame({"customer_id": cur_src["customer_id"], "cc": cc}).lazy(),
            on="customer_id", how="full", coalesce=True).collect()
        union_ids, pair = _sorted_pairs(joined, n_codes)
        p_all, c_all = pair // side, pair % side
        nz, n_cell, rp_cell, rc_cell = _cell_sums(pair, p_all != n_codes, pm,
                                                  c_all != n_codes, cm, size)
    if moved_ids is None:
        # the movers: the customers whose segment, tier or stage changed, new and disappeared
        # (equal packed codes = the same three values both nights)
        changed = p_all != c_all
        moved_ids = union_ids.filter(pl.Series(changed))
        p_moved, c_moved = p_all[changed], c_all[changed]
    pair_p, pair_c = nz // side, nz % side

    def part(code: np.ndarray, dim: str) -> np.ndarray:
        """Index into cats[dim] of each code (len(cats[dim]) for n_codes = not scored)."""
        k = len(cats[dim])
        return np.where(code == n_codes, k, code // strides[dim] % k)

    section = {
        "previous_dir": str(prev.resolve()), "previous_run_id": manifest.get("run_id"),
        "previous_as_of": manifest.get("as_of"),
        "previous_customers": previous.height, "current_customers": customers.height,
        "revenue_definition": "net spend (monetary); revenue_previous = last night's, "
                              "revenue_current = tonight's, of the customers in each cell",
        "new_row_and_disappeared_column": "the last row (key null) is new customers, the "
                                          "last column (key null) disappeared customers",
    }
    for dim, plural in DIMENSIONS:
        keys = cats[dim] + [None]
        k1 = len(keys)
        cell = part(pair_p, dim) * k1 + part(pair_c, dim)
        n = np.bincount(cell, weights=n_cell, minlength=k1 * k1)
        rp = np.bincount(cell, weights=rp_cell, minlength=k1 * k1)
        rc = np.bincount(cell, weights=rc_cell, minlength=k1 * k1)
        cells = {(keys[i // k1], keys[i % k1]): (int(n[i]), float(rp[i]), float(rc[i]))
                 for i in np.flatnonzero(n)}
        section[plural] = _matrix(cells, cats[dim], list(cur_names[dim]), cur_names[dim],
                                  prev_names[dim])
    # migration.parquet lists the movers only: a stayer's previous values are its current
    # ones in customers/
    section["migration_parquet_rows"] = moved_ids.len()
    return section, _table(moved_ids, p_moved, c_moved, cats, part, n_codes)


def _cell_sums(pair: np.ndarray, p_rows, pm: np.ndarray, c_rows, cm: np.ndarray,
               size: int | None) -> tuple[np.ndarray, ...]:
    """(the cells holding customers, ascending; per cell: customers, last night's and
    tonight's net spend) of the union's ``pair`` codes (int64, id order). ``pm`` / ``cm``:
    net spend of the union rows ``p_rows`` / ``c_rows`` (a mask or slice: the rows in that
    run), each cell summed in id order. ``size``: cells of the dense arrays; None: only the
    cells found (np.unique), with the same sums."""
    cells, index = (None, pair) if size is not None else np.unique(pair, return_inverse=True)
    k = size if cells is None else len(cells)
    n = np.bincount(index, minlength=k)
    rp = np.bincount(index[p_rows], weights=pm, minlength=k)
    rc = np.bincount(index[c_rows], weights=cm, minlength=k)
    if cells is not None:
        return cells, n, rp, rc
    nz = np.flatnonzero(n)
    return nz, n[nz], rp[nz], rc[nz]


def _table(ids: pl.Series, p_codes: np.ndarray, c_codes: np.ndarray, cats: dict, part,
           n_codes: int) -> pl.DataFrame:
    """migration.parquet's table: ``ids`` (the customers who moved) and, per dimension, the
    previous and current value of each (packed codes ``p_codes`` / ``c_codes``;
    ``part(code, dim)`` = index into cats[dim], len(cats[dim]) for n_codes = not scored →
    null) as an Enum of ``cats[dim]`` (dictionary-encoded strings in Parquet)."""
    from native_kernels.report import _split_codes

    every = np.arange(n_codes + 1)
    wide = max(len(cats[d]) for d, _ in DIMENSIONS) >= 255
    luts = np.stack([part(every, d) for d, _ in DIMENSIONS]).astype(
        np.uint32 if wide else np.uint8)
    index = {}
    for w, codes in (("previous", p_codes), ("current", c_codes)):
        out = np.empty((len(DIMENSIONS), len(codes)), dtype=luts.dtype)
        _split_codes(codes, luts, out)
        index.update({f"{w}_{d}": out[i] for i, (d, _) in enumerate(DIMENSIONS)})
    labels = {d: pl.Series(cats[d] + [None], dtype=pl.Enum(cats[d])) for d, _ in DIMENSIONS}
    # one gather per column, the columns in parallel (polars)
    return pl.DataFrame(index).select(
        *[pl.lit(labels[d]).gather(pl.col(f"{w}_{d}")).alias(f"{w}_{d}")
          for d, _ in DIMENSIONS for w in ("previous", "current")]).insert_column(0, ids)


def write_migration(table: pl.DataFrame, path: Path) -> None:
    """migration.parquet (zstd level 1, no statistics: the file is read whole)."""
    table.write_parquet(path, compression="zstd", compression_level=1, statistics=False)


def _coded_union(codes: np.ndarray, prev_ids: pl.Series, pc: np.ndarray, pm: np.ndarray,
                 cur_ids: pl.Series, cc: np.ndarray, cm: np.ndarray,
                 n_codes: int) -> pl.DataFrame:
    """Both runs' customers in id order (customer_id, pc, cc: packed codes, n_codes = not in
    that run; pm, cm: net spend, 0.0 when not in that run) for string ids: ``codes`` from
    ``string_codes(prev_ids, cur_ids)`` place last night's customers scored tonight at their
    position in tonight's id-sorted table; the others (disappeared) are sorted alone and
    merged in (polars' merge of two sorted frames)."""
    k = cur_ids.len()
    here = codes < k
    at = codes[here]
    p_here = np.full(k, n_codes, dtype=pc.dtype)
    p_here[at] = pc[here]
    m_here = np.zeros(k)
    m_here[at] = pm[here]
    tonight = pl.DataFrame({"customer_id": cur_ids, "pc": p_here, "cc": cc, "pm": m_here,
                            "cm": cm}).with_columns(pl.col("customer_id").set_sorted())
    away = ~here
    n_away = int(away.sum())
    gone = pl.DataFrame({"customer_id": prev_ids.filter(pl.Series(away)), "pc": pc[away],
                         "cc": np.full(n_away, n_codes, dtype=cc.dtype), "pm": pm[away],
                         "cm": np.zeros(n_away)}).sort("customer_id")
    return tonight.merge_sorted(gone, key="customer_id")


def _sorted_pairs(joined: pl.DataFrame, n_codes: int) -> tuple[pl.Series, np.ndarray]:
    """(customer ids ascending, int64 pair code previous × (n_codes + 1) + current per id) of
    the full join's (customer_id, pc, cc) rows (pc / cc null = not in that run)."""
    side = n_codes + 1
    pair = (joined["pc"].fill_null(n_codes).cast(pl.Int64) * side
            + joined["cc"].fill_null(n_codes)).to_numpy()
    ids = joined["customer_id"]
    if ids.dtype.is_integer() and ids.len():
        a = ids.to_numpy()
        lo, hi = int(a.min()), int(a.max())
        bits = max(1, (side * side - 1).bit_length())
        if hi - lo < 2 ** (63 - bits):
            key = np.subtract(a, a.dtype.type(lo), dtype=np.int64)
            key <<= bits
            key |= pair
            key.sort()
            pair = key & ((1 << bits) - 1)
            key >>= bits
            if a.dtype == np.uint64:
                srt = key.astype(np.uint64) + np.uint64(lo)
            else:
                key += lo
                srt = key if a.dtype == np.int64 else key.astype(a.dtype)
            return pl.Series("customer_id", srt, dtype=ids.dtype), pair
    order = ids.arg_sort().to_numpy()
    return ids.gather(order).rename("customer_id"), pair[order]
