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
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL

from safemigrate.core.urls import sync_url

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


def quote_table(name: str) -> str:
    """``schema.table`` or ``table`` as PostgreSQL identifiers."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split(".", 1))


class Probes:
    """Writer and reader probes on ``tables`` of the database at ``url``, from start() to stop()."""

    def __init__(self, url: URL, tables: list[str], *, interval: float | None = None):
        self.url = sync_url(url)
        self.tables = tables
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
            raw.autocommit = kind == "reader"
            sql = (f"LOCK TABLE {quote_table(table)} IN ROW EXCLUSIVE MODE" if kind == "writer"
                   else f"SELECT 1 FROM {quote_table(table)} LIMIT 1")
            cursor = raw.cursor()
            cursor.execute("SELECT pg_backend_pid()")
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
                if kind == "writer":
                    raw.commit()
                else:
                    cursor.fetchall()
                samples.append(Sample(table, kind, started, time.monotonic()))
                self._stop.wait(self.interval)
        except Exception as exc:
            gone = getattr(getattr(exc, "orig", exc), "sqlstate", None) == "42P01"  # the revision dropped it
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
            raw.autocommit = True
            cursor = raw.cursor()
            pids = list(self._pids)
            while not self._stop.is_set():
                cursor.execute(_SAMPLE_LOCKS, (pids,))
                now = time.monotonic()
                seen.extend(LockSeen(now, int(pid), str(relation), str(mode))
                            for pid, relation, mode in cursor.fetchall())
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
