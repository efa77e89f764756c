"""Stage progress on stderr (rich), or nothing with --quiet; a failed stage is always reported
with its elapsed time and the stages completed before it."""

from __future__ import annotations

import time

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class StageProgress:
    """``on_stage`` callback for :func:`segscore.run` printing each stage with its duration."""

    def __init__(self, quiet: bool = False):
        self.console = Console(stderr=True, quiet=quiet)
        self._status = None
        self._started = 0.0
        self.completed: list[str] = []

    def __call__(self, stage: str, event: str) -> None:
        if event == "start":
            self._started = time.perf_counter()
            self._status = self.console.status(f"{stage}…")
            self._status.start()
            return
        if self._status is not None:
            self._status.stop()
        elapsed = time.perf_counter() - self._started
        if event == "failed":  # always said, even with --quiet: a failed night must be diagnosable
            self.completed.append(f"{stage} FAILED after {elapsed:.2f}s")
            click.echo(f"segscore: stage '{stage}' failed after {elapsed:.2f}s; completed: "
                       f"{', '.join(self.completed[:-1]) or 'none'}", err=True)
        else:
            self.completed.append(f"{stage} {elapsed:.2f}s")
            self.console.print(f"[green]✓[/] {stage} [dim]{elapsed:.2f}s[/]")


class StepProgress:
    """``on_progress(phase, done, total)`` callback (the data generator's) showing one bar per
    phase on stderr, or nothing with ``quiet``; a context manager that clears up the display."""

    def __init__(self, quiet: bool = False):
        self._bars = Progress(TextColumn("{task.description}"), BarColumn(),
                              MofNCompleteColumn(), TimeElapsedColumn(),
                              console=Console(stderr=True, quiet=quiet))
        self._tasks: dict[str, int] = {}

    def __enter__(self) -> "StepProgress":
        return self  # the display starts with the first step (an early error prints alone)

    def __exit__(self, *exc) -> None:
        if self._tasks:
            self._bars.stop()

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self._tasks:
            self._bars.start()
        if phase not in self._tasks:
            self._tasks[phase] = self._bars.add_task(phase, total=total)
        self._bars.update(self._tasks[phase], completed=done)
