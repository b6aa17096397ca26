"""Throwaway databases: created for one operation, always dropped afterwards.

A SQLite file in a temporary folder by default; a temporary database on a
PostgreSQL or MySQL/MariaDB server when a scratch URL names one (the URL's
database is only used to connect and issue CREATE/DROP DATABASE). Names carry
the prefix ``safemigrate_tmp_`` and their creation time, so leftovers of a
killed process (older than an hour) are removed by the next run.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from safemigrate.core.db import unreachable
from safemigrate.core.errors import ConfigError, TemplateInUse
from safemigrate.core.secrets import mask_url
from safemigrate.core.urls import backend_of, parse_url, sync_url

PREFIX = "safemigrate_tmp_"
LEFTOVER_AGE_SECONDS = 3600


@dataclass(frozen=True)
class ScratchDatabase:
    """A database that exists only for the duration of one ``with`` block."""

    url: URL  # sync URL safemigrate itself connects with
    name: str
    backend: str

    def describe(self) -> str:
        if self.backend == "sqlite":
            return f"temporary SQLite file {self.url.database}"
        return f"temporary database {self.name} on {mask_url(self.url.set(database=''))}"


def new_scratch_name() -> str:
    """A name for a throwaway database or folder: old ones are found by it and removed."""
    return f"{PREFIX}{int(time.time())}_{secrets.token_hex(4)}"


def _is_stale(name: str, now: float) -> bool:
    try:
        created = int(name[len(PREFIX):].split("_", 1)[0])
    except ValueError:
        return False
    return now - created > LEFTOVER_AGE_SECONDS


@contextmanager
def scratch_database(server_url: str | URL | None = None, *, template: str | None = None) \
        -> Iterator[ScratchDatabase]:
    """Create a throwaway database, yield it, and drop it whatever happens.

    ``template``: a PostgreSQL database of the same server to copy (``CREATE DATABASE ... TEMPLATE``).
    """
    if template is not None and (server_url is None or backend_of(parse_url(server_url)) != "postgresql"):
        raise ConfigError("Only PostgreSQL copies a database with CREATE DATABASE ... TEMPLATE.",
                          "A copy by template is made by the server itself, from a database it holds.",
                          "Give a postgresql:// URL.")
    if server_url is None:
        with _sqlite_scratch() as db:
            yield db
        return
    url = sync_url(parse_url(server_url))
    backend = backend_of(url)
    if backend == "sqlite":
        with _sqlite_scratch() as db:
            yield db
    elif backend in {"postgresql", "mysql"}:
        with _server_scratch(url, backend, template) as db:
            yield db
    else:
        raise ConfigError(
            f"The scratch URL {mask_url(url)} names a {backend} server.",
            "safemigrate can create throwaway databases on PostgreSQL, MySQL/MariaDB and SQLite.",
            "Give --scratch-url a postgresql:// or mysql:// URL of a server where you may create databases.",
        )


@contextmanager
def _sqlite_scratch() -> Iterator[ScratchDatabase]:
    base = Path(tempfile.gettempdir())
    _remove_stale_sqlite(base)
    name = new_scratch_name()
    folder = base / name
    folder.mkdir(mode=0o700)  # a private folder: the throwaway database may hold copied data
    try:
        path = folder / "scratch.db"
        # the plain form (sqlite:///path): some env.py files accept no other
        yield ScratchDatabase(URL.create("sqlite", database=str(path)), name, "sqlite")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _remove_stale_sqlite(base: Path) -> None:
    now = time.time()
    try:
        entries = list(base.glob(f"{PREFIX}*"))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir() and _is_stale(entry.name, now):
            shutil.rmtree(entry, ignore_errors=True)


def _admin_engine(url: URL) -> Engine:
    return create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")


@contextmanager
def _server_scratch(server: URL, backend: str, template: str | None = None) -> Iterator[ScratchDatabase]:
    engine = _admin_engine(server)
    name = new_scratch_name()
    quote = '"' if backend == "postgresql" else "`"
    copy = " TEMPLATE \"{}\"".format(template.replace('"', '""')) if template is not None else ""
    try:
        with engine.connect() as conn:
            _drop_stale(conn, backend, quote)
            conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}{copy}"))
    except SQLAlchemyError as exc:
        engine.dispose()
        if template is not None and getattr(getattr(exc, "orig", None), "sqlstate", None) == "55006":
            raise TemplateInUse(
                f"PostgreSQL could not copy database {template!r}: other sessions are connected to it.",
                "CREATE DATABASE ... TEMPLATE copies a database only while no other session is connected to it "
                "(the application, a pooler, psql).",
                "Copy it while nothing is connected (a staging database), or make a clone yourself and pass "
                "its URL with --from-url.",
            ) from None
        raise unreachable(server, exc, purpose="create a throwaway database") from None
    try:
        yield ScratchDatabase(server.set(database=name), name, backend)
    finally:
        try:
            with engine.connect() as conn:
                _drop(conn, backend, name, quote)
        finally:
            engine.dispose()


def _drop(conn: Connection, backend: str, name: str, quote: str) -> None:
    if backend == "postgresql":
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    # MySQL/MariaDB wait for metadata locks held by sessions still using the
    # database: end those sessions first.
    rows = conn.execute(
        text("SELECT id FROM information_schema.processlist WHERE db = :name AND id <> CONNECTION_ID()"),
        {"name": name},
    ).scalars().all()
    for pid in rows:
        try:
            conn.execute(text(f"KILL {int(pid)}"))
        except SQLAlchemyError:
            pass
    conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))


def _drop_stale(conn: Connection, backend: str, quote: str) -> None:
    if backend == "postgresql":
        names = conn.execute(
            text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": PREFIX + "%"}
        ).scalars().all()
    else:
        names = conn.execute(
            text("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE :p"),
            {"p": PREFIX + "%"},
        ).scalars().all()
    now = time.time()
    for name in names:
        if _is_stale(name, now):
            try:
                _drop(conn, backend, name, quote)
            except SQLAlchemyError:
                pass  # another run may be dropping it at the same moment
