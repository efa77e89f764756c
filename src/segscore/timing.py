"""Per-stage timings: wall seconds, CPU seconds (all threads), rows/s and peak RSS."""

from __future__ import annotations

import resource
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass


@dataclass
class StageTiming:
    stage: str
    wall_s: float
    cpu_s: float
    rows: int
    rows_per_s: float
    peak_rss_mb: float


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class StageClock:
    """Collects one StageTiming per stage; ``on_stage(name, event)`` is told when a stage
    starts, ends or fails (event "start", "end", "failed")."""

    def __init__(self, on_stage=None):
        self.timings: list[StageTiming] = []
        self._on_stage = on_stage

    @contextmanager
    def stage(self, name: str, rows: int = 0):
        """Time the block; the block may set ``box["rows"]`` to the rows it processed."""
        box = {"rows": rows}
        if self._on_stage:
            self._on_stage(name, "start")
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield box
        except BaseException:
            if self._on_stage:
                self._on_stage(name, "failed")
            raise
        wall_s = time.perf_counter() - wall
        self.timings.append(StageTiming(
            stage=name, wall_s=round(wall_s, 4), cpu_s=round(time.process_time() - cpu, 4),
            rows=box["rows"], rows_per_s=round(box["rows"] / wall_s, 1) if wall_s > 0 else 0.0,
            peak_rss_mb=round(peak_rss_mb(), 1)))
        if self._on_stage:
            self._on_stage(name, "end")

    def to_list(self) -> list[dict]:
        return [asdict(t) for t in self.timings]
