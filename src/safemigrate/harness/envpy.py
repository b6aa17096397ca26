"""Driving a project's own env.py, and recording what each revision sends.

safemigrate never replaces a project's env.py: it runs it the way
``alembic upgrade`` does (an :class:`EnvironmentContext` around
``script.run_env()``) with a work function of its own. That function yields
Alembic's migration steps one at a time, so every statement seen by a
SQLAlchemy ``before_cursor_execute`` listener belongs to the step being run,
and after the last step it can inspect the database through the very
connection and options (``target_metadata``, ``include_object``...) that the
project's env.py configured.

While env.py runs, any connection to a database other than the one
safemigrate named is refused before a statement is sent: an env.py that
hard-codes its own URL must never be migrated by ``safemigrate check``.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, InvalidRequestError

from safemigrate.config.settings import URL_OVERRIDE_ENV
from safemigrate.core.errors import DatabaseUnreachable, EnvPyError, MigrationFailed, SafemigrateError
from safemigrate.core.results import RevisionRun, Statement
from safemigrate.core.secrets import mask_url, redact
from safemigrate.core.urls import backend_of
from safemigrate.guard import signoff
from safemigrate.guard.enforce.ops import observing
from safemigrate.guard.enforce.runtime import AUTOGEN_DRIVEN, RECORD_ONLY
from safemigrate.project.scripts import AlembicProject, in_folder

_MAX_PARAMS_REPR = 300


@dataclass
class EnvRun:
    """What one run of env.py did."""

    runs: list[RevisionRun]
    heads_before: list[str]
    options: dict[str, Any]  # the options env.py passed to context.configure
    inspected: Any = None  # what the inspect callback returned
    ran_env: bool = False  # False when env.py never called run_migrations()


class _WrongDatabase(Exception):
    def __init__(self, actual: str):
        super().__init__(actual)
        self.actual = actual


@dataclass
class _Recorder:
    project: AlembicProject
    expected: URL
    runs: list[RevisionRun] = field(default_factory=list)
    current: Any = None  # the Script being run
    started: float = 0.0
    in_body: bool = False
    statements: list[Statement] = field(default_factory=list)

    def begin(self, script: Any) -> None:
        self.finish()
        self.current, self.started, self.in_body, self.statements = script, time.perf_counter(), True, []

    def end_body(self) -> None:
        self.in_body = False

    def finish(self) -> None:
        if self.current is not None:
            info = self.project.info(self.current)
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
        """Before the DBAPI connects: refuse a database other than the expected one."""
        expected = self.expected.set(drivername=f"{dialect.name}+{dialect.driver}")
        want_args, want_params = dialect.create_connect_args(expected)
        if dialect.name == "sqlite":
            have, want = (list(cargs) or [""])[0], (list(want_args) or [""])[0]
            if have != want and os.path.realpath(str(have)) != os.path.realpath(str(want)):
                raise _WrongDatabase(f"sqlite:///{have}")
            return
        keys = ("host", "port", "dbname", "database", "db", "unix_socket")
        have_params = {k: str(cparams.get(k)) for k in keys if k in cparams or k in want_params}
        wanted = {k: str(want_params.get(k)) for k in keys if k in cparams or k in want_params}
        if have_params != wanted:
            where = "/".join(str(cparams.get(k)) for k in keys if cparams.get(k) is not None)
            raise _WrongDatabase(f"{dialect.name} database {where}")

    def on_connect(self, conn: Any) -> None:
        if not _same_database(conn.engine.url, self.expected):
            raise _WrongDatabase(mask_url(conn.engine.url))

    def on_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if not _same_database(conn.engine.url, self.expected):
            raise _WrongDatabase(mask_url(conn.engine.url))
        autocommit = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        self.add(statement, parameters, in_transaction=not autocommit)


class _RecordedStep:
    """A migration step whose ``migration_fn`` tells the recorder when it runs."""

    def __init__(self, step: Any, recorder: _Recorder,
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
            started = time.perf_counter()
            try:
                result = body(**kw)
            finally:
                self._recorder.end_body()
            if self._after_body is not None:
                # still inside the revision's transaction, before its version bump
                self._after_body(script, alembic_context.get_context(), (time.perf_counter() - started) * 1000)
            return result

        return run


class _OfflineBuffer:
    """Receives the SQL Alembic writes in offline (--sql) mode, one statement per write."""

    def __init__(self, recorder: _Recorder):
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


def _same_database(actual: URL, expected: URL) -> bool:
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


def run_env(
    project: AlembicProject,
    url: URL,
    *,
    target: str | None = None,
    inspect: Callable[[MigrationContext], Any] | None = None,
    mutate: bool = True,
    offline_dialect: str | None = None,
    purpose: str = "build the throwaway database",
    guard: bool = False,
    after_body: Callable[[Any, MigrationContext, float], None] | None = None,
    downgrade: bool = False,
) -> EnvRun:
    """Run env.py against ``url``: upgrade to ``target`` (if any), then ``inspect``.

    ``offline_dialect`` runs env.py in Alembic's offline (--sql) mode and
    records the SQL it renders instead of executing anything.
    """
    script = project.script
    config = project.make_config()
    config.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
    # Throwaway databases: findings are reported, not blocked. A real run (guard=True)
    # lets safemigrate's env.py helper refuse unapproved destructive statements.
    config.attributes[RECORD_ONLY] = not guard
    recorder = _Recorder(project, url)
    state: dict[str, Any] = {"heads": [], "options": {}, "ran": False, "inspected": None}

    def work(heads: Any, context: MigrationContext) -> Iterator[Any]:
        state["ran"] = True
        state["heads"] = list(heads or ())
        state["options"] = dict(context.opts)
        if target is not None:
            start = "base" if offline_dialect else heads
            steps = script._downgrade_revs(target, start) if downgrade else script._upgrade_revs(target, start)
            for step in steps:
                yield _RecordedStep(step, recorder, after_body)
            recorder.finish()
        if inspect is not None and not offline_dialect:
            state["inspected"] = inspect(context)

    opts: dict[str, Any] = {"fn": work, "dont_mutate": not mutate}
    if target is not None:
        opts["destination_rev"] = target
    if offline_dialect:
        opts.update(as_sql=True, output_buffer=_OfflineBuffer(recorder), starting_rev=None)
    env_vars = {URL_OVERRIDE_ENV: url.render_as_string(hide_password=False),
                project.settings.database_url_env: url.render_as_string(hide_password=False)}
    try:
        with _environment(env_vars), _listening(recorder, online=not offline_dialect), \
                in_folder(project.settings.root), observing(recorder.on_operation), \
                EnvironmentContext(config, script, **opts):
            script.run_env()
    except _WrongDatabase as exc:
        raise _wrong_database(project, exc.actual, url) from None
    except SafemigrateError as exc:
        if recorder.current is not None and not isinstance(exc, MigrationFailed):
            exc.revision = recorder.current.revision  # e.g. the run-time guard stopped this revision
        raise
    except Exception as exc:
        alternative = async_variant(url) if _needs_async_driver(exc) and not recorder.runs else None
        if alternative is None:
            raise _explain(project, recorder, exc, url, purpose) from None
        retry = True
    else:
        retry = False
    finally:
        recorder.finish()
    if retry:
        # env.py builds an asyncio engine; nothing ran, so run it again with an async driver.
        return run_env(project, alternative, target=target, inspect=inspect, mutate=mutate,
                       offline_dialect=offline_dialect, purpose=purpose, guard=guard, after_body=after_body,
                       downgrade=downgrade)
    if not state["ran"]:
        raise EnvPyError(
            f"{project.script_location / 'env.py'} never called context.run_migrations().",
            "safemigrate runs migrations through the project's env.py the way `alembic upgrade` does.",
            "Make env.py call context.run_migrations() for online mode"
            + (" and offline mode (--sql)" if offline_dialect else "") + ".",
        )
    return EnvRun(recorder.runs, state["heads"], state["options"], state["inspected"], ran_env=True)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@contextmanager
def _listening(recorder: _Recorder, online: bool) -> Iterator[None]:
    if not online:
        yield
        return
    event.listen(Engine, "do_connect", recorder.on_do_connect)
    event.listen(Engine, "engine_connect", recorder.on_connect)
    event.listen(Engine, "before_cursor_execute", recorder.on_execute)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", recorder.on_execute)
        event.remove(Engine, "engine_connect", recorder.on_connect)
        event.remove(Engine, "do_connect", recorder.on_do_connect)


def _wrong_database(project: AlembicProject, actual: str, expected: URL) -> EnvPyError:
    env_py = project.script_location / "env.py"
    var = project.settings.database_url_env
    return EnvPyError(
        f"{env_py} connected to {actual} instead of the database safemigrate named ({mask_url(expected)}). "
        "safemigrate stopped it before any statement was sent.",
        "env.py chooses its database without looking at the URL it is given, so safemigrate cannot point it "
        "at a throwaway database, and running it would change whatever database it chose.",
        f"Make env.py take its URL from ${var} (or $SAFEMIGRATE_DATABASE_URL, or "
        "config.get_main_option('sqlalchemy.url')), or replace its body with "
        "`from safemigrate.env import run_migrations; run_migrations()`.",
    )


def _explain(project: AlembicProject, recorder: _Recorder, exc: Exception, url: URL, purpose: str) -> SafemigrateError:
    failing = recorder.current
    text = redact(f"{type(exc).__name__}: {exc}".strip().splitlines()[0])
    if failing is not None:
        path = Path(failing.path)
        line = _line_in(exc, path)
        where = f"{project.info(failing).path}" + (f" line {line}" if line else "")
        failure = MigrationFailed(
            f"Revision {failing.revision} ({where}) failed while safemigrate tried to {purpose}: {text}",
            "A migration that fails here fails in the same way when it is applied for real.",
            "Fix the migration; run it against an empty database with `alembic upgrade head` to reproduce.",
            revision=failing.revision, path=str(path), line=line,
        )
        failure.original = exc
        failure.statements = list(recorder.statements)
        return failure
    if _needs_async_driver(exc):
        return EnvPyError(
            f"env.py builds an async engine but was given {mask_url(url)}, a URL with a sync driver.",
            "An asyncio engine needs an async driver in its URL.",
            "Give safemigrate a URL with an async driver (postgresql+psycopg://, sqlite+aiosqlite://), "
            f"for example in ${project.settings.database_url_env} or --scratch-url.",
        )
    if isinstance(exc, DBAPIError) and not recorder.runs:
        from safemigrate.core.db import unreachable

        return unreachable(url, exc)
    env_py = project.script_location / "env.py"
    line = _line_in(exc, env_py)
    origin = f"{env_py}" + (f" line {line}" if line else "")
    return EnvPyError(
        f"Running {origin} failed: {text}",
        f"safemigrate runs the project's env.py to {purpose}; it stopped before any revision ran.",
        "Run `alembic current` to reproduce. If env.py needs settings (environment variables, files), "
        "provide them; if it builds its own engine, make it use "
        f"${project.settings.database_url_env}.",
    )


def _needs_async_driver(exc: BaseException) -> bool:
    return isinstance(exc, InvalidRequestError) and "requires an async driver" in str(exc)


def async_variant(url: URL) -> URL | None:
    """The same database through an installed async driver, if there is one."""
    import importlib.util

    candidates = {"sqlite": [("aiosqlite", "aiosqlite")], "postgresql": [("psycopg", "psycopg"),
                  ("asyncpg", "asyncpg")], "mysql": [("aiomysql", "aiomysql"), ("asyncmy", "asyncmy")]}
    for driver, module in candidates.get(backend_of(url), []):
        if driver != url.get_driver_name() and importlib.util.find_spec(module) is not None:
            return url.set(drivername=f"{url.get_backend_name()}+{driver}")
    return None


def _line_in(exc: BaseException, path: Path) -> int | None:
    target = str(path.resolve())
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if os.path.realpath(f.filename) == target]
    return lines[-1] if lines else None


def ensure_reachable(url: URL) -> None:
    """Connect once to ``url`` and raise DatabaseUnreachable with a clear message if that fails."""
    from sqlalchemy import create_engine, pool

    from safemigrate.core.db import unreachable
    from safemigrate.core.urls import sync_url

    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        raise unreachable(url, exc) from None
    except Exception as exc:  # e.g. a missing driver module
        raise DatabaseUnreachable(
            f"Could not connect to {mask_url(url)}: {type(exc).__name__}: {redact(str(exc))}",
            "safemigrate could not open a connection with this URL.",
            "Check the URL's driver and that the driver package is installed.",
        ) from None
    finally:
        engine.dispose()


def autogenerate(project: AlembicProject, url: URL, message: str,
                 hook: Callable[..., Any]) -> list[Any]:
    """``alembic revision --autogenerate`` against ``url`` with ``hook`` applied to the result.

    Alembic's programmatic ``command.revision(process_revision_directives=...)``
    lets the guard act on any env.py, not only on safemigrate's helper.
    Returns the generated Script objects (empty when there was nothing to write).
    """
    from alembic import command

    config = project.make_config()
    config.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
    config.attributes[RECORD_ONLY] = True
    config.attributes[AUTOGEN_DRIVEN] = True  # the helper's own hook steps aside: `hook` does the work
    recorder = _Recorder(project, url)
    generated: list[Any] = []

    def guarded(context: Any, revision: Any, directives: list[Any]) -> None:
        hook(context, revision, directives)
        if directives and all(ops.is_empty() for ops in directives[0].upgrade_ops_list):
            directives[:] = []  # nothing left: write no file

    env_vars = {URL_OVERRIDE_ENV: url.render_as_string(hide_password=False),
                project.settings.database_url_env: url.render_as_string(hide_password=False)}
    try:
        # Alembic announces "Generating <file> ... done" on stdout: keep stdout for our report
        with _environment(env_vars), _listening(recorder, online=True), in_folder(project.settings.root), \
                contextlib.redirect_stdout(io.StringIO()):
            result = command.revision(config, message=message, autogenerate=True,
                                      process_revision_directives=guarded)
    except _WrongDatabase as exc:
        raise _wrong_database(project, exc.actual, url) from None
    except SafemigrateError:
        raise
    except Exception as exc:
        raise _explain(project, recorder, exc, url, "generate a revision") from None
    if result is None:
        return generated
    generated = result if isinstance(result, list) else [result]
    return [g for g in generated if g is not None]
