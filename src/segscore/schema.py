"""Input discovery and per-file schema checks (SPEC §1). Reads Parquet footers only.

Every problem names the file, the column and what is wrong, as an InputError (exit 2),
before anything is written.
"""

from __future__ import annotations

import base64
import fnmatch
import functools
import glob
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from segscore.config import OPTIONAL_COLUMNS, ColumnMap
from segscore.errors import InputError, not_utf8
from segscore.regular import not_regular

#: dates and millisecond timestamps beyond ±90M days (≈ ±246,000 years) are read as that
#: edge: polars' µs timestamps end at ±292,000 years (the cast would overflow; polars panics
#: formatting the failure) and it prints dates up to ±262,000 years. Either edge is far
#: outside years 1..9999, so such a row is rejected as timestamp_out_of_range.
EDGE_DAYS = 90_000_000


@dataclass(frozen=True)
class InputFile:
    """One Parquet input file: its path, size, row count and the kinds of its mapped columns.

    kinds maps role (customer_id, order_ts, amount, order_id, channel, category) to
    "int", "string", "timestamp", "timestamp_tz", "date", "float", "decimal", or "null" for
    a required column of Arrow type null (all null: every row is rejected for it); roles
    absent from the file, and optional columns of type null, are absent from kinds.
    """

    path: Path
    bytes: int
    rows: int
    kinds: dict[str, str]
    string_bytes: int = 0  # encoded bytes of the mapped string columns (memory estimate)
    id_length: int = 0  # bytes of the longer of the string customer ids' min / max statistics
    #: unit of a timestamp order_ts as stored ("ms", "us" or "ns"; nanoseconds are rounded up
    #: to µs when read, milliseconds clipped to what µs can hold), "" for other kinds
    order_ts_unit: str = ""
    #: a date / ms order_ts whose footer statistics do not rule out values beyond
    #: EDGE_DAYS (read clipped to that edge; costs a little per row, so only then)
    order_ts_clip: bool = False
    #: role → value of the roles a hive directory name ``<column>=<value>`` in the path gives
    #: because the file lacks that column (see path_columns; None: the hive null value)
    path_values: dict[str, str | None] = field(default_factory=dict)


def _parquet_under(path: Path) -> list[Path]:
    """*.parquet files below ``path``, skipping hidden and underscore-prefixed names."""
    return [p for p in path.rglob("*.parquet") if p.is_file() and not any(
        part.startswith((".", "_")) for part in p.relative_to(path).parts)]


def _bookkeeping_match(match: Path, pattern: str) -> bool:
    """Whether a glob ``match`` lies in (or is) a name below the pattern's literal base that
    starts with ``.`` or ``_`` (Spark's ``_temporary/`` attempts, ``_SUCCESS``, ``.crc``) and
    that the pattern does not spell with that character: skipped, as a directory source
    skips it. ``tx/_staging/*.parquet`` and ``tx/_stag*/*`` still read ``_staging``."""
    parts = Path(pattern).parts
    base = next(i for i, part in enumerate(parts) if any(ch in part for ch in "*?["))
    spelled = [part for part in parts[base:] if part.startswith((".", "_"))]
    return any(name.startswith((".", "_"))
               and not any(fnmatch.fnmatchcase(name, part) for part in spelled)
               for name in match.parts[base:])


