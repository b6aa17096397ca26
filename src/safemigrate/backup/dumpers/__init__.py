"""One dumper per backend: how to stream a dump out, check it, and restore it.

A dumper knows its server (version, revision, size, tables) and its tools;
the orchestration (storage, hashing, manifest, cleanup) lives in
:mod:`safemigrate.backup.take` and is the same for every backend. The
interface is in :mod:`.base`; the backends are imported on first use.
"""

from __future__ import annotations

from sqlalchemy.engine import URL

from safemigrate.backup.dumpers.base import Dumper, Snapshot
from safemigrate.config.backup import BackupSettings
from safemigrate.core.errors import ConfigError
from safemigrate.core.secrets import mask_url
from safemigrate.core.urls import backend_of

__all__ = ["Dumper", "Snapshot", "dumper_for"]


def dumper_for(url: URL, settings: BackupSettings) -> Dumper:
    backend = backend_of(url)
    if backend == "postgresql":
        from safemigrate.backup.dumpers.postgres import PostgresDumper

        return PostgresDumper(url, settings)
    if backend == "mysql":
        from safemigrate.backup.dumpers.mysql import MysqlDumper

        return MysqlDumper(url, settings)
    if backend == "sqlite":
        from safemigrate.backup.dumpers.sqlite import SqliteDumper

        return SqliteDumper(url, settings)
    raise ConfigError(
        f"safemigrate cannot back up a {backend} database ({mask_url(url)}).",
        "Backups are streamed with pg_dump, mariadb-dump/mysqldump or SQLite's backup API.",
        "Use your database's own backup tooling, and take the backup before running `safemigrate migrate`.",
    )
