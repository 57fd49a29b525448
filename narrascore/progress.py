"""Progress reporting for long stages: a rich progress bar on a terminal, silence in library use."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Protocol

Advance = Callable[[float], None]
"""Called by a stage with how far it has come, in the stage's own unit (usually seconds of video)."""


class Reporter(Protocol):
    def stage(self, name: str, total: float | None = None) -> contextlib.AbstractContextManager[Advance]:
        """Open a stage; the yielded callable takes the amount done so far (absolute, not a delta)."""
        ...

    def note(self, message: str) -> None:
        """A one-line remark (a reused artifact, a kept hand edit)."""
        ...


class SilentReporter:
    @contextlib.contextmanager
    def stage(self, name: str, total: float | None = None) -> Iterator[Advance]:
        yield lambda done: None

    def note(self, message: str) -> None:
        return None


class RichReporter:
    """One bar per stage on stderr, so stdout stays clean for scripts."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)

    @contextlib.contextmanager
    def stage(self, name: str, total: float | None = None) -> Iterator[Advance]:
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        columns = [TextColumn("{task.description:<12}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn()]
        with Progress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task(name, total=total if total else None)

            def advance(done: float) -> None:
                bar.update(task, completed=min(done, total) if total else done)

            yield advance
            bar.update(task, completed=total if total else 1, total=total if total else 1)

    def note(self, message: str) -> None:
        self.console.print(f"[dim]{message}[/dim]")


def default_reporter(enabled: bool | None = None) -> Reporter:
    """A rich reporter when stderr is a terminal (or ``enabled`` is True), otherwise silence."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return RichReporter() if enabled else SilentReporter()
