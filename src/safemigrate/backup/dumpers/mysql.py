"""MySQL / MariaDB: ``mariadb-dump`` (or ``mysqldump``) ``--single-transaction``, gzipped on the fly.

The password goes to the tools through a ``--defaults-extra-file`` created
with mode 0600 in a private temporary folder and removed afterwards, never on
the command line. A complete dump ends with the tool's ``-- Dump completed``
trailer; the readability check looks for it.

The dump tool opens its own consistent snapshot, which safemigrate cannot
share: the row counts ``--verify restore`` compares are read in a consistent
snapshot opened just before the dump starts, so heavy writes in between can
show up as a difference.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from sqlalchemy import text
from sqlalchemy.engine import URL

from safemigrate.backup.dumpers.base import Dumper, Snapshot, connect, read_revision
from safemigrate.backup.pump import ChunkSource, ProcessSink, ProcessSource, Sink, error_line, mib
from safemigrate.backup.tools import mysql_defaults_file, mysql_tool, tool_env
from safemigrate.core.errors import DumpFailed, RestoreFailed, VerificationFailed
from safemigrate.harness.scratch import new_scratch_name

TRAILER = b"-- Dump completed"
_GZIP = 31  # zlib wbits for a gzip container


def _connection_args(url: URL) -> list[str]:
    args = []
    if url.host:
        args += [f"--host={url.host}", "--protocol=TCP"]
    if url.port:
        args.append(f"--port={url.port}")
    if url.username:
        args.append(f"--user={url.username}")
    socket = url.query.get("unix_socket")
    if socket:
        args.append(f"--socket={socket if isinstance(socket, str) else socket[-1]}")
    return args


class _Gunzip:
    """Decompresses a gzip stream chunk by chunk; knows whether the stream ended properly."""

    def __init__(self) -> None:
        self.inflater = zlib.decompressobj(_GZIP)

    def __call__(self, chunk: bytes) -> bytes:
        try:
            return self.inflater.decompress(chunk)
        except zlib.error as exc:
            raise VerificationFailed(f"The stored dump is not valid gzip data: {exc}",
                                     "A corrupt archive would not restore the database.",
                                     "Take a new backup.") from None

    @property
    def complete(self) -> bool:
        return self.inflater.eof


class _TrailerSink:
    """Reads the dump: it must end with the tool's trailer; notes each table an INSERT loads."""

    _HEAD = 300  # bytes of a line's start kept to read its table name

    def __init__(self, found: set[str] | None = None) -> None:
        self.gunzip = _Gunzip()
        self.tail = b""
        self.found = found if found is not None else set()
        self.line = b""  # the start of the current line
        self.line_done = False  # its start was read (or it is longer than _HEAD)

    def write(self, chunk: bytes) -> None:
        data = self.gunzip(chunk)
        self.tail = (self.tail + data)[-512:]
        pieces = data.split(b"\n")
        for index, piece in enumerate(pieces):
            if index:  # a new line starts
                self._line_ended()
            if not self.line_done:
                self.line = (self.line + piece)[: self._HEAD]
                self.line_done = len(self.line) >= self._HEAD
                if self.line_done:
                    self._read_line()

    def _line_ended(self) -> None:
        if not self.line_done:
            self._read_line()
        self.line, self.line_done = b"", False

    def _read_line(self) -> None:
        if self.line.startswith(b"INSERT INTO "):
            # the values may be cut off mid-string: only the statement's head goes to the tokenizer
            name = _inserted_table(self.line.split(b" VALUES", 1)[0].decode(errors="replace"))
            if name:
                self.found.add(name)

    def finish(self) -> None:
        if not self.gunzip.complete or TRAILER not in self.tail:
            raise VerificationFailed(
                "The stored MySQL dump is truncated: it does not end with the dump tool's '-- Dump completed' line.",
                "A dump that stops early restores only part of the database.",
                "Take a new backup.",
            )

    def abort(self) -> None:
        pass


