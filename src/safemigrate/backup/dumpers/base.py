"""What every dumper is: the Dumper interface, the source snapshot, and the connection helpers they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from sqlalchemy import create_engine, inspect, pool, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import SQLAlchemyError

from safemigrate.backup.pump import ChunkSource, Sink
from safemigrate.backup.results import TableStats
from safemigrate.config.backup import BackupSettings
from safemigrate.core.db import unreachable
from safemigrate.core.errors import DatabaseUnreachable
from safemigrate.core.secrets import mask_url
from safemigrate.core.urls import sync_url


@dataclass
class Snapshot:
    """The source as the dump sees it."""

    revision: str | None  # alembic_version, read in the dump's snapshot where the backend allows
    size_hint: int | None  # bytes on disk: sizes the storage's upload parts
    stats: Callable[[bool], dict[str, TableStats]]  # tables (and row counts): same snapshot on PostgreSQL, SQLite
    notes: list[str] = field(default_factory=list)


class Dumper(ABC):
    backend: str
    format: str
    extension: str

    def __init__(self, url: URL, settings: BackupSettings):
        self.url = url
        self.settings = settings
        self.server_version = ""
        self.tools: dict[str, str] = {}
        self.notes: list[str] = []
        self.data_tables: set[str] | None = None  # set by reader(): tables with at least one row in the dump

    @property
    def database_name(self) -> str:
        return self.url.database or ""

    @abstractmethod
    def prepare(self) -> None:
        """Connect, learn the server version, find the tools that fit it (raise when none do)."""

    def for_archive(self, tools: dict[str, str]) -> None:  # noqa: B027 - optional: most dumpers need nothing
        """Prepare to check or restore an archive written with ``tools`` (from its manifest)."""

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[Snapshot]: ...

    @abstractmethod
    def source(self, snapshot: Snapshot) -> ChunkSource:
        """Start the dump; its chunks are what gets stored."""

    @abstractmethod
    def reader(self) -> Sink:
        """A sink that fails unless the stored bytes are a readable dump."""

    @abstractmethod
    def restorer(self, target: URL, *, owners: bool = True) -> Sink:
        """A sink that restores the stored bytes into ``target``."""

    # -- restore targets ---------------------------------------------------------------
    @abstractmethod
    def target_exists(self, target: URL) -> bool: ...

    @abstractmethod
    def create_target(self, target: URL) -> None: ...

    def replacer(self, target: URL, *, owners: bool = True) -> Sink | None:
        """A sink that empties ``target`` and restores into it all or nothing, where the format allows it;
        None: the target is emptied first (``empty_target``), then restored into."""
        return None

    def swap_in(self, staging: URL, target: URL) -> str | None:
        """Replace ``target``'s tables with those of ``staging`` (a database on the same server where the
        backup was restored and checked) in one atomic step, where the server allows it; return why not
        (nothing changed), or None when it was done."""
        return "this database cannot swap databases"

    @abstractmethod
    def empty_target(self, target: URL) -> None:
        """Remove everything a restore would otherwise collide with."""

    def target_tables(self, target: URL) -> list[str]:
        with connect(target, purpose="inspect the restore target") as conn:
            from safemigrate.backup import stats

            return sorted(stats.columns(conn, self.backend))

    def target_stats(self, target: URL) -> dict[str, TableStats]:
        with connect(target, purpose="read the restored database") as conn:
            from safemigrate.backup import stats

            return stats.table_stats(conn, self.backend)


def engine_for(url: URL) -> Engine:
    return create_engine(sync_url(url), poolclass=pool.NullPool)


@contextmanager
def connect(url: URL, *, purpose: str, isolation_level: str | None = None) -> Iterator:
    engine = engine_for(url)
    try:
        try:
            conn = engine.connect()
            if isolation_level:
                conn = conn.execution_options(isolation_level=isolation_level)
        except SQLAlchemyError as exc:
            raise unreachable(url, exc, purpose=purpose) from None
        except Exception as exc:
            raise DatabaseUnreachable(f"Could not {purpose} at {mask_url(url)}: {type(exc).__name__}: {exc}",
                                      "safemigrate could not open a connection with this URL.",
                                      "Check the URL's driver and that the driver package is installed.") from None
        try:
            yield conn
        finally:
            conn.close()
    finally:
        engine.dispose()


def read_revision(conn) -> str | None:
    try:
        if not inspect(conn).has_table("alembic_version"):
            return None
        heads = conn.execute(text("SELECT version_num FROM alembic_version ORDER BY version_num")).scalars().all()
    except SQLAlchemyError:
        return None
    return ",".join(heads) or None
