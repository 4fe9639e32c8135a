"""Progress bars for the command line (rich), written once for the crawl, the reindex and the
dead-letter replay. On a terminal the bar is drawn on stderr; elsewhere (CI, pipes, logs) nothing
is drawn and the callers' own summary lines stay the only output."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


@contextmanager
def progress_bar(*, force: bool | None = None) -> Iterator[Progress]:
    """A rich :class:`Progress` on stderr, drawn only on a terminal (``force`` overrides)."""
    console = Console(stderr=True, force_terminal=force) if force is not None else Console(stderr=True)
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    disable = not console.is_terminal if force is None else not force
    with Progress(*columns, console=console, transient=False, disable=disable) as bar:
        yield bar



async def counted(items: AsyncIterator[T], bar: Progress, task) -> AsyncIterator[T]:
    """``items`` unchanged, advancing ``task`` by one for each."""
    async for item in items:
        yield item
        bar.advance(task)
