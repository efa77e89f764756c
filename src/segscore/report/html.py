"""report.json → one self-contained, offline index.html (jinja2, every value autoescaped).

No network: no external scripts, styles, fonts or images; a Content-Security-Policy meta tag
(default-src 'none') makes the browser refuse any request the page might still try. Charts are
inline SVG built from charts.py geometry; tables sort with a few lines of inline JS. Data is
only ever inserted through autoescaped expressions (never ``|safe``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from jinja2 import (Environment, FileSystemBytecodeCache, PackageLoader, Undefined,
                    select_autoescape)

from segscore.report.charts import MISSING, all_charts

CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "img-src data:")


class _Missing(Undefined):
    """A field report.json does not have (an older report, or an edited one) prints as
    MISSING, so it is not taken for a null (blank) value; reading a field of it still raises
    UndefinedError."""

    def __str__(self) -> str:
        return MISSING


def _text(x) -> str:
    """A non-number as text ('' for None, MISSING for a field report.json lacks)."""
    return "" if x is None else str(x)


def _pct(x, digits: int = 1) -> str:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return _text(x)
    if not math.isfinite(x):
        return ""
    return f"{100 * x:.{digits}f}%"


def _num(x, digits: int = 2) -> str:
    """An int with thousands separators; a float always with ``digits`` decimals, whole or
    not (a float column reads "484.00" beside "413.50", never "484"): each template column
    passes one ``digits``, so its cells share one format."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return _text(x)
    if isinstance(x, float) and not math.isfinite(x):
        return ""
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:,.{digits}f}"


def _sortkey(x) -> str:
    """data-v attribute: a number as text (sorting numerically), else ''."""
    if isinstance(x, bool) or x is None:
        return ""
    if isinstance(x, (int, float)) and math.isfinite(x):
        return repr(x)
    return ""


class _QuietCache(FileSystemBytecodeCache):
    """A cache that can fail (full or read-only disk) without failing the report."""

    def load_bytecode(self, bucket):
        try:
            super().load_bytecode(bucket)
        except Exception:  # pragma: no cover
            bucket.reset()

    def dump_bytecode(self, bucket):
        try:
            super().dump_bytecode(bucket)
        except Exception:  # pragma: no cover
            pass


def _bytecode_cache():
    """Jinja's per-user bytecode cache in the temp dir (it checks the directory's owner and
    mode); keyed by the template source's checksum, so an edited template recompiles.
    Saves compiling the template (≈ 0.1 s) in every run's process."""
    try:
        return _QuietCache()
    except Exception:  # pragma: no cover - unwritable/unsafe temp dir: just compile
        return None


_ENV = Environment(loader=PackageLoader("segscore.report", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   bytecode_cache=_bytecode_cache(), undefined=_Missing)
_ENV.filters.update(pct=_pct, num=_num, sortkey=_sortkey)


def render_html(report: dict) -> str:
    """The HTML page of a report dict (as written to report.json)."""
    return _ENV.get_template("report.html.j2").render(r=report, charts=all_charts(report),
                                                       csp=CSP)


def write_report(directory: Path, report: dict) -> None:
    """Write directory/report.json and directory/index.html."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    (directory / "index.html").write_text(render_html(report), "utf-8")