def discover(source: str | Path | list[str | Path]) -> list[Path]:
    """Parquet files of a file, a directory (recursively, hive layouts included) or a glob.

    Hidden and underscore-prefixed names (``_SUCCESS``, ``.crc``) are skipped. Sorted, each
    file once (see :func:`distinct_files`).
    """
    sources = source if isinstance(source, list) else [source]
    files: set[Path] = set()
    for item in sources:
        text = str(item)
        path = Path(text)
        # a path that exists is that path, even when its name holds glob characters
        if any(ch in text for ch in "*?[") and not path.exists():
            matches = [Path(m) for m in glob.glob(text, recursive=True)]
            if not matches:
                raise InputError(f"{text}: the pattern matches no file")
            # a matched directory is read like a directory; matched bookkeeping files and
            # directories (_SUCCESS, .crc, _temporary/) are skipped as inside directories
            kept = [m for m in matches if not _bookkeeping_match(m, text)]
            for m in kept:
                if m.is_dir():
                    files.update(_parquet_under(m))
                elif m.is_file():
                    files.add(m)
            if not files:
                skipped = (" (it matched only names starting with . or _, which are skipped)"
                           if not kept else "")
                raise InputError(f"{text}: the pattern matches no Parquet file{skipped}")
        elif path.is_dir():
            found = _parquet_under(path)
            if not found:
                raise InputError(f"{path}: the directory holds no .parquet file")
            files.update(found)
        elif path.is_file():
            files.add(path)
        elif problem := not_regular(path):  # a FIFO would block the read, a device not end
            raise InputError(f"{path}: {problem}")
        else:
            raise InputError(f"{path}: no such file or directory")
    for problem in filter(None, map(not_utf8, sorted(files))):
        raise InputError(problem)
    return distinct_files(files)


def distinct_files(paths) -> list[Path]:
    """``paths`` sorted, keeping one name per file: a symlink, a hard link or another
    spelling of a path already listed is the same transactions (read once, not twice)."""
    seen: set[tuple[int, int]] = set()
    out = []
    for p in sorted(paths):
        st = p.stat()
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            out.append(p)
    return out


def _glob_reaches(rel: tuple[str, ...], rest: tuple[str, ...]) -> bool:
    """Whether glob components ``rest`` (below the pattern's literal base) can match the
    path ``rel`` (below the same base), an ancestor read as a directory, or a path under it.
    Conservative: ``**`` reaches everything below it."""
    for i, part in enumerate(rest):
        if part == "**" or i == len(rel):
            return True
        if not fnmatch.fnmatchcase(rel[i], part):
            return False
    return True


def source_reaching(source: str | Path | list[str | Path], directory: Path) -> str | None:
    """The item of ``source`` (as given) that would read files inside ``directory``: a
    directory holding it (or equal to it), or a glob that can match it, one of its parents
    or a file in it. None when no item does."""
    target = directory.resolve()
    for item in source if isinstance(source, list) else [source]:
        text = str(item)
        parts = Path(text).parts
        magic = [i for i, part in enumerate(parts) if any(ch in part for ch in "*?[")]
        if magic:
            base = Path(*parts[:magic[0]]).resolve() if magic[0] else Path.cwd()
            if target.is_relative_to(base) and _glob_reaches(target.relative_to(base).parts,
                                                             parts[magic[0]:]):
                return text
        elif Path(text).is_dir() and target.is_relative_to(Path(text).resolve()):
            return text
    return None


def no_rows_problem(infos: list[InputFile]) -> str | None:
    """The problem when the input files hold no row at all (naming the first five), or None."""
    if any(i.rows for i in infos):
        return None
    names = ", ".join(str(i.path) for i in infos[:5])
    more = f" and {len(infos) - 5} more" if len(infos) > 5 else ""
    return f"the input has no rows: every file is empty (0 rows): {names}{more}"


#: the widest decimal polars reads (a Parquet decimal of more digits is Arrow's decimal256)
MAX_DECIMAL_DIGITS = 38


def _kind(dtype: pa.DataType) -> str | None:
    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    if pa.types.is_integer(dtype):
        return "int"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return "string"
    if pa.types.is_timestamp(dtype):
        return "timestamp_tz" if dtype.tz else "timestamp"
    if pa.types.is_date(dtype):
        return "date"
    if pa.types.is_floating(dtype):
        return "float"
    if pa.types.is_decimal(dtype) and dtype.precision <= MAX_DECIMAL_DIGITS:
        return "decimal"
    if pa.types.is_boolean(dtype):
        return "bool"
    return None


ACCEPTED = {
    "customer_id": {"int", "string"},
    "order_ts": {"timestamp", "timestamp_tz", "date", "string"},
    "amount": {"float", "decimal", "int"},
    "order_id": {"int", "string"},
    "channel": {"string", "int", "bool"},
    "category": {"string", "int", "bool"},
}