class _GunzipInto:
    """Decompress, then hand to a client process."""

    def __init__(self, inner: ProcessSink, stack: ExitStack):
        self.inner, self.stack, self.gunzip = inner, stack, _Gunzip()

    def write(self, chunk: bytes) -> None:
        self.inner.write(self.gunzip(chunk))

    def finish(self) -> None:
        try:
            self.inner.finish()
        finally:
            self.stack.close()

    def abort(self) -> None:
        try:
            self.inner.abort()
        finally:
            self.stack.close()


class MysqlDumper(Dumper):
    backend = "mysql"
    format = "mysql-sql-gzip"
    extension = ".sql.gz"

    def prepare(self) -> None:
        with connect(self.url, purpose="connect for the backup") as conn:
            self.server_version = conn.execute(text("SELECT VERSION()")).scalar_one()
        self.dump_tool = mysql_tool(("mariadb-dump", "mysqldump"), self.settings.tools.get("mysql_dump"),
                                    "mysql_dump")
        self.tools = {"dump": self.dump_tool.version}

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        with connect(self.url, purpose="connect for the backup") as conn:
            conn.exec_driver_sql("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            revision = read_revision(conn)
            size = conn.execute(text(
                "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
                "WHERE table_schema = DATABASE()")).scalar_one()

            def stats(count: bool = True):
                from safemigrate.backup import stats as table_stats

                return table_stats.table_stats(conn, self.backend, count=count)

            try:
                yield Snapshot(revision, int(size), stats)
            finally:
                conn.rollback()

    def source(self, snapshot: Snapshot) -> ChunkSource:
        stack = ExitStack()
        credentials, fds = stack.enter_context(
            mysql_defaults_file(str(self.url.password) if self.url.password else None))
        argv = [self.dump_tool.path, *credentials, *_connection_args(self.url), "--single-transaction", "--quick",
                "--routines", "--triggers", "--hex-blob", "--default-character-set=utf8mb4", "--no-tablespaces",
                "--", self.database_name]
        compressor = zlib.compressobj(5, zlib.DEFLATED, _GZIP)

        def failed(code: int, stderr: str, produced: int) -> BaseException:
            lowered = stderr.lower()
            if "lost connection" in lowered or "gone away" in lowered or "can't connect" in lowered:
                fix = "The database connection was lost during the dump. Check the server, then run again."
            elif "access denied" in lowered:
                fix = ("The database user lacks a privilege the dump needs (SELECT, SHOW VIEW, TRIGGER, and for "
                       "routines, SELECT on mysql.proc or SHOW_ROUTINE): grant it, then run again.")
            else:
                fix = "Fix the cause the dump tool names above, then run the backup again."
            return DumpFailed(
                f"{self.dump_tool.path.rsplit('/', 1)[-1]} failed (exit {code}) after writing {mib(produced)}: "
                f"{error_line(stderr)}",
                "An interrupted dump cannot restore the database: it does not count as a backup.",
                fix, details=stderr[-4000:],
            )

        try:
            source = ProcessSource(argv, tool_env(), on_failure=failed, transform=compressor.compress,
                                   flush=compressor.flush, pass_fds=fds)
        except BaseException:
            stack.close()  # the credentials file never outlives the tool
            raise
        original_finish, original_abort = source.finish, source.abort

        def finish() -> None:
            try:
                original_finish()
            finally:
                stack.close()

        def abort() -> None:
            try:
                original_abort()
            finally:
                stack.close()

        source.finish, source.abort = finish, abort  # type: ignore[method-assign]
        return source

    def reader(self) -> Sink:
        self.data_tables = set()
        return _TrailerSink(self.data_tables)

    def restorer(self, target: URL, *, owners: bool = True) -> Sink:
        client = mysql_tool(("mariadb", "mysql"), self.settings.tools.get("mysql_client"), "mysql_client")
        self.tools["client"] = client.version
        stack = ExitStack()
        credentials, fds = stack.enter_context(mysql_defaults_file(str(target.password) if target.password else None))
        argv = [client.path, *credentials, *_connection_args(target), "--default-character-set=utf8mb4",
                "--", target.database or ""]

        def check(code: int, stderr: str) -> None:
            if code != 0:
                raise RestoreFailed(
                    f"The {client.path.rsplit('/', 1)[-1]} client failed while restoring (exit {code}): "
                    f"{error_line(stderr)}",
                    "MySQL/MariaDB commit each DDL statement: the target database holds part of the backup now.",
                    "Fix the cause named above, then restore again with --replace.",
                    details=stderr[-4000:],
                )

        try:
            sink = ProcessSink(argv, tool_env(), check, pass_fds=fds)
        except BaseException:
            stack.close()
            raise
        return _GunzipInto(sink, stack)

    # -- restore targets -------------------------------------------------------------------
    def target_exists(self, target: URL) -> bool:
        with connect(target.set(database=""), purpose="look up the restore target") as conn:
            return conn.execute(text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :n"),
                                {"n": target.database}).first() is not None

    def create_target(self, target: URL) -> None:
        with connect(target.set(database=""), purpose="create the restore target") as conn:
            name = (target.database or "").replace("`", "``")
            conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")

    def swap_in(self, staging: URL, target: URL) -> str | None:
        """One ``RENAME TABLE`` moves the target's tables out and the staging database's in: atomic on MariaDB
        and MySQL (crash-safe with MariaDB 10.6's atomic DDL and MySQL 8's data dictionary), so a kill leaves
        the target with its old tables or the backup's, never a mixture.

        Only base tables move this way (a view, trigger, routine or event cannot change database), so a
        database holding any of those is restored the other way (the caller empties it first)."""
        with connect(target.set(database=""), purpose="swap in the restored tables") as conn:
            names = {"target": target.database or "", "staging": staging.database or ""}
            others = conn.execute(text(
                "SELECT 'view' AS kind, table_schema AS db FROM information_schema.tables "
                "WHERE table_type <> 'BASE TABLE' AND table_schema IN (:target, :staging) "
                "UNION ALL SELECT 'trigger', trigger_schema FROM information_schema.triggers "
                "WHERE trigger_schema IN (:target, :staging) "
                "UNION ALL SELECT 'routine', routine_schema FROM information_schema.routines "
                "WHERE routine_schema IN (:target, :staging) "
                "UNION ALL SELECT 'event', event_schema FROM information_schema.events "
                "WHERE event_schema IN (:target, :staging)"), names).all()
            if others:
                kinds = sorted({kind for kind, _ in others})
                return f"the database or the backup holds {', '.join(kinds)}s, which cannot change database"
            tables = {db: [row[0] for row in conn.execute(text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = :db ORDER BY table_name"),
                {"db": name})] for db, name in names.items()}
            trash = new_scratch_name()
            conn.exec_driver_sql(f"CREATE DATABASE {_name(trash)}")
            try:
                moves = [f"{_name(names['target'])}.{_name(t)} TO {_name(trash)}.{_name(t)}" for t in tables["target"]]
                moves += [f"{_name(names['staging'])}.{_name(t)} TO {_name(names['target'])}.{_name(t)}"
                          for t in tables["staging"]]
                if moves:
                    conn.exec_driver_sql("RENAME TABLE " + ", ".join(moves))
            finally:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {_name(trash)}")
        return None

    def empty_target(self, target: URL) -> None:
        with connect(target.set(database=""), purpose="empty the restore target") as conn:
            charset = conn.execute(text(
                "SELECT default_character_set_name, default_collation_name FROM information_schema.schemata "
                "WHERE schema_name = :n"), {"n": target.database}).first()
            name = (target.database or "").replace("`", "``")
            conn.exec_driver_sql(f"DROP DATABASE `{name}`")
            suffix = f" CHARACTER SET {charset[0]} COLLATE {charset[1]}" if charset else ""
            conn.exec_driver_sql(f"CREATE DATABASE `{name}`{suffix}")


def _name(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def _inserted_table(start: str) -> str | None:
    """The table of ``INSERT INTO `t` VALUES ...`` (the start of a dump line), read by MySQL's tokenizer."""
    import sqlglot

    try:
        tokens = sqlglot.Dialect.get_or_raise("mysql").tokenize(start)
    except sqlglot.errors.TokenError:
        return None
    if len(tokens) >= 3 and tokens[0].text.upper() == "INSERT" and tokens[1].text.upper() == "INTO":
        return tokens[2].text
    return None
