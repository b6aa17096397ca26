"""Short-lived connections safemigrate opens itself, and what to say when one cannot be opened."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError

from safemigrate.core.errors import DatabaseUnreachable
from safemigrate.core.secrets import mask_url, redact
from safemigrate.core.urls import sync_url


@contextmanager
def engine_for(url: URL, *, autocommit: bool = False) -> Iterator[Engine]:
    """An engine on ``url`` through a sync driver, with no pool, disposed afterwards."""
    options = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    engine = create_engine(sync_url(url), poolclass=pool.NullPool, **options)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def connected(url: URL, *, transaction: bool = False) -> Iterator[Connection]:
    """One short-lived connection on ``url`` (see :func:`engine_for`); ``transaction``: committed on success."""
    with engine_for(url) as engine, (engine.begin() if transaction else engine.connect()) as conn:
        yield conn


def unreachable(url: URL | str, exc: BaseException, purpose: str = "connect") -> DatabaseUnreachable:
    """A DatabaseUnreachable error describing ``exc`` without any password."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = detail[0] if detail else type(exc).__name__
    lowered = " ".join(detail).lower()
    user = _user_of(url)
    role = re.search(r'role "([^"]+)" does not exist', " ".join(detail))
    if refused_option(exc):
        why = ("The driver refused a connection option before it contacted the server: options are "
               "driver-specific (asyncpg's timeout is psycopg's connect_timeout).")
        fix = "Use the driver the options are written for in the URL, or remove the option."
    elif "permission denied to create database" in lowered or (
            "access denied for user" in lowered and " to database " in lowered and "create" in purpose):
        why = (f"The server accepted {user!r} but does not let it create databases, and safemigrate builds each "
               "throwaway database (named safemigrate_tmp_...) on this server and drops it afterwards.")
        grant = (f"ALTER ROLE {user} CREATEDB" if "postgres" in str(url).split(":", 1)[0]
                 else f"GRANT ALL PRIVILEGES ON `safemigrate\\_tmp\\_%`.* TO '{user}'@'%'")
        fix = (f"Grant it ({grant}), point scratch_url at a user that may create databases, or leave scratch_url "
               "unset to build on SQLite files.")
    elif role is not None:
        why = f"The server has no role (user) named {role.group(1)!r}: it refused the connection before any password."
        fix = f"Correct the user name in the URL, or create the role (CREATE ROLE {role.group(1)} LOGIN ...)."
    elif "access denied for user" in lowered and " to database " in lowered:
        why = f"The server accepted {user!r} but it has no privileges on the database named in the URL."
        fix = "Grant the user privileges on that database, or correct the database name in the URL."
    elif "password" in lowered or "authentication" in lowered or "access denied" in lowered:
        why = "The server refused the credentials in the URL."
        fix = "Check the user name and password (the password itself is never shown)."
    elif "does not exist" in lowered or "unknown database" in lowered:
        why = "The server is reachable but the database does not exist."
        fix = "Create the database, or correct the database name in the URL."
    else:
        why = "The server did not answer or refused the connection."
        fix = "Check that the server is running and that host and port in the URL are right."
    return DatabaseUnreachable(
        f"Could not {purpose} at {mask_url(url)}: {first}", why, fix,
    )


def _user_of(url: URL | str) -> str:
    try:
        return str((url if isinstance(url, URL) else make_url(url)).username or "the user")
    except Exception:
        return "the user"


def refused_option(exc: BaseException) -> bool:
    """Whether the driver refused a connection option (connect_args, a URL query parameter) itself."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(sign in text for sign in ("invalid connection option", "invalid dsn", "unexpected keyword argument",
                                         "invalid keyword argument"))


def ensure_reachable(url: URL) -> None:
    """Connect once to ``url`` and raise DatabaseUnreachable with a clear message if that fails."""
    try:
        with engine_for(url) as engine, engine.connect():
            pass
    except DBAPIError as exc:
        raise unreachable(url, exc) from None
    except Exception as exc:  # e.g. a missing driver module
        raise DatabaseUnreachable(
            f"Could not connect to {mask_url(url)}: {type(exc).__name__}: {redact(str(exc))}",
            "safemigrate could not open a connection with this URL.",
            "Check the URL's driver and that the driver package is installed.",
        ) from None