#: roles a hive directory name ``<column>=<value>`` may supply for the files below it that
#: lack the column: the same value for every row of such a file (string kind)
PATH_ROLES = ("order_ts", "channel", "category")
#: the value Spark and Hive write for a null partition key
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


def path_columns(path: Path, names, columns: ColumnMap) -> dict[str, str | None]:
    """role → value for each PATH_ROLES column that the file ``path`` lacks (``names``: its
    columns) and a hive directory name ``<column>=<value>`` of its path gives (percent-decoded,
    as writers encode them; HIVE_NULL is null; the innermost name wins). The names are those
    of the resolved path, so every spelling of the file (relative, through a symlink) gives
    the same values."""
    hive: dict[str, str | None] = {}
    for part in path.resolve().parent.parts:
        key, eq, value = part.partition("=")
        if eq and key:
            value = unquote(value)
            hive[unquote(key)] = None if value == HIVE_NULL else value
    return {role: hive[getattr(columns, role)] for role in PATH_ROLES
            if getattr(columns, role) in hive and getattr(columns, role) not in names}


def read_footer(path: Path) -> pq.FileMetaData:
    """The Parquet footer of ``path``, or an InputError naming the file."""
    try:
        if path.stat().st_size == 0:
            raise InputError(f"{path}: empty file (0 bytes), not a Parquet file")
        return pq.read_metadata(path)
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None


def _stored_types(meta: pq.FileMetaData) -> dict[str, pa.DataType]:
    """name → type of the top-level fields of the Arrow schema the writer stored in the
    footer (key ARROW:schema); empty without one, or when it does not decode."""
    raw = (meta.metadata or {}).get(b"ARROW:schema")
    if raw is None:
        return {}
    try:
        stored = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(raw)))
    except (ValueError, pa.ArrowException):
        return {}
    return {f.name: f.type for f in stored}


def reader_schema(meta: pq.FileMetaData) -> pa.Schema:
    """The file's Arrow schema as polars reads it: pyarrow's, except for INT96 timestamp
    columns (Spark's, pyarrow's flavor="spark"). pyarrow reads those as naive ns; polars
    takes the unit (seconds as ms) and the zone of the stored Arrow schema, which holds the
    only record of a zone. pa.ArrowException when the schema cannot be read."""
    schema = meta.schema.to_arrow_schema()
    columns = [meta.schema.column(i) for i in range(len(meta.schema))]
    int96 = {c.path for c in columns if c.physical_type == "INT96"}
    stored = _stored_types(meta) if int96 else {}
    for i, f in enumerate(schema):
        t = stored.get(f.name)
        if f.name in int96 and t is not None and pa.types.is_timestamp(t):
            schema = schema.set(i, f.with_type(pa.timestamp("ms" if t.unit == "s" else t.unit,
                                                             t.tz)))
    return schema


def column_problems(path: Path, by_name: dict[str, pa.DataType], columns: ColumnMap,
                    duplicated: set[str] = frozenset()) -> tuple[dict[str, str], list[str]]:
    """(kinds of the mapped columns found, every problem with them: missing or wrong type).
    Columns named in ``duplicated`` are reported apart and skipped here."""
    kinds: dict[str, str] = {}
    problems: list[str] = []
    for role, accepted in ACCEPTED.items():
        name = getattr(columns, role)
        if name in duplicated or not name:  # "": an optional role not to read
            continue
        if name not in by_name:
            if role in OPTIONAL_COLUMNS and role not in columns.explicit:
                continue
            problems.append(f"{path}: column '{name}' ({role}) is missing; "
                            f"the file has: {', '.join(by_name) or 'no columns'}")
            continue
        if pa.types.is_null(by_name[name]):  # all null (pandas writes an all-None column so)
            if role not in OPTIONAL_COLUMNS:  # read as null values of the input's type
                kinds[role] = "null"
            continue  # an optional one: as if it were absent
        kind = _kind(by_name[name])
        if kind not in accepted:
            shown = [f"decimal (at most {MAX_DECIMAL_DIGITS} digits)" if k == "decimal" else k
                     for k in sorted(accepted)]
            problems.append(f"{path}: column '{name}' ({role}) has type {by_name[name]}, "
                            f"expected one of: {', '.join(shown)}")
            continue
        kinds[role] = kind
    return kinds, problems


