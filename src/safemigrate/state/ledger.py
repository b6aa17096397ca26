"""The ledger: which file was applied, when, by whom, with which checksum.

A table beside ``alembic_version`` (``safemigrate_history``) gets one row
per applied revision, in the same transaction as the revision and its
version bump. Production refuses to run when an applied revision's file
changed since then; ``safemigrate ledger accept`` records a deliberate
change. A database that predates the ledger is backfilled, without failing.

Tamper evidence: each row carries a chain, the sha256 of the previous row's
chain and its own content, and ``safemigrate_ledger_head`` holds the newest
chain and the row count, updated in the same transaction. A row deleted,
changed or forged, or the ledger dropped while the head remains, is seen by
:func:`verify` (the production preflight). ``safemigrate ledger reseal``
records a deliberate change. The chain is evidence, not a signature: someone
who recomputes it with this module's code can forge rows, and dropping both
tables reads as a database that predates the ledger.

The journal (``safemigrate_journal``): a revision's attempt is recorded as it
starts, on a connection of its own that commits at once, and so is every
statement that commits on its own while the revision runs (PostgreSQL's
``autocommit_block``; every statement on MySQL/MariaDB, where DDL commits).
The ``applied`` row names its attempt. An attempt that left committed steps
and has neither an ``applied`` nor a ``resolved`` row is an interrupted
revision: it is never run again silently (:func:`interrupted`); ``safemigrate
ledger resolve`` closes it once a person has finished or undone its steps.
The journal is not chained: it only ever makes a run refuse, never allow.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, func, inspect, select
from sqlalchemy.engine import Connection

from safemigrate._version import __version__
from safemigrate.state import instances as _instances
from safemigrate.state import rehearsals as _rehearsals
from safemigrate.state.changes import TABLE as CHANGES_TABLE
from safemigrate.state.proofs import TABLE as PROOF_TABLE

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
    Column("action", String(16), nullable=False),  # applied backfilled accepted downgraded resolved resealed
    Column("note", Text, nullable=True),
    Column("attempt", String(32), nullable=True),  # the run that applied it (the journal's attempt)
    Column("chain", String(64), nullable=True),  # sha256(previous chain + this row): tamper evidence
)
HEAD_TABLE = "safemigrate_ledger_head"
head = Table(
    HEAD_TABLE, _metadata,
    Column("id", Integer, primary_key=True),
    Column("chain", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
)
JOURNAL_TABLE = "safemigrate_journal"
journal = Table(
    JOURNAL_TABLE, _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("revision", String(128), nullable=False),
    Column("attempt", String(32), nullable=False),
    Column("step", Integer, nullable=False),
    Column("statement", Text, nullable=False),
    Column("state", String(8), nullable=False),  # running (sent, not known to have completed) | done | failed
    Column("at", DateTime(timezone=True), nullable=False),
)
#: safemigrate's own tables: never part of the project's schema (expand–contract phases included).
TABLES = (TABLE, HEAD_TABLE, JOURNAL_TABLE, CHANGES_TABLE, PROOF_TABLE, _instances.TABLE, _rehearsals.TABLE)
_CHAINED = ("revision", "checksum", "applied_at", "applied_by", "environment", "action", "note", "attempt",
            "backup_id")

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
    """The ledger's tables, with the columns this version writes (a ledger of an older version gains them)."""
    _metadata.create_all(conn, checkfirst=True)
    _instances.ensure(conn)  # written by the application's start-up guard (state/instances.py)
    present = {c["name"] for c in inspect(conn).get_columns(TABLE)}
    for column in ("attempt", "chain"):
        if column not in present:
            kind = history.c[column].type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {TABLE} ADD COLUMN {column} {kind}")


def record(conn: Connection, revision: str, file_checksum: str, *, environment: str, action: str = "applied",
           duration_ms: int | None = None, backup_id: str | None = None, note: str | None = None,
           attempt: str | None = None) -> None:
    """One ledger row, chained to the previous one, and the head moved to it (in ``conn``'s transaction)."""
    values: dict[str, object] = {
        "revision": revision, "checksum": file_checksum, "applied_at": datetime.now(UTC).replace(microsecond=0),
        "duration_ms": duration_ms, "applied_by": who(), "ci_run": ci_run(), "environment": environment,
        "tool_version": __version__, "backup_id": backup_id, "action": action, "note": note, "attempt": attempt,
    }
    previous = conn.execute(select(head.c.chain, head.c.rows).where(head.c.id == 1)).first()
    values["chain"] = _link(previous[0] if previous else "", values)
    conn.execute(history.insert().values(**values))
    if previous is None:
        conn.execute(head.insert().values(id=1, chain=values["chain"], rows=_count(conn)))
    else:
        conn.execute(head.update().where(head.c.id == 1).values(chain=values["chain"], rows=previous[1] + 1))


