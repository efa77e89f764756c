"""``segscore report OUT``: check OUT/report/report.json is a segscore report, render
index.html again and keep the manifest's entry for it true (docs/report.md)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import UndefinedError

from segscore import jsontext
from segscore.errors import InputError
from segscore.output import cannot_write, refresh_output_entry, replace_text
from segscore.regular import read_text
from segscore.report.html import render_html
from segscore.report.profile import REPORT_SCHEMA_VERSION

#: top-level fields every report since schema version 1 has, and their JSON types
REQUIRED = {"schema_version": int, "as_of": str, "customers": dict, "segments": list,
            "value_tiers": list, "lifecycle_stages": list, "cut_points": dict,
            "data_quality": dict}
#: fields later versions added, each ``null`` or of this type when present
OPTIONAL = {"totals": dict, "channels": list, "clusters": list, "score_ranges": dict,
            "rf_grid": dict, "concentration": dict, "attributes": dict, "migration": dict,
            "performance": dict}
PROFILE_LISTS = ("segments", "value_tiers", "lifecycle_stages", "clusters")
_JSON_NAMES = {dict: "object", list: "array", str: "string", int: "integer"}


def report_problem(data) -> str | None:
    """Why ``data`` (parsed report.json) is not a report this version can render, or None."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        return "missing " + ", ".join(missing)
    version = data["schema_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return f"schema_version {version!r}"
    if version > REPORT_SCHEMA_VERSION:
        return (f"schema_version {version} is newer than this segscore renders "
                f"({REPORT_SCHEMA_VERSION})")
    for key, kind in {**REQUIRED, **OPTIONAL}.items():
        value = data.get(key)
        if (key in REQUIRED or value is not None) and not isinstance(value, kind):
            return f"{key} is not a JSON {_JSON_NAMES[kind]}"
    for key in PROFILE_LISTS:
        if not all(isinstance(p, dict) for p in data.get(key) or []):
            return f"{key} holds something other than objects"
    return None


def rerender(out_dir: Path) -> Path:
    """Write ``out_dir``/report/index.html from its report.json; returns its path. InputError
    when report.json cannot be read, is not a segscore report or the page cannot be written."""
    path = Path(out_dir) / "report" / "report.json"
    try:
        data = jsontext.loads(read_text(path, "utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read report.json: {exc}") from None
    problem = report_problem(data)
    if problem is None:
        try:
            html = render_html(data)
        except (UndefinedError, KeyError) as exc:  # a field the page reads into is missing
            problem = f"a field the page needs is missing: {exc}"
        except IndexError as exc:  # e.g. an R×F grid with fewer rows than its q
            problem = f"a list is shorter than the page needs: {exc}"
        except (TypeError, ValueError, AttributeError) as exc:
            # a field deeper down has the wrong type (hand-edited, or not segscore's)
            problem = f"a field does not have the type the page needs: {exc}"
        except OverflowError:  # an integer no float64 holds (JSON integers have no limit)
            problem = "a number is too large for a float64 (above about 1.8e308)"
    if problem is not None:
        raise InputError(f"{path}: not a segscore report ({problem})")
    index = path.parent / "index.html"
    try:
        replace_text(index, html)
        refresh_output_entry(Path(out_dir), "report/index.html")
    except OSError as exc:
        raise cannot_write(index, exc) from None
    return index
