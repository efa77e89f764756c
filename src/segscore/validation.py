"""Input validation without scoring (``segscore validate``) and the memory-budget check.

:func:`validation_report` collects *every* file and schema problem (it does not stop at the
first) and, when the input is usable, the row reconciliation a run would produce
(read = used + rejected by reason + after as_of + outside window, per file and in total),
computed with the same classification as the run (:func:`segscore.ingest.classify`).

:func:`check_memory_budget` refuses a run whose estimated peak memory exceeds a budget, with a
clear InputError instead of an OOM kill half-way through the night. See
:func:`estimate_peak_bytes` for the estimate.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from segscore.config import RunConfig, load_config
from segscore.errors import InputError
from segscore.ingest import (_one_line, classify, default_as_of, reconcile, resolve_roles,
                             scan_inputs)
from segscore.schema import InputFile, column_problems, discover, inspect_file, read_footer

# ---------------------------------------------------------------------------------------------
# memory budget

#: decoded bytes per row of each normalized column kind (polars/arrow in-memory layout)
_FIXED_WIDTH = 8           # Int64 ids, Datetime(us), Float64 amounts, Int64 order ids
_STRING_VIEW = 16          # polars String is a 16-byte view (+ the bytes of longer strings)
_PER_ROW_OVERHEAD = 4 + 1 + 1 + 8   # file index u32, status u8, validity bits, raw-ts view slack
#: working copies of the row table alive at once (scan buffer, casts/filters, group-by input)
ROW_COPIES = 3.0
#: group-by state per customer (hash entry + ~12 aggregate columns of 8 bytes + key)
_PER_CUSTOMER = 160
#: fixed interpreter + numba + polars baseline
_BASELINE = 400 * 2**20


def _row_bytes(info: InputFile) -> float:
    """Decoded bytes per row of one file's normalized columns."""
    per_row = _PER_ROW_OVERHEAD + 2 * _FIXED_WIDTH  # order_ts + amount
    for role in ("customer_id", "order_id", "channel", "category"):
        kind = info.kinds.get(role)
        if kind is None:
            continue
        per_row += _STRING_VIEW if kind in ("string", "bool") or role in ("channel", "category") \
            else _FIXED_WIDTH
    if info.rows:
        per_row += info.string_bytes / info.rows  # payload of the string columns
    return per_row


def estimate_peak_bytes(infos: list[InputFile]) -> int:
    """Estimated peak resident memory of a run over ``infos``, in bytes.

    The single-machine run materializes the normalized row table (customer id, timestamp,
    amount, status and the optional columns) and aggregates it per customer, so:

        peak ≈ baseline + ROW_COPIES × Σ rows × row_bytes + customers × per_customer

    where row_bytes is 8 bytes per fixed-width column, 16 per string view plus the encoded size
    of the string columns (from the Parquet footer), plus ~14 bytes of bookkeeping; customers is
    bounded by the row count (the footer does not know the number of distinct ids), so the
    estimate errs on the high side. It reads footers only (already in ``infos``).
    """
    rows = sum(i.rows for i in infos)
    table = sum(i.rows * _row_bytes(i) for i in infos)
    return int(_BASELINE + ROW_COPIES * table + rows * _PER_CUSTOMER)


def available_memory_bytes() -> int | None:
    """Memory this process may use: the cgroup limit if any, else MemAvailable; None if unknown."""
    candidates = []
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            candidates.append(int(text))
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                candidates.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return min(candidates) if candidates else None


def check_memory_budget(infos: list[InputFile], limit_bytes: int | None) -> int:
    """Raise InputError when the estimated peak memory exceeds ``limit_bytes``.

    ``limit_bytes`` None means "what the machine has" (:func:`available_memory_bytes`); if that
    is unknown too, nothing is checked. Returns the estimate in bytes.
    """
    estimate = estimate_peak_bytes(infos)
    limit = available_memory_bytes() if limit_bytes is None else limit_bytes
    if limit is not None and estimate > limit:
        rows = sum(i.rows for i in infos)
        raise InputError(
            f"memory budget exceeded: {rows:,} input rows in {len(infos)} file(s) need an "
            f"estimated {estimate / 2**30:.2f} GiB at peak, but the budget is "
            f"{limit / 2**30:.2f} GiB; raise the budget, run on a bigger machine, or split "
            f"the input (e.g. a shorter --window-days or fewer files)")
    return estimate


# ---------------------------------------------------------------------------------------------
# validation report

def _deep_check(info: InputFile, names: list[str]) -> str | None:
    """Decode the mapped columns row group by row group: finds corrupt pages the footer hides."""
    try:
        pf = pq.ParquetFile(info.path)
        for g in range(pf.num_row_groups):
            pf.read_row_group(g, columns=names)
    except (OSError, pa.ArrowException, ValueError) as exc:
        return f"{info.path}: corrupt Parquet data ({type(exc).__name__}: {_one_line(exc)})"
    return None


