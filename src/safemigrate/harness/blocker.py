"""A long transaction in the way of a rehearsed statement (``safemigrate rehearse --blocker 5s``).

In production a migration rarely finds its tables idle: a report, a long request, a forgotten ``BEGIN`` in
psql has read the table and holds ACCESS SHARE until it ends. A statement that needs a stronger lock
(ACCESS EXCLUSIVE for most ALTER TABLE) then waits in the lock queue, and every query of the application
that arrives after it waits *behind it*, although the long transaction alone would not have stopped them:
the lock-queue amplification. ``lock_timeout`` bounds that wait; the runner then retries the revision.

Before each statement of a rehearsed revision that names tables existing before it, :func:`hold` starts a
session of its own that takes ACCESS SHARE on those tables (as a read in a long transaction would), waits
until the server granted it, and lets the statement go; the session ends its transaction ``duration`` later,
on its own. Each statement is held up once per rehearsal: a retry of the revision (after a lock timeout)
finds the same session still there, or gone, as the runner's retry would. The sessions live in the process
that runs env.py, which serves every attempt of a rehearsal; it is ended with the rehearsal, and a dropped
copy ends them too.

On MySQL/MariaDB the session is a transaction that has read each table (``SELECT 1 FROM t LIMIT 1``): it
holds a SHARED_READ metadata lock until it ends, and an ALTER TABLE waits for it in the same queue.

What is kept (:class:`BlockerHeld`, plain data that travels with each measured statement) is when the locks
were granted and released and, per attempt of the statement, when it started and when it gave up.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pglast import parse_sql
from pglast.visitors import Visitor
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL

from safemigrate.core.urls import backend_of, sync_url

#: How long the blocking session may itself wait for its ACCESS SHARE (the migrator may already hold the table).
_GRANT_WAIT_MS = 2000


@dataclass
class BlockerHeld:
    """A session that held ``tables`` in ACCESS SHARE before one statement, and what the statement went through."""

    tables: list[str]
    granted: float | None = None  # time.monotonic() when the server granted its locks (None: it never got them)
    released: float | None = None  # when its transaction ended
    attempts: list[float] = field(default_factory=list)  # when each attempt of the statement started
    failures: list[tuple[float, float, str]] = field(default_factory=list)  # (started, gave up, error) per attempt
    error: str | None = None  # why the session could not hold the tables

    @property
    def held_ms(self) -> float | None:
        if self.granted is None:
            return None
        return ((self.released or time.monotonic()) - self.granted) * 1000


class _Session:
    """The thread holding ``tables`` for ``duration_ms``; every statement it is in the way of has a record."""

    def __init__(self, url: URL, tables: list[str], duration_ms: int):
        self.tables = tables
        self.records: list[BlockerHeld] = []
        self.duration = duration_ms / 1000
        self.granted = threading.Event()
        self.stop = threading.Event()
        self.ended = False
        self.engine = create_engine(sync_url(url), poolclass=pool.NullPool)
        self.mysql = backend_of(url) == "mysql"
        self.thread = threading.Thread(target=self._run, daemon=True, name="safemigrate-blocker")
        self._granted_at: float | None = None
        self._lock = threading.Lock()

    def add(self, record: BlockerHeld) -> None:
        with self._lock:
            record.granted = self._granted_at
            self.records.append(record)

    def _mark(self, **values: object) -> None:
        with self._lock:
            if "granted" in values:
                self._granted_at = values["granted"]  # type: ignore[assignment]
            for record in self.records:
                for name, value in values.items():
                    if name != "released" or getattr(record, "granted", None) is not None:
                        setattr(record, name, value)

    def _run(self) -> None:
        connection: Any = None
        granted = False
        try:
            connection = self.engine.raw_connection()
            cursor = connection.cursor()
            if self.mysql:
                cursor.execute(f"SET SESSION lock_wait_timeout = {_GRANT_WAIT_MS // 1000}")
                cursor.execute("START TRANSACTION")
                for table in self.tables:
                    cursor.execute(f"SELECT 1 FROM {_quoted(table, '`')} LIMIT 1")
                    cursor.fetchall()
            else:
                cursor.execute(f"SET lock_timeout = '{_GRANT_WAIT_MS}ms'")
                for table in self.tables:
                    cursor.execute(f"LOCK TABLE {_quoted(table)} IN ACCESS SHARE MODE")
            self._mark(granted=time.monotonic())
            granted = True
            self.granted.set()
            self.stop.wait(self.duration)
            connection.rollback()
            self._mark(released=time.monotonic())
        except Exception as exc:
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            self._mark(error=first[0] if first else type(exc).__name__)
            if granted:
                self._mark(released=time.monotonic())
        finally:
            self.ended = True
            self.granted.set()
            if connection is not None:
                try:
                    connection.close()
                except Exception:
                    pass
            self.engine.dispose()


#: Every statement held up in this process, by (rehearsal token, revision, statement, occurrence): a retry
#: of the revision finds its statement's session here instead of starting another. A statement whose tables
#: a session of the same rehearsal still holds shares that session (the long transaction is still there),
#: so a revision of many statements on one table opens one blocking connection, not one per statement.
_held: dict[tuple[str, str, str, int], tuple[_Session, BlockerHeld]] = {}
_lock = threading.Lock()


def hold(url: URL, token: str, key: tuple[str, str, int], tables: list[str], duration_ms: int) -> BlockerHeld:
    """The session in the way of the statement ``key`` (revision, SQL, occurrence): one still holding its tables,
    else one started now (and granted its locks), at the statement's first attempt; the same one at a retry."""
    with _lock:
        entry = _held.get((token, *key))
        if entry is None:
            session = next((other for (owner, *_), (other, _) in _held.items()
                            if owner == token and not other.ended and set(tables) <= set(other.tables)), None)
            if session is None:
                session = _Session(url, sorted(tables), duration_ms)
                session.thread.start()
            record = BlockerHeld(sorted(tables))
            session.add(record)
            entry = _held[(token, *key)] = (session, record)
    session, record = entry
    session.granted.wait(timeout=(_GRANT_WAIT_MS + 5000) / 1000)
    return record


def release(token: str) -> None:
    """End every session of the rehearsal ``token`` now (its run finished: nothing is left to hold up)."""
    with _lock:
        sessions = list({id(session): session for key, (session, _) in _held.items() if key[0] == token}.values())
    for session in sessions:
        session.stop.set()
    for session in sessions:
        session.thread.join(timeout=10)


def named_tables(sql: str, backend: str = "postgresql") -> list[str]:
    """The tables a statement names (``schema.table`` when qualified), as PostgreSQL folds them (pglast), or as
    MySQL writes them (sqlglot); [] when it does not parse."""
    found: list[str] = []
    if backend == "mysql":
        import sqlglot
        from sqlglot import exp

        try:
            for parsed in sqlglot.parse(sql, read="mysql"):
                for table in parsed.find_all(exp.Table) if parsed is not None else ():
                    name = f"{table.db}.{table.name}" if table.db else table.name
                    if table.name and name not in found:
                        found.append(name)
        except Exception:
            return []
        return found

    class Tables(Visitor):
        def visit_RangeVar(self, ancestors: Any, node: Any) -> None:
            name = f"{node.schemaname}.{node.relname}" if node.schemaname else node.relname
            if name not in found:
                found.append(name)

    try:
        Tables()(parse_sql(sql))
    except Exception:
        return []
    return found


def _quoted(name: str, quote: str = '"') -> str:
    return ".".join(quote + part.replace(quote, quote * 2) + quote for part in name.split(".", 1))
