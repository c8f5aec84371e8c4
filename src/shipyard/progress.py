"""How long work reports how far it has got.

Stages call a plain function, ``progress(step, done, total)``, so they need no
terminal and tests can record the calls. The CLI passes a :class:`Bars`, which
shows one Rich progress bar per step.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

Report = Callable[[str, float, "float | None"], None]


def silent(step: str, done: float, total: float | None = None) -> None:
    """A progress report that goes nowhere."""


class Bars:
    """Rich progress bars, one per step name, for use as a context manager."""

    def __init__(self, console: Console | None = None):
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description:<34}"),
                                  BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                  console=console, transient=False)
        self._tasks: dict[str, object] = {}

    def __enter__(self) -> Bars:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def __call__(self, step: str, done: float, total: float | None = None) -> None:
        task = self._tasks.get(step)
        if task is None:
            task = self._tasks[step] = self._progress.add_task(step, total=total)
        self._progress.update(task, completed=done, total=total)
