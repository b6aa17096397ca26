"""Database URLs: parsing (remembering the password so it is masked everywhere), backends, drivers."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from safemigrate.core.errors import ConfigError
from safemigrate.core.secrets import _mask_unparsed, mask_url, remember_secret

#: Sync drivers safemigrate uses for its own connections.
SYNC_DRIVERS = {"postgresql": "psycopg", "mysql": "pymysql", "mariadb": "pymysql", "sqlite": "pysqlite"}
_ASYNC_DRIVERS = {"asyncpg", "aiosqlite", "aiomysql", "asyncmy", "psycopg_async"}


def parse_url(url: str | URL) -> URL:
    """Parse ``url`` and remember its password so that it is masked everywhere."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"'{_mask_unparsed(str(url))}' is not a database URL.",
            "safemigrate needs a SQLAlchemy URL to know which database to inspect or change.",
            "Use the form dialect+driver://user:password@host:port/database, "
            "for example postgresql+psycopg://app@127.0.0.1:5432/shop or sqlite:///shop.db.",
        ) from exc
    if parsed.host and any(char in parsed.host for char in "@/?#"):
        raise ConfigError(
            f"'{_mask_unparsed(str(url))}' is not a database URL: its user or password holds a character "
            "that must be percent-encoded (@ / : ? #).",
            "Read as it is, part of the password would be taken for the host name.",
            "Percent-encode the password (for example @ as %40, / as %2F, : as %3A), e.g. with "
            "urllib.parse.quote_plus().",
        )
    if parsed.password:
        remember_secret(str(parsed.password))
    mask_url(parsed)  # remembers a password given in the query (?password=...) too
    return parsed


def backend_of(url: URL) -> str:
    """The backend name: postgresql, mysql, sqlite... (mariadb counts as mysql)."""
    name = url.get_backend_name()
    return "mysql" if name == "mariadb" else name


def is_async_driver(url: URL) -> bool:
    """Whether ``url`` names an asyncio driver (asyncpg, aiosqlite...; psycopg serves both)."""
    return url.get_driver_name() in _ASYNC_DRIVERS


def sync_url(url: URL) -> URL:
    """The same database through a sync driver that is installed.

    Async drivers are swapped for the sync one safemigrate ships with, and so
    are default drivers that are not installed (``postgresql://`` means
    psycopg2, ``mysql://`` means mysqlclient).
    """
    backend = url.get_backend_name()
    driver = url.get_driver_name()
    if backend not in SYNC_DRIVERS:
        return url
    if driver in _ASYNC_DRIVERS or not _driver_installed(driver):
        return url.set(drivername=f"{backend}+{SYNC_DRIVERS[backend]}")
    return url


_DRIVER_MODULES = {"psycopg2": "psycopg2", "mysqldb": "MySQLdb", "psycopg": "psycopg", "pymysql": "pymysql",
                   "pysqlite": "sqlite3", "pg8000": "pg8000", "mysqlconnector": "mysql.connector",
                   "asyncpg": "asyncpg", "aiosqlite": "aiosqlite", "aiomysql": "aiomysql", "asyncmy": "asyncmy",
                   "psycopg_async": "psycopg"}


def _driver_installed(driver: str) -> bool:
    module = _DRIVER_MODULES.get(driver)
    if module is None:
        return True  # a driver we do not know: let SQLAlchemy decide
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def with_driver_of(url: URL, template: URL | None) -> URL:
    """``url`` using ``template``'s driver when both name the same backend.

    A project whose env.py builds an async engine needs an async driver in the
    URL it is given, so the throwaway database inherits the project's driver.
    """
    if template is None or backend_of(template) != backend_of(url):
        return url
    if not _driver_installed(template.get_driver_name()):
        return url  # postgresql:// means psycopg2; not installed, safemigrate's own driver serves
    return url.set(drivername=template.drivername)


def anchored(url: URL, root: Path) -> URL:
    """A SQLite URL's relative file read from ``root`` (the project folder, where env.py runs).

    Why: ``sqlite:///dev.db`` in pyproject.toml or $DATABASE_URL names one file for the project, but a
    command started in a subfolder would open (and create) ``<subfolder>/dev.db`` and its lock file beside it,
    while env.py, run in the project folder, opens another. Started in the project folder, the URL is kept as
    written (the same file, and messages show it as the user wrote it).
    """
    database = url.database
    if backend_of(url) != "sqlite" or not database or database == ":memory:" or database.startswith("file:") \
            or os.path.isabs(database) or Path.cwd().resolve() == root.resolve():
        return url
    return url.set(database=str(root.resolve() / database))
