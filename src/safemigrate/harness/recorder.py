"""Recording what each revision sends while env.py runs, and refusing any other database.

The work function passed to Alembic yields the migration steps one at a time,
each wrapped in a :class:`RecordedStep`, so every statement seen by the
SQLAlchemy ``before_cursor_execute`` listener belongs to the step being run.
Alembic's own version-table bookkeeping is told apart from a revision's
statements. Any connection to a database other than the one safemigrate
named is refused in ``do_connect``, before the driver connects.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL

from safemigrate.core.errors import MigrationFailed, SafemigrateError
from safemigrate.core.results import RevisionRun, Statement
from safemigrate.core.secrets import mask_url, redact
from safemigrate.core.urls import backend_of
from safemigrate.guard import signoff
from safemigrate.guard.enforce.runtime import raw_text
from safemigrate.guard.engine import lint_sql
from safemigrate.guard.model import Context
from safemigrate.guard.registry import load_rules
from safemigrate.harness.guarding import RunGuard
from safemigrate.harness.journal import Journal
from safemigrate.project.history import History

_MAX_PARAMS_REPR = 300
SERVER_RULE = "affects-the-server"


class WrongDatabase(Exception):
    """env.py opened a database other than the one safemigrate named (raised before the driver connects)."""

    def __init__(self, actual: str, backend: str | None = None):
        super().__init__(actual)
        self.actual = actual
        self.backend = backend  # set when env.py opened another kind of database


@dataclass
class Recorder:
    history: History
    expected: URL
    runs: list[RevisionRun] = field(default_factory=list)
    current: Any = None  # the Script being run
    started: float = 0.0
    in_body: bool = False
    statements: list[Statement] = field(default_factory=list)
    failure: BaseException | None = None  # what the current revision raised (env.py may swallow it)
    guard: RunGuard | None = None  # a real run: statements and effects are judged
    throwaway: bool = False  # a throwaway database: nothing may reach the server beyond it
    journal: Journal | None = None  # a real run: steps that commit on their own are journaled
    # a real run: what a forked child of the revision tried and was refused (harness/drivers.py)
    child_refusals: Callable[[], str | None] | None = None
    internal: bool = False  # safemigrate's own queries on env.py's connection (catalog snapshots)
    refused: SafemigrateError | None = None  # what was not sent to the throwaway database
    announced: Any = None  # the driver cursor SQLAlchemy sends its current statement on
    sending: int = 0  # > 0 while a watched driver cursor call sends (harness/drivers.py)

    def begin(self, script: Any) -> None:
        self.finish()
        self.current, self.started, self.in_body, self.statements = script, time.perf_counter(), True, []

    def end_body(self) -> None:
        self.in_body = False

    def finish(self) -> None:
        if self.current is not None:
            info = self.history.info(self.current.revision)
            elapsed = (time.perf_counter() - self.started) * 1000
            self.runs.append(RevisionRun(info, self.statements, round(elapsed, 3)))
            self.current = None

    def on_operation(self, operation: Any, sql: str) -> None:
        self.add(sql, operation=True)

    def add(self, sql: str, parameters: Any = None, *, in_transaction: bool | None = None,
            bookkeeping: bool = False, operation: bool = False) -> None:
        if self.current is None:
            return
        params = None
        if parameters:
            params = redact(repr(parameters))
            if len(params) > _MAX_PARAMS_REPR:
                params = params[:_MAX_PARAMS_REPR] + "..."
        frame = signoff.migration_frame(sys._getframe(1))
        line = frame.f_lineno if frame is not None else None
        self.statements.append(Statement(sql.strip(), params, bookkeeping=bookkeeping or not self.in_body,
                                         line=line, in_transaction=in_transaction,
                                         signoffs=list(signoff.active()), operation=operation))

    # SQLAlchemy event listeners ------------------------------------------
    def on_do_connect(self, dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        """Before the DBAPI connects: refuse a database other than the expected one (and, in a real run, any
        second connection while a revision runs)."""
        if self.guard is not None and self.in_body and self.current is not None and not self.internal:
            self.guard.second_connection(f"{dialect.name} ({mask_url(self.expected)})")
        wanted_backend = backend_of(self.expected)
        actual_backend = "mysql" if dialect.name == "mariadb" else dialect.name
        if actual_backend != wanted_backend:
            raise WrongDatabase(f"a {actual_backend} database", backend=actual_backend)
        expected = self.expected.set(drivername=f"{dialect.name}+{dialect.driver}")
        want_args, want_params = dialect.create_connect_args(expected)
        if dialect.name == "sqlite":
            have, want = (list(cargs) or [""])[0], (list(want_args) or [""])[0]
            if have != want and os.path.realpath(str(have)) != os.path.realpath(str(want)):
                raise WrongDatabase(f"sqlite:///{have}")
            return
        keys = ("host", "port", "dbname", "database", "db", "unix_socket")
        have_params = {k: str(cparams.get(k)) for k in keys if k in cparams or k in want_params}
        wanted = {k: str(want_params.get(k)) for k in keys if k in cparams or k in want_params}
        if have_params != wanted:
            where = "/".join(str(cparams.get(k)) for k in keys if cparams.get(k) is not None)
            raise WrongDatabase(f"{dialect.name} database {where}")

    def on_connect(self, conn: Any) -> None:
        if not same_database(conn.engine.url, self.expected):
            raise WrongDatabase(mask_url(conn.engine.url))
        if self.guard is not None and self.current is not None and not self.internal and not self._journals(conn) \
                and not self.guard.owns(conn):
            # a pooled connection (an engine of the application, connected at import time) needs no do_connect
            self.guard.second_connection(f"{conn.dialect.name} ({mask_url(self.expected)})")

    def on_execute(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                   executemany: bool) -> None:
        self.announced = cursor  # the driver call that follows is this statement, recorded here
        if self.internal or self._journals(conn):
            return
        if not same_database(conn.engine.url, self.expected):
            raise WrongDatabase(mask_url(conn.engine.url))
        autocommit = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        self.add(statement, parameters, in_transaction=not autocommit)
        if self.throwaway and self.current is not None:
            self._keep_to_the_throwaway_database(statement)
        if self.guard is not None and self.current is not None:
            # judged until the revision commits: a listener on the version bump runs after the body
            self.guard.statement(conn, statement, in_transaction=not autocommit, parameters=parameters,
                                 cursor=cursor, executemany=executemany)
        if self.journal is not None and self.in_body:
            self.journal.sending(statement, in_transaction=not autocommit)


    def after_execute(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                      executemany: bool) -> None:
        """A statement completed: the journal marks its step done."""
        if not self.internal and self.journal is not None and not self._journals(conn):
            self.journal.sent()

    def on_error(self, context: Any) -> None:
        """A statement raised: the journal marks its step failed."""
        if not self.internal and self.journal is not None and not self._journals(context.connection):
            self.journal.failed()

    def _journals(self, conn: Any) -> bool:
        return self.journal is not None and conn is self.journal.connection

    def raw(self, cursor: Any, method: str, query: Any, parameters: Any, send: Callable[[], Any]) -> Any:
        """A driver cursor call while a revision's body runs on a throwaway database (no guard): a statement
        SQLAlchemy did not send is recorded as one of the revision's (so lint and review see it) and kept
        to the throwaway database like the others."""
        if not self.in_body or self.current is None:
            return send()
        text = raw_text(cursor, method, query)
        if text is not None:
            self.add(text, parameters, in_transaction=not _autocommit(cursor))
            if self.throwaway:
                self._keep_to_the_throwaway_database(text)
        return send()

    def _keep_to_the_throwaway_database(self, statement: str) -> None:
        """Refuse, before it is sent, a statement whose effect reaches beyond the throwaway database."""
        dialect = backend_of(self.expected)
        if dialect not in {"postgresql", "mysql"}:
            return
        rule = load_rules()[SERVER_RULE]
        signoffs = (*signoff.active(), *signoff.declared(vars(self.current.module)))
        for finding in lint_sql(statement, Context(dialect=dialect, lock_timeout_set=True), rules=[rule]):
            if any(s.covers(finding.rule, finding.target) for s in signoffs):
                continue
            self.refused = MigrationFailed(
                f"Revision {self.current.revision} sent `{' '.join(statement.split())[:200]}` to the throwaway "
                f"database. {finding.message} safemigrate did not send it.",
                "Throwaway databases live on a server that other databases share (often production's, in a "
                "dry run); what a migration does there must stay in its own database.",
                f"{finding.help} To run it anyway: `with allow({SERVER_RULE!r}, 'server', reason='...'):`.",
                revision=self.current.revision, path=self.current.path,
            )
            self.refused.statements = list(self.statements)
            self.refused.runs = list(self.runs)
            raise self.refused


def _autocommit(cursor: Any) -> bool:
    connection = getattr(cursor, "connection", None)
    flag = getattr(connection, "autocommit", False)
    if callable(flag):  # pymysql: autocommit(value) sets it; get_autocommit() reads it
        flag = getattr(connection, "get_autocommit", lambda: False)()
    return bool(flag)


class RecordedStep:
    """A migration step whose ``migration_fn`` tells the recorder when it runs."""

    def __init__(self, step: Any, recorder: Recorder,
                 after_body: Callable[[Any, MigrationContext, float], None] | None = None):
        self._step = step
        self._recorder = recorder
        self._after_body = after_body

    def __getattr__(self, name: str) -> Any:
        return getattr(self._step, name)

    def __str__(self) -> str:
        return str(self._step)

    @property
    def migration_fn(self) -> Callable[..., Any]:
        body = self._step.migration_fn
        script = self._step.revision

        def run(**kw: Any) -> Any:
            from alembic import context as alembic_context

            self._recorder.begin(script)
            guard = self._recorder.guard
            ours: frozenset[int] = frozenset()
            if self._recorder.journal is not None:
                self._recorder.internal = True
                try:
                    ours = self._recorder.journal.revision_started(script)
                finally:
                    self._recorder.internal = False
            if guard is not None:
                self._recorder.internal = True
                try:
                    guard.revision_started(script, alembic_context.get_context(), ours=ours)
                finally:
                    self._recorder.internal = False
            started = time.perf_counter()
            try:
                result = body(**kw)
            except BaseException as exc:
                self._recorder.failure = exc
                raise
            finally:
                self._recorder.end_body()
            # still inside the revision's transaction, before its version bump
            refused_child = self._recorder.child_refusals() if self._recorder.child_refusals is not None else None
            if guard is not None and refused_child:
                guard.second_connection(refused_child)
            if guard is not None:
                self._recorder.internal = True
                try:
                    guard.body_done(script, alembic_context.get_context())
                finally:
                    self._recorder.internal = False
            if self._after_body is not None:
                self._after_body(script, alembic_context.get_context(), (time.perf_counter() - started) * 1000)
            return result

        return run


class OfflineBuffer:
    """Receives the SQL Alembic writes in offline (--sql) mode, one statement per write."""

    def __init__(self, recorder: Recorder):
        self.recorder = recorder

    def write(self, text: str) -> None:
        chunk = text.strip()
        if not chunk or chunk.startswith("-- Running "):
            return
        if chunk.endswith(";"):
            chunk = chunk[:-1].rstrip()
        # transaction markers are kept (as bookkeeping) so that linting knows
        # which statements run inside a transaction
        self.recorder.add(chunk, bookkeeping=chunk.upper() in {"BEGIN", "COMMIT"})

    def flush(self) -> None:
        pass


def same_database(actual: URL, expected: URL) -> bool:
    if backend_of(actual) != backend_of(expected):
        return False
    if backend_of(expected) == "sqlite":
        a, e = actual.database or "", expected.database or ""
        return a == e or (bool(a) and bool(e) and os.path.realpath(a) == os.path.realpath(e))
    return (
        (actual.host or "localhost") == (expected.host or "localhost")
        and (actual.port or 0) == (expected.port or 0)
        and actual.database == expected.database
    )