#: fixed-offset zone names the reader (polars) takes besides the IANA names: whole hours
_WHOLE_HOUR_OFFSET = re.compile(r"[+-]\d{2}:00")


@functools.lru_cache(maxsize=None)  # available_timezones() walks the zone database
def readable_zone(tz: str) -> bool:
    """Whether polars reads a timestamp column with time zone ``tz``: an IANA name or a
    whole-hour offset ("+02:00"). Others ("+05:30", "Z") make its reader panic on the whole
    file's schema, whichever columns are read."""
    import zoneinfo

    return tz in zoneinfo.available_timezones() or bool(_WHOLE_HOUR_OFFSET.fullmatch(tz))


def zone_problems(path: Path, schema: pa.Schema) -> list[str]:
    """A problem per timestamp column (any column, mapped or not) whose zone polars cannot
    read."""
    return [f"{path}: column '{f.name}' has time zone '{f.type.tz}', which the Parquet reader "
            "(polars) cannot read; write its timestamps in UTC or with a named zone "
            "(e.g. 'Asia/Kolkata')" for f in schema
            if pa.types.is_timestamp(f.type) and f.type.tz and not readable_zone(f.type.tz)]


def _duplicated(names: list[str]) -> dict[str, int]:
    """Column names that occur more than once, with their counts."""
    return {n: k for n, k in Counter(names).items() if k > 1}


def file_problems(path: Path, meta: pq.FileMetaData,
                  columns: ColumnMap) -> tuple[dict[str, str], list[str]]:
    """(kinds of the mapped columns, every problem of the file's schema: duplicate names,
    missing or mistyped mapped columns). InputError when the schema cannot be read."""
    try:
        arrow_schema = reader_schema(meta)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: unsupported Parquet schema ({exc})") from None
    twice = _duplicated(arrow_schema.names)
    by_name = {f.name: f.type for f in arrow_schema if f.name not in twice}
    for role in path_columns(path, arrow_schema.names, columns):
        by_name[getattr(columns, role)] = pa.string()
    kinds, problems = column_problems(path, by_name, columns, set(twice))
    for role in ("customer_id", "order_id"):  # read as int64 (ingest.resolve_roles)
        name = getattr(columns, role)
        if role in kinds and _value_type(by_name[name]) == pa.uint64():
            top = uint64_max(path, meta, name)
            if top > INT64_MAX:
                problems.append(f"{path}: column '{name}' ({role}) holds uint64 ids up to "
                                f"{top}, beyond int64 (at most {INT64_MAX}); store the ids "
                                "as int64 or string")
    return kinds, [f"{path}: column '{n}' appears {k} times; column names must be unique"
                   for n, k in twice.items()] + problems + zone_problems(path, arrow_schema)


INT64_MAX = 2**63 - 1


def _value_type(dtype: pa.DataType) -> pa.DataType:
    """The type of the values (a dictionary's value type)."""
    return dtype.value_type if pa.types.is_dictionary(dtype) else dtype


def uint64_max(path: Path, meta: pq.FileMetaData, name: str) -> int:
    """The largest value of the uint64 column ``name``: from the row groups' statistics, or,
    when a row group has none, by reading the column (0 when it holds no value)."""
    tops = []
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        col = next(rg.column(c) for c in range(rg.num_columns)
                   if rg.column(c).path_in_schema == name)
        if col.statistics is None or not col.statistics.has_min_max:
            try:
                values = pq.read_table(path, columns=[name]).column(0).cast(pa.uint64())
            except (OSError, pa.ArrowException) as exc:
                raise InputError(f"{path}: column '{name}' cannot be read ({exc})") from None
            return pc.max(values).as_py() or 0
        tops.append(col.statistics.max)
    return max(tops, default=0)


def _string_bytes(meta: pq.FileMetaData, names: set[str]) -> int:
    """Encoded (uncompressed) bytes of the named columns: a floor for their decoded size."""
    total = 0
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        for c in range(rg.num_columns):
            col = rg.column(c)
            if col.path_in_schema in names:
                total += col.total_uncompressed_size
    return total


