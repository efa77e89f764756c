"""The single-machine pipeline: discover → ingest → features → score → label → cluster →
write, each stage timed. ``run`` is the Python API; the CLI is a thin layer over it.
"""

from __future__ import annotations

import platform
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import numba
import numpy as np
import polars as pl

from segscore import __version__, arguments
from segscore.cluster_attributes import check_attribute_features, join_attribute_features
from segscore.clusters import attribute_columns, check_input_features, fit_assign_clusters
from segscore.config import RunConfig, load_config, parse_as_of
from segscore.errors import ConfigError, InputError, naming_flag
from segscore.features import finish, unscored_customers
from segscore.ingest import (check_exact_sums, explain_read_error, mixed_amount_types,
                             no_purchase_message, reconcile, resolve_roles, window_start)
from segscore.manifest import output_files, report_inputs as report_input_files
from segscore.memory import (BASE_CHANNELS, MemoryPlan, ReportInputs, check_downstream,
                             early_sections_fit, estimate_peak_bytes, measured_id_bytes,
                             plan_memory)
from segscore.model import (FrozenModel, check_model_channels, cluster_features, load_model,
                            model_dict)
from segscore.output import (PRODUCER, RunDirectory, check_inputs_outside, scan_parts,
                             write_json, write_partitioned, write_table)
from segscore.passes import (count_customers, gather, model_channel_columns,
                             sample_channel_columns)
from segscore.report import build_report, check_report_inputs, write_report
from segscore.report.migration import (previous_not_before, previous_rules_differ,
                                       previous_shares_no_customer)
from segscore.report.sections import OptionalSections
from segscore.schema import InputFile, discover, inspect_inputs, source_reaching
from segscore.scoring import cut_points_of, quantile_scores, score_probabilities
from segscore.segments import label_all, tier_probabilities
from segscore.timing import StageClock

MANIFEST_SCHEMA_VERSION = 1
#: how long a failing run waits for the report's section threads before it removes its
#: temporary directory anyway (seconds): a thread still writing there then fails to, which is
#: harmless, and one an interrupt left waiting on a lock would never finish
SECTIONS_WAIT_S = 5.0


@dataclass
class RunResult:
    """What a run produced (the files of the run directory, docs/output.md, as objects).

    - ``customers``: one row per scored customer (sorted by id), the columns of customers/.
    - ``unscored``: the customers seen but not scored (unscored/).
    - ``rejected``: the rejected rows (rejected/), lazy: with an output directory it scans
      the files written there, read when collected (collect it before a later run replaces
      that directory: it then reads the new run's files or fails); without one it holds the
      rows in memory.
    - ``model``, ``manifest``, ``report``: model.json, manifest.json and report/report.json
      as dicts (``report`` is empty with ``report=False``; ``manifest["warnings"]`` has the
      warnings the CLI prints).
    - ``out_dir``: the run directory, None without ``out``.
    - ``timings``: the stages, as in the manifest.

    Its repr is a summary (the dicts are large)."""

    customers: pl.DataFrame
    unscored: pl.DataFrame
    rejected: pl.LazyFrame
    model: dict
    manifest: dict
    report: dict
    out_dir: Path | None = None
    timings: list[dict] = field(default_factory=list)

    def __repr__(self) -> str:
        """One line: the tables' shapes, as_of, the output directory and the warnings."""
        return (f"RunResult(as_of={self.manifest.get('as_of')!r}, customers="
                f"{_shape(self.customers)}, unscored={_shape(self.unscored)}, "
                f"rejected=LazyFrame({self.manifest.get('rows', {}).get('rejected_total')} "
                f"rows), out_dir={self.out_dir!r}, "
                f"warnings={len(self.manifest.get('warnings', []))})")


def _shape(table: pl.DataFrame) -> str:
    """``table``'s shape as the repr shows it: "DataFrame(2,546 × 26)"."""
    return f"DataFrame({table.height:,} × {table.width})"


