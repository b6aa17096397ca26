"""Connections opened below SQLAlchemy while a revision runs are refused at the driver.

The run-time guard sees every connection SQLAlchemy opens (its ``do_connect``
event) and refuses a second one while a revision's body runs: statements on it
would commit on their own, outside the transaction the effect check reads and
rolls back. A revision can also call a driver itself (``psycopg.connect(dsn)``,
``pymysql.connect(...)``), which SQLAlchemy never sees. For the duration of a
real run, :func:`refusing_driver_connections` wraps the ``connect`` functions
of the drivers that are imported (psycopg, psycopg2, pymysql, MySQLdb,
asyncpg): called while a revision's body runs, they raise the guard's
second-connection refusal before any connection exists. A child process made
with ``os.fork`` inherits the wrappers and the state, so it is refused too,
and says so through a pipe the parent reads when the body ends: the revision
is refused as well, even when the child swallowed the error.

On the migration's own connection, a statement sent through a raw psycopg
cursor (``op.get_bind().connection.cursor()``, ``driver_connection.execute``,
a cursor class instantiated by hand) is judged too while a revision runs:
:func:`watching_raw_cursors` wraps the cursor methods that send SQL and hands
each call to the guard, which lets SQLAlchemy's own statements through (it saw
them already) and judges the others like ``op.execute`` in an autocommit block
(inside a transaction, the check at commit sees what they did).

What stays out of reach (README, "What is guaranteed"): a client in another
process (``subprocess.run(["psql", ...])``), libpq called through ``ctypes``
or psycopg's ``pgconn``, and a server-side connection (``dblink``) sent past
the driver's cursors.

This is process-wide state: the wrappers are installed when a real run's
env.py starts and removed when it ends (docs/ARCHITECTURE.md, "Global state").
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from safemigrate.harness.recorder import Recorder

#: (module, attribute holding a connect function or a class whose ``connect`` classmethod connects)
_CONNECTS = (("psycopg", "connect"), ("psycopg", "Connection"), ("psycopg2", "connect"), ("pymysql", "connect"),
             ("pymysql", "Connect"), ("MySQLdb", "connect"), ("MySQLdb", "Connect"), ("asyncpg", "connect"))


@contextmanager
def refusing_driver_connections(recorder: Recorder) -> Iterator[None]:
    """While a revision's body runs (``recorder.in_body``), a driver's own ``connect`` is refused."""
    if recorder.guard is None:
        yield
        return
    undo: list[Callable[[], None]] = []
    owner = os.getpid()
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)

    def refused_in_a_child() -> str | None:
        try:
            said = os.read(read_end, 4096)
        except BlockingIOError:
            return None
        return said.decode(errors="replace").splitlines()[0] if said else None

    recorder.child_refusals = refused_in_a_child
    try:
        for module_name, attribute in _CONNECTS:
            module = sys.modules.get(module_name)
            target = getattr(module, attribute, None) if module is not None else None
            if target is None:
                continue
            if attribute == "Connection":  # psycopg.Connection.connect, a classmethod (pymysql.connect is a class)
                original = target.__dict__.get("connect")
                if isinstance(original, classmethod):
                    gated = classmethod(_gate(original.__func__, recorder, f"{module_name}.connect", owner, write_end))
                    setattr(target, "connect", gated)  # noqa: B010 - mypy cannot type a class's classmethod
                    undo.append(functools.partial(setattr, target, "connect", original))
                continue
            setattr(module, attribute, _gate(target, recorder, f"{module_name}.{attribute}", owner, write_end))
            undo.append(functools.partial(setattr, module, attribute, target))
        yield
    finally:
        for restore in reversed(undo):
            restore()
        recorder.child_refusals = None
        os.close(read_end)
        os.close(write_end)


#: psycopg (3) cursor methods that send SQL; the cursor classes that define their own
_SENDS = ("execute", "executemany", "stream", "copy")
_CURSORS = ("Cursor", "ServerCursor", "ClientCursor", "RawCursor", "RawServerCursor")


#: pymysql's cursor methods that send SQL
_SENDS_PYMYSQL = ("execute", "executemany", "callproc")
#: pymysql's code that sends the statement it was given through ``execute``, row by row or in batches
_PYMYSQL_ROW_BY_ROW = ("executemany", "_do_execute_many")
#: psycopg2's cursor is a C type: its connections get a watched ``cursor_factory`` instead
_PSYCOPG2_SENDS = ("execute", "executemany", "callproc", "copy_expert")


@contextmanager
def watching_raw_cursors(recorder: Recorder) -> Iterator[None]:
    """While a revision runs, every psycopg, psycopg2 or pymysql cursor call is shown to the guard
    (``RunGuard.raw_statement``) in a real run, and recorded (``Recorder.raw``) on a throwaway database."""
    undo: list[Callable[[], None]] = []
    module = sys.modules.get("psycopg")
    watched: dict[type, type] = {}

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        base = getattr(dbapi_connection, "cursor_factory", None)
        if not type(dbapi_connection).__module__.startswith("psycopg2") or base in watched.values():
            return
        if base is None:
            base = sys.modules["psycopg2.extensions"].cursor
        if base not in watched:
            watched[base] = type(f"Watched{base.__name__}", (base,),
                                 {name: _watch(getattr(base, name), name, recorder) for name in _PSYCOPG2_SENDS})
        dbapi_connection.cursor_factory = watched[base]

    try:
        pymysql_cursors = sys.modules.get("pymysql.cursors")
        if pymysql_cursors is not None:
            cls = pymysql_cursors.Cursor  # every pymysql cursor class derives from it
            inner = frozenset(f.__code__ for f in (vars(cls).get(n) for n in _PYMYSQL_ROW_BY_ROW) if callable(f))
            for name in _SENDS_PYMYSQL:
                original = vars(cls).get(name)
                if callable(original):
                    setattr(cls, name, _watch(original, name, recorder, inner))
                    undo.append(functools.partial(setattr, cls, name, original))
        for class_name in _CURSORS if module is not None else ():
            cls = getattr(module, class_name, None)
            for name in _SENDS:
                original = vars(cls).get(name) if cls is not None else None
                if callable(original):
                    setattr(cls, name, _watch(original, name, recorder))
                    undo.append(functools.partial(setattr, cls, name, original))
        event.listen(Engine, "connect", on_connect)
        undo.append(functools.partial(event.remove, Engine, "connect", on_connect))
        yield
    finally:
        for restore in reversed(undo):
            restore()


def _watch(method: Callable[..., Any], name: str, recorder: Recorder,
           inner: frozenset[Any] = frozenset()) -> Callable[..., Any]:
    """``method`` of a cursor class, shown to the guard (or the recorder) before it sends anything.

    Passed through without a look: safemigrate's own calls (``recorder.internal``), the call that sends
    the statement SQLAlchemy just showed its listeners (``recorder.announced``: recorded and judged
    there), and the calls a driver makes from the code in ``inner`` while it sends one (pymysql's
    ``executemany`` runs ``execute`` row by row). Any other call is judged, also one made while another
    is being sent (a value's encoder or dumper is revision code too).
    """
    @functools.wraps(method)
    def watched(cursor: Any, *args: Any, **kwargs: Any) -> Any:
        if recorder.current is None or recorder.internal \
                or (recorder.sending and sys._getframe(1).f_code in inner):
            return method(cursor, *args, **kwargs)
        query = args[0] if args else kwargs.get("query")
        parameters = args[1] if len(args) > 1 else kwargs.get("params", kwargs.get("params_seq"))

        def send() -> Any:
            recorder.sending += 1
            try:
                return method(cursor, *args, **kwargs)
            finally:
                recorder.sending -= 1

        if cursor is recorder.announced:
            recorder.announced = None
            return send()
        guard = recorder.guard
        if guard is None:
            return recorder.raw(cursor, name, query, parameters, send)
        return guard.raw_statement(cursor, name, query, parameters, send)

    return watched


def _gate(connect: Callable[..., Any], recorder: Recorder, name: str, owner: int, tell_owner: int) \
        -> Callable[..., Any]:
    @functools.wraps(connect)
    def gated(*args: Any, **kwargs: Any) -> Any:
        guard = recorder.guard
        if guard is not None and recorder.in_body and recorder.current is not None and not recorder.internal:
            where = f"the database through {name}() (below SQLAlchemy)"
            if os.getpid() != owner:  # a forked child: the revision's own process must refuse it too
                where += " in a child process"
                os.write(tell_owner, where.encode() + b"\n")
            guard.second_connection(where)
        return connect(*args, **kwargs)

    return gated