def _statistics(meta: pq.FileMetaData, name: str):
    """Each row group's statistics of column ``name``, in row group order: None where the
    row group has none, or none a reader can decode."""
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        for c in range(rg.num_columns):
            col = rg.column(c)
            if col.path_in_schema != name:
                continue
            try:
                stats = col.statistics
                yield stats if stats is not None and stats.has_min_max else None
            except (ValueError, pa.ArrowException):
                yield None


def _longest_value(meta: pq.FileMetaData, name: str) -> int:
    """Bytes of the longest min / max value of a string column in the row groups'
    statistics (0 without statistics): a cheap estimate of the values' length (ids of one
    format share a length; a longer value between the extremes is not seen)."""
    longest = 0
    for stats in _statistics(meta, name):
        try:
            values = (stats.min, stats.max) if stats is not None else ()
        except (ValueError, pa.ArrowException):  # a value a reader cannot decode
            values = ()
        for v in values:
            longest = max(longest, len(v.encode() if isinstance(v, str) else v))
    return longest


def _may_pass(meta: pq.FileMetaData, name: str, edge: int) -> bool:
    """Whether the integer-backed column ``name`` may hold a value beyond ±``edge`` (its
    physical unit): a row group's statistics say so, or some row group has none."""
    for stats in _statistics(meta, name):
        low, high = (stats.min_raw, stats.max_raw) if stats is not None else (None, None)
        if not isinstance(low, int) or not isinstance(high, int) or max(-low, high) > edge:
            return True
    return False


def inspect_file(path: Path, columns: ColumnMap) -> InputFile:
    """Read one file's footer and check the mapped columns exist with accepted types."""
    meta = read_footer(path)
    kinds, problems = file_problems(path, meta, columns)
    if problems:
        raise InputError(problems[0] if len(problems) == 1 else
                         f"{len(problems)} problems:\n  " + "\n  ".join(problems))
    arrow_schema = reader_schema(meta)
    from_path = path_columns(path, arrow_schema.names, columns)
    strings = {getattr(columns, role) for role, kind in kinds.items()
               if kind == "string" and role not in from_path}
    ts_type = (pa.string() if "order_ts" in from_path
               else arrow_schema.field(columns.order_ts).type)
    unit = ts_type.unit if pa.types.is_timestamp(ts_type) else ""
    per_day = {"date": 1, "ms": 86_400_000}.get("date" if kinds["order_ts"] == "date" else unit)
    path_bytes = meta.num_rows * sum(len((v or "").encode()) for v in from_path.values())
    return InputFile(path=path, bytes=path.stat().st_size, rows=meta.num_rows, kinds=kinds,
                     order_ts_unit=unit,
                     order_ts_clip=bool(per_day) and _may_pass(meta, columns.order_ts,
                                                               EDGE_DAYS * per_day),
                     string_bytes=(_string_bytes(meta, strings) if strings else 0) + path_bytes,
                     id_length=(_longest_value(meta, columns.customer_id)
                                if kinds.get("customer_id") == "string" else 0),
                     path_values=from_path)


def id_typed(infos: list[InputFile]) -> list[InputFile]:
    """The files whose customer id type counts (all of them must agree on it): those with
    rows and an id column of a type. A file of 0 rows, or whose ids are all null (Arrow type
    null), holds no id to disagree with; its ids are read as the others' type."""
    return [i for i in infos if i.rows and i.kinds["customer_id"] != "null"]


def inspect_inputs(files: list[Path], columns: ColumnMap) -> list[InputFile]:
    """Inspect every file and check that they agree on the kind of id (``id_typed``) and
    that they hold rows."""
    if not files:
        raise InputError("no input files")
    infos = [inspect_file(f, columns) for f in files]
    typed = id_typed(infos)
    for info in typed[1:]:
        a, b = typed[0].kinds["customer_id"], info.kinds["customer_id"]
        if a != b:
            raise InputError(f"{info.path}: column '{columns.customer_id}' holds {b} ids but "
                             f"{typed[0].path} holds {a} ids; all files must agree")
    problem = no_rows_problem(infos)
    if problem:
        raise InputError(problem)
    return infos