def _versions() -> dict:
    import numba
    import pyarrow
    return {"segscore": __version__, "polars": pl.__version__, "numpy": np.__version__,
            "numba": numba.__version__, "pyarrow": pyarrow.__version__,
            "python": platform.python_version()}


def _labels(name: str, values: list[str], index: np.ndarray) -> pl.Series:
    """A categorical (polars Enum) column holding ``values[index[i]]`` for every row."""
    return pl.Series(name, list(values), dtype=pl.Enum(list(values))).gather(index)


def _score_and_label(table: pl.DataFrame, config: RunConfig,
                     frozen: FrozenModel | None) -> tuple[pl.DataFrame, dict[str, np.ndarray], np.ndarray]:
    """Add r/f/m scores, rfm_code, segment, value_tier, lifecycle_stage columns."""
    feats = {c: table.get_column(c).to_numpy() for c in
             ("recency_days", "tenure_days", "frequency", "monetary")}
    q = config.bins
    if frozen:
        cuts_in, tier_bounds_in = frozen.cuts, frozen.tier_bounds
    else:  # every column at once (serial kernels that release the GIL); monetary's score
        # and tier quantiles come from one selection
        probs = score_probabilities(q)
        tier_probs = tier_probabilities(config.value_tier)
        m_probs = probs if tier_probs is None else np.concatenate([probs, tier_probs])
        r_cut, f_cut, m_cut = cut_points_of(
            [(feats["recency_days"], probs), (feats["frequency"], probs),
             (feats["monetary"], m_probs)], numba.get_num_threads())
        cuts_in = {"r": r_cut, "f": f_cut, "m": m_cut[:q - 1]}
        tier_bounds_in = m_cut[q - 1:] if tier_probs is not None else None
    r, r_cut = quantile_scores(feats["recency_days"], q, invert=True, cuts=cuts_in["r"])
    f, f_cut = quantile_scores(feats["frequency"], q, cuts=cuts_in["f"])
    m, m_cut = quantile_scores(feats["monetary"], q, cuts=cuts_in["m"])
    cell = ((r.astype(np.int32) - 1) * q + (f - 1)) * q + (m - 1)
    labels, tier_bounds = label_all(feats, cell, config, tier_bounds_in)
    codes = [f"{a}{b}{c}" for a in range(1, q + 1) for b in range(1, q + 1) for c in range(1, q + 1)]
    scored = table.with_columns(
        pl.Series("r_score", r), pl.Series("f_score", f), pl.Series("m_score", m),
        _labels("rfm_code", codes, cell),
        _labels("segment", config.segments.keys, labels["segment"]),
        _labels("value_tier", [t.key for t in config.value_tier.tiers], labels["value_tier"]),
        _labels("lifecycle_stage", config.lifecycle.keys, labels["lifecycle_stage"]),
    )
    return scored, {"r": r_cut, "f": f_cut, "m": m_cut}, tier_bounds


