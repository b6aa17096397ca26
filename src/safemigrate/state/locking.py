"""One migrator at a time: PostgreSQL advisory lock, MySQL/MariaDB GET_LOCK, a file lock for SQLite.

The lock is held by a dedicated connection in autocommit mode that stays
idle. It is not inside a transaction and holds no snapshot, so it cannot
deadlock with CREATE INDEX CONCURRENTLY, which waits for every transaction
that could see the table. Holding the lock inside the migration's own
transaction is what makes Flyway's lock deadlock in that case.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import URL

from safemigrate.core.errors import DatabaseUnreachable, LockTimeout
from safemigrate.core.secrets import mask_url
from safemigrate.core.urls import backend_of, sync_url


def lock_key(url: URL) -> int:
    """A stable signed 64-bit key for the database, for pg_advisory_lock."""
    digest = hashlib.sha256(f"safemigrate:{url.database}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def migrator_lock(url: URL, *, timeout: float = 600.0, on_wait: Callable[[float], None] | None = None,
                  poll: float = 0.5) -> Iterator[None]:
    """Hold the database's migrator lock; wait at most ``timeout`` seconds for it."""
    backend = backend_of(url)
    if backend == "sqlite":
        with _file_lock(url, timeout, on_wait):
            yield
        return
    engine = create_engine(sync_url(url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        conn = engine.connect()
    except Exception as exc:
        from safemigrate.core.db import unreachable

        engine.dispose()
        raise unreachable(url, exc, purpose="take the migrator lock") from None
    try:
        if backend == "postgresql":
            key = lock_key(url)
            acquire = lambda: conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()  # noqa: E731
            release = lambda: conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})  # noqa: E731
        elif backend == "mysql":
            name = f"safemigrate:{url.database}"[:64]
            acquire = lambda: conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar() == 1  # noqa: E731
            release = lambda: conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})  # noqa: E731
        else:
            yield  # no lock primitive known for this backend
            return
        _wait_for(acquire, url, timeout, on_wait, poll)
        try:
            yield
        finally:
            try:
                release()
            except Exception:  # the connection's end releases it anyway
                pass
    finally:
        conn.close()
        engine.dispose()


def _wait_for(acquire: Callable[[], object], url: URL, timeout: float,
              on_wait: Callable[[float], None] | None, poll: float) -> None:
    started = time.monotonic()
    announced = False
    while not acquire():
        waited = time.monotonic() - started
        if waited >= timeout:
            raise LockTimeout(
                f"Waited {waited:.0f}s for the migrator lock of {mask_url(url)}.",
                "Another `safemigrate migrate` holds it; running two migrators at once would race.",
                "Wait for the other run to finish (or find it: pg_locks where locktype = 'advisory'), "
                "or raise --lock-wait.",
            )
        if on_wait is not None and not announced:
            on_wait(waited)
            announced = True
        time.sleep(poll)


@contextmanager
def _file_lock(url: URL, timeout: float, on_wait: Callable[[float], None] | None) -> Iterator[None]:
    database = url.database or ""
    if not database or database == ":memory:":
        yield
        return
    lock = FileLock(str(Path(database).resolve()) + ".safemigrate.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is not None:
            on_wait(0.0)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise LockTimeout(
                f"Waited {timeout:.0f}s for the migrator lock of {database}.",
                "Another `safemigrate migrate` is migrating this SQLite file.",
                "Wait for it to finish, or raise --lock-wait.",
            ) from None
    try:
        yield
    finally:
        lock.release()


__all__ = ["DatabaseUnreachable", "LockTimeout", "lock_key", "migrator_lock"]
