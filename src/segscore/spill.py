"""The rejected rows of the row passes, kept on disk while the passes run (so a night whose
rows are mostly unusable holds no more of them in memory than a clean one).

Each batch's rejected rows (classified: with ``file``, ``source_row`` and ``status``) are
buffered; once the buffer holds more than SPILL_BUFFER_BYTES it is written to a Parquet
spill file, one row group per batch. A clean night's few rejected rows never fill it, so they
are never written. At the end :meth:`RejectedSpill.batches` gives them back one batch at a
time, every pass's rows of that batch together in source_row order: batches are the same
slices of the same files in every pass, so batch after batch is input order (file, then row)
whatever the number of partition passes. Memory: the buffer plus one batch's rejected rows
(at most passes.BATCH_ROWS rows).
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from segscore import tempdirs

#: rejected rows held in memory before they are written to a spill file (bytes, polars'
#: estimate)
SPILL_BUFFER_BYTES = 32 * 2**20
#: the spill directory's name starts so, then names its process (segscore.tempdirs)
SPILL_TAG = ".segscore-rejected-spill-"


class RejectedSpill:
    """Spill files in a hidden directory made under ``parent`` (None: the system's temporary
    directory) when the buffer is first written, removed on leaving the ``with`` block,
    whatever ends it but a SIGKILL. Without ``parent``, entering the block first removes the
    spill directories in the system's temporary directory whose process no longer runs (a
    killed run's; under ``parent``, a run's temporary directory, they go with it)."""

    def __init__(self, parent: Path | None):
        self.parent = parent
        self.directory: Path | None = None
        self.buffer: list[tuple[int, pl.DataFrame]] = []  # (batch, rows)
        self.buffered = 0  # bytes
        self.files = 0
        #: batch → (spill file, row group) of each pass whose rows of it were written
        self.written: dict[int, list[tuple[Path, int]]] = defaultdict(list)

    def __enter__(self) -> RejectedSpill:
        if self.parent is None:
            tempdirs.remove_stale(SPILL_TAG)
        return self

    def __exit__(self, *exc) -> None:
        self.buffer = []
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def add(self, batch: int, rows: pl.DataFrame) -> None:
        """Keep ``rows``, the rejected rows one pass found in batch number ``batch``."""
        self.buffer.append((batch, rows))
        self.buffered += rows.estimated_size()
        if self.buffered > SPILL_BUFFER_BYTES:
            self._flush()

    def _flush(self) -> None:
        """Write the buffer to a new spill file: lz4 and no dictionaries, as the file is
        written and read once (a 200k-row batch: 34 ms against 76 ms with dictionaries, the
        same size)."""
        if self.directory is None:
            self.directory = tempdirs.make(SPILL_TAG, self.parent)
        path = self.directory / f"{self.files:06d}.parquet"
        tables = [(batch, rows.to_arrow()) for batch, rows in self.buffer]
        self.buffer, self.buffered = [], 0
        with pq.ParquetWriter(path, tables[0][1].schema, compression="lz4",
                              use_dictionary=False, write_statistics=False) as writer:
            for group, (batch, table) in enumerate(tables):
                writer.write_table(table, row_group_size=table.num_rows)  # one row group
                self.written[batch].append((path, group))
        self.files += 1

    def batches(self) -> Iterator[pl.DataFrame]:
        """Every batch's rejected rows of all passes, batch after batch, each in source_row
        order (call after the last pass)."""
        held = defaultdict(list)
        for batch, rows in self.buffer:
            held[batch].append(rows)
        for batch in sorted(self.written.keys() | held.keys()):
            pieces = [pl.from_arrow(pq.ParquetFile(path).read_row_group(group))
                      for path, group in self.written.get(batch, [])]
            yield pl.concat(pieces + held.pop(batch, [])).sort("source_row")