def run(source: str | Path | list | tuple | Iterator, out: str | Path | None = None, *,
        config: RunConfig | dict | None = None, config_path: str | Path | None = None,
        as_of: str | date | datetime | None = None, model_path: str | Path | None = None,
        overwrite: bool = False, previous: str | Path | None = None,
        attributes: str | Path | None = None, memory_limit_bytes: int | None = None,
        partitions: int | None = None, on_stage=None, report: bool = True) -> RunResult:
    """Score every customer in ``source`` (Parquet file, directory, glob, or a list, tuple
    or iterator of these).

    With ``out``, writes the run directory atomically (SPEC §5); without, only returns
    (``RunResult.rejected`` then holds the rejected rows in memory; with ``out`` it scans
    out/rejected/).
    ``model_path`` re-applies a previous model.json's cut points, tables and clusters.
    ``previous`` (last night's output directory) adds migration to the report;
    ``attributes`` (Parquet, one row per customer id) adds attribute breakdowns.
    ``config``: a RunConfig, or a dict of the TOML's tables (checked as a config file is);
    ``config_path`` without it: the TOML file; with it: the file ``config`` was loaded from
    (only checked to be outside ``out``, which the run replaces).
    ``as_of``: an ISO date (the end of that day) or timestamp, a date, or a datetime (that
    instant; naive is UTC, aware is converted).
    ``memory_limit_bytes`` (default: 80% of the memory available) sets how many customer-hash
    partition passes the rows are read in (see segscore.memory); InputError when no number of
    passes fits. ``partitions`` forces a number of passes.
    ``on_stage(name, "start"|"end")`` is called around each stage (progress display).
    ``report=False`` skips the report stage (no report/; benchmarks/bench_report.py measures
    what the report adds to a run against it); ``previous`` needs a report, and so does
    ``attributes`` unless the clustering uses an ``attr:<column>`` feature.
    Bad input raises InputError (ConfigError for a config) with the CLI's message; an
    argument of a type the run cannot use raises TypeError saying what it takes.
    """
    source = arguments.source_paths(source)
    out, config_path, model_path, previous, attributes = (
        arguments.path_or_none(name, value) for name, value in (
            ("out", out), ("config_path", config_path), ("model_path", model_path),
            ("previous", previous), ("attributes", attributes)))
    arguments.check_others(as_of, overwrite, report, memory_limit_bytes, partitions, on_stage)
    config, config_source = arguments.run_config(config, config_path)
    try:
        return _run(source, out, config, config_path, as_of, model_path, overwrite, previous,
                    attributes, memory_limit_bytes, partitions, on_stage, report)
    except ConfigError as exc:  # a config key the data or as_of makes unusable (window_days)
        raise naming_flag(exc, {}, config_source) from None


