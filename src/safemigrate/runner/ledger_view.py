"""``safemigrate ledger list | show REV``: what the live database's ledger records (read only).

Beside the rows (:func:`safemigrate.state.ledger.entries`), both say whether the ledger's chain holds
(:func:`~safemigrate.state.ledger.verify`) and which attempts were interrupted; ``show`` also compares
the revision file as it is now with the checksum the ledger recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from safemigrate.core.db import connected, ensure_reachable
from safemigrate.core.errors import UsageError
from safemigrate.core.paths import relative
from safemigrate.core.results import _Serialisable
from safemigrate.core.secrets import mask_url
from safemigrate.state import ledger

if TYPE_CHECKING:
    from safemigrate.harness.workspace import Workspace


@dataclass
class LedgerListing(_Serialisable):
    """``ledger list``: the rows, oldest first. No ``ok``: a listing is printed even under -q."""

    kind = "ledger-list"
    database: str
    entries: list[ledger.Entry]
    limited: bool  # only the newest rows were asked for
    problems: list[str] = field(default_factory=list)  # the chain does not hold: rows changed or deleted
    interrupted: list[str] = field(default_factory=list)  # open attempts, described


@dataclass
class LedgerRevision(_Serialisable):
    """``ledger show REV``: every row of one revision, and its file now against what was recorded."""

    kind = "ledger-show"
    database: str
    revision: str
    message: str | None  # from the revision file; null when the code no longer has it
    path: str | None
    applied: bool  # the newest row for it applied (or accepted, backfilled) it and no downgrade followed
    recorded_checksum: str | None
    file_checksum: str | None
    entries: list[ledger.Entry]
    problems: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)

    @property
    def file_changed(self) -> bool:
        return bool(self.recorded_checksum and self.file_checksum and self.recorded_checksum != self.file_checksum)


def ledger_list(ws: Workspace, *, limit: int | None = None) -> LedgerListing:
    url = ws.require_live()
    ensure_reachable(url)
    with connected(url) as conn:
        return LedgerListing(mask_url(url), ledger.entries(conn, limit=limit), limit is not None,
                             ledger.verify(conn), [i.describe() for i in ledger.interrupted(conn)])


def ledger_show(ws: Workspace, revision: str) -> LedgerRevision:
    url = ws.require_live()
    ensure_reachable(url)
    record = ws.history.get(revision)
    with connected(url) as conn:
        if record is not None:
            found = record.revision
        else:  # a revision whose file is gone is still in the ledger
            recorded = ledger.revisions_recorded(conn, revision)
            if len(recorded) != 1:
                raise UsageError(
                    f"There is no revision {revision!r} in this project"
                    + (f"; in its ledger, {revision!r} could be {', '.join(recorded)}." if recorded
                       else " nor in the ledger of " + mask_url(url) + "."),
                    "`ledger show` needs one revision: a full id or a prefix that names only one.",
                    "`safemigrate ledger list` shows the revisions the ledger has rows for.",
                )
            found = recorded[0]
        rows = ledger.entries(conn, found)
        latest = ledger.latest(conn) if rows else {}
        problems = ledger.verify(conn)
        interrupted = [i.describe() for i in ledger.interrupted(conn, [found])]
    info = ws.history.info(record) if record is not None else None
    return LedgerRevision(
        database=mask_url(url), revision=found, message=info.message if info else None,
        path=relative(record.path, ws.settings.root) if record is not None else None,
        applied=found in latest, recorded_checksum=latest.get(found) or None,
        file_checksum=ledger.checksum(record.path) if record is not None else None,
        entries=rows, problems=problems, interrupted=interrupted,
    )
