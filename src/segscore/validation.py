"""Input validation without scoring (``segscore validate``) and the memory-budget check.

:func:`validation_report` collects *every* file and schema problem (it does not stop at the
first) and, when the input is usable, the row reconciliation a run would produce
(read = used + rejected by reason + after as_of + outside window, per file and in total),
computed with the same classification as the run (:func:`segscore.ingest.classify`).

It also reports the memory plan (see :mod:`segscore.memory`): how many customer-hash
partitions a run would use under the budget, or the problem when no plan fits; and, with
the rows read, whether the run's check after its row pass would refuse them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pyarrow as pa

from segscore.cluster_attributes import check_attribute_features
from segscore.clusters import check_input_features
from segscore.report import check_report_inputs
from segscore.report.attributes import check_attribute_rows
from segscore.report.migration import (check_previous_rows, previous_not_before,
                                       previous_rules_differ)
from segscore.config import OPTIONAL_COLUMNS, RunConfig, columns_only, load_config
from segscore.errors import InputError, naming_flag, one_line
from segscore.features import ChannelColumns, channel_column_count, channel_columns
from segscore.ingest import (USED, Roles, _one_line, amount_units, check_exact_sums, classify,
                             default_as_of, exact_rows_limit, find_corrupt_file,
                             mixed_amount_types, no_purchase_message, reconcile, resolve_roles,
                             scan_inputs)
from segscore import address_space
from segscore.memory import ReportInputs, check_downstream, id_bytes, id_payload, plan_memory
from segscore.model import (check_model_channels, cluster_features, flag_conflicts,
                            load_model)
from segscore.passes import count_customers, model_channel_columns, sample_channel_columns
from segscore.schema import (InputFile, discover, distinct_files, file_problems, id_typed,
                             inspect_file, no_rows_problem, read_footer)

# ---------------------------------------------------------------------------------------------
# validation report

def _check_cluster_features(names: tuple[str, ...], where: str, roles: Roles,
                            classified: pl.LazyFrame, purchase: pl.Expr,
                            frozen: ChannelColumns | None) -> None:
    """InputError, as the run would raise, when a cluster feature in ``names`` (named by
    ``where``) is a share or category column this input lacks (ranks the channels only if one
    is asked for and no model fixes them: ``frozen``), or the share of a model channel that
    no row with ``purchase`` has."""
    channels = ChannelColumns()
    if roles.channel and frozen is not None:
        channels = frozen
    elif roles.channel and any(n.startswith("share_") for n in names):
        channels = channel_columns(classified.filter(pl.col("status") == USED))
    check_input_features(names, channels.columns, bool(roles.category), where)
    if roles.channel and frozen is not None and set(names) & set(frozen.names):
        purchased = (classified.filter(purchase & pl.col("channel").is_in(frozen.values))
                     .select(pl.col("channel").unique()).collect()["channel"])
        check_model_channels(names, frozen, set(purchased), where)


def _downstream_query(used: pl.LazyFrame, roles: Roles,
                      frozen: ChannelColumns | None) -> pl.LazyFrame:
    """One row over the ``used`` rows: the customers, the bytes of their string ids and what
    the channel columns need (tonight's distinct channels, or whether a channel is not among
    the model's ``frozen`` ones), for :func:`_check_downstream`."""
    ids, channel = pl.col("customer_id"), pl.col("channel")
    aggs = [ids.n_unique().alias("customers")]
    if roles.id_dtype == pl.String:
        aggs.append(id_payload(ids.unique()).alias("payload"))
    if roles.channel and frozen is None:
        aggs.append(channel.drop_nulls().n_unique().alias("channels"))
    elif roles.channel:
        aggs.append((channel.is_not_null() & ~channel.is_in(frozen.values)).any()
                    .alias("uncoded"))
    return used.select(aggs)


def _check_downstream(found: dict, roles: Roles, frozen: ChannelColumns | None,
                      limit: int, report_inputs: ReportInputs) -> None:
    """InputError, as the run raises it right after its row pass (memory.check_downstream),
    when the per-customer tables or the report stage will not fit ``limit``: with the
    customers ``found`` by :func:`_downstream_query`, the channel columns the run would
    have (tonight's ranking, or the model's ``frozen`` ones plus share_other for a channel
    they lack) and the bytes of their string ids."""
    n_channels = (0 if not roles.channel else
                  channel_column_count(found["channels"]) if frozen is None else
                  len(frozen.names) + (frozen.other or bool(found["uncoded"])))
    per_id = id_bytes(True, found["payload"]) if "payload" in found else 0.0
    check_downstream(found["customers"], n_channels, limit, report_inputs, per_id)


def _corrupt_files(infos: list[InputFile], config: RunConfig) -> list[tuple[Path, str]]:
    """(file, message) of every file with a data page the run's read would fail on: its
    mapped columns decoded row group by row group (``find_corrupt_file`` names the row
    group, as the run's message does)."""
    found = []
    for info in infos:
        names = [getattr(config.columns, role) for role in info.kinds
                 if role not in info.path_values]
        corrupt = find_corrupt_file([info.path], names)
        if corrupt is not None:
            found.append((info.path, str(corrupt)))
    return found


def _read_problems(exc: BaseException, infos: list[InputFile],
                   config: RunConfig) -> list[tuple[Path | None, str]]:
    """The problems to report when reading the rows failed with ``exc``: every corrupt file
    (:func:`_corrupt_files`), else the read error itself."""
    return _corrupt_files(infos, config) or [
        (None, f"cannot read the input rows ({type(exc).__name__}: {_one_line(exc)})")]


def _drop_problem_files(report: dict) -> None:
    """Take the files a problem names out of ``report["files"]`` (the files found usable)."""
    named = {p["path"] for p in report["problems"]}
    report["files"] = [f for f in report["files"] if f["path"] not in named]


def validation_report(source, config: RunConfig | str | Path | None = None, *,
                      as_of: datetime | None = None, deep: bool = True,
                      memory_limit_bytes: int | None = None, attributes=None,
                      overrides: tuple[dict, dict] | None = None, previous=None,
                      model_path=None, model_flags: dict | None = None) -> dict:
    """Every file/schema problem of ``source`` plus the would-be row reconciliation.

    ``config`` is a RunConfig, a TOML path or None (defaults); a bad config file is itself a
    problem (reported, not raised). ``as_of`` None means the run's default (end of the day of the
    latest valid transaction). ``deep`` also decodes every column the run reads, which finds
    corrupt data pages: within the read of the rows when they are read (a read error is
    then explained file by file), else file by file. The memory plan under
    ``memory_limit_bytes`` (None = the run's default budget) is reported; no plan is a problem.
    With the rows read, the run's check right after its row pass is made too, under the
    plan's budget (memory.check_downstream: the customers, channel columns and id bytes of
    the used rows, the ``attributes`` / ``previous`` sizes); its refusal is a problem.
    ``overrides``: (config overrides, the flags that set them) as ``load_config`` takes them
    (the CLI's ``--window-days``), applied to a TOML path or the defaults.
    ``attributes``: the attributes file a run would get (``--customers``), checked as a run
    checks it before its row pass (an id column that casts to the transactions' ids, and the
    columns the ``attr:<column>`` clustering features name) and, with ``deep``, as it reads
    it (every id casts, none twice, the columns decode); a clustering feature
    ``attr:<column>`` needs one. ``previous`` (last night's output, ``--previous``) is
    checked as a run checks it before its row pass and, with ``deep``, as the migration
    reads it (the columns it reads decode, ids cast, none twice). ``model_path``
    (``--model``) is checked as a run checks it before its row pass; the model's tables
    then replace the config's, as in a run. ``model_flags``: the flags a
    model fixes as given ("--bins": 4, …; model.flag_conflicts), each that differs from the
    model a problem, as a run refuses it.

    Returns a JSON-safe dict: ``ok`` (no problem), ``problems`` (list of {path, message}),
    ``warnings`` (the texts a run would warn with about these inputs, as in manifest.json:
    a ``previous`` whose as_of is not before tonight's; no problem, so ``ok`` is unchanged),
    ``files`` (path, bytes, rows, kinds), ``estimated_peak_bytes``, ``partitions`` and
    ``memory_limit_bytes`` (the memory plan, upper-bound estimate with one customer per row,
    and the budget it was made for: None when none is known; ``memory_limit_default``: the
    run's default, 80% of the memory available; ``memory_limit_address_space``: what a
    finite ``ulimit -v`` leaves, smaller than that), ``attributes`` /
    ``previous`` ({path, rows_checked, ids_cast: False when tonight's id type was unknown})
    when that input passed, and when the rows were read (no file, config, model or memory
    plan problem): ``as_of``, ``rows`` (totals as in manifest.json) and ``inputs`` (per
    file). ``attributes`` and ``previous`` are checked whatever else is wrong; tonight's id
    type, which their ids must cast to, is known only when every transactions file could be
    read (else their ids are checked as stored: decoding, duplicates, not the cast).
    """
    problems: list[dict] = []

    def problem(path, message: str) -> None:
        entry = {"path": None if path is None else str(path), "message": message}
        if entry not in problems:  # (an unreadable --customers: its features and its ids)
            problems.append(entry)

    config_source = config if isinstance(config, (str, Path)) else None
    if not isinstance(config, RunConfig):
        try:
            config = load_config(config, *(overrides or ()))
        except InputError as exc:
            problem(config, str(exc))
            config = columns_only(config)  # keep checking the files, under its [columns]
    frozen = None
    if model_path is not None:
        try:
            config, frozen = load_model(model_path, config)
            for message in flag_conflicts(model_path, model_flags or {}):
                problem(model_path, message)
        except InputError as exc:
            problem(model_path, str(exc))
    cluster_names, where = cluster_features(config, frozen, config_source, model_path)
    try:
        check_attribute_features(cluster_names, attributes, where)
    except InputError as exc:
        problem(attributes, str(exc))
    before_files = len(problems)
    sources = source if isinstance(source, list) else [source]
    paths: list[Path] = []
    for item in sources:
        try:
            paths.extend(discover(item))
        except InputError as exc:
            problem(item, str(exc))
    paths = distinct_files(paths)
    if not paths and len(problems) == before_files:
        problem(None, "no input files")

    infos: list[InputFile] = []
    for path in paths:
        try:
            _, found = file_problems(path, read_footer(path), config.columns)
        except (InputError, OSError, pa.ArrowException) as exc:
            problem(path, str(exc))
            continue
        if found:
            for msg in found:
                problem(path, msg)
            continue
        infos.append(inspect_file(path, config.columns))
    by_kind: dict[str, list[InputFile]] = {}
    for info in id_typed(infos):
        by_kind.setdefault(info.kinds["customer_id"], []).append(info)
    if len(by_kind) > 1:
        summary = "; ".join(f"{kind} ids in {len(v)} file(s), e.g. {v[0].path}"
                            for kind, v in sorted(by_kind.items(), key=lambda kv: str(kv[0])))
        problem(None, f"column '{config.columns.customer_id}': files disagree on the id type "
                      f"({summary}); all files must agree")
    empty = no_rows_problem(infos) if infos and len(problems) == before_files else None
    if empty:
        problem(None, empty)
    # tonight's id type, which the --customers / --previous ids must cast to: known when
    # every transactions file could be read (with a bad config, under its [columns] or the
    # default names), else None: their ids are then checked as stored
    id_dtype = resolve_roles(infos).id_dtype if len(problems) == before_files else None

    report: dict = {
        "ok": False, "problems": problems, "warnings": [],
        "files": [{"path": str(i.path), "bytes": i.bytes, "rows": i.rows, "kinds": i.kinds,
                   **({"from_path": i.path_values} if i.path_values else {})}
                  for i in infos],
        "estimated_peak_bytes": 0, "partitions": None, "memory_limit_bytes": None,
        "memory_limit_default": memory_limit_bytes is None,
        "memory_limit_address_space": False,
    }
    limit = None
    if infos:
        roles = resolve_roles(infos, config.columns.amount_decimals)
        try:
            # counting reads the id column, sampling the channels a first row group: good
            # files only (as the run: its plan looks at the channels when 17 might not fit)
            count = None if problems else (
                lambda: count_customers(infos, config, roles))
            sample = None if problems else (
                lambda: sample_channel_columns(infos, config, roles))
            plan = plan_memory(infos, memory_limit_bytes, count_customers=count,
                               channel_columns=sample,
                               model_channels=model_channel_columns(
                                   frozen.channels if frozen is not None else None,
                                   roles),
                               amount_decimals=config.columns.amount_decimals)
            limit = plan.limit
            report.update(estimated_peak_bytes=plan.estimate, partitions=plan.partitions,
                          memory_limit_bytes=limit,
                          memory_limit_address_space=address_space.is_binding(limit))
        except InputError as exc:
            problem(None, str(exc))
        except (pl.exceptions.PolarsError, OSError, pa.ArrowException) as exc:
            for path, message in _read_problems(exc, infos, config):
                problem(path, message)
    # the rows are read (reconciled) only when the files, config, model and plan are fine;
    # else, with ``deep``, every file's pages are decoded now (reading the rows decodes
    # them on a clean night)
    rows_readable = not problems
    if deep and not rows_readable:
        for path, message in _corrupt_files(infos, config):
            problem(path, message)
        _drop_problem_files(report)

    # --customers and --previous whatever else is wrong (the run would refuse them too)
    def checked(path) -> dict:
        return {"path": str(path), "rows_checked": bool(deep), "ids_cast": id_dtype is not None}

    sizes = {"attributes": ReportInputs(), "previous": ReportInputs()}  # for the budget
    if attributes is not None:  # the run's up-front checks (id column, its type, footers),
        try:  # and with ``deep`` those of its read (columns decode, ids cast, no id twice)
            sizes["attributes"] = check_report_inputs(config, attributes_path=attributes,
                                                      id_dtype=id_dtype)
            if deep:
                check_attribute_rows(attributes, id_dtype, config)
        except InputError as exc:
            problem(attributes, str(exc))
        if all(p["path"] != str(attributes) for p in problems):  # (nor its features)
            report["attributes"] = checked(attributes)
    if previous is not None:  # the same: up front, and with ``deep`` what its read finds
        try:  # (the columns the migration reads decode, ids cast, no id twice)
            sizes["previous"] = check_report_inputs(config, previous_dir=previous,
                                                    id_dtype=id_dtype)
            if deep:
                check_previous_rows(Path(previous), id_dtype)
        except InputError as exc:
            problem(previous, str(exc))
        else:
            report["previous"] = checked(previous)
    if not rows_readable:
        return report

    roles = resolve_roles(infos, config.columns.amount_decimals)
    id_is_string = roles.id_dtype == pl.String
    try:
        rows = scan_inputs(infos, config, roles)
        if as_of is None:  # (a read error: see below)
            as_of = default_as_of(rows, config, id_is_string, [], roles.units)
        classified = classify(rows, as_of, config, id_is_string, roles.units)
        # a purchase: amount > 0 in exact units, rounded half to even as the row pass does
        # (as accumulate.prepare takes them: the units column, else amount_units of the float)
        units = pl.col("units") if roles.units else amount_units(pl.col("amount"), "float")
        purchase = (pl.col("status") == USED) & (units > 0)
        frozen_channels = frozen.channels if frozen is not None else None
        # one read of the rows: the counts; the customers for the check after the row pass;
        # with ``deep``, the columns the run reads that the counts do not need, decoded
        queries = {"counts": classified.group_by(["file", "status"]).agg(
            pl.len(), purchase.sum().alias("purchases"))}
        if limit is not None:
            queries["downstream"] = _downstream_query(
                classified.filter(pl.col("status") == USED), roles, frozen_channels)
        optional = [c for c in OPTIONAL_COLUMNS if c in rows.collect_schema()]
        if deep and optional:
            queries["decoded"] = rows.select(pl.col(optional).null_count())
        found = dict(zip(queries, pl.collect_all(list(queries.values()))))
        counts = found["counts"]
        _check_cluster_features(cluster_names, where, roles, classified, purchase,
                                frozen_channels)
        used = int(counts.filter(pl.col("status") == USED)["len"].sum())
        if used > exact_rows_limit(config.max_abs_amount):  # else no customer can have that many
            per_customer = (classified.filter(pl.col("status") == USED)
                            .group_by("customer_id").len().collect()["len"])
            check_exact_sums(per_customer, config.max_abs_amount)
        try:  # what the run refuses right after its row pass; the rows still reconcile
            if limit is not None:
                _check_downstream(found["downstream"].row(0, named=True), roles, frozen_channels,
                                  limit, ReportInputs(sizes["attributes"].attribute_rows,
                                                      sizes["attributes"].attribute_row_bytes,
                                                      sizes["previous"].previous_customers))
        except InputError as exc:
            problem(None, str(exc))
    except InputError as exc:  # e.g. a --window-days reaching before the year 1
        problem(None, str(naming_flag(exc, overrides[1] if overrides else {},
                                      config_source)))
        return report
    except (pl.exceptions.PolarsError, OSError, pa.ArrowException) as exc:
        for path, message in _read_problems(exc, infos, config):
            problem(path, message)
        _drop_problem_files(report)
        return report
    totals, per_file = reconcile(counts.drop("purchases"), infos)
    report.update(as_of=as_of.isoformat(), rows=totals, inputs=per_file)
    report["warnings"] += mixed_amount_types(infos, config.columns)
    if previous is not None:
        report["warnings"] += (previous_not_before(previous, report["as_of"])
                               + previous_rules_differ(previous, config))
    if not counts["purchases"].sum():  # what the run refuses after its row pass
        problem(None, no_purchase_message(as_of))
    report.update(ok=not problems)
    return report


def format_report(report: dict) -> str:
    """Plain-text rendering of :func:`validation_report` (for the CLI)."""
    lines = []
    for f in report["files"]:
        from_path = "".join(f" · {role} = {'null' if v is None else repr(v)} from the path"
                            for role, v in f.get("from_path", {}).items())
        lines.append(f"ok {one_line(f['path'])} · {f['rows']:,} rows · {f['bytes']:,} bytes"
                     + from_path)
    for key, what in (("attributes", "customer attributes"), ("previous", "previous output")):
        checked = report.get(key)
        if checked:
            lines.append(f"ok {what} {one_line(checked['path'])} · "
                         + ("every row checked" if checked["rows_checked"] else
                            "schema and footers")
                         + ("" if checked["ids_cast"] else " · ids as stored: tonight's id "
                            "type is unknown while a transactions file has a problem"))
    for p in report["problems"]:
        lines.append(f"problem: {one_line(p['message'])}")
    if report["ok"]:
        r = report["rows"]
        rejected = ", ".join(f"{k} {v:,}" for k, v in sorted(r["rejected"].items())) or "none"
        lines.append(f"as_of {report['as_of']}: rows read {r['read']:,} = used {r['used']:,} + "
                     f"after as_of {r['after_as_of']:,} + outside window {r['outside_window']:,} "
                     f"+ rejected {r['rejected_total']:,} ({rejected})")
        limit = report["memory_limit_bytes"]
        lines.append(f"estimated peak memory {report['estimated_peak_bytes'] / 2**30:.2f} GiB "
                     f"in {report['partitions']} customer-hash partition pass(es), budget "
                     + ("unknown (no limit)" if limit is None else f"{limit / 2**30:.2f} GiB")
                     + (f" ({address_space.source()})" if report["memory_limit_address_space"]
                        else " (80% of the memory available)" if report["memory_limit_default"]
                        and limit is not None else ""))
        lines.append("valid")
    else:
        lines.append(f"{len(report['problems'])} problem(s): invalid")
    return "\n".join(lines)

