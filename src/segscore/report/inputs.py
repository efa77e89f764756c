"""The report's extra inputs, loaded ahead of the report stage.

Last night's customers (``--previous``) and the attributes file (``--customers``) do not
depend on tonight's results: one background thread reads and id-sorts them from the start of
a run, while the run's own stages work (the row pass leaves part of a core idle). The report
sections take them when they start. A load error surfaces there, as if the section had
loaded the input itself, and the run fails with nothing written.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import polars as pl

from segscore.report.attributes import Attributes, load_attributes
from segscore.report.migration import Previous, load_previous


class ReportInputs:
    """Background loads of the previous output and the attributes file (either may be None).

    ``id_dtype``: the run's customer id dtype (Int64 or String), which both are cast to.
    Last night's output loads first: the migration section is the report's longest."""

    def __init__(self, config, id_dtype: pl.DataType, *, previous_dir=None,
                 attributes_path=None):
        self._pool = ThreadPoolExecutor(max_workers=1,
                                        thread_name_prefix="segscore-report-inputs")
        self._previous: Future | None = (
            self._pool.submit(load_previous, previous_dir, id_dtype)
            if previous_dir is not None else None)
        self._attributes: Future | None = (
            self._pool.submit(load_attributes, attributes_path, id_dtype, config)
            if attributes_path is not None else None)

    def previous(self) -> Previous | None:
        """The loaded previous output (waits for it); raises what loading raised."""
        return self._previous.result() if self._previous is not None else None

    def attributes(self) -> Attributes | None:
        """The loaded attributes file (waits for it); raises what loading raised."""
        return self._attributes.result() if self._attributes is not None else None

    def close(self) -> None:
        """Drop loads not started yet; a load under way finishes in its thread."""
        self._pool.shutdown(wait=False, cancel_futures=True)
