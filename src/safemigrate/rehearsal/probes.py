"""Application traffic, imitated: probe connections that time short transactions on each table.

For every table that exists on the copy before the revisions run, two threads of this process each hold
a connection of their own and loop until stopped:

writer
    ``LOCK TABLE t IN ROW EXCLUSIVE MODE`` and COMMIT: the table lock every INSERT, UPDATE and DELETE
    takes, without changing a row (the data the migration works on stays as it was).
reader
    ``SELECT 1 FROM t LIMIT 1`` in autocommit: the ACCESS SHARE lock every SELECT takes, planning included.

Each transaction is one sample (start, end) on ``time.monotonic()``, the clock the env.py process stamps
statements with. A sample blocked by a migration's lock lasts until that lock is released, which is what
the application feels. A short pause between samples keeps many probes from starving the migration of
CPU; it bounds how late a probe can notice a stall (see :func:`interval_for`).

A sampler connection reads ``pg_locks`` every 10 ms for every other backend of the database: the locks of
a statement sent outside a transaction (CONCURRENTLY, an autocommit block) are gone when it returns, so
they are only seen while it runs (:class:`LockSeen`).

MySQL/MariaDB: the writer is ``SELECT 1 FROM t WHERE 1 = 0 FOR UPDATE`` and COMMIT (the SHARED_WRITE
metadata lock of every INSERT/UPDATE/DELETE, no row touched), the reader ``SELECT 1 FROM t LIMIT 1`` (its
SHARED_READ). Every statement there commits on its own, so the sampler reads the granted table metadata
locks from ``performance_schema.metadata_locks``; where performance_schema is off (MariaDB's default) no lock
is read, which :attr:`Probes.locks_unread` says.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL

from safemigrate.core.urls import backend_of, sync_url

ProbeKind = Literal["writer", "reader"]


@dataclass(frozen=True)
class Sample:
    """One probe transaction."""

    table: str
    kind: ProbeKind
    started: float
    ended: float

    @property
    def latency_ms(self) -> float:
        return (self.ended - self.started) * 1000


@dataclass(frozen=True)
class LockSeen:
    """A table lock a backend other than the probes held (granted) when the sampler looked."""

    at: float
    pid: int
    relation: str
    mode: str


SAMPLER_INTERVAL = 0.010
_SAMPLE_MYSQL_LOCKS = """
SELECT t.PROCESSLIST_ID, m.OBJECT_NAME, m.LOCK_TYPE
FROM performance_schema.metadata_locks m JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID
WHERE m.OBJECT_TYPE = 'TABLE' AND m.OBJECT_SCHEMA = DATABASE() AND m.LOCK_STATUS = 'GRANTED'
  AND t.PROCESSLIST_ID IS NOT NULL AND t.PROCESSLIST_ID <> CONNECTION_ID()
