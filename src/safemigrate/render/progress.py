"""Which revision a long run is at, drawn on stderr (rich), for ``harness.progress`` events.

Why: a throwaway build of hundreds of revisions takes minutes, and a silent terminal looks hung. Drawn only
where a person watches: stderr is a terminal, the output is text, and ``-q`` was not given. A pipe, a file, a
CI log or JSON output never gets it (nor its escape sequences). ``SAFEMIGRATE_PROGRESS=1`` forces it (tests, a
terminal rich does not recognise) where text is printed without ``-q``; ``SAFEMIGRATE_PROGRESS=0`` turns it off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

FORCE_ENV = "SAFEMIGRATE_PROGRESS"


def wanted(fmt: str, quiet: bool) -> bool:
    """Text output without -q, on a terminal (or forced); never for JSON or Markdown, whatever is forced."""
    forced = os.environ.get(FORCE_ENV, "").strip().lower()
    if fmt != "text" or quiet or forced in {"0", "false", "no", "off"}:
        return False
    return forced in {"1", "true", "yes", "on"} or (sys.stderr.isatty() and not os.environ.get("CI"))


@contextmanager
def revision_progress(enabled: bool) -> Iterator[Callable[[Any], None] | None]:
    """A listener drawing each event (``harness.progress.Progress``) while the block runs; None when off.

    The display starts with a run's first revision and stops at its end (``done == total``), so that nothing
    is drawn between runs, where another display (a backup's) or the report may be printing.
    """
    if not enabled:
        yield None
        return
    forced = not sys.stderr.isatty()
    console = Console(file=sys.stderr, force_terminal=True if forced else None,
                      no_color=bool(os.environ.get("NO_COLOR")) or None, highlight=False)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console, transient=True)
    tasks: dict[str, TaskID] = {}
    live = {"on": False}  # drawn only while a run reports: another display (a backup's) may follow

    def show(event: Any) -> None:
        if event.total < 2:
            return  # one revision: nothing to wait for
        task = tasks.pop(event.purpose, None)
        if task is not None and (event.done == 0 or event.done >= event.total):
            bar.remove_task(task)  # a new run of the same purpose, or this one's end
            task = None
        if event.done >= event.total:
            if not tasks and live["on"]:
                bar.stop()
                live["on"] = False
            return
        if not live["on"]:
            bar.start()
            live["on"] = True
        if task is None:
            task = bar.add_task(event.purpose, total=event.total)
        tasks[event.purpose] = task
        bar.update(task, completed=event.done,
                   description=f"{event.purpose}: revision {event.revision} ({event.done + 1}/{event.total})")
        if forced:
            bar.refresh()  # no refresh thread reaches a pipe: each step drawn as it comes

    try:
        yield show
    finally:
        if live["on"]:
            bar.stop()