def _link(previous: str, values: dict[str, object]) -> str:
    content = "\x1f".join(_canonical(values.get(name)) for name in _CHAINED)
    return hashlib.sha256(f"{previous}\x1e{content}".encode()).hexdigest()


def _canonical(value: object) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).replace(microsecond=0).isoformat()
    return "" if value is None else str(value)


def _count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(history)).scalar() or 0)


def verify(conn: Connection) -> list[str]:
    """What does not add up in the ledger: rows changed, deleted, forged, or the ledger gone."""
    tables = set(inspect(conn).get_table_names())
    if HEAD_TABLE in tables and TABLE not in tables:
        return [f"The ledger ({TABLE}) is gone while its head ({HEAD_TABLE}) remains: it was dropped."]
    if TABLE not in tables:
        return []
    problems: list[str] = []
    previous = ""
    chained = 0
    columns = [history.c.id, *[history.c[name] for name in _CHAINED], history.c.chain]
    for row in conn.execute(select(*columns).order_by(history.c.id)):
        values = dict(zip(["id", *_CHAINED, "chain"], row, strict=True))
        if values["chain"] is None:
            if chained:
                problems.append(f"Ledger row {values['id']} (revision {values['revision']}, {values['action']}) "
                                "was written outside safemigrate: it carries no chain, after rows that do.")
                break
            continue  # written before the ledger was chained
        if _link(previous, values) != values["chain"]:
            problems.append(f"Ledger row {values['id']} (revision {values['revision']}, {values['action']}) does not "
                            "follow the row before it: it, or a row before it, was changed, inserted or deleted.")
            break
        previous = values["chain"]
        chained += 1
    stored = conn.execute(select(head.c.chain, head.c.rows).where(head.c.id == 1)).first() \
        if HEAD_TABLE in tables else None
    if not problems and stored is not None and (stored[0] != previous or stored[1] != _count(conn)):
        problems.append(f"The ledger ends at another row than its head records ({stored[1]} rows, "
                        f"{_count(conn)} now): rows at its end were deleted or added.")
    if not problems and stored is None and chained:
        problems.append(f"The ledger's head ({HEAD_TABLE}) is gone: it was dropped or emptied.")
    return problems


def latest(conn: Connection) -> dict[str, str]:
    """The checksum of the newest row per revision (accept/backfill rows included)."""
    rows = conn.execute(select(history.c.revision, history.c.checksum, history.c.action).order_by(history.c.id))
    found: dict[str, str] = {}
    for revision, digest, action in rows:
        if action == "downgraded":
            found.pop(revision, None)
        elif action not in {"resolved", "resealed"}:
            found[revision] = digest
    return found


@dataclass(frozen=True)
class Entry:
    """One ledger row, as ``ledger list`` and ``ledger show`` report it (times in UTC, ISO 8601)."""

    id: int
    revision: str
    action: str  # applied backfilled accepted downgraded resolved resealed
    checksum: str
    applied_at: str
    applied_by: str
    environment: str
    tool_version: str
    duration_ms: int | None = None
    ci_run: str | None = None
    backup_id: str | None = None
    note: str | None = None
    attempt: str | None = None


def entries(conn: Connection, revision: str | None = None, *, limit: int | None = None) -> list[Entry]:
    """Ledger rows, oldest first: every row of ``revision`` when given, else the newest ``limit`` (or all).

    A database without a ledger has no rows; a ledger written by an older version lacks some columns,
    read as null.
    """
    if not exists(conn):
        return []
    present = {c["name"] for c in inspect(conn).get_columns(TABLE)}
    names = [f.name for f in fields(Entry) if f.name in present]
    query = select(*[history.c[name] for name in names]).order_by(history.c.id.desc())
    if revision is not None:
        query = query.where(history.c.revision == revision)
    if limit is not None:
        query = query.limit(limit)
    found = []
    for row in conn.execute(query):
        values = dict(zip(names, row, strict=True))
        values["applied_at"] = _canonical(values["applied_at"])
        found.append(Entry(**values))
    return list(reversed(found))


def revisions_recorded(conn: Connection, prefix: str) -> list[str]:
    """The revisions the ledger has rows for that start with ``prefix`` (a revision's code may be gone)."""
    if not exists(conn):
        return []
    query = select(history.c.revision).where(history.c.revision.startswith(prefix, autoescape=True)).distinct()
    return sorted(r for (r,) in conn.execute(query) if r)


# -- the journal ----------------------------------------------------------------------------------
def start(conn: Connection, revision: str, *, attempt: str) -> int | None:
    """Record that an attempt at ``revision`` begins (step 0; ``conn`` commits at once: it outlives a kill).
    On PostgreSQL, returns the id of the transaction that wrote it."""
    insert = journal.insert().values(revision=revision, attempt=attempt, step=0, state="done",
                                     statement=f"attempt started by {who()}", at=datetime.now(UTC))
    if conn.dialect.name != "postgresql":
        conn.execute(insert)
        return None
    return int(conn.execute(insert.returning(func.txid_current())).scalar_one())


