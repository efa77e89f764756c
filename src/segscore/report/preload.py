"""The report's ``--customers`` / ``--previous`` inputs read, their ids sorted and checked in
one background thread while the row pass runs: that work needs nothing from tonight, and the
row pass leaves part of the CPU idle (it waits on reads and merges).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import polars as pl

from segscore.report.attributes import load_attributes
from segscore.report.migration import load_previous


def _idle_priority() -> None:
    import os
    import threading
    try:
        os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        pass


class InputPreload:
    """Loads the attributes file (``load_attributes``) and then last night's output
    (``load_previous``) in one worker thread from construction. ``id_dtype``: tonight's
    customer_id dtype. A load that fails is raised by the accessor, as loading later would."""

    def __init__(self, config, id_dtype: pl.DataType, *, previous_dir=None,
                 attributes_path=None):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-preload",
                                        initializer=_idle_priority)
        self._attributes: Future | None = None
        self._previous: Future | None = None
        if attributes_path is not None:
            self._attributes = self._pool.submit(load_attributes, attributes_path, id_dtype,
                                                 config)
        if previous_dir is not None:
            self._previous = self._pool.submit(load_previous, previous_dir, id_dtype)

    def attributes(self):
        """The LoadedAttributes (waits), or None when not asked for."""
        return self._attributes.result() if self._attributes is not None else None

    def previous(self):
        """The LoadedPrevious (waits), or None when not asked for."""
        return self._previous.result() if self._previous is not None else None

    def raise_failed(self) -> None:
        """Raise what a load that has already finished raised (does not wait), so bad input
        stops the run before the stages that would be wasted."""
        for job in (self._attributes, self._previous):
            if job is not None and job.done() and job.exception() is not None:
                raise job.exception()

    def close(self) -> None:
        """Wait for the thread (a failing run calls it before it cleans up); idempotent."""
        self._pool.shutdown(wait=True, cancel_futures=True)
