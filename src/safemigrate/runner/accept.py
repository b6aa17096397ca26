"""``safemigrate ledger accept | resolve | reseal``: a person records a deliberate change in the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from safemigrate.core.db import connected
from safemigrate.core.errors import UsageError
from safemigrate.core.results import _Serialisable
from safemigrate.harness.workspace import Workspace
from safemigrate.state import ledger


@dataclass
class LedgerChange(_Serialisable):
    """What ``ledger accept | resolve | reseal`` recorded."""

    kind = "ledger"
    action: str  # accepted | resolved | resealed
    revision: str | None
    reason: str
    checksum: str | None = None  # accepted: the file's checksum now
    attempts: list[str] = field(default_factory=list)  # resolved: the attempts closed
    problems: list[str] = field(default_factory=list)  # resealed: what was wrong

    @property
    def ok(self) -> bool:
        return True

    def describe(self) -> str:
        if self.action == "accepted":
            return f"recorded: {self.revision} now has checksum {(self.checksum or '')[:12]} ({self.reason})"
        if self.action == "resolved":
            return f"resolved: {self.revision}, attempt(s) {', '.join(self.attempts)} ({self.reason})"
        was = f"; it was: {' '.join(self.problems)}" if self.problems else "; nothing was wrong"
        return f"resealed{was} ({self.reason})"


def accept_change(ws: Workspace, revision: str, reason: str) -> str:
    """Record in the ledger that an applied revision's file was changed on purpose."""
    script = _script(ws, revision, "accepted")
    _reason(reason, "why an applied migration changed", "fixed a typo in a comment")
    with _ledger(ws) as conn:
        digest = ledger.checksum(script.path)
        ledger.record(conn, script.revision, digest, environment=ws.environment.name,
                      action="accepted", note=reason.strip())
    return digest


def resolve_interrupted(ws: Workspace, revision: str, reason: str) -> list[str]:
    """Close the interrupted attempts at ``revision``: a person finished or undid their committed steps."""
    script = _script(ws, revision, "resolved")
    _reason(reason, "how an interrupted revision was finished or undone",
            "ran the remaining statements by hand and stamped it")
    with _ledger(ws, create=False) as conn:
        if not ledger.interrupted(conn, [script.revision]):  # read before anything is written
            raise UsageError(f"Revision {revision} has no interrupted attempt.",
                             "Only an attempt that left committed steps behind needs resolving; nothing was "
                             "recorded.",
                             "Run `safemigrate migrate --dry-run` (production: the preflight) to see what is open.")
        return ledger.resolve(conn, script.revision, reason.strip(), environment=ws.environment.name)


def reseal(ws: Workspace, reason: str) -> list[str]:
    """Accept the ledger as it stands (after a change outside safemigrate): chain it again, and keep why."""
    _reason(reason, "why the ledger was changed outside safemigrate", "restored from the backup of 2026-11-30")
    with _ledger(ws) as conn:
        return ledger.reseal(conn, reason.strip(), environment=ws.environment.name)


def _script(ws: Workspace, revision: str, verb: str) -> Any:
    script = ws.history.get(revision)
    if script is None:
        raise UsageError(f"There is no revision {revision!r} in this project.",
                         f"Only a revision the code has can be {verb}.",
                         "Use an id from `alembic history`.")
    return script


def _reason(reason: str, what: str, example: str) -> None:
    if not reason.strip():
        raise UsageError("--reason is empty.", f"The ledger keeps {what}.", f"Say why, e.g. --reason '{example}'.")


@contextmanager
def _ledger(ws: Workspace, *, create: bool = True) -> Iterator[Connection]:
    with connected(ws.require_live(), transaction=True) as conn:
        if create:
            ledger.ensure(conn)
        yield conn