def _run(source, out, config, config_path, as_of, model_path, overwrite, previous,
         attributes, memory_limit_bytes, partitions, on_stage, report) -> RunResult:
    """``run`` with its arguments checked (``config`` a RunConfig or None)."""
    started = datetime.now(timezone.utc)
    run_id = uuid.uuid4().hex
    run_dir = RunDirectory(Path(out), overwrite, run_id) if out is not None else None
    if run_dir is not None:  # before --previous / --model read last night's output
        run_dir.restore_previous()
    config = config or load_config(config_path)
    frozen = None
    if model_path is not None:
        config, frozen = load_model(model_path, config)
    cluster_names, where = cluster_features(config, frozen, config_path, model_path)
    clusters_read_attributes = bool(attribute_columns(cluster_names))
    if not report and (previous is not None
                       or (attributes is not None and not clusters_read_attributes)):
        raise ValueError("previous and attributes are report inputs (attributes also feed "
                         "attr:<column> clustering features): they need report=True")
    as_of_dt = parse_as_of(as_of)
    if as_of_dt is not None:
        window_start(as_of_dt, config.window_days)  # a window reaching before year 1: refused now
    check_attribute_features(cluster_names, attributes, where)  # before any data is read
    clock = StageClock(on_stage)

    with clock.stage("discover") as box:
        infos = inspect_inputs(discover(source), config.columns)
        if run_dir is not None:
            _check_out_apart(source, run_dir.out)
            check_inputs_outside(run_dir.out, [i.path for i in infos] + [
                Path(p) for p in (attributes, config_path) if p is not None])
        roles = resolve_roles(infos, config.columns.amount_decimals)
        # a share_ / distinct_categories feature of an input without that column (footers)
        check_input_features(cluster_names, None if roles.channel else (), roles.category,
                             where)
        report_inputs = check_report_inputs(config, previous_dir=previous,
                                            attributes_path=attributes,
                                            id_dtype=roles.id_dtype)
        report_files = report_input_files(previous, attributes)
        plan = _memory_plan(infos, config, memory_limit_bytes, partitions, frozen)
        box["rows"] = sum(i.rows for i in infos)
    if run_dir is not None:
        tmp = run_dir.open()
    migration_path = tmp / "migration.parquet" if run_dir is not None else None
    optional = report and (previous is not None or attributes is not None)
    # When the memory budget holds them that long, the report's optional sections start as
    # soon as the segments exist and run while the clusters are fitted and the output is
    # written, one after another in one thread: those stages keep both cores busy, and a
    # second section thread only adds contention (docs/report.md, Cost); otherwise at the
    # report stage (side by side, or one after another if the budget needs it).
    early: OptionalSections | None = None  # the sections, once started after scoring

    def start_sections(customers: pl.DataFrame, early_fits: bool) -> bool:
        nonlocal early
        if optional and early_fits:
            early = OptionalSections(
                customers, config, previous_dir=previous, attributes_path=attributes,
                migration_path=migration_path, sequential=True)
        return early is not None

    try:
        result, sequential, rejected_parts = _run_stages(
            infos, config, frozen, as_of_dt, plan, report_inputs, clock, start_sections,
            attributes, (cluster_names, where),
            tmp / "rejected" if run_dir is not None else None)
        result.manifest["warnings"] = (
            mixed_amount_types(infos, config.columns)
            + ([] if as_of_dt is not None else future_as_of(result.manifest["as_of"], started))
            + (k_reduced(result.model) if frozen is None else [])  # a model's K is its own
            + (previous_not_before(previous, result.manifest["as_of"])
               + previous_rules_differ(previous, config) if previous is not None else []))
        manifest_extra = {"run_id": run_id, "started_at": started.isoformat(),
                          "memory": {"partitions": plan.partitions,
                                     "estimated_peak_bytes": plan.estimate,
                                     "limit_bytes": plan.limit,
                                     "report_sections": ("one after another"
                                                         if sequential or early is not None
                                                         else "side by side"),
                                     "report_sections_started": (
                                         "after scoring" if early is not None
                                         else "at the report stage")},
                          "model_source": str(Path(model_path).resolve()) if model_path
                          else None,
                          "report_inputs": report_files}
        failure = early.failure() if early is not None else None
        if failure is not None:  # bad --customers / --previous: stop before writing, and
            with clock.stage("report"):  # say so as the report's failure (stderr, --quiet too)
                raise failure
        if run_dir is not None:
            with clock.stage("write", rows=result.customers.height):
                written = _write(tmp, result, config, rejected_parts)
            result.out_dir = run_dir.out
        result.timings = clock.to_list()
        result.manifest.update(manifest_extra, outputs=[], timings=result.timings,
                               finished_at=datetime.now(timezone.utc).isoformat())
        if report:
            with clock.stage("report", rows=result.customers.height):
                result.report, _ = build_report(
                    result, config, previous_dir=previous, attributes_path=attributes,
                    migration_path=migration_path, sequential=sequential,
                    sections=early)
                result.manifest["warnings"] += previous_shares_no_customer(
                    result.report.get("migration"), previous)
                if run_dir is not None:
                    write_report(tmp / "report", result.report)
        result.timings = clock.to_list()
        result.manifest["timings"] = result.timings
        if run_dir is not None:  # every file is written by now (migration.parquet too)
            result.manifest["outputs"] = output_files(tmp, written)
            write_json(tmp / "manifest.json", result.manifest)
            run_dir.commit()
            result.rejected = scan_parts([run_dir.out / f["path"] for f in written
                                          if f["path"].startswith("rejected/")])
            result.manifest["warnings"] += run_dir.warnings  # stderr only: the file is in place
    except BaseException:
        if early is not None:  # their threads may still write into tmp: wait, but not for
            early.close(timeout=SECTIONS_WAIT_S)  # ever (an interrupt can leave one stuck)
        if run_dir is not None:
            run_dir.abort()
        raise
    return result


def future_as_of(as_of: str, now: datetime) -> list[str]:
    """A warning when the as_of derived from the data (ISO text, UTC) falls on a day after
    ``now``'s (UTC): a mis-dated row (2099-…) would otherwise silently make every customer
    look lapsed. SPEC §1 still takes the latest transaction; --as-of overrides it."""
    day = datetime.fromisoformat(as_of).date()
    today = now.astimezone(timezone.utc).date()
    if day <= today:
        return []
    return [f"as_of {day} comes from the latest transaction, which is dated after today "
            f"({today}, UTC): check the input for mis-dated rows, or pass --as-of"]


