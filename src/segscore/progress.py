"""Stage progress on stderr (rich), or nothing with --quiet."""

from __future__ import annotations

import time

from rich.console import Console


class StageProgress:
    """``on_stage`` callback for :func:`segscore.run` printing each stage with its duration."""

    def __init__(self, quiet: bool = False):
        self.console = Console(stderr=True, quiet=quiet)
        self._status = None
        self._started = 0.0

    def __call__(self, stage: str, event: str) -> None:
        if event == "start":
            self._started = time.perf_counter()
            self._status = self.console.status(f"{stage}…")
            self._status.start()
        else:
            if self._status is not None:
                self._status.stop()
            self.console.print(f"[green]✓[/] {stage} [dim]{time.perf_counter() - self._started:.2f}s[/]")
