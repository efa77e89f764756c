"""The report's optional sections (``--customers`` attribute breakdowns, ``--previous``
migration) in worker threads. They need only tonight's ids, segments, tiers, lifecycle
stages and net spend, so a run starts them as soon as those exist and they run while the
clusters are fitted and the output is written; the profiles join them at the end.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

import polars as pl

from segscore.report.attributes import attribute_breakdowns
from segscore.report.migration import migration_report, write_migration

# the customer columns the sections read
COLUMNS = ("customer_id", "segment", "value_tier", "lifecycle_stage", "monetary")


def timed(times: dict, name: str, fn, *args):
    """fn(*args), recording its wall and thread CPU time in times[name]."""
    t0, c0 = time.perf_counter(), time.thread_time()
    try:
        return fn(*args)
    finally:
        times[name] = {"wall_s": round(time.perf_counter() - t0, 4),
                       "thread_cpu_s": round(time.thread_time() - c0, 4)}


def _migration(c: pl.DataFrame, previous_dir, config, path) -> tuple[dict, pl.DataFrame]:
    """migration_report, and its table written to ``path`` unless None."""
    section, table = migration_report(c, previous_dir, config)
    if path is not None:
        write_migration(table, path)
    return section, table


class OptionalSections:
    """The attributes and migration sections, running in worker threads from construction
    (two side by side, or one after another when ``sequential``) over ``customers`` (the
    scored customers, sorted by id, with at least COLUMNS). ``migration_path``: where the
    migration section writes migration.parquet as soon as its table is ready (None: not
    written). ``times`` gets each section's wall and thread CPU seconds."""

    def __init__(self, customers: pl.DataFrame, config, *, previous_dir=None,
                 attributes_path=None, migration_path: Path | None = None,
                 sequential: bool = False):
        self.times: dict[str, dict] = {}
        self._pool = None
        self._attributes: Future | None = None
        self._migration: Future | None = None
        if previous_dir is None and attributes_path is None:
            return
        c = customers.select(COLUMNS)
        self._pool = ThreadPoolExecutor(max_workers=1 if sequential else 2,
                                        thread_name_prefix="report-section")
        if attributes_path is not None:
            self._attributes = self._pool.submit(timed, self.times, "attributes",
                                                 attribute_breakdowns, c, attributes_path,
                                                 config)
        if previous_dir is not None:
            self._migration = self._pool.submit(timed, self.times, "migration", _migration, c,
                                                previous_dir, config, migration_path)

    def results(self) -> tuple[dict | None, dict | None, pl.DataFrame | None]:
        """(attributes section, migration section, migration table), None for a section not
        asked for. Waits for the sections; raises what a section raised (the caller closes)."""
        attributes = self._attributes.result() if self._attributes is not None else None
        section, table = (self._migration.result() if self._migration is not None
                          else (None, None))
        return attributes, section, table

    def failure(self) -> BaseException | None:
        """What a section that has already finished raised, if one did (does not wait), so a
        run can stop before the stages that would be wasted."""
        for job in (self._attributes, self._migration):
            if job is not None and job.done() and job.exception() is not None:
                return job.exception()
        return None

    def close(self, timeout: float | None = None) -> None:
        """Wait for the threads to finish (nothing more is started), at most ``timeout``
        seconds (None: as long as they take). Idempotent. A run that fails
        elsewhere calls it, with a timeout, before removing its temporary directory: after an
        interrupt a thread may wait forever on a lock the main thread held."""
        if self._pool is None:
            return
        jobs = [j for j in (self._attributes, self._migration) if j is not None]
        self._pool.shutdown(wait=False, cancel_futures=True)
        if not wait(jobs, timeout=timeout).not_done:
            self._pool.shutdown(wait=True)
            self._pool = None
