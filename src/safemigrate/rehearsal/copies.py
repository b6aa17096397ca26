"""The database a rehearsal runs on: a copy with the volume of production, never production itself.

``--template``
    ``CREATE DATABASE ... TEMPLATE`` of the project's database, on its server: a throwaway copy.
``--from-url URL``
    a staging or clone database the user provides. It is the user's: the revisions are applied to it and it
    is kept (refused when it is the project's live database).
``--backup ID|latest``
    one of safemigrate's own backups (:mod:`safemigrate.backup`), restored into a throwaway database on the
    scratch server (or the live database's server), checked against its manifest while it streams in.
    ``latest`` is the newest backup of the project's database.
``--rows N`` / ``--rows table=N``
    a throwaway database on the scratch server (or the live database's server), upgraded to the revision
    before the range and filled with generated rows (:mod:`safemigrate.rehearsal.synthetic`).

Throwaway copies come from :func:`safemigrate.harness.scratch.scratch_database`: dropped afterwards, on
failure and on Ctrl-C or SIGTERM too (the command unwinds like Ctrl-C), and a leftover of a killed process
is dropped by the next run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import URL

from safemigrate.core.errors import RehearsalRefused, UsageError
from safemigrate.core.secrets import mask_url
from safemigrate.core.urls import backend_of, parse_url, sync_url
from safemigrate.harness.recorder import same_database
from safemigrate.harness.scratch import scratch_database

if TYPE_CHECKING:
    from safemigrate.backup.results import RestoreResult
    from safemigrate.harness.workspace import Workspace


@dataclass(frozen=True)
class CopySource:
    """How to get the copy: exactly one of template, from_url, backup, rows."""

    template: bool = False
    from_url: str | None = None
    backup: str | None = None  # a backup id (or a prefix of one), or "latest"
    rows: int | None = None  # every table to this many rows
    table_rows: dict[str, int] = field(default_factory=dict)  # per table (--rows orders=5000000)

    @property
    def synthetic(self) -> bool:
        return self.rows is not None or bool(self.table_rows)

    @property
    def method(self) -> str:
        return ("template" if self.template else "from-url" if self.from_url else "backup" if self.backup
                else "synthetic")


@dataclass(frozen=True)
class Copy:
    url: URL  # password included: never print it (mask_url)
    description: str
    throwaway: bool
    backup_id: str | None = None  # the backup restored into it (--backup)


def check_source(project: Workspace, source: CopySource) -> URL:
    """The URL the copy is made from or on (refusing what cannot or must not be rehearsed)."""
    chosen = [name for name, given in (("--template", source.template), ("--from-url", bool(source.from_url)),
                                       ("--backup", bool(source.backup)), ("--rows", source.synthetic)) if given]
    if len(chosen) != 1:
        raise UsageError(
            "A rehearsal needs exactly one copy: " + (f"{' and '.join(chosen)} were both given." if chosen
                                                        else "none was given."),
            "The revisions run on a copy with production-like volume, never on the live database.",
            "Pass one of --template (a copy of the project's database on its server), --from-url URL (a staging "
            "or clone database), --backup ID|latest (one of safemigrate's backups, restored into a throwaway "
            "database) or --rows N (a synthetic copy); rows = N in [tool.safemigrate.rehearsal] makes --rows the "
            "default.",
        )
    if source.template:
        url = project.require_live()
    elif source.from_url:
        url = parse_url(source.from_url)
        live = project.database_url
        if live is not None and (same_database(url, live) or _same_server_database(url, live)):
            raise RehearsalRefused(
                f"--from-url {mask_url(url)} is the project's live database ({project.database_source}).",
                "A rehearsal applies the revisions to the database it runs on and takes the locks it measures: "
                "on the live database that is the migration itself, with the stalls it is meant to foresee.",
                "Pass the URL of a staging database or a clone, or use --template to rehearse on a throwaway "
                "copy of the live database.",
            )
    else:
        server = project.scratch_server or project.database_url
        if server is None:
            what = "A copy restored from a backup (--backup)" if source.backup else "A synthetic copy (--rows)"
            raise UsageError(
                f"{what} needs a {'database' if source.backup else 'PostgreSQL'} server to create it on.",
                "safemigrate creates a throwaway database there, fills it and drops it.",
                "Pass --scratch-url postgresql://... (or set scratch_url in [tool.safemigrate]).",
            )
        url = server
    refuse_backend(url, source)
    return url


_IDENTITY = ("SELECT pg_postmaster_start_time()::text, current_database(), "
             "(SELECT oid FROM pg_database WHERE datname = current_database())")


def _identity(url: URL) -> tuple[object, ...] | None:
    """What tells one PostgreSQL database from every other: its server's start time, its name and oid."""
    try:
        engine = create_engine(sync_url(url), poolclass=pool.NullPool, connect_args={"connect_timeout": 5})
        try:
            with engine.connect() as conn:
                row = conn.execute(text(_IDENTITY)).one()
                return tuple(row)
        finally:
            engine.dispose()
    except Exception:  # unreachable, another backend: the names decide (same_database)
        return None


