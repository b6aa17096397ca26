"""SQLite: the online backup API into memory, serialized and gzipped to storage.

``Connection.backup`` copies a consistent image of the database while other
connections keep using it; ``Connection.serialize`` turns the in-memory copy
into the bytes of a database file, which are compressed chunk by chunk to the
storage. No file is written on local disk; the cost is memory, about twice
the database's size (SQLite databases in production are small; larger ones
belong on a server database).
"""

from __future__ import annotations

import os
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import StaticPool

from safemigrate.backup.dumpers.base import Dumper, Snapshot, read_revision
from safemigrate.backup.pump import CHUNK, ChunkSource, Sink
from safemigrate.core.errors import BackupConfigError, DatabaseUnreachable, RestoreFailed, VerificationFailed

_GZIP = 31


def _path(url: URL) -> str | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return database


class _SerializedSource:
    def __init__(self, memory: sqlite3.Connection):
        self.memory = memory

    def chunks(self) -> Iterator[bytes]:
        image = memoryview(self.memory.serialize())
        compressor = zlib.compressobj(5, zlib.DEFLATED, _GZIP)
        for start in range(0, len(image), CHUNK):
            out = compressor.compress(image[start:start + CHUNK])
            if out:
                yield out
        yield compressor.flush()

    def finish(self) -> None:
        pass

    def abort(self) -> None:
        pass


class _ImageSink:
    """Collects the decompressed database image, then checks or restores it."""

    def __init__(self, then):
        self.inflater = zlib.decompressobj(_GZIP)
        self.image = bytearray()
        self.then = then

    def write(self, chunk: bytes) -> None:
        try:
            self.image += self.inflater.decompress(chunk)
        except zlib.error as exc:
            raise VerificationFailed(f"The stored SQLite backup is not valid gzip data: {exc}",
                                     "A corrupt archive would not restore the database.",
                                     "Take a new backup.") from None

    def finish(self) -> None:
        if not self.inflater.eof:
            raise VerificationFailed("The stored SQLite backup is truncated (its gzip stream does not end).",
                                     "A truncated image would not restore the database.", "Take a new backup.")
        memory = sqlite3.connect(":memory:")
        try:
            try:
                memory.deserialize(bytes(self.image))
                result = memory.execute("PRAGMA quick_check").fetchone()
            except sqlite3.DatabaseError as exc:
                raise VerificationFailed(f"The stored SQLite backup does not open as a database: {exc}",
                                         "A corrupt image would not restore the database.",
                                         "Take a new backup.") from None
            if not result or result[0] != "ok":
                raise VerificationFailed(f"SQLite's quick_check fails on the stored backup: {result}",
                                         "A corrupt image would not restore the database.", "Take a new backup.")
            self.then(memory)
        finally:
            memory.close()
            self.image = bytearray()

    def abort(self) -> None:
        self.image = bytearray()


class SqliteDumper(Dumper):
    backend = "sqlite"
    format = "sqlite-gzip"
    extension = ".sqlite.gz"

    @property
    def database_name(self) -> str:
        path = _path(self.url)
        return Path(path).stem if path else "memory"

    def prepare(self) -> None:
        path = _path(self.url)
        if path is None:
            raise BackupConfigError(
                "An in-memory SQLite database cannot be backed up.",
                "It exists only inside the process that opened it.",
                "Point the database URL at a SQLite file.",
            )
        if not os.path.isfile(path):
            raise DatabaseUnreachable(
                f"The SQLite database file {path} does not exist.",
                "There is nothing to back up.",
                "Check the database URL (a relative sqlite:/// path is relative to the working directory).",
            )
        self.server_version = sqlite3.sqlite_version
        self.tools = {"sqlite": f"sqlite3 module, SQLite {sqlite3.sqlite_version}"}

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        path = _path(self.url)
        assert path is not None
        memory = sqlite3.connect(":memory:", check_same_thread=False)
        try:
            try:
                source = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
                try:
                    source.backup(memory)
                finally:
                    source.close()
            except sqlite3.Error as exc:
                raise DatabaseUnreachable(f"Could not read the SQLite database {path}: {exc}",
                                          "SQLite's backup API could not copy it.",
                                          "Check the file and its permissions.") from None
            engine = create_engine("sqlite://", creator=lambda: memory, poolclass=StaticPool)
            with engine.connect() as conn:
                revision = read_revision(conn)

                def stats(count: bool = True):
                    from safemigrate.backup import stats as table_stats

                    return table_stats.table_stats(conn, self.backend, count=count)

                self._memory = memory
                yield Snapshot(revision, os.path.getsize(path), stats)
        finally:
            memory.close()

    def source(self, snapshot: Snapshot) -> ChunkSource:
        return _SerializedSource(self._memory)

    def reader(self) -> Sink:
        self.data_tables = set()
        found = self.data_tables

        def tables_with_rows(memory: sqlite3.Connection) -> None:
            names = [row[0] for row in memory.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")]
            for name in names:
                quoted = '"' + name.replace('"', '""') + '"'
                if memory.execute(f"SELECT 1 FROM {quoted} LIMIT 1").fetchone() is not None:
                    found.add(name)

        return _ImageSink(tables_with_rows)

    def restorer(self, target: URL, *, owners: bool = True) -> Sink:
        path = _path(target)

        def restore(memory: sqlite3.Connection) -> None:
            try:
                destination = sqlite3.connect(path or ":memory:")
                try:
                    memory.backup(destination)
                finally:
                    destination.close()
            except sqlite3.Error as exc:
                raise RestoreFailed(f"Could not write the SQLite database {path}: {exc}",
                                    "The restore did not complete.", "Check the path and its permissions.") from None

        return _ImageSink(restore)

    # -- restore targets -------------------------------------------------------------------
    def target_exists(self, target: URL) -> bool:
        path = _path(target)
        return bool(path) and os.path.isfile(path)  # type: ignore[arg-type]

    def create_target(self, target: URL) -> None:
        path = _path(target)
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)

    def empty_target(self, target: URL) -> None:
        pass  # the backup API replaces every page of the target