def k_reduced(model: dict) -> list[str]:
    """A warning when the clustering had fewer distinct feature rows than clusters asked
    for, so K was cut (model.json clusters.selection.k_reduced)."""
    cut = ((model.get("clusters") or {}).get("selection") or {}).get("k_reduced")
    if not cut:
        return []
    return [f"clustering: {cut['asked']} clusters asked for, but the customers have only "
            f"{cut['distinct_feature_rows']} distinct feature rows: K = {cut['k']}"]


def _check_out_apart(source, out: Path) -> None:
    """Refuse an output directory that a source item reads (inside or equal to a source
    directory, or matched by a glob): the next run would read this output as input."""
    item = source_reaching(source, out)
    if item is not None:
        raise InputError(f"{out}: the output directory is inside the input {item}, so the "
                         "next run would read this output as transactions; choose an --out "
                         "outside the input")


@contextmanager
def _numba_threads(n: int | None):
    """Run the block with the calling thread's numba kernels on ``n`` threads (None: as is).

    The clustering runs on one thread while the report's sections run beside it: between
    its many short parallel kernels, numba's OpenMP workers spin waiting for the next one,
    on the cores the sections need. The clusters do not depend on the number of threads.
    (10M customers, both sections, 8–9 alternating runs: the cluster stage used 2.35 CPU-s
    against 2.54, the stages after scoring took 2.65 s against 2.75; medians.)"""
    if n is None:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(min(n, before))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _memory_plan(infos: list[InputFile], config: RunConfig, limit: int | None,
                 partitions: int | None, frozen: FrozenModel | None) -> MemoryPlan:
    """Partitions for the row passes: forced, or the fewest that fit the budget (counting the
    customers when the row-count bound needs more than one pass), with a model's (``frozen``)
    channel columns when it fixes them."""
    roles = resolve_roles(infos, config.columns.amount_decimals)
    model_channels = model_channel_columns(frozen.channels if frozen is not None else None,
                                           roles)
    if partitions is not None:
        if partitions < 1:
            raise InputError(f"partitions must be >= 1, got {partitions}")
        return MemoryPlan(partitions, estimate_peak_bytes(
            infos, partitions, channel_columns=(BASE_CHANNELS if model_channels is None
                                                else model_channels),
            amount_decimals=config.columns.amount_decimals), limit)
    try:  # the count and the channel sample are the first reads of the rows
        return plan_memory(infos, limit,
                           count_customers=lambda: count_customers(infos, config, roles),
                           channel_columns=lambda: sample_channel_columns(infos, config, roles),
                           model_channels=model_channels,
                           amount_decimals=config.columns.amount_decimals)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise explain_read_error(exc, infos) from None


