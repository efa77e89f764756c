"""report.json → one self-contained, offline index.html (jinja2, every value autoescaped)."""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

_ENV = Environment(loader=PackageLoader("segscore.report", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True))


def render_html(report: dict) -> str:
    """The HTML page of a report dict."""
    return _ENV.get_template("report.html.j2").render(r=report)


def write_report(directory: Path, report: dict) -> None:
    """Write directory/report.json and directory/index.html."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(
        json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n", "utf-8")
    (directory / "index.html").write_text(render_html(report), "utf-8")