def _same_server_database(url: URL, live: URL) -> bool:
    """The same database under another name (localhost and 127.0.0.1, a DNS alias, another driver)."""
    if backend_of(url) != "postgresql" or backend_of(live) != "postgresql" or url.database != live.database:
        return False
    mine = _identity(url)
    return mine is not None and mine == _identity(live)


def refuse_backend(url: URL, source: CopySource | None = None) -> None:
    """SQLite and other databases cannot be rehearsed; on MySQL/MariaDB, --template and --rows cannot."""
    backend = backend_of(url)
    if backend == "sqlite":
        raise RehearsalRefused(
            f"Rehearsals measure PostgreSQL and MySQL/MariaDB; {mask_url(url)} is a SQLite database.",
            "SQLite has one writer at a time and no lock a migration could hold against other sessions for a "
            "measurable while in the way a server database does: there is no application stall to measure.",
            "Rehearse on a PostgreSQL (or MySQL/MariaDB) copy: --template with a postgresql:// database URL, "
            "--from-url URL, --backup latest, or --rows N --scratch-url postgresql://...",
        )
    if backend == "mysql" and source is not None and (source.template or source.synthetic):
        option = "--template" if source.template else "--rows"
        raise RehearsalRefused(
            f"{option} makes PostgreSQL copies only; {mask_url(url)} is a MySQL/MariaDB database.",
            "CREATE DATABASE ... TEMPLATE and the server-side synthetic fill are PostgreSQL's.",
            "On MySQL/MariaDB, rehearse on one of safemigrate's backups (--backup latest, restored into a "
            "throwaway database) or on a staging or clone database (--from-url URL).",
        )
    if backend not in {"postgresql", "mysql"}:
        raise RehearsalRefused(
            f"Rehearsals measure PostgreSQL and MySQL/MariaDB only; {mask_url(url)} is a {backend} database.",
            "safemigrate reads locks from pg_locks (PostgreSQL) or performance_schema (MySQL/MariaDB).",
            "Rehearse on a PostgreSQL or MySQL/MariaDB copy.",
        )


@contextmanager
def copy_for(source: CopySource, url: URL, project: Workspace | None = None) -> Iterator[Copy]:
    """The database to run on; a throwaway one is dropped whatever happens."""
    if source.backup:
        assert project is not None
        with scratch_database(url) as scratch:
            restored = _restore(project, source.backup, scratch.url)
            yield Copy(scratch.url, f"backup {restored.id} restored into {scratch.describe()} (checked against "
                       "its manifest), dropped afterwards", throwaway=True, backup_id=restored.id)
        return
    if source.from_url:
        yield Copy(url, f"database {mask_url(url)} (given with --from-url: kept, now at the rehearsed revision)",
                   throwaway=False)
        return
    template = url.database if source.template else None
    # TEMPLATE needs the source without sessions: safemigrate's own connects to the maintenance database
    server = url.set(database="postgres") if template else url
    with scratch_database(server, template=template) as scratch:
        what = (f"copy of {url.database} (CREATE DATABASE ... TEMPLATE)" if template
                else "synthetic copy")
        yield Copy(scratch.url, f"{what}: {scratch.describe()}, dropped afterwards", throwaway=True)


def _restore(project: Workspace, backup_id: str, target: URL) -> RestoreResult:
    """Restore ``backup_id`` (``latest``: the project's database's newest) into the empty database ``target``.

    Owners are not restored: the roles of production need not exist on the server of the copy, and the
    rehearsal runs as the server's user, as the throwaway builds do.
    """
    from safemigrate.backup import restore

    return restore(project, backup_id, target=target.render_as_string(hide_password=False), owners=False)
