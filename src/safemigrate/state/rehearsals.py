"""Rehearsals recorded in the project's database, for ``require_rehearsal`` (issue #13).

A rehearsal (``safemigrate rehearse``) runs revisions on a copy; production cannot see that copy. So the
rehearsal writes what it rehearsed into the project's own database: one row per revision, with the
sha256 of its file (the ledger's :func:`~safemigrate.state.ledger.checksum`), when, whether every statement
stayed within budget, and which kind of copy it ran on. The production preflight then asks, per pending
revision, for a passing row whose checksum is the file's today and that is recent enough
(:mod:`safemigrate.runner.rehearsal_gate`).

Rows are only added; the table is small (a few rows per deploy). It is created by the first rehearsal that
records. Like the ledger, it tells production what happened elsewhere: anyone who can write it can forge
a rehearsal, as anyone who can run ``rehearse`` can. It is evidence for people, not a security boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, inspect, select
from sqlalchemy.engine import Connection

TABLE = "safemigrate_rehearsals"

_metadata = MetaData()
rehearsals = Table(
    TABLE, _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("revision", String(255), nullable=False),
    Column("checksum", String(64), nullable=False),  # sha256 of the revision file when it was rehearsed
    Column("rehearsed_at", DateTime(timezone=True), nullable=False),
    Column("ok", Boolean, nullable=False),  # every statement within budget
    Column("copy", String(32), nullable=False),  # template | from-url | backup | synthetic
    Column("rehearsed_by", String(255), nullable=True),
    Column("tool_version", String(32), nullable=False),
)


@dataclass(frozen=True)
class Rehearsed:
    revision: str
    checksum: str
    rehearsed_at: datetime
    ok: bool
    copy: str

    @property
    def at(self) -> datetime:
        moment = self.rehearsed_at
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def record(conn: Connection, checksums: dict[str, str], *, ok: bool, copy: str, by: str | None,
           tool_version: str) -> None:
    """One row per rehearsed revision (revision -> checksum of its file)."""
    _metadata.create_all(conn, checkfirst=True)
    now = datetime.now(UTC)
    conn.execute(rehearsals.insert(), [
        {"revision": revision, "checksum": digest, "rehearsed_at": now, "ok": ok, "copy": copy,
         "rehearsed_by": by, "tool_version": tool_version}
        for revision, digest in checksums.items()])


def recorded(conn: Connection, revisions: list[str]) -> dict[str, list[Rehearsed]]:
    """Every recorded rehearsal of ``revisions``, newest first (no table yet: none)."""
    if not revisions or not inspect(conn).has_table(TABLE):
        return {}
    found: dict[str, list[Rehearsed]] = {}
    query = select(rehearsals).where(rehearsals.c.revision.in_(revisions)).order_by(rehearsals.c.id.desc())
    for row in conn.execute(query):
        found.setdefault(row.revision, []).append(
            Rehearsed(row.revision, row.checksum, row.rehearsed_at, bool(row.ok), row.copy))
    return found
