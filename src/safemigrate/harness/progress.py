"""Progress of long work: which revision a throwaway build (or a real run) is at.

Why: building a throwaway database of hundreds of revisions takes minutes; a silent terminal looks hung. The
library never renders, so it only reports :class:`Progress` events to whoever listens: the CLI listens for a
command's run (:func:`listening`) and draws them on stderr when that is a terminal; nobody listens otherwise,
and reporting costs a function call.

Revisions run in env.py's own process (``harness.session``): there, :func:`sending` makes each event go
through the session's pipe, and the parent hands it to its listener before the answer arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """Revision ``done + 1`` of ``total`` is about to run (``done == total``: the run has ended)."""

    purpose: str  # "build the throwaway database", "upgrade the live database"...
    done: int
    total: int
    revision: str


Listener = Callable[[Progress], None]

_listener: Listener | None = None  # the one listener of this process, for one command's run


def report(event: Progress) -> None:
    """Hand ``event`` to the listener, if any; never fails the work it describes."""
    listener = _listener
    if listener is None:
        return
    try:
        listener(event)
    except Exception:  # a display that breaks must not break a migration
        pass


@contextmanager
def listening(listener: Listener | None) -> Iterator[None]:
    """Send this process's events to ``listener`` until the block ends (None: nobody listens)."""
    global _listener
    previous, _listener = _listener, listener
    try:
        yield
    finally:
        _listener = previous


def sending(send: Listener) -> None:
    """In env.py's process: every event goes to the parent (set once, for the process's life)."""
    global _listener
    _listener = send
