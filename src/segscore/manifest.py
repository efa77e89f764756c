"""The file lists of manifest.json (SPEC §5) besides the transactions: the report's inputs
(``--customers``, ``--previous``) and every file a run writes. Sizes and row counts come
from the file system and Parquet footers; no data is read."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from segscore import jsontext
from segscore.schema import discover, read_footer


def _entry(path: Path, files: list[Path]) -> dict:
    """{path, bytes, rows} of ``files`` (a footer that cannot be read: InputError naming it)."""
    return {"path": str(path.resolve()), "bytes": sum(f.stat().st_size for f in files),
            "rows": sum(read_footer(f).num_rows for f in files)}


def report_inputs(previous_dir=None, attributes_path=None) -> dict:
    """``{"attributes": {path, bytes, rows} | None, "previous": {path, bytes, rows, run_id}
    | None}``; paths absolute and resolved. The previous run's bytes and rows are those of
    its customers/ dataset (what the migration reads), its run_id from its manifest."""
    attributes = previous = None
    if attributes_path is not None:
        path = Path(attributes_path)
        attributes = _entry(path, discover(path))
    if previous_dir is not None:
        path = Path(previous_dir)
        manifest = jsontext.loads((path / "manifest.json").read_text("utf-8"))
        previous = {**_entry(path, discover(path / "customers")),
                    "run_id": manifest.get("run_id")}
    return {"attributes": attributes, "previous": previous}


def output_files(root: Path, written: list[dict]) -> list[dict]:
    """Every file under ``root`` but its manifest.json: ``{path (relative to root), bytes,
    rows}`` (rows None for files that are not Parquet). The data files come first, in
    ``written`` order (``{path, rows}``, paths relative to root), then the others by path."""
    rows = {f["path"]: f["rows"] for f in written}
    others = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                    if p.is_file() and p != root / "manifest.json"
                    and p.relative_to(root).as_posix() not in rows)
    listed = []
    for rel in [f["path"] for f in written] + others:
        path = root / rel
        n = rows.get(rel)
        if n is None and path.suffix == ".parquet":
            n = pq.read_metadata(path).num_rows
        listed.append({"path": rel, "bytes": path.stat().st_size, "rows": n})
    return listed
