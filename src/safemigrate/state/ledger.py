"""The ledger: which file was applied, when, by whom, with which checksum.

A table beside ``alembic_version`` (``safemigrate_history``) gets one row
per applied revision, in the same transaction as the revision and its
version bump. Production refuses to run when an applied revision's file
changed since then; ``safemigrate ledger accept`` records a deliberate
change. A database that predates the ledger is backfilled, without failing.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, inspect, select
from sqlalchemy.engine import Connection

from safemigrate._version import __version__

TABLE = "safemigrate_history"
_metadata = MetaData()
history = Table(
    TABLE, _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("revision", String(128), nullable=False),
    Column("checksum", String(64), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
    Column("duration_ms", Integer, nullable=True),
    Column("applied_by", String(255), nullable=False),
    Column("ci_run", String(255), nullable=True),
    Column("environment", String(32), nullable=False),
    Column("tool_version", String(32), nullable=False),
    Column("backup_id", String(255), nullable=True),
    Column("action", String(16), nullable=False),  # applied | backfilled | accepted | downgraded
    Column("note", Text, nullable=True),
)

_CI_VARIABLES = ("GITHUB_RUN_ID", "CI_PIPELINE_ID", "BUILD_ID", "CIRCLE_WORKFLOW_ID", "BUILDKITE_BUILD_ID")


def checksum(path: str | Path) -> str:
    """sha256 of the file with line endings normalised (CRLF and CR count as LF)."""
    data = Path(path).read_bytes().replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return hashlib.sha256(data).hexdigest()


def who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def ci_run() -> str | None:
    for name in _CI_VARIABLES:
        if os.environ.get(name):
            return f"{name}={os.environ[name]}"
    return None


def exists(conn: Connection) -> bool:
    return inspect(conn).has_table(TABLE)


def ensure(conn: Connection) -> None:
    _metadata.create_all(conn, checkfirst=True)


def record(conn: Connection, revision: str, file_checksum: str, *, environment: str, action: str = "applied",
           duration_ms: int | None = None, backup_id: str | None = None, note: str | None = None) -> None:
    conn.execute(history.insert().values(
        revision=revision, checksum=file_checksum, applied_at=datetime.now(UTC), duration_ms=duration_ms,
        applied_by=who(), ci_run=ci_run(), environment=environment, tool_version=__version__,
        backup_id=backup_id, action=action, note=note,
    ))


def latest(conn: Connection) -> dict[str, str]:
    """The checksum of the newest row per revision (accept/backfill rows included)."""
    rows = conn.execute(select(history.c.revision, history.c.checksum, history.c.action).order_by(history.c.id))
    found: dict[str, str] = {}
    for revision, digest, action in rows:
        if action == "downgraded":
            found.pop(revision, None)
        else:
            found[revision] = digest
    return found


@dataclass(frozen=True)
class ChangedFile:
    revision: str
    path: str
    recorded: str
    current: str


def changed(conn: Connection, applied: dict[str, str]) -> list[ChangedFile]:
    """Applied revisions (revision -> file path) whose file differs from the recorded checksum."""
    recorded = latest(conn) if exists(conn) else {}
    out: list[ChangedFile] = []
    for revision, path in applied.items():
        digest = recorded.get(revision)
        if digest is not None:
            now = checksum(path)
            if now != digest:
                out.append(ChangedFile(revision, path, digest, now))
    return out


def backfill(conn: Connection, applied: dict[str, str], environment: str) -> list[str]:
    """Record applied revisions the ledger does not know (a database that predates it)."""
    ensure(conn)
    known = latest(conn)
    added = []
    for revision, path in applied.items():
        if revision not in known:
            record(conn, revision, checksum(path), environment=environment, action="backfilled",
                   note="applied before safemigrate recorded it; checksum taken from the current file")
            added.append(revision)
    return added
