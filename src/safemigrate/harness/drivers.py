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

What stays out of reach (README, "What is guaranteed"): a client in another
process (``subprocess.run(["psql", ...])``), libpq called through ``ctypes``,
and a server-side connection (``dblink``) sent through a raw cursor.

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