def validation_report(source, config: RunConfig | str | Path | None = None, *,
                      as_of: datetime | None = None, deep: bool = True,
                      memory_limit_bytes: int | None = None) -> dict:
    """Every file/schema problem of ``source`` plus the would-be row reconciliation.

    ``config`` is a RunConfig, a TOML path or None (defaults); a bad config file is itself a
    problem (reported, not raised). ``as_of`` None means the run's default (end of the day of the
    latest valid transaction). ``deep`` also decodes the mapped columns of every file, which
    finds corrupt data pages (costs one read of those columns). With ``memory_limit_bytes``,
    an estimate above it is reported as a problem.

    Returns a JSON-safe dict: ``ok`` (no problem), ``problems`` (list of {path, message}),
    ``files`` (path, bytes, rows, kinds), ``estimated_peak_bytes``, and when ``ok``:
    ``as_of``, ``rows`` (totals as in manifest.json) and ``inputs`` (per file).
    """
    problems: list[dict] = []

    def problem(path, message: str) -> None:
        problems.append({"path": None if path is None else str(path), "message": message})

    if not isinstance(config, RunConfig):
        try:
            config = load_config(config)
        except InputError as exc:
            problem(config, str(exc))
            config = load_config(None)  # keep checking the files with the default columns
    sources = source if isinstance(source, list) else [source]
    paths: list[Path] = []
    for item in sources:
        try:
            paths.extend(discover(item))
        except InputError as exc:
            problem(item, str(exc))
    paths = sorted(set(paths))
    if not paths and not problems:
        problem(None, "no input files")

    infos: list[InputFile] = []
    for path in paths:
        try:
            meta = read_footer(path)
            by_name = {f.name: f.type for f in meta.schema.to_arrow_schema()}
            _, file_problems = column_problems(path, by_name, config.columns)
        except (InputError, OSError, pa.ArrowException) as exc:
            problem(path, str(exc))
            continue
        if file_problems:
            for msg in file_problems:
                problem(path, msg)
            continue
        info = inspect_file(path, config.columns)
        if deep:
            names = [getattr(config.columns, role) for role in info.kinds]
            msg = _deep_check(info, names)
            if msg:
                problem(path, msg)
                continue
        infos.append(info)
    by_kind: dict[str | None, list[InputFile]] = {}
    for info in infos:
        by_kind.setdefault(info.kinds.get("customer_id"), []).append(info)
    if len(by_kind) > 1:
        summary = "; ".join(f"{kind} ids in {len(v)} file(s), e.g. {v[0].path}"
                            for kind, v in sorted(by_kind.items(), key=lambda kv: str(kv[0])))
        problem(None, f"column '{config.columns.customer_id}': files disagree on the id type "
                      f"({summary}); all files must agree")

    report: dict = {
        "ok": False, "problems": problems,
        "files": [{"path": str(i.path), "bytes": i.bytes, "rows": i.rows, "kinds": i.kinds}
                  for i in infos],
        "estimated_peak_bytes": estimate_peak_bytes(infos) if infos else 0,
    }
    if memory_limit_bytes is not None and infos:
        try:
            check_memory_budget(infos, memory_limit_bytes)
        except InputError as exc:
            problem(None, str(exc))
    if problems:
        return report

    roles = resolve_roles(infos)
    id_is_string = roles.id_dtype == pl.String
    try:
        rows = scan_inputs(infos, config.columns, roles)
        if as_of is None:
            as_of = default_as_of(rows, config, id_is_string, infos)
        counts = classify(rows, as_of, config, id_is_string).group_by(["file", "status"]).len() \
            .collect()
    except InputError as exc:
        problem(None, str(exc))
        return report
    except (pl.exceptions.PolarsError, OSError) as exc:
        problem(None, f"cannot read the input rows ({type(exc).__name__}: {_one_line(exc)})")
        return report
    totals, per_file = reconcile(counts, infos)
    report.update(ok=True, as_of=as_of.isoformat(), rows=totals, inputs=per_file)
    return report


def format_report(report: dict) -> str:
    """Plain-text rendering of :func:`validation_report` (for the CLI)."""
    lines = []
    for f in report["files"]:
        lines.append(f"ok {f['path']} · {f['rows']:,} rows · {f['bytes']:,} bytes")
    for p in report["problems"]:
        lines.append(f"problem: {p['message']}")
    if report["ok"]:
        r = report["rows"]
        rejected = ", ".join(f"{k} {v:,}" for k, v in sorted(r["rejected"].items())) or "none"
        lines.append(f"as_of {report['as_of']}: rows read {r['read']:,} = used {r['used']:,} + "
                     f"after as_of {r['after_as_of']:,} + outside window {r['outside_window']:,} "
                     f"+ rejected {r['rejected_total']:,} ({rejected})")
        lines.append(f"estimated peak memory {report['estimated_peak_bytes'] / 2**30:.2f} GiB")
        lines.append("valid")
    else:
        lines.append(f"{len(report['problems'])} problem(s): invalid")
    return "\n".join(lines)


__all__ = ["validation_report", "format_report", "check_memory_budget", "estimate_peak_bytes",
           "available_memory_bytes"]