def step(conn: Connection, revision: str, attempt: str, number: int, statement: str) -> None:
    """Record a statement of ``revision`` that commits on its own, before it is sent (state running)."""
    conn.execute(journal.insert().values(revision=revision, attempt=attempt, step=number, state="running",
                                         statement=" ".join(statement.split())[:2000], at=datetime.now(UTC)))


def step_done(conn: Connection, attempt: str, numbers: Iterable[int]) -> None:
    """The steps completed (and so committed)."""
    conn.execute(journal.update().where(journal.c.attempt == attempt, journal.c.step.in_(list(numbers)))
                 .values(state="done"))


def step_failed(conn: Connection, attempt: str, number: int) -> None:
    """The step's statement raised: it did not commit."""
    conn.execute(journal.update().where(journal.c.attempt == attempt, journal.c.step == number)
                 .values(state="failed"))


@dataclass(frozen=True)
class Interrupted:
    """An attempt at a revision that committed some steps and never finished (nor was resolved)."""

    revision: str
    attempt: str
    started: str  # when and by whom
    steps: list[str]  # what committed, in order
    running: list[str]  # sent but not known to have completed when the attempt stopped

    def describe(self) -> str:
        listed = [f"    {n}. {s}" for n, s in enumerate(self.steps, 1)]
        listed += [f"    {n}. (was running when it stopped: it may have committed) {s}"
                   for n, s in enumerate(self.running, len(self.steps) + 1)]
        return f"revision {self.revision} (attempt {self.attempt}, {self.started}):\n" + "\n".join(listed)


def interrupted(conn: Connection, revisions: Iterable[str] | None = None) -> list[Interrupted]:
    """Attempts that left committed steps and were neither applied nor resolved (``revisions``: only these)."""
    tables = set(inspect(conn).get_table_names())
    if JOURNAL_TABLE not in tables:
        return []
    closed: set[str] = set()
    if TABLE in tables and "attempt" in {c["name"] for c in inspect(conn).get_columns(TABLE)}:
        closed = {a for (a,) in conn.execute(select(history.c.attempt).where(
            history.c.action.in_(("applied", "resolved")), history.c.attempt.is_not(None)))}
    wanted = set(revisions) if revisions is not None else None
    attempts: dict[str, tuple[str, str, list[str], list[str]]] = {}
    for revision, attempt, number, statement, state, at in conn.execute(select(
            journal.c.revision, journal.c.attempt, journal.c.step, journal.c.statement, journal.c.state,
            journal.c.at).order_by(journal.c.attempt, journal.c.step, journal.c.id)):
        if attempt in closed or (wanted is not None and revision not in wanted):
            continue
        entry = attempts.setdefault(attempt, (revision, "start not recorded", [], []))
        if number == 0:
            attempts[attempt] = (revision, f"{statement} at {_canonical(at)}", entry[2], entry[3])
        else:
            if state != "failed":
                (entry[2] if state == "done" else entry[3]).append(statement)
    return [Interrupted(revision, attempt, started, done, running)
            for attempt, (revision, started, done, running) in attempts.items() if done or running]


#: Why an interrupted attempt was closed when a later run applied its revision (reruns converge).
CONVERGED = ("applied by a rerun: every step of the revision checks the catalog first "
             "(# safemigrate: rerun-converges)")


def resolve(conn: Connection, revision: str, reason: str, *, environment: str) -> list[str]:
    """Close the interrupted attempts at ``revision`` (a person finished or undid their steps)."""
    ensure(conn)
    closed = []
    for found in interrupted(conn, [revision]):
        record(conn, revision, "", environment=environment, action="resolved", attempt=found.attempt,
               note=reason)
        closed.append(found.attempt)
    return closed


def reseal(conn: Connection, reason: str, *, environment: str) -> list[str]:
    """Accept the ledger as it stands: chain every row again, and record why (returns what was wrong)."""
    ensure(conn)
    problems = verify(conn)
    previous = ""
    columns = [history.c.id, *[history.c[name] for name in _CHAINED]]
    for row in conn.execute(select(*columns).order_by(history.c.id)).all():
        values = dict(zip(["id", *_CHAINED], row, strict=True))
        previous = _link(previous, values)
        conn.execute(history.update().where(history.c.id == values["id"]).values(chain=previous))
    conn.execute(head.delete())
    conn.execute(head.insert().values(id=1, chain=previous, rows=_count(conn)))
    note = reason if not problems else f"{reason} (was: {' '.join(problems)})"
    record(conn, "", "", environment=environment, action="resealed", note=note)
    return problems


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
