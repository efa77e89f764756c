"""Parsing the JSON files segscore reads back (model.json, manifest.json, report.json)."""

from __future__ import annotations

import json
from typing import Any


def loads(text: str) -> Any:
    """``json.loads``, with arrays or objects nested too deeply for the parser as a
    ValueError, like any other invalid JSON (it was a RecursionError: an internal error)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("invalid JSON: arrays or objects nested too deeply") from None
