"""``require_rehearsal``: production migrates only revisions rehearsed, passing, recently, as they are now.

With ``require_rehearsal = "7d"`` in ``[tool.safemigrate.rehearsal]``, the production preflight asks, for each
pending revision, for a rehearsal recorded in the database (:mod:`safemigrate.state.rehearsals`) that

- passed (every statement within the budgets),
- ran the revision file as it is now (same sha256 as the ledger computes it: a file edited after its
  rehearsal is a revision nobody rehearsed), and
- is no older than the configured time (a copy of last month's volume says little about today's).

Otherwise the check fails, naming each revision and what it lacks, and the command that records one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL

from safemigrate.core.db import connected
from safemigrate.core.results import Check
from safemigrate.state import ledger, rehearsals

if TYPE_CHECKING:
    from safemigrate.harness.workspace import Workspace

NAME = "rehearsed"


def check_rehearsed(project: Workspace, url: URL, pending: list[str]) -> Check:
    """The preflight check: each of ``pending`` has a passing, recent rehearsal of its current file."""
    settings = project.settings.rehearsal
    if settings.require_rehearsal_ms is None:
        return Check(NAME, True, "not required (no require_rehearsal in [tool.safemigrate.rehearsal])")
    if not pending:
        return Check(NAME, True, "nothing pending")
    with connected(url) as conn:
        found = rehearsals.recorded(conn, pending)
    since = datetime.now(UTC) - timedelta(milliseconds=settings.require_rehearsal_ms)
    lacking: list[str] = []
    for revision in pending:
        record = project.history.get(revision)
        digest = ledger.checksum(record.path) if record is not None else ""
        rows = found.get(revision, [])
        same_file = [r for r in rows if r.checksum == digest]
        passing = [r for r in same_file if r.ok]
        if passing and passing[0].at >= since:
            continue
        if passing:
            lacking.append(f"{revision}: its last passing rehearsal ({passing[0].at:%Y-%m-%d %H:%M} UTC) is older "
                           f"than {settings.require_rehearsal}")
        elif same_file:
            lacking.append(f"{revision}: its rehearsal on {same_file[0].at:%Y-%m-%d %H:%M} UTC went over budget")
        elif rows:
            lacking.append(f"{revision}: its file changed after it was rehearsed on {rows[0].at:%Y-%m-%d %H:%M} UTC "
                           f"({record.path if record is not None else 'file missing'})")
        else:
            lacking.append(f"{revision}: never rehearsed")
    if not lacking:
        return Check(NAME, True, f"{len(pending)} pending revision(s) rehearsed and passing within "
                     f"{settings.require_rehearsal}, from the files as they are now")
    return Check(
        NAME, False,
        f"require_rehearsal = \"{settings.require_rehearsal}\" asks for a passing rehearsal of each pending "
        f"revision's current file within that time: {'; '.join(lacking)}. Migrating without one means its locks "
        "and stalls at production volume were never measured.",
        "Rehearse the pending revisions on a copy with volume and let it record here: `safemigrate rehearse "
        "--template` (or --backup latest, or --rows N) with this database's URL set as for migrate; a passing "
        "rehearsal is recorded in " + rehearsals.TABLE + ". Then migrate again.",
    )
