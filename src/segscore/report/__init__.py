"""Profiling reports: numbers (profile.py and its helpers attributes.py, migration.py,
perf.py) → report.json, and report.json → index.html (html.py, charts.py, templates/)."""

from segscore.report.html import render_html, write_report
from segscore.report.profile import REPORT_SCHEMA_VERSION, build_report, check_report_inputs

__all__ = ["REPORT_SCHEMA_VERSION", "build_report", "check_report_inputs", "render_html",
           "write_report"]
