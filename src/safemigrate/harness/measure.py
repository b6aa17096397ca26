"""Measuring each statement a revision sends, in the env.py process (PostgreSQL).

A rehearsal (:mod:`safemigrate.rehearsal`) asks for it with a :class:`MeasureSpec` in the run request.
While env.py runs, SQLAlchemy's ``before_cursor_execute`` / ``after_cursor_execute`` listeners registered
here time every statement sent from a revision module, read the tables' ``relfilenode`` before and after
it (a changed one: the table was rewritten) and, after it, the relation locks its backend holds
(``pg_locks``); the ``commit`` / ``rollback`` listeners note when its transaction ended, which is when
those locks were released. safemigrate's own reads go through a raw DBAPI cursor of the same connection,
so no listener (the recorder's, the guard's) sees them, and they are outside the statement's timing.

With a lock timeout in the spec, each transaction of a revision (and each statement outside one) runs with
``SET lock_timeout`` as ``safemigrate migrate`` sets it; with a blocker, another session holds the tables a
statement names before it runs (:mod:`safemigrate.harness.blocker`), and a statement that gives up waiting
is noted on that blocker (``handle_error``).

MySQL/MariaDB (``backend="mysql"``): every DDL statement commits on its own, so each statement counts as
outside a transaction (its metadata locks are sampled by the rehearsal while it runs); there is no catalog
snapshot (no relfilenode, no WAL position): rewrites and WAL are not measured there. ``lock_timeout`` becomes
``SET SESSION lock_wait_timeout`` (whole seconds, as migrate sets it).

Times are ``time.monotonic()``: on Linux that is CLOCK_MONOTONIC, one clock for every process of the
machine, so the process that runs the probes can place its samples in each statement's window.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from safemigrate.guard.signoff import migration_frame
from safemigrate.harness import blocker
from safemigrate.harness.blocker import BlockerHeld

#: One round trip: the backend, the WAL position, every table's relfilenode, the table locks held.
_SNAPSHOT = """
SELECT pg_backend_pid(), pg_current_wal_insert_lsn()::text,
  (SELECT coalesce(json_agg(json_build_array(c.oid::bigint, c.relfilenode::bigint,
          CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END)), '[]'::json)
   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'),
  (SELECT coalesce(json_agg(json_build_array(l.relation::bigint, l.mode)), '[]'::json) FROM pg_locks l
   WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted)
"""
_SAVEPOINT = "safemigrate_measure"
#: Leads every statement safemigrate sends to measure: a recorder that sees raw cursors (drivers.py) may record
#: them beside the revision's own; this tells them apart (a failed run's last statement is the revision's).
MARK = "/* safemigrate: measuring */ "


@dataclass(frozen=True)
class Snapshot:
    """What the migrator's backend looked like at one moment (empty when it could not be read)."""

    pid: int | None = None
    wal: int | None = None
    tables: dict[int, tuple[int, str]] = field(default_factory=dict)  # oid -> (relfilenode, name)
    locks: frozenset[tuple[int, str]] = frozenset()  # (relation oid, mode)
    error: str | None = None  # why it could not be read


@dataclass(frozen=True)
class MeasureSpec:
    """Measure every statement the revisions send (locks, rewrites, timing). PostgreSQL only."""

    backend: str = "postgresql"  # mysql: statements are timed only (no catalog snapshot; see module docstring)
    lock_timeout_ms: int = 0  # SET lock_timeout as migrate does (0: none)
    blocker_ms: int | None = None  # hold the tables each statement names for this long first (--blocker)
    token: str = ""  # tells one rehearsal's blocking sessions from another's (a retry finds its own)


@dataclass(frozen=True)
class LockTaken:
    """A lock a statement took on a table that existed before its transaction (others cannot see new tables)."""

    relation: str
    mode: str  # as pg_locks names it: ShareLock, AccessExclusiveLock...


@dataclass
class MeasuredStatement:
    """One statement of a revision, as the migrator's backend ran it."""

    revision: str
    sql: str
    started: float  # time.monotonic(), shared by every process of the machine (Linux)
    ended: float
    in_transaction: bool  # False: autocommit (Alembic's autocommit_block, CONCURRENTLY)
    backend_pid: int | None
    locks: list[LockTaken] = field(default_factory=list)  # newly held after it (in a transaction)
    holding: list[LockTaken] = field(default_factory=list)  # every table lock of its transaction after it
    rewritten: list[str] = field(default_factory=list)  # tables whose relfilenode changed
    released: float | None = None  # when its locks were released: its transaction ended (or it did)
    wal_bytes: int | None = None  # WAL the server wrote while it ran (the probes write none)
    unread: str | None = None  # why its locks, rewrites or WAL could not be read (it is still timed)
    blocker: BlockerHeld | None = None  # the session held in its way (--blocker), with its earlier attempts
    committed: bool = False  # its effects committed (its transaction did, or it ran outside one)

    @property
    def duration_ms(self) -> float:
        return (self.ended - self.started) * 1000


class Measurer:
    """The listeners' state: statements measured so far, and what each open transaction holds."""

    def __init__(self, spec: MeasureSpec | None = None) -> None:
        self.spec = spec or MeasureSpec()
        self.statements: list[MeasuredStatement] = []
        self._occurrences: dict[tuple[str, str], int] = {}  # (revision, SQL) -> times sent in this run
        self.last_revision: str | None = None  # the revision of the latest statement (a failed run: the failing one)
        self._before: dict[int, tuple[MeasuredStatement, Snapshot]] = {}
        self._open: dict[int, list[MeasuredStatement]] = {}  # connection -> statements until its commit
        self._held: dict[int, set[tuple[int, str]]] = {}  # connection -> (relation oid, mode) already held
        self._baseline: dict[int, set[tuple[int, str]]] = {}  # held before the transaction's first statement
        # tables that existed when the transaction began: others can see (and wait for) only these
        self._visible: dict[int, set[int]] = {}

    # -- listeners --------------------------------------------------------------------------------
    def before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        frame = migration_frame(sys._getframe(1))
        if frame is None:  # Alembic's version bookkeeping, env.py's own reads: not a revision's statement
            return
        raw = conn.connection.dbapi_connection
        mysql = self.spec.backend == "mysql"
        in_transaction = not mysql and not bool(getattr(raw, "autocommit", False))
        first = not in_transaction or id(conn) not in self._held
        if first and self.spec.lock_timeout_ms:
            self._set_lock_timeout(raw)
        before = self._mysql_snapshot(raw) if mysql else self._snapshot(raw, in_transaction)
        if in_transaction and id(conn) not in self._held:
            # what the transaction held before the revision's first statement (Alembic read its version table)
            self._held[id(conn)] = self._baseline[id(conn)] = set(before.locks)
            self._visible[id(conn)] = set(before.tables)
        measured = MeasuredStatement(str(frame.f_globals.get("revision")), " ".join(statement.split()),
                                     0.0, 0.0, in_transaction, before.pid)
        self.last_revision = measured.revision
        self._before[id(cursor)] = (measured, before)
        measured.unread = before.error
        if self.spec.blocker_ms:
            measured.blocker = self._block(conn, measured, before)
        measured.started = time.monotonic()
        if measured.blocker is not None:
            measured.blocker.attempts.append(measured.started)

    def after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
              executemany: bool) -> None:
        ended = time.monotonic()
        entry = self._before.pop(id(cursor), None)
        if entry is None:
            return
        measured, snapshot = entry
        measured.ended = ended
        raw = conn.connection.dbapi_connection
        after = snapshot if self.spec.backend == "mysql" else self._snapshot(raw, measured.in_transaction)
        measured.unread = measured.unread or after.error
        if snapshot.wal is not None and after.wal is not None:
            measured.wal_bytes = after.wal - snapshot.wal
        before = snapshot.tables
        key = id(conn)
        visible = self._visible.get(key, set(before)) if measured.in_transaction else set(before)
        measured.rewritten = sorted(name for oid, (node, name) in after.tables.items()
                                    if oid in visible and oid in before and node and before[oid][0]
                                    and node != before[oid][0])
        if measured.in_transaction:
            held = set(after.locks)
            new = held - self._held.get(key, set())
            self._held[key] = held
            names = {oid: name for oid, (_, name) in before.items() if oid in visible}
            measured.locks = _named(new, names)
            measured.holding = _named(held - self._baseline.get(key, set()), names)
            self._open.setdefault(key, []).append(measured)
        else:
            measured.released = ended
            measured.committed = True
        self.statements.append(measured)

    def failed(self, context: Any) -> None:
        """A statement raised: when it has a blocker in its way, note when it gave up (a lock timeout)."""
        cursor = getattr(context, "cursor", None) \
            or getattr(getattr(context, "execution_context", None), "cursor", None)
        entry = self._before.pop(id(cursor), None) if cursor is not None else None
        if entry is None or entry[0].blocker is None:
            return
        error = str(context.original_exception).strip().splitlines()
        entry[0].blocker.failures.append((entry[0].started, time.monotonic(), error[0] if error else ""))

    def _block(self, conn: Any, measured: MeasuredStatement, before: Snapshot) -> BlockerHeld | None:
        """Hold the tables the statement names (those others can see, and that its transaction has not taken
        ACCESS EXCLUSIVE on: the blocking session would wait for the migrator instead) for spec.blocker_ms."""
        visible = self._visible.get(id(conn), set(before.tables)) if measured.in_transaction else set(before.tables)
        names = {name: oid for oid, (_, name) in before.tables.items() if oid in visible}
        taken = {oid for oid, mode in before.locks if mode == "AccessExclusiveLock"}
        tables = []
        mysql = self.spec.backend == "mysql"
        named = blocker.named_tables(measured.sql, "mysql" if mysql else "postgresql")
        if mysql:  # no snapshot: the tables that exist now are the ones others can hold
            names = dict.fromkeys(self._mysql_existing(conn.connection.dbapi_connection, named), 0)
        for name in named:
            name = name.removeprefix("public.")
            if name in names and names[name] not in taken and name not in tables:
                tables.append(name)
        if not tables:
            return None
        key = (measured.revision, measured.sql)
        self._occurrences[key] = self._occurrences.get(key, 0) + 1
        return blocker.hold(conn.engine.url, self.spec.token, (*key, self._occurrences[key]), tables,
                            int(self.spec.blocker_ms or 0))

    def _mysql_snapshot(self, raw: Any) -> Snapshot:
        """MySQL/MariaDB: only the connection's id (the sampler's locks are matched to it)."""
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(MARK + "SELECT CONNECTION_ID()")
                return Snapshot(pid=int(cursor.fetchall()[0][0]))
            finally:
                cursor.close()
        except Exception as exc:
            return Snapshot(error=_failure(exc))

    @staticmethod
    def _mysql_existing(raw: Any, names: list[str]) -> list[str]:
        if not names:
            return []
        try:
            cursor = raw.cursor()
            try:
                marks = ", ".join(["%s"] * len(names))
                cursor.execute(f"{MARK}SELECT table_name FROM information_schema.tables WHERE table_schema = "
                               f"DATABASE() AND table_type = 'BASE TABLE' AND table_name IN ({marks})",
                               [name.split(".")[-1] for name in names])
                return [str(row[0]) for row in cursor.fetchall()]
            finally:
                cursor.close()
        except Exception:
            return []

    def _set_lock_timeout(self, raw: Any) -> None:
        try:
            cursor = raw.cursor()
            try:
                if self.spec.backend == "mysql":
                    seconds = max(1, -(-self.spec.lock_timeout_ms // 1000))
                    cursor.execute(f"{MARK}SET SESSION lock_wait_timeout = {seconds}")
                else:
                    cursor.execute(f"{MARK}SET lock_timeout = '{int(self.spec.lock_timeout_ms)}ms'")
            finally:
                cursor.close()
        except Exception:  # never fail the migration for it: the statement runs as env.py set it up
            pass

    def committed(self, conn: Any) -> None:
        self.transaction_ended(conn, committed=True)

    def transaction_ended(self, conn: Any, committed: bool = False) -> None:
        now = time.monotonic()
        key = id(conn)
        for measured in self._open.pop(key, []):
            measured.released = now
            measured.committed = committed
        self._held.pop(key, None)
        self._baseline.pop(key, None)
        self._visible.pop(key, None)

    def finish(self) -> None:
        """The run is over: a transaction not seen ending ended now (the connection was closed)."""
        now = time.monotonic()
        for statements in self._open.values():
            for measured in statements:
                measured.released = measured.released or now
        self._open.clear()
        self._before.clear()

    # -- reads through a raw cursor: no listener sees them ---------------------------------------
    def _snapshot(self, raw: Any, in_transaction: bool) -> Snapshot:
        """Read the backend in one query; in a transaction, inside a savepoint, so that a failed read is
        undone and the revision's transaction goes on as if nothing had been read."""
        try:
            cursor = raw.cursor()
        except Exception as exc:
            return Snapshot(error=_failure(exc))
        try:
            if in_transaction:
                cursor.execute(f"{MARK}SAVEPOINT {_SAVEPOINT}")
            try:
                cursor.execute(MARK + _SNAPSHOT)
                row = cursor.fetchall()[0]
            except Exception as exc:  # a failed read must never fail the migration: report it instead
                if in_transaction:
                    cursor.execute(f"{MARK}ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
                    cursor.execute(f"{MARK}RELEASE SAVEPOINT {_SAVEPOINT}")
                return Snapshot(error=_failure(exc))
            if in_transaction:
                cursor.execute(f"{MARK}RELEASE SAVEPOINT {_SAVEPOINT}")
        except Exception as exc:  # the savepoint itself failed: the transaction had already failed
            return Snapshot(error=_failure(exc))
        finally:
            cursor.close()
        pid, lsn, tables, locks = row
        tables = json.loads(tables) if isinstance(tables, str) else tables  # asyncpg hands json over as text
        locks = json.loads(locks) if isinstance(locks, str) else locks
        return Snapshot(int(pid), _lsn(lsn), {int(oid): (int(node), str(name)) for oid, node, name in tables},
                        frozenset((int(oid), str(mode)) for oid, mode in locks))



def _failure(exc: BaseException) -> str:
    first = str(exc).splitlines()
    return f"{type(exc).__name__}: {first[0] if first else ''}"


def _lsn(text: object) -> int | None:
    high, _, low = str(text).partition("/")
    try:
        return (int(high, 16) << 32) + int(low, 16)
    except ValueError:
        return None


def _named(locks: set[tuple[int, str]], names: dict[int, str]) -> list[LockTaken]:
    return sorted((LockTaken(names[oid], mode) for oid, mode in locks if oid in names),
                  key=lambda lock: (lock.relation, lock.mode))


@contextmanager
def measuring(spec: MeasureSpec | None) -> Iterator[Measurer | None]:
    """While env.py runs: the listeners of a :class:`Measurer` on every engine (none without ``spec``)."""
    if spec is None:
        yield None
        return
    measurer = Measurer(spec)
    listeners: list[tuple[str, Callable[..., Any]]] = [
        ("before_cursor_execute", measurer.before), ("after_cursor_execute", measurer.after),
        ("handle_error", measurer.failed),
        ("commit", measurer.committed), ("rollback", measurer.transaction_ended)]
    for name, fn in listeners:
        event.listen(Engine, name, fn)
    finished = False
    try:
        yield measurer
        finished = True
    finally:
        for name, fn in reversed(listeners):
            event.remove(Engine, name, fn)
        measurer.finish()
        if spec.token:
            _carry(spec.token, measurer, finished)
        if spec.blocker_ms and finished:  # a failed run is retried: its blocking sessions stay for the retry
            blocker.release(spec.token)


#: Statements that committed in a failed run of a rehearsal (by token): the retry starts after their revision,
#: so its result would lack them; they are put in front of the next run's statements.
_carried: dict[str, list[MeasuredStatement]] = {}


def _carry(token: str, measurer: Measurer, finished: bool) -> None:
    if not finished:  # the failing revision runs again from its start: only the revisions before it are kept
        _carried.setdefault(token, []).extend(s for s in measurer.statements
                                              if s.committed and s.revision != measurer.last_revision)
    else:
        measurer.statements[:0] = _carried.pop(token, [])
