"""Run directory writing (SPEC §5): everything goes into a temporary sibling directory, is
fsynced, then swapped into place in one atomic step. A failed or killed run never leaves a
partial directory at the output path, and never destroys the previous output.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import shutil
import signal
import uuid
from pathlib import Path

import polars as pl

from segscore import jsontext, stopping
from segscore.errors import InputError
from segscore.regular import read_text

TMP_TAG = ".segscore-tmp-"
OLD_TAG = ".segscore-old-"
PRODUCER = "segscore"
ROWS_PER_PART = 1_000_000
LOCK_TAG = ".segscore-lock"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
#: test hook (tests/test_crash.py): SIGKILL this process when it reaches the named point of a
#: run directory's life: "opened", "fsynced", "swapped", "moved_old". Unset in production.
CRASH_ENV = "SEGSCORE_CRASH_AT"
#: test hook: "0" disables renameat2(RENAME_EXCHANGE) to exercise the two-rename fallback.
EXCHANGE_ENV = "SEGSCORE_RENAME_EXCHANGE"


def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def is_segscore_output(path: Path) -> bool:
    """True when ``path`` holds a manifest.json written by segscore."""
    try:
        manifest = jsontext.loads(read_text(path / "manifest.json", "utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("producer") == PRODUCER


def _siblings(out: Path, tag: str) -> list[Path]:
    parent = out.parent
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.name.startswith(f".{out.name}{tag}"))


def _recover(out: Path) -> list[Path]:
    """Put back a previous output a killed run moved away; the leftovers still to remove."""
    olds = _siblings(out, OLD_TAG)
    if olds and not out.exists():
        os.rename(olds[-1], out)
        olds = olds[:-1]
    return _siblings(out, TMP_TAG) + olds


def recover_and_clean(out: Path) -> None:
    """Undo what a killed run left: restore a moved-away previous output, drop temp dirs."""
    for leftover in _recover(out):
        shutil.rmtree(leftover, ignore_errors=True)


def _crashed_siblings(out: Path) -> list[Path]:
    """The other outputs in ``out``'s directory that a killed run left a temporary or a
    moved-away directory for (``.<name>.segscore-tmp-…``, ``.<name>.segscore-old-…``)."""
    names = set()
    for entry in out.parent.iterdir():
        for tag in (TMP_TAG, OLD_TAG):
            if entry.name.startswith(".") and tag in entry.name:
                names.add(entry.name[1:entry.name.rindex(tag)])
    return [out.parent / name for name in sorted(names - {out.name}) if name]


def clean_siblings(out: Path, own_tmp: Path) -> None:
    """Recover every other output of ``out``'s directory that no run is writing (its lock
    can be taken): a scheduler that writes ``out/<date>`` each night never runs into a killed
    night's directory again, so that night's temporary directory stayed. Under the other's
    lock its leftovers are only renamed, to names of this run's temporary directory
    ``own_tmp`` (removed by this run, or with it by the next run into ``out``), so a run
    starting on that output meanwhile is not refused for long. Best effort: what cannot be
    cleaned is left for a later run."""
    trash = []
    for sibling in _crashed_siblings(out):
        directory = RunDirectory(sibling, overwrite=False)
        try:
            directory._lock()
        except (InputError, OSError):  # a run is writing it (or the OS refuses): not ours
            continue
        try:
            for leftover in _recover(directory.out):
                trash.append(own_tmp.with_name(f"{own_tmp.name}.trash-{len(trash)}"))
                os.rename(leftover, trash[-1])
        except OSError:
            pass
        finally:
            directory._unlock()
    for path in trash:
        shutil.rmtree(path, ignore_errors=True)


#: errnos by which the OS refuses a path itself (bad usage: exit 2); a full disk or quota is
#: the machine's state (exit 1, cli._guard says so) and anything else may be a bug
_PATH_REFUSED = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST,
                 errno.EISDIR, errno.ENAMETOOLONG,
                 errno.ENOENT}  # a directory that takes no new entry (/proc)


def cannot_write(path: Path, exc: OSError) -> BaseException:
    """The error to raise for ``exc`` met writing at ``path``: when the OS refuses the path (a
    parent that is a file, a read-only file system, no permission) an InputError naming the
    path and the reason; otherwise ``exc`` itself (a full disk, or a bug)."""
    if exc.errno not in _PATH_REFUSED:
        return exc
    reason = exc.strerror or str(exc)
    if exc.filename and str(exc.filename) != str(path):
        reason = f"{reason}: {exc.filename}"
    existing = next((p for p in Path(path).parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        reason = f"{existing} is a file, not a directory"
    return InputError(f"{path}: cannot write the output there ({reason})")


def check_target(out: Path, overwrite: bool) -> None:
    """Refuse before any work if ``out`` exists and may not be replaced, or is a symbolic
    link (a run replaces the directory as a whole, so it would replace the link, not what it
    points to; a dangling link cannot be written through either)."""
    if out.is_symlink():
        raise InputError(f"{out}: the output path is a symbolic link (to {os.readlink(out)}); "
                         "give the directory itself")
    if out.exists():
        if not out.is_dir():
            raise InputError(f"{out}: output path exists and is not a directory")
        if not any(out.iterdir()):  # empty (made by a scheduler's mkdir -p): like no directory
            return
        if not overwrite:
            raise InputError(f"{out}: output directory exists; pass --overwrite "
                             "(overwrite=True in Python) to replace it")
        if not is_segscore_output(out):
            raise InputError(f"{out}: refusing to overwrite a directory that is not a segscore "
                             "output (no segscore manifest.json)")


def _fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    if os.environ.get(EXCHANGE_ENV) == "0":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


class RunDirectory:
    """A temporary sibling of ``out`` that becomes ``out`` on :meth:`commit`."""

    def __init__(self, out: Path, overwrite: bool, run_id: str | None = None):
        self.out = out.absolute()
        self.overwrite = overwrite
        self.run_id = run_id or uuid.uuid4().hex
        self.tmp = self.out.parent / f".{self.out.name}{TMP_TAG}{self.run_id}"
        self._lock_fd: int | None = None
        self._lock_path: Path | None = None
        self._made_parents: list[Path] = []  # directories open() created, deepest first
        self.warnings: list[str] = []  # what commit could not tidy after the swap

    def _lock(self) -> None:
        """Exclusive advisory lock on a hidden sibling file, held until commit/abort (released
        by the kernel if the process dies): a second run on the same ``out`` is refused instead
        of deleting the first one's temp dir as a 'leftover'. The file is removed on unlock;
        a lock taken on a file that was unlinked meanwhile is dropped and retaken."""
        path = self.out.parent / f".{self.out.name}{LOCK_TAG}"
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise InputError(f"{self.out}: another segscore run is writing this output "
                                     "directory right now") from None
                raise
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._lock_fd, self._lock_path = fd, path
                return
            os.close(fd)

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            try:
                os.unlink(self._lock_path)
            except FileNotFoundError:
                pass
            os.close(self._lock_fd)
            self._lock_fd = None

    def restore_previous(self) -> None:
        """Put back a previous output that a run killed between its two fallback renames left
        moved away (``recover_and_clean``, under the lock), before anything reads last night's
        output (``--previous OUT``, ``--model OUT/model.json``); nothing to do otherwise. A
        lock the OS refuses is left for ``open`` to report."""
        if not _siblings(self.out, OLD_TAG):
            return
        try:
            self._lock()
        except OSError:
            return
        try:
            recover_and_clean(self.out)
        finally:
            self._unlock()

    def open(self) -> Path:
        """Lock, recover/clean leftovers, check the target, create the temp dir; returns it.
        Parent directories it creates are removed again on failure or ``abort``. A path the
        OS refuses (read-only, a parent that is a file…) is an InputError (cannot_write)."""
        parent = self.out.parent
        while not parent.exists():
            self._made_parents.append(parent)
            parent = parent.parent
        try:
            try:
                self.out.parent.mkdir(parents=True, exist_ok=True)
                self._lock()
            except OSError as exc:
                raise cannot_write(self.out, exc) from None
        except BaseException:
            self._remove_made_parents()
            raise
        try:
            recover_and_clean(self.out)  # its failures are not the path's: not mapped
            clean_siblings(self.out, self.tmp)
            try:
                check_target(self.out, self.overwrite)
                self.tmp.mkdir()
            except OSError as exc:
                raise cannot_write(self.out, exc) from None
        except BaseException:
            self._unlock()
            self._remove_made_parents()
            raise
        _crash_point("opened")
        return self.tmp

    def commit(self) -> None:
        """fsync everything, then put the temp dir at ``out`` (replacing an old output)."""
        try:
            self._commit()
        finally:
            self._unlock()

    def _commit(self) -> None:
        _fsync_tree(self.tmp)
        _crash_point("fsynced")
        stopping.check()  # a stop a library swallowed: the old output stays
        if self.out.exists():
            check_target(self.out, self.overwrite)
            if _exchange(self.tmp, self.out):
                _fsync_dir(self.out.parent)
                _crash_point("swapped")
                self._discard(self.tmp)
                return
            old = self.out.parent / f".{self.out.name}{OLD_TAG}{self.run_id}"
            os.rename(self.out, old)
            _crash_point("moved_old")
            os.rename(self.tmp, self.out)
            _fsync_dir(self.out.parent)
            _crash_point("swapped")
            self._discard(old)
        else:
            os.rename(self.tmp, self.out)
            _fsync_dir(self.out.parent)

    def _discard(self, old: Path) -> None:
        """Remove the replaced output, moved to ``old`` by the swap. The run has succeeded by
        then, so a failure (a read-only subdirectory in it, a file held open on NFS) leaves
        ``old`` for the next run's clean-up and a warning in ``warnings``, not an error."""
        try:
            shutil.rmtree(old)
        except OSError as exc:
            self.warnings.append(
                f"{self.out}: replaced, but the previous output moved to {old} could not be "
                f"removed ({exc.strerror or exc}: {exc.filename}); the next run tries again, "
                "or remove it by hand")

    def abort(self) -> None:
        """Remove the temp dir and any parent directory ``open`` created; the previous output
        is untouched."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._unlock()
        self._remove_made_parents()

    def _remove_made_parents(self) -> None:
        """rmdir the parents ``open`` created, deepest first, while they are empty."""
        for path in self._made_parents:
            try:
                path.rmdir()
            except OSError:  # not empty (something else wrote there) or already gone
                break
        self._made_parents = []


def _json_text(data: dict) -> str:
    """Pretty, key-sorted JSON with a trailing newline (stable bytes for equal content)."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: Path, data: dict) -> None:
    """``data`` as pretty, key-sorted JSON at ``path`` (inside a run's temp directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_json_text(data), "utf-8")


def replace_text(path: Path, text: str) -> None:
    """Replace ``path`` atomically: write a hidden sibling, fsync it, rename it over."""
    tmp = path.parent / f".{path.name}{TMP_TAG}{uuid.uuid4().hex}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def refresh_output_entry(out: Path, rel: str) -> None:
    """Set the ``bytes`` of file ``rel``'s entry in the outputs of out/manifest.json to its
    size now (``segscore report`` renders index.html again). A manifest without the entry
    (not segscore's, or older) is left as it is."""
    if not is_segscore_output(out):
        return
    manifest = jsontext.loads((out / "manifest.json").read_text("utf-8"))
    size = (out / rel).stat().st_size
    entry = next((e for e in manifest.get("outputs") or []
                  if isinstance(e, dict) and e.get("path") == rel), None)
    if entry is not None and entry.get("bytes") != size:
        entry["bytes"] = size
        replace_text(out / "manifest.json", _json_text(manifest))


class PartWriter:
    """A table that arrives in pieces, in order, written as directory/part-NNNNN.parquet:
    ROWS_PER_PART rows a part (the last one fewer; one part of 0 rows when no row arrives),
    snappy, with statistics. A part's bytes do not depend on how the rows were cut into
    pieces; at most one part's rows plus the last piece are held."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.pending: list[pl.DataFrame] = []
        self.pending_rows = 0
        self.written: list[dict] = []  # {path, rows} of the parts so far

    def add(self, piece: pl.DataFrame) -> None:
        """Append ``piece``'s rows; write every part they complete."""
        self.pending.append(piece)
        self.pending_rows += piece.height
        while self.pending_rows >= ROWS_PER_PART:
            rows = pl.concat(self.pending)
            self._write(rows.slice(0, ROWS_PER_PART))
            rest = rows.slice(ROWS_PER_PART)
            self.pending, self.pending_rows = [rest], rest.height

    def close(self, empty: pl.DataFrame) -> list[dict]:
        """Write the last part (``empty``, a 0-row frame of the table's columns, when no row
        arrived at all); returns every part written, in order."""
        if self.pending_rows or not self.written:
            self._write(pl.concat(self.pending) if self.pending else empty)
        self.pending, self.pending_rows = [], 0
        return self.written

    def _write(self, rows: pl.DataFrame) -> None:
        path = self.directory / f"part-{len(self.written):05d}.parquet"
        # one chunk: polars writes a table of several chunks with other bytes
        rows.rechunk().write_parquet(path, compression="snappy", statistics=True)
        self.written.append({"path": str(path), "rows": rows.height})


def check_inputs_outside(out: Path, paths: list[Path]) -> None:
    """InputError for an input file (transactions, --customers, --config) inside the existing
    output directory ``out``: replacing the output (--overwrite) would delete it."""
    if not out.exists():
        return
    root = out.resolve()
    for path in paths:
        if Path(path).resolve().is_relative_to(root):
            raise InputError(f"{path}: this input is inside the output directory {out}; "
                             "replacing that output (--overwrite) would delete it; move it out "
                             f"of {out} or choose another --out")


def write_partitioned(customers: pl.DataFrame, keys: list[str], root: Path) -> list[dict]:
    """Hive layout root/segment=<key>/part-NNNNN.parquet (at most ROWS_PER_PART rows each, rows
    in table order); ``customers`` has a ``segment`` column of keys (dropped from the files: it
    lives in the path). Returns the files written, in ``keys`` order then part order.

    One polars partitioned sink writes every segment: no per-segment filtered copy of the
    table is made, and the files are the same whatever the thread count."""
    written: dict[str, int] = {}

    def part_path(args) -> str:
        key = args.partition_keys["segment"][0]
        return f"segment={key}/part-{args.index_in_partition:05d}.parquet"

    def record(args) -> None:
        written.update((Path(p.path).relative_to(root).as_posix(), p.num_rows) for p in args.paths)

    customers.lazy().sink_parquet(
        pl.PartitionBy(root, key="segment", include_key=False, max_rows_per_file=ROWS_PER_PART,
                       file_path_provider=part_path),
        compression="snappy", statistics=True, mkdir=True, sinked_paths_callback=record)
    rank = {key: i for i, key in enumerate(keys)}
    order = sorted(written, key=lambda rel: (rank[rel.split("/")[0][len("segment="):]], rel))
    return [{"path": str(root / rel), "rows": written[rel]} for rel in order]


def write_table(frame: pl.DataFrame, directory: Path) -> list[dict]:
    """A (possibly empty) table as directory/part-NNNNN.parquet (see PartWriter)."""
    writer = PartWriter(directory)
    writer.add(frame)
    return writer.close(frame.head(0))


def scan_parts(paths: list) -> pl.LazyFrame:
    """The Parquet files ``paths`` as one LazyFrame, rows in that order (each path taken as
    it is: no glob, no hive keys from directory names such as ``date=2026-06-30/``)."""
    return pl.scan_parquet(paths, hive_partitioning=False, glob=False)