"""
_SAMPLE_LOCKS = """
SELECT l.pid, CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END, l.mode
FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid() AND NOT (l.pid = ANY(%s))
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND c.relkind IN ('r', 'p', 'm')
"""


def interval_for(probes: int) -> float:
    """Seconds between two samples of one probe: 2 ms, longer when there are many probes (two cores)."""
    return max(0.002, 0.0005 * probes)


def quote_table(name: str, backend: str = "postgresql") -> str:
    """``schema.table`` or ``table`` as PostgreSQL (or MySQL) identifiers."""
    quote = "`" if backend == "mysql" else '"'
    return ".".join(quote + part.replace(quote, quote * 2) + quote for part in name.split(".", 1))


class Probes:
    """Writer and reader probes on ``tables`` of the database at ``url``, from start() to stop()."""

    def __init__(self, url: URL, tables: list[str], *, interval: float | None = None):
        self.url = sync_url(url)
        self.backend = backend_of(self.url)
        self.tables = tables
        self.locks_unread: str | None = None  # MySQL/MariaDB: why no metadata lock could be read
        self.interval = interval if interval is not None else interval_for(2 * len(tables))
        self.samples: list[Sample] = []
        self.locks_seen: list[LockSeen] = []
        self.errors: list[str] = []
        self._pids: list[int] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ready = threading.Barrier(2 * len(tables) + 1) if tables else None
        self._engine = create_engine(self.url, poolclass=pool.NullPool)
        self._lock = threading.Lock()

    def start(self) -> None:
        for table in self.tables:
            for kind in ("writer", "reader"):
                thread = threading.Thread(target=self._loop, args=(table, kind), daemon=True,
                                          name=f"safemigrate-probe-{kind}-{table}")
                thread.start()
                self._threads.append(thread)
        if self._ready is not None:
            try:
                self._ready.wait(timeout=30)  # every probe connected before the first statement runs
            except threading.BrokenBarrierError:
                pass
        sampler = threading.Thread(target=self._sample_locks, daemon=True, name="safemigrate-lock-sampler")
        sampler.start()
        self._threads.append(sampler)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._engine.dispose()

    def __enter__(self) -> Probes:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self, table: str, kind: ProbeKind) -> None:
        connection: Any = None
        try:
            connection = self._engine.raw_connection()
            raw = connection.dbapi_connection
            mysql = self.backend == "mysql"
            if mysql:
                raw.autocommit(kind == "reader")
                sql = (f"SELECT 1 FROM {quote_table(table, 'mysql')} WHERE 1 = 0 FOR UPDATE" if kind == "writer"
                       else f"SELECT 1 FROM {quote_table(table, 'mysql')} LIMIT 1")
            else:
                raw.autocommit = kind == "reader"
                sql = (f"LOCK TABLE {quote_table(table)} IN ROW EXCLUSIVE MODE" if kind == "writer"
                       else f"SELECT 1 FROM {quote_table(table)} LIMIT 1")
            cursor = raw.cursor()
            cursor.execute("SELECT CONNECTION_ID()" if mysql else "SELECT pg_backend_pid()")
            pid = int(cursor.fetchall()[0][0])
            if kind == "writer":
                raw.commit()
            with self._lock:
                self._pids.append(pid)
        except Exception as exc:
            self._failed(table, kind, exc)
            self._arrive()
            return
        self._arrive()
        samples: list[Sample] = []
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                cursor.execute(sql)
                if kind == "reader" or mysql:
                    cursor.fetchall()
                if kind == "writer":
                    raw.commit()
                samples.append(Sample(table, kind, started, time.monotonic()))
                self._stop.wait(self.interval)
        except Exception as exc:
            original = getattr(exc, "orig", exc)
            gone = getattr(original, "sqlstate", None) == "42P01" or (  # the revision dropped it
                bool(getattr(original, "args", None)) and original.args[0] == 1146)
            if not self._stop.is_set() and not gone:  # stopping may cut a blocked probe off: not an error
                self._failed(table, kind, exc)
        finally:
            with self._lock:
                self.samples.extend(samples)
            try:
                connection.close()
            except Exception:
                pass

    def _sample_locks(self) -> None:
        connection: Any = None
        seen: list[LockSeen] = []
        try:
            connection = self._engine.raw_connection()
            raw = connection.dbapi_connection
            cursor = raw.cursor()
            pids = list(self._pids)
            if self.backend == "mysql":
                raw.autocommit(True)
                self.locks_unread = _mysql_locks_unread(cursor)
                if self.locks_unread:
                    return
            else:
                raw.autocommit = True
            while not self._stop.is_set():
                if self.backend == "mysql":
                    cursor.execute(_SAMPLE_MYSQL_LOCKS)
                    rows = [row for row in cursor.fetchall() if row[0] not in pids]
                else:
                    cursor.execute(_SAMPLE_LOCKS, (pids,))
                    rows = cursor.fetchall()
                now = time.monotonic()
                seen.extend(LockSeen(now, int(pid), str(relation), str(mode)) for pid, relation, mode in rows)
                self._stop.wait(SAMPLER_INTERVAL)
        except Exception as exc:
            if not self._stop.is_set():
                self._failed("pg_locks", "lock sampler", exc)
        finally:
            with self._lock:
                self.locks_seen.extend(seen)
            if connection is not None:
                try:
                    connection.close()
                except Exception:
                    pass

    def _arrive(self) -> None:
        if self._ready is not None:
            try:
                self._ready.wait(timeout=30)
            except threading.BrokenBarrierError:
                pass

    def _failed(self, table: str, kind: str, exc: BaseException) -> None:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        with self._lock:
            self.errors.append(f"The {kind} probe on {table} stopped: {first[0] if first else type(exc).__name__}")


def _mysql_locks_unread(cursor: Any) -> str | None:
    """Why the metadata locks of a MySQL/MariaDB server cannot be read (None: they can)."""
    try:
        cursor.execute("SELECT @@performance_schema")
        if not int(cursor.fetchall()[0][0] or 0):
            return ("performance_schema is off on this server (MariaDB's default): set performance_schema = ON "
                    "in the server's configuration to see the metadata locks each statement takes")
        cursor.execute("SELECT count(*) FROM performance_schema.setup_instruments "
                       "WHERE NAME = 'wait/lock/metadata/sql/mdl' AND ENABLED = 'YES'")
        if not int(cursor.fetchall()[0][0] or 0):
            return ("the metadata lock instrument is off: UPDATE performance_schema.setup_instruments SET ENABLED = "
                    "'YES' WHERE NAME = 'wait/lock/metadata/sql/mdl' (or performance-schema-instrument in the "
                    "server's configuration)")
        cursor.execute("SELECT 1 FROM performance_schema.metadata_locks LIMIT 1")
        cursor.fetchall()
    except Exception as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return f"performance_schema.metadata_locks cannot be read ({first[0] if first else type(exc).__name__})"
    return None
