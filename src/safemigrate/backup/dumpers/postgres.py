"""PostgreSQL: ``pg_dump --format=custom`` streamed out, ``pg_restore`` to check and restore.

safemigrate exports a snapshot (``pg_export_snapshot``) and hands it to
pg_dump with ``--snapshot``: the revision recorded in the manifest and the row
counts compared by ``--verify restore`` are read from exactly the data that
was dumped, even while the application keeps writing.

The password goes to the tools in ``PGPASSWORD``, never on their command line.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from safemigrate.backup.dumpers.base import Dumper, Snapshot, connect, read_revision
from safemigrate.backup.pump import ChunkSource, ProcessSink, ProcessSource, Sink, StderrTail, error_line, mib, start
from safemigrate.backup.tools import _VERSION, Tool, pg_tool, tool_env
from safemigrate.core.errors import DumpFailed, RestoreFailed, VerificationFailed

#: libpq parameters that may come from the URL's query string (never a password).
_LIBPQ_KEYS = {"sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl", "connect_timeout", "target_session_attrs",
               "gssencmode", "channel_binding", "host", "hostaddr", "service", "options", "krbsrvname"}
APPLICATION_NAME = "safemigrate-backup"


def conninfo(url: URL) -> str:
    """A libpq connection string without the password (that goes in PGPASSWORD)."""
    params: dict[str, str] = {"dbname": url.database or "postgres", "application_name": APPLICATION_NAME}
    if url.host:
        params["host"] = url.host
    if url.port:
        params["port"] = str(url.port)
    if url.username:
        params["user"] = url.username
    for key, value in url.query.items():
        if key in _LIBPQ_KEYS:
            params[key] = value if isinstance(value, str) else value[-1]
    return " ".join(f"{k}={_quote(v)}" for k, v in params.items())


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def password_env(url: URL) -> dict[str, str]:
    return tool_env({"PGPASSWORD": str(url.password)} if url.password else None)


class PostgresDumper(Dumper):
    backend = "postgresql"
    format = "pg_dump-custom"
    extension = ".dump"

    def prepare(self) -> None:
        with connect(self.url, purpose="connect for the backup") as conn:
            self.server_version = conn.execute(text("SHOW server_version")).scalar_one()
            self.server_major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
        self.pg_dump, note = pg_tool("pg_dump", self.server_major, self.settings.tools.get("pg_dump"), key="pg_dump")
        if note:
            self.notes.append(note)
        self.tools = {"pg_dump": self.pg_dump.version}

    def for_archive(self, tools: dict[str, str]) -> None:
        """Restoring or checking an archive: pg_restore must be at least as new as the pg_dump that wrote it."""
        match = _VERSION.search(tools.get("pg_dump", "").split(")", 1)[-1])
        self.archive_major = int(match.group(1)) if match else None

    def pg_restore(self) -> Tool:
        if not hasattr(self, "_pg_restore"):
            pg_dump = getattr(self, "pg_dump", None)
            needed = getattr(self, "archive_major", None) or (pg_dump.major if pg_dump else None) or 0
            self._pg_restore, _ = pg_tool("pg_restore", needed, self.settings.tools.get("pg_restore"),
                                          key="pg_restore", at_least=needed,
                                          prefer_folder=pg_dump.folder if pg_dump else None)
            self.tools["pg_restore"] = self._pg_restore.version
        return self._pg_restore

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        with connect(self.url, purpose="connect for the backup", isolation_level="REPEATABLE READ") as conn:
            with conn.begin():
                # A long dump must not be ended by the server's idle-in-transaction timeout.
                conn.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
                conn.execute(text("SET LOCAL statement_timeout = 0"))
                self._snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()

                def stats(count: bool = True):
                    from safemigrate.backup import stats as table_stats

                    try:
                        return table_stats.table_stats(conn, self.backend, count=count)
                    except SQLAlchemyError as exc:
                        raise DumpFailed(
                            f"Could not count the rows of {self.database_name} after the dump: {exc}",
                            "Verification by restore compares every table's row count with the source.",
                            "Check that the database is up, then run again.",
                        ) from None

                yield Snapshot(read_revision(conn), int(size), stats)

    def source(self, snapshot: Snapshot) -> ChunkSource:
        argv = [self.pg_dump.path, "--format=custom", "--no-password", f"--snapshot={self._snapshot_id}",
                f"--dbname={conninfo(self.url)}"]

        def failed(code: int, stderr: str, produced: int) -> BaseException:
            lowered = stderr.lower()
            if any(s in lowered for s in ("terminat", "server closed", "connection", "could not receive")):
                fix = ("The database connection was lost during the dump (server restarted or shut down, session "
                       "terminated, network). Check the server, then run the backup again.")
            elif "permission denied" in lowered:
                fix = ("The database user cannot read every object: grant it read access (or back up as a user "
                       "who can), then run again.")
            else:
                fix = "Fix the cause pg_dump names above, then run the backup again."
            return DumpFailed(
                f"pg_dump failed (exit {code}) after writing {mib(produced)}: {error_line(stderr)}",
                "An interrupted dump cannot restore the database: it does not count as a backup.",
                fix, details=stderr[-4000:],
            )

        return ProcessSource(argv, password_env(self.url), on_failure=failed)

    def reader(self) -> Sink:
        """pg_restore reads the whole archive as SQL (its data too): readable, and which tables have rows."""
        self.data_tables = set()
        return ProcessSink([self.pg_restore().path, "--data-only", "--file=-"], tool_env(), _readable,
                           on_line=_CopyScan(self.data_tables))

    def restorer(self, target: URL, *, owners: bool = True) -> Sink:
        argv = [self.pg_restore().path, "--exit-on-error", "--single-transaction", "--no-password",
                f"--dbname={conninfo(target)}"]
        if not owners:
            argv[1:1] = ["--no-owner", "--no-acl"]

        def check(code: int, stderr: str) -> None:
            if code != 0:
                raise RestoreFailed(
                    f"pg_restore failed (exit {code}): {error_line(stderr)}",
                    "The restore ran in one transaction, so it was rolled back and left nothing half-restored.",
                    "Fix the cause named above (a missing role: restore with --no-owner; an older server: use a "
                    "server at least as new as the source), then run again.",
                    details=stderr[-4000:],
                )

        return ProcessSink(argv, password_env(target), check)

    def replacer(self, target: URL, *, owners: bool = True) -> Sink | None:
        """Empty ``target`` and restore into it in ONE transaction: pg_restore writes SQL, psql runs the
        emptying statements and that SQL with --single-transaction. Any failure, or a kill of any process,
        rolls it all back: the target stays as it was. None when psql is not beside pg_restore."""
        psql = Path(self.pg_restore().path).with_name("psql")
        if not psql.is_file():
            return None
        produce = [self.pg_restore().path, "--exit-on-error", "--file=-"]
        if not owners:
            produce[1:1] = ["--no-owner", "--no-acl"]
        run = [str(psql), "--no-psqlrc", "--quiet", "--no-password", "--single-transaction",
               "--set=ON_ERROR_STOP=1", f"--dbname={conninfo(target)}"]
        for statement in self._emptying(target):
            run.append(f"--command={statement}")
        run.append("--file=-")
        return _Pipeline(produce, run, password_env(target))

    def _emptying(self, target: URL) -> list[str]:
        with connect(target, purpose="read the restore target") as conn:
            schemas = conn.execute(text(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND nspname NOT LIKE 'pg\\_%'")).scalars().all()
            major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
        statements = ['DROP SCHEMA "{}" CASCADE'.format(schema.replace('"', '""')) for schema in schemas]
        statements.append("CREATE SCHEMA public" + (" AUTHORIZATION pg_database_owner" if major >= 15 else ""))
        statements.append("GRANT USAGE ON SCHEMA public TO PUBLIC" if major >= 15
                          else "GRANT ALL ON SCHEMA public TO PUBLIC")
        return statements

    # -- restore targets -------------------------------------------------------------------
    def _maintenance(self, target: URL) -> URL:
        return target.set(database="postgres")

    def target_exists(self, target: URL) -> bool:
        with connect(self._maintenance(target), purpose="look up the restore target") as conn:
            return conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                {"n": target.database}).first() is not None

    def create_target(self, target: URL) -> None:
        with connect(self._maintenance(target), purpose="create the restore target",
                     isolation_level="AUTOCOMMIT") as conn:
            name = (target.database or "").replace('"', '""')
            conn.execute(text(f'CREATE DATABASE "{name}"'))

    def empty_target(self, target: URL) -> None:
        with connect(target, purpose="empty the restore target") as conn:
            with conn.begin():
                schemas = conn.execute(text(
                    "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') "
                    "AND nspname NOT LIKE 'pg\\_%'")).scalars().all()
                for schema in schemas:
                    conn.execute(text('DROP SCHEMA "{}" CASCADE'.format(schema.replace('"', '""'))))
                major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
                owner = " AUTHORIZATION pg_database_owner" if major >= 15 else ""
                conn.execute(text(f"CREATE SCHEMA public{owner}"))
                conn.execute(text("GRANT USAGE ON SCHEMA public TO PUBLIC" if major >= 15
                                  else "GRANT ALL ON SCHEMA public TO PUBLIC"))


class _Pipeline(ProcessSink):
    """pg_restore --file=- | psql --single-transaction: fed the archive, all or nothing on the target."""

    def __init__(self, produce: list[str], run: list[str], env: dict[str, str]):
        self.runner = start(run, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
        self.runner_err = StderrTail(self.runner.stderr)  # type: ignore[arg-type]
        assert self.runner.stdin is not None
        super().__init__(produce, env, self._judge, stdout=self.runner.stdin)
        self.runner.stdin.close()  # pg_restore holds it now: psql sees the end when pg_restore ends

    def _judge(self, produced: int, produced_err: str) -> None:
        ran = self.runner.wait()
        if ran == 0 and produced == 0:
            return
        tool, code, stderr = ("psql", ran, self.runner_err.text()) if ran != 0 else \
            ("pg_restore", produced, produced_err)
        raise RestoreFailed(
            f"The restore failed ({tool} exit {code}): {error_line(stderr)}",
            "Emptying the target and restoring ran in one transaction, which was rolled back: the target "
            "database is exactly as it was before the restore.",
            "Fix the cause named above (a missing role: restore with --no-owner; an older server: use a "
            "server at least as new as the source), then run again.",
            details=stderr[-4000:],
        )

    def abort(self) -> None:
        super().abort()
        if self.runner.poll() is None:
            self.runner.kill()
        self.runner.wait()


def _readable(code: int, stderr: str) -> None:
    if code != 0:
        raise VerificationFailed(
            f"pg_restore cannot read the stored archive: {error_line(stderr)}",
            "An archive pg_restore cannot read would not restore the database.",
            "Take a new backup; if this keeps happening, check the storage for corruption.",
            details=stderr[-4000:],
        )


class _CopyScan:
    """Reads ``pg_restore --data-only`` output line by line: notes each table whose COPY has a row."""

    def __init__(self, found: set[str]):
        self.found = found
        self.table: str | None = None

    def __call__(self, line: bytes) -> None:
        if self.table is None:
            if line.startswith(b"COPY "):
                self.table = _copied_table(line.decode(errors="replace"))
        elif line.rstrip(b"\r\n") == b"\\.":
            self.table = None
        else:
            self.found.add(self.table)


def _copied_table(header: str) -> str | None:
    """The table a ``COPY schema.table (...) FROM stdin;`` line loads, named as the table statistics name it."""
    from pglast import ast, parse_sql
    from pglast.parser import ParseError

    try:
        statements = parse_sql(header)
    except ParseError:
        return None
    node = statements[0].stmt if statements else None
    if not isinstance(node, ast.CopyStmt) or node.relation is None:
        return None
    schema, name = node.relation.schemaname, node.relation.relname
    return name if schema in (None, "public") else f"{schema}.{name}"