def _run_stages(infos: list[InputFile], config: RunConfig, frozen: FrozenModel | None,
                as_of: datetime | None, plan: MemoryPlan, report_inputs: ReportInputs,
                clock: StageClock, start_sections, attributes,
                cluster_names: tuple[tuple[str, ...], str], rejected_dir: Path | None
                ) -> tuple[RunResult, bool, list[dict]]:
    """The stages up to the output (the RunResult), whether the report's optional
    sections must run one after another to stay within the memory budget, and the rejected
    parts the row pass wrote into ``rejected_dir`` ({path, rows}; none without it).
    ``cluster_names``: the clustering features and how messages name them
    (model.cluster_features).
    ``start_sections(customers, early_fits)`` is called once the segments exist (with
    whether the budget holds the optional sections from then on) and returns whether it
    started them."""
    roles = resolve_roles(infos, config.columns.amount_decimals)
    with clock.stage("ingest_and_aggregate") as box:
        g = gather(infos, config, roles, as_of, plan.partitions,
                   frozen.channels if frozen is not None else None, rejected_dir)
        as_of, channels, rejected, raw = g.as_of, g.channels, g.rejected, g.raw
        rejected_parts = g.rejected_parts
        totals, per_file = reconcile(g.counts, infos)
        del g  # raw is the largest table alive; keep a single reference to it
        if not totals["balanced"] or not all(f["balanced"] for f in per_file):
            raise RuntimeError(f"row reconciliation failed: {per_file}")
        box["rows"] = totals["read"]
        check_exact_sums(raw["rows"], config.max_abs_amount)
        # the share columns are known now: a feature this input lacks stops the run here,
        # before any clustering or writing
        check_input_features(cluster_names[0], channels.columns,
                             "distinct_categories" in raw.columns, cluster_names[1])
        if frozen is not None and frozen.channels is not None:
            purchased = {v for n, v in zip(channels.names, channels.values)
                         if raw[f"_{n}"].sum() > 0}
            check_model_channels(cluster_names[0], channels, purchased, cluster_names[1])
        n_channels = len(channels.columns)
        per_id = measured_id_bytes(raw["customer_id"])
        sequential = check_downstream(raw.height, n_channels, plan.limit, report_inputs,
                                      per_id)
        early_fits = not sequential and early_sections_fit(raw.height, n_channels, plan.limit,
                                                           report_inputs)
    with clock.stage("features") as box:
        unscored = unscored_customers(raw)
        if unscored.height == raw.height:
            raise InputError(no_purchase_message(as_of))
        customers_seen = raw.height
        table = finish(raw, as_of, channels)
        del raw
        box["rows"] = table.height
    with clock.stage("score_and_label", rows=table.height):
        table, cuts, tier_bounds = _score_and_label(table, config, frozen)
    sections_running = start_sections(table, early_fits)
    clusters = frozen.clusters if frozen else None
    cluster_attributes = None
    if clusters is not None or config.clustering.enabled:
        # no cluster stage at all when clustering is off (not one of ~0 s and absurd rows/s)
        with clock.stage("cluster", rows=table.height), _numba_threads(1 if sections_running
                                                                       else None):
            # attr:<column> features join from the attributes file for the fit only
            features, cluster_attributes = join_attribute_features(
                table, cluster_names[0], attributes, config)
            if clusters is not None:
                ids = clusters.assign(features)
            else:
                clusters, ids = fit_assign_clusters(features, config.clustering)
            del features
            names = [p["label"] for p in clusters.profiles]
            table = table.with_columns(pl.Series("cluster", ids, dtype=pl.Int32),
                                       _labels("cluster_label", names, ids))
    table = table.with_columns(pl.lit(as_of).cast(pl.Datetime("us")).alias("as_of"))
    frozen_now = FrozenModel(cuts=cuts, tier_bounds=tier_bounds, clusters=clusters)
    start = window_start(as_of, config.window_days)
    model = model_dict(config, frozen_now, {
        "as_of": as_of.isoformat(), "versions": _versions(),
        "channel_columns": channels.to_dict(),
        "refit": frozen is None})
    manifest = {
        "schema_version": MANIFEST_SCHEMA_VERSION, "producer": PRODUCER, "status": "succeeded",
        "as_of": as_of.isoformat(), "window_start_exclusive": start.isoformat() if start else None,
        "config_hash": config.config_hash(), "versions": model["versions"],
        "inputs": per_file, "rows": totals,
        "customers": {"seen": customers_seen, "scored": table.height,
                      "not_scored": unscored.height},
        "cluster_attributes": cluster_attributes,
    }
    return RunResult(customers=table, unscored=unscored, rejected=rejected, model=model,
                     manifest=manifest, report={}), sequential, rejected_parts


def _write(tmp: Path, result: RunResult, config: RunConfig,
           rejected_parts: list[dict]) -> list[dict]:
    """Write customers (partitioned), unscored and model.json into ``tmp``; the files
    written, with the row pass's rejected parts after unscored (paths relative to ``tmp``)."""
    files = write_partitioned(result.customers, list(config.segments.keys), tmp / "customers")
    files += write_table(result.unscored, tmp / "unscored")
    files += rejected_parts
    write_json(tmp / "model.json", result.model)
    return [{"path": str(Path(f["path"]).relative_to(tmp)), "rows": f["rows"]} for f in files]
