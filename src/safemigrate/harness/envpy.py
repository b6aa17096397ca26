"""Driving a project's own env.py, in the process it runs in, one request at a time.

safemigrate never replaces a project's env.py: it runs it the way
``alembic upgrade`` does (an :class:`EnvironmentContext` around
``script.run_env()``) with a work function of its own. That function yields
Alembic's migration steps one at a time, each recorded (see
:mod:`safemigrate.harness.recorder`), and after the last step it reads the
database through the very connection and options (``target_metadata``,
``include_object``...) that the project's env.py configured.

env.py is handed the database in every form real projects read it from:
``sqlalchemy.url``, the configured environment variable,
``$SAFEMIGRATE_DATABASE_URL``, ``[tool.safemigrate.env]`` and an open
connection in ``config.attributes["connection"]``. An :class:`EnvPy` serves
one database for its whole life (see :mod:`safemigrate.harness.session`,
which gives it a process of its own), so settings an application reads when
it is first imported are always this database's.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib.util
import io
import os
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, event, pool, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError, InvalidRequestError, MissingGreenlet, SQLAlchemyError

from safemigrate.config.settings import URL_OVERRIDE_ENV, Settings
from safemigrate.core.db import refused_option, unreachable
from safemigrate.core.errors import ConfigError, EnvPyError, MigrationFailed, SafemigrateError
from safemigrate.core.results import Difference
from safemigrate.core.secrets import mask_url, redact, remember_secret
from safemigrate.core.urls import backend_of, is_async_driver, parse_url, sync_url
from safemigrate.guard.enforce.autogen import Withheld, make_hook
from safemigrate.guard.enforce.ops import observing
from safemigrate.guard.enforce.runtime import AUTOGEN_DRIVEN, RECORD_ONLY
from safemigrate.harness import progress
from safemigrate.harness.drivers import refusing_driver_connections, watching_raw_cursors
from safemigrate.harness.guarding import RunGuard
from safemigrate.harness.journal import Journal
from safemigrate.harness.measure import measuring
from safemigrate.harness.progress import Progress
from safemigrate.harness.recorder import OfflineBuffer, RecordedStep, Recorder, WrongDatabase, same_database
from safemigrate.harness.requests import (
    EnvRunRequest,
    EnvRunResult,
    GenerateRequest,
    GenerateResult,
    Inventory,
    Reads,
    RestartWith,
)
from safemigrate.harness.scratch import new_scratch_name
from safemigrate.project.models import as_metadata, distinct_metadata, import_metadata, import_object
from safemigrate.project.scripts import AlembicProject, in_folder
from safemigrate.schema import compare as drift
from safemigrate.schema.safe_ops import reruns_converge
from safemigrate.state import ledger

#: URLs that only name a dialect, for Alembic's offline mode.
OFFLINE_URLS = {"postgresql": "postgresql+psycopg://", "mysql": "mysql+pymysql://",
                "mariadb": "mariadb+pymysql://", "sqlite": "sqlite://"}
T = TypeVar("T")
_placeholder_folder: Path | None = None  # where {url} points when no database is named (see placeholder_url)
_MISSING_TABLE_HINTS = ("no such table", "does not exist", "nosuchtableerror", "doesn't exist", "unknown table")
_ALREADY_THERE_HINTS = ("already exists", "duplicate column", "duplicate key name", "duplicate_object")


class EnvPy:
    """A project's env.py, driven against one database for the life of this object."""

    def __init__(self, settings: Settings, url: URL | None, *, dialect: str | None = None,
                 throwaway: bool = False):
        self.settings = settings
        self.throwaway = throwaway  # refuse what would reach the server beyond this database
        self.url = url
        self.project = AlembicProject(settings, dialect=backend_of(url) if url is not None else dialect)
        self._app: Any = None
        self._in_worker = False
        self._pg_major: int | None = None  # run env.py in a worker thread of an AnyIO event loop (see _retry_with)

    @property
    def env_py(self) -> Path:
        return self.project.layout.env_py

    # -- the history --------------------------------------------------------
    def inventory(self) -> Inventory:
        return Inventory(str(self.project.script_location), tuple(self.project.records()))

    # -- running env.py -------------------------------------------------------
    def run(self, request: EnvRunRequest) -> EnvRunResult:
        offline = request.kind == "offline"
        if offline:
            dialect = request.dialect or "sqlite"
            if dialect not in OFFLINE_URLS:
                raise ConfigError(f"Alembic's offline mode cannot render SQL for {dialect!r}.",
                                  "It renders through one of SQLAlchemy's dialects.",
                                  f"Use one of: {', '.join(OFFLINE_URLS)}.")
            url = parse_url(OFFLINE_URLS[dialect])
        else:
            url = self._require_url()
        stamp: tuple[str, ...] = ()
        if not offline and request.baseline and request.kind == "upgrade" and self._apply_baseline(url):
            stamp = self._baseline_revisions(request.target)
        for _ in range(2):  # at most: an AnyIO worker thread
            try:
                return self._runner(functools.partial(self._run, request, url, stamp))
            except _RetryWith as retry:
                if retry.url is not None:
                    # env.py needs this driver: the session runs it again in a fresh process, whose
                    # application reads this URL when it is imported (see harness/session.py)
                    assert retry.failure is not None
                    raise RestartWith(retry.url.render_as_string(hide_password=False), retry.failure) from None
                if retry.anyio_worker:
                    self._in_worker = True  # env.py hands its work to an AnyIO event loop: give it one
        return self._run(request, url, stamp)

    def _runner(self, run: Callable[[], T]) -> T:
        return _in_anyio_worker(run) if self._in_worker else run()

    def _run(self, request: EnvRunRequest, url: URL, stamp: tuple[str, ...] = ()) -> EnvRunResult:
        """Run env.py for ``request``; ``stamp``: the fresh database holds the baseline of these revisions."""
        offline = request.kind == "offline"
        script = self.project.script
        history = self.project.history
        config = self.project.make_config(url.render_as_string(hide_password=False))
        # safemigrate judges a real run itself (guard=True), for every env.py: the helper's own guard,
        # for runs of plain `alembic`, steps aside. Throwaway databases: findings are reported, not blocked.
        config.attributes[RECORD_ONLY] = True
        recorder = Recorder(history, url)
        if request.guard and not offline:
            recorder.guard = RunGuard(backend_of(url), pg_version=self._server_major(url))
        recorder.throwaway = self.throwaway
        if request.guard and request.ledger is not None and not offline:
            recorder.journal = Journal(url)
        after_body = _ledger_writer(request, recorder.journal) if request.ledger is not None else None
        result = EnvRunResult(runs=recorder.runs, heads_before=[])
        state: dict[str, Any] = {"ran": False, "finished": False}

        def work(heads: Any, context: MigrationContext) -> Iterator[Any]:
            state["ran"] = True
            result.heads_before = list(heads or ())
            result.version_table = context.opts.get("version_table") or "alembic_version"
            result.version_table_schema = context.opts.get("version_table_schema")
            result.own_transactions = bool(context.opts.get("transaction_per_migration")) \
                or not context.impl.transactional_ddl
            if request.target is not None:
                start = "base" if offline else heads
                if stamp:  # the baseline stands for these revisions: stamp them, replay only what follows
                    yield from script._stamp_revs(stamp, heads)
                    start = stamp
                steps = (script._downgrade_revs(request.target, start) if request.kind == "downgrade"
                         else script._upgrade_revs(request.target, start))
                for done, step in enumerate(steps):
                    progress.report(Progress(request.purpose, done, len(steps), step.revision.revision))
                    yield RecordedStep(step, recorder, after_body)
                progress.report(Progress(request.purpose, len(steps), len(steps), ""))  # the run's end
                recorder.finish()
            if not offline:
                self._read(context, request.reads, result)
            state["finished"] = True

        opts: dict[str, Any] = {"fn": work, "dont_mutate": request.kind == "read"}
        if request.target is not None:
            opts["destination_rev"] = request.target
        if offline:
            opts.update(as_sql=True, output_buffer=OfflineBuffer(recorder), starting_rev=None)
        variables = environment_for(self.settings, url) if offline else {}  # the dialect env.py renders for
        try:
            timeouts = _timeouts(self.settings, backend_of(url)) if request.guard and not offline \
                else contextlib.nullcontext()
            with _environment(variables), in_folder(self.settings.root), self._app_context(), \
                    _listening(recorder, online=not offline), refusing_driver_connections(recorder), \
                    watching_raw_cursors(recorder), timeouts, \
                    _journaling(recorder), \
                    observing(recorder.on_operation), self._shared_connection(config, url, offline), \
                    measuring(None if offline else request.measure) as measurer, \
                    EnvironmentContext(config, script, **opts):
                result.measured = measurer.statements if measurer is not None else None
                self._call_setup(config)
                script.run_env()
        except WrongDatabase as exc:
            raise self._wrong_database(exc, url) from None
        except SafemigrateError as exc:
            if recorder.guard is not None and recorder.guard.blocked is not None:
                raise recorder.guard.blocked from None
            if recorder.refused is not None:
                raise recorder.refused from None
            if recorder.current is not None and getattr(exc, "revision", None) is None:
                exc.revision = recorder.current.revision  # type: ignore[attr-defined] # e.g. the run-time guard
            raise
        except Exception as exc:
            if recorder.guard is not None and recorder.guard.blocked is not None:
                raise recorder.guard.blocked from None  # env.py (or a migration) wrapped the refusal
            if recorder.refused is not None:
                raise recorder.refused from None
            nothing_ran = not recorder.runs and recorder.current is None
            retry = _retry_with(exc, url, self._in_worker) if nothing_ran else None
            if retry is not None:
                retry.failure = self._explain(recorder, exc, url, request.purpose)
                raise retry from None
            raise self._explain(recorder, exc, url, request.purpose) from None
        finally:
            stopped_in = recorder.current  # the revision running when env.py returned (it may have swallowed its error)
            recorder.finish()
        if not state["ran"]:
            raise EnvPyError(
                f"{self.env_py} never called context.run_migrations().",
                "safemigrate runs migrations through the project's env.py the way `alembic upgrade` does.",
                "Make env.py call context.run_migrations() for online mode"
                + (" and offline mode (--sql)" if offline else "") + ".",
            )
        if recorder.guard is not None and recorder.guard.blocked is not None:
            raise recorder.guard.blocked  # swallowed by the migration or env.py: the revision is still refused
        if recorder.refused is not None:
            raise recorder.refused
        if not state["finished"]:
            raise self._swallowed(recorder, stopped_in, request.purpose)
        return result

    def _server_major(self, url: URL) -> int:
        """The server's major version (PostgreSQL rules depend on it); 15 when it cannot be read."""
        if backend_of(url) != "postgresql":
            return 15
        if self._pg_major is not None:
            return self._pg_major
        engine = create_engine(sync_url(url), poolclass=pool.NullPool)
        try:
            with engine.connect() as connection:
                info = connection.dialect.server_version_info
                self._pg_major = info[0] if info and isinstance(info[0], int) else 15
                return self._pg_major
        except SQLAlchemyError:
            return 15
        finally:
            engine.dispose()

    def _require_url(self) -> URL:
        if self.url is None:
            raise ConfigError("No database to run env.py against.", "This is a bug in safemigrate.",
                              "Please report it.")
        return self.url

    # -- reading after the steps ----------------------------------------------
    def _read(self, context: MigrationContext, reads: Reads, result: EnvRunResult) -> None:
        connection = context.connection
        assert connection is not None
        if reads.heads:
            result.heads = list(context.get_current_heads())
        if reads.server_version:
            info = connection.dialect.server_version_info
            result.server_version = info[0] if info and isinstance(info[0], int) else None
        if reads.models is not None:
            try:
                result.differences = self._compare_models(context, reads.models)
            except SafemigrateError:
                raise
            except Exception as exc:  # Alembic's comparison on the project's models: lint and review still hold
                result.comparison_error = redact(f"{type(exc).__name__}: {exc}".strip().splitlines()[0])
                result.comparison_traceback = redact(traceback.format_exc())
                result.differences = None
        if reads.reflect:
            result.reflected = self._reflect(connection, context.opts, result)
        if reads.against is not None:
            opts = {**context.opts, "target_metadata": reads.against,  # another database: filtered the same way
                    "include_object": drift.names_filtered_on_both_sides(context.opts.get("include_name"),
                                                                         context.opts.get("include_object"))}
            ctx = drift.comparison_context(connection, opts,
                                           compare_server_default=self.settings.compare_server_default)
            result.against = drift.compare(ctx, reads.against, _dialect_name(connection),
                                           reference=reads.against_label or "the other schema")

    def models(self, options: dict[str, Any]) -> MetaData | list[MetaData]:
        """The models: ``[tool.safemigrate] metadata`` if set, else env.py's target_metadata."""
        if self.settings.metadata:
            return import_metadata(self.settings.metadata, self.settings.root)
        target = options.get("target_metadata")
        if target is None:
            raise ConfigError(
                "Neither [tool.safemigrate] metadata nor env.py's target_metadata names the models.",
                "Without the models safemigrate cannot tell whether the migrations match them.",
                "Set metadata = 'package.module:Base.metadata' in [tool.safemigrate], "
                "or pass target_metadata to context.configure() in env.py.",
            )
        return distinct_metadata(target, "env.py's target_metadata")

    def _compare_models(self, context: MigrationContext, dialect: str) -> list[Difference]:
        assert context.connection is not None
        metadata = self.models(context.opts)
        ctx = drift.comparison_context(context.connection, context.opts,
                                       compare_server_default=self.settings.compare_server_default)
        return drift.compare(ctx, metadata, dialect)

    def _reflect(self, connection: Connection, options: dict[str, Any], result: EnvRunResult) -> MetaData:
        models = self.models(options)
        include_name = options.get("include_name")
        return drift.reflect(connection, models, result.version_table, result.version_table_schema,
                             include_name=include_name)

    # -- what a real project needs around env.py ------------------------------------
    @contextmanager
    def _shared_connection(self, config: Any, url: URL, offline: bool) -> Iterator[None]:
        """An open connection in ``config.attributes["connection"]`` (Alembic's cookbook for sharing one)."""
        if offline:
            yield
            return
        engine = create_engine(sync_url(url), poolclass=pool.NullPool)
        try:
            with engine.connect() as connection:
                config.attributes["connection"] = connection
                yield
                if connection.in_transaction():
                    connection.commit()  # what env.py left open through our connection is its to keep
        finally:
            engine.dispose()

    def _call_setup(self, config: Any) -> None:
        if not self.settings.setup:
            return
        hook = import_object(self.settings.setup, self.settings.root, "setup")
        if not callable(hook):
            raise ConfigError(f"setup = {self.settings.setup!r} is not a function.",
                              "safemigrate calls it with Alembic's Config before env.py runs.",
                              "Point setup at a function taking one argument, the Config.")
        try:
            hook(config)
        except SafemigrateError:
            raise
        except Exception as exc:
            raise EnvPyError(
                f"setup = {self.settings.setup!r} failed: {redact(f'{type(exc).__name__}: {exc}')}",
                "safemigrate calls it with Alembic's Config before every run of env.py.",
                "Fix the function (it runs before env.py, with the URL in config.get_main_option('sqlalchemy.url')).",
            ) from exc

    @contextmanager
    def _app_context(self) -> Iterator[None]:
        """The application's app context (Flask-Migrate's env.py reads ``current_app``)."""
        if not self.settings.app:
            yield
            return
        if self._app is None:
            obj = import_object(self.settings.app, self.settings.root, "app")
            if not hasattr(obj, "app_context") and callable(obj):
                try:
                    obj = obj()
                except Exception as exc:
                    raise EnvPyError(
                        f"app = {self.settings.app!r} failed when called: {redact(f'{type(exc).__name__}: {exc}')}",
                        "safemigrate builds the application once to run env.py inside its app context.",
                        "Fix the factory, or give it the settings it needs in [tool.safemigrate.env] (the database "
                        "URL as \"{url}\").",
                    ) from exc
            if not hasattr(obj, "app_context"):
                raise ConfigError(f"app = {self.settings.app!r} has no app_context().",
                                  "safemigrate runs env.py inside the application's app context.",
                                  "Point app at the application object or at its factory function.")
            self._app = obj
        with self._app.app_context():
            yield

    def _baseline_revisions(self, target: str | None) -> tuple[str, ...]:
        """The revisions baseline_revision names, checked against the upgrade's ``target``."""
        name = self.settings.baseline_revision
        if not name:
            return ()
        script = self.project.script
        try:
            stamped = tuple(r.revision for r in script.get_revisions(name) if r is not None)
        except Exception as exc:  # alembic's ResolutionError / CommandError: an unknown revision
            raise ConfigError(
                f"[tool.safemigrate] baseline_revision = {name!r} is not a revision of this project "
                f"({redact(str(exc).splitlines()[0])}).",
                "safemigrate stamps the throwaway database at that revision after it creates the baseline.",
                "Name a revision id, or 'head' for a project that builds new databases with create_all + stamp "
                "('heads' when its history has several heads, as `alembic stamp heads` does).",
            ) from None
        if target is not None and target not in {"head", "heads"}:
            covered = {r.revision for r in script.revision_map.iterate_revisions(stamped, "base")}
            wanted = {r.revision for r in script.get_revisions(target) if r is not None}
            if wanted & covered - set(stamped):
                raise MigrationFailed(
                    f"safemigrate cannot build a database at {target}: it comes before the baseline, which "
                    f"stands for {', '.join(stamped)} (baseline_revision = {name!r}).",
                    "Revisions up to the baseline are never replayed on throwaway databases: the baseline "
                    "creates their result at once.",
                    "Compare with a database at or after the baseline revision, or give a baseline that stands "
                    "for an earlier revision.",
                )
        return stamped

    def _apply_baseline(self, url: URL) -> bool:
        """Run the baseline on a fresh throwaway database (its version table still empty); whether it ran."""
        if not self.settings.baseline:
            return False
        baseline = import_object(self.settings.baseline, self.settings.root, "baseline")
        metadata = as_metadata(baseline)
        if metadata is None and not callable(baseline):
            raise ConfigError(
                f"baseline = {self.settings.baseline!r} is a {type(baseline).__name__}.",
                "The baseline is the schema the first revision expects: a MetaData (safemigrate runs create_all) "
                "or a function that receives a Connection.",
                "Point baseline at a MetaData (or a declarative base) or at such a function.",
            )
        if metadata is not None and not metadata.tables:
            raise ConfigError(
                f"baseline = {self.settings.baseline!r} is a MetaData without tables when safemigrate imports it.",
                "Its models register their tables when their modules are imported, and nothing imported them "
                "yet: the baseline would create nothing, and the revisions would run on an empty database.",
                "Point baseline at a module that imports every model first (or at a function that receives a "
                "Connection and builds the schema).",
            )
        engine = create_engine(sync_url(url), poolclass=pool.NullPool)
        try:
            with engine.begin() as connection:
                if _has_version_rows(connection):
                    return False  # not a fresh database: the baseline ran before its first revision
                if metadata is not None:
                    metadata.create_all(connection)
                elif callable(baseline):
                    baseline(connection)
            return True
        except SafemigrateError:
            raise
        except Exception as exc:
            raise MigrationFailed(
                f"The baseline ({self.settings.baseline}) failed on the throwaway database: "
                f"{redact(f'{type(exc).__name__}: {exc}'.splitlines()[0])}",
                "safemigrate creates the baseline before the first revision runs.",
                "Fix the baseline (it must build the schema as it was before the first revision).",
            ) from None
        finally:
            engine.dispose()

    # -- autogenerate ------------------------------------------------------------
    def generate(self, request: GenerateRequest) -> GenerateResult:
        """``alembic revision --autogenerate`` against this database, through safemigrate's guard hook.

        Alembic's programmatic ``command.revision(process_revision_directives=...)``
        lets the guard act on any env.py, not only on safemigrate's helper.
        """
        url = self._require_url()
        config = self.project.make_config(url.render_as_string(hide_password=False))
        config.attributes[RECORD_ONLY] = True
        config.attributes[AUTOGEN_DRIVEN] = True  # the helper's own hook steps aside: ours does the work
        recorder = Recorder(self.project.history, url)
        withheld: list[Withheld] = []
        hook = make_hook(None, report=withheld.extend, in_env_py=False)

        def guarded(context: Any, revision: Any, directives: list[Any]) -> None:
            hook(context, revision, directives)
            if directives and all(ops.is_empty() for ops in directives[0].upgrade_ops_list):
                directives[:] = []  # nothing left: write no file

        try:
            # Alembic announces "Generating <file> ... done" on stdout: keep stdout for the report
            with in_folder(self.settings.root), self._app_context(), _listening(recorder, online=True), \
                    self._shared_connection(config, url, False), contextlib.redirect_stdout(io.StringIO()):
                self._call_setup(config)
                generated = command.revision(config, message=request.message, autogenerate=True,
                                             process_revision_directives=guarded)
        except WrongDatabase as exc:
            raise self._wrong_database(exc, url) from None
        except SafemigrateError:
            raise
        except Exception as exc:
            unwritable = _unwritable(exc)
            if unwritable is not None:
                raise unwritable from None
            raise self._explain(recorder, exc, url, "generate a revision") from None
        scripts = [g for g in (generated if isinstance(generated, list) else [generated]) if g is not None]
        return GenerateResult([str(Path(s.path).resolve()) for s in scripts], [s.revision for s in scripts],
                              withheld)

    # -- messages ------------------------------------------------------------------
    def _wrong_database(self, exc: WrongDatabase, expected: URL) -> EnvPyError:
        var = self.settings.database_url_env
        if exc.backend is not None:
            return EnvPyError(
                f"{self.env_py} opened {exc.actual} while safemigrate named a {backend_of(expected)} database "
                f"({mask_url(expected)}). safemigrate stopped it before it connected.",
                "env.py chooses its database without looking at the one it is given, so its migrations would "
                "not run where safemigrate checks them.",
                f"safemigrate hands the database over as ${var} (database_url_env), $SAFEMIGRATE_DATABASE_URL, "
                "sqlalchemy.url and config.attributes['connection']; env.py used none of them. If it reads another "
                "environment variable, set database_url_env to it, or add it to [tool.safemigrate.env] as "
                "NAME = \"{url}\" (or {host}, {database}... for separate variables).",
            )
        return EnvPyError(
            f"{self.env_py} connected to {exc.actual} instead of the database safemigrate named "
            f"({mask_url(expected)}). safemigrate stopped it before any statement was sent.",
            "env.py chooses its database without looking at the one it is given, so safemigrate cannot point it "
            "at a throwaway database, and running it would change whatever database it chose.",
            f"safemigrate hands the database over as ${var} (database_url_env), $SAFEMIGRATE_DATABASE_URL, "
            "sqlalchemy.url and config.attributes['connection']; env.py used none of them. If it reads another "
            "environment variable, set database_url_env to it, or add it to [tool.safemigrate.env] as "
            "NAME = \"{url}\"; if it reads a settings file, point it at the database in a `setup` function "
            "(see the README, \"Real projects\").",
        )

    def _explain(self, recorder: Recorder, exc: Exception, url: URL, purpose: str) -> SafemigrateError:
        failing = recorder.current
        text = redact(f"{type(exc).__name__}: {exc}".strip().splitlines()[0])
        if failing is not None:
            return self._migration_failed(recorder, failing, exc, text, purpose)
        if _needs_async_driver(exc) and is_async_driver(url):
            var = self.settings.database_url_env
            return EnvPyError(
                f"env.py builds an async engine from a URL with a sync driver, although safemigrate gave it "
                f"{mask_url(url)}.",
                "env.py (or the application it imports) reads its database URL from somewhere safemigrate did not "
                "fill: a settings file, a default in the code, or a variable safemigrate does not know.",
                f"safemigrate hands the URL over as ${var} (database_url_env), $SAFEMIGRATE_DATABASE_URL, "
                "sqlalchemy.url and config.attributes['connection']. If the application reads another variable, "
                "set database_url_env to it or add it to [tool.safemigrate.env] as NAME = \"{url}\".",
            )
        if _needs_async_driver(exc):
            return EnvPyError(
                f"env.py builds an async engine but was given {mask_url(url)}, a URL with a sync driver.",
                "An asyncio engine needs an async driver in its URL.",
                "Give safemigrate a URL with an async driver (postgresql+psycopg://, sqlite+aiosqlite://), "
                f"for example in ${self.settings.database_url_env} or --scratch-url.",
            )
        if refused_option(exc) and not recorder.runs:
            detail = redact(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0])
            return EnvPyError(
                f"env.py's engine passes a connection option that the {url.get_driver_name()} driver refuses "
                f"({mask_url(url)}): {detail}",
                "The driver refused it before contacting the server. Connection options belong to one driver "
                "(asyncpg's timeout is psycopg's connect_timeout), and env.py was given a URL with another one.",
                "Give safemigrate a URL with the driver env.py's options are written for, e.g. "
                f"--scratch-url or ${self.settings.database_url_env} as postgresql+asyncpg://... for asyncpg "
                "options; safemigrate keeps the driver of the URL you give it.",
            )
        if isinstance(exc, DBAPIError) and not recorder.runs:
            return unreachable(url, exc)
        line = _line_in(exc, self.env_py)
        origin = f"{self.env_py}" + (f" line {line}" if line else "")
        ran = ", ".join(r.revision.revision for r in recorder.runs)
        progress = (f"it stopped after revision(s) {ran}" if ran else "it stopped before any revision ran")
        return EnvPyError(
            f"Running {origin} failed: {text}",
            f"safemigrate runs the project's env.py to {purpose}; {progress}.",
            _env_py_advice(exc, self.settings),
        )

    def _migration_failed(self, recorder: Recorder, failing: Any, exc: BaseException, text: str,
                          purpose: str) -> MigrationFailed:
        path = Path(failing.path)
        line = _line_in(exc, path)
        info = self.project.history.info(failing.revision)
        where = f"{info.path}" + (f" line {line}" if line else "")
        first = not recorder.runs and not info.down_revision
        if first and not self.settings.baseline and any(h in text.lower() for h in _MISSING_TABLE_HINTS):
            why = ("This is the first revision and it expects tables that no revision creates: the project builds "
                   "them another way (often Base.metadata.create_all()) before running its migrations.")
            fix = ("Tell safemigrate how: set baseline = 'package.module:metadata' (or a function taking a "
                   "connection) in [tool.safemigrate]; see the README, \"Real projects\".")
        elif first and self.settings.baseline and not self.settings.baseline_revision \
                and any(h in text.lower() for h in _ALREADY_THERE_HINTS):
            why = (f"This is the first revision and the baseline ({self.settings.baseline}) already holds what it "
                   "adds: the baseline is the schema of a later revision, not the one the history starts from.")
            fix = ("Tell safemigrate which revision the baseline stands for: baseline_revision = 'head' when the "
                   "project makes new databases with create_all + `alembic stamp head` (or that revision's id); "
                   "see the README, \"Real projects\".")
        elif _disk_full(exc):
            where_db = self._disk_of()
            why = (f"The database ran out of space ({where_db}): the disk (or its quota) is full, which says "
                   "nothing about the migration itself.")
            fix = (f"Free space there and run the command again{self._tmpdir_hint()}.")
        else:
            why = "A migration that fails here fails in the same way when it is applied for real."
            fix = "Fix the migration; run it against an empty database with `alembic upgrade head` to reproduce."
        failure = MigrationFailed(
            f"Revision {failing.revision} ({where}) failed while safemigrate tried to {purpose}: {text}",
            why, fix, revision=failing.revision, path=str(path), line=line,
        )
        failure.sqlstate = _sqlstate(exc)
        failure.lock_timeout = _is_lock_timeout(exc)
        failure.statements = list(recorder.statements)
        failure.runs = list(recorder.runs)  # the revisions that completed before this one
        return failure

    def _sqlite_file(self) -> Path | None:
        url = self.url
        if url is None or url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(str(url.database))

    def _disk_of(self) -> str:
        path = self._sqlite_file()
        if path is None:
            return f"on the server of {mask_url(self.url)}" if self.url is not None else "on its server"
        return f"the SQLite file {path}, on {path.parent}"

    def _tmpdir_hint(self) -> str:
        path = self._sqlite_file()
        if path is None or Path(tempfile.gettempdir()) not in path.parents:
            return ""
        return (", or set TMPDIR to a folder with room: safemigrate builds its throwaway SQLite databases in the "
                f"temporary folder ({tempfile.gettempdir()})")

    def _swallowed(self, recorder: Recorder, failing: Any, purpose: str) -> MigrationFailed:
        """env.py returned before the last step: name the revision that failed and its error, when recorded."""
        error = recorder.failure
        if failing is not None and error is not None:
            # finish() counted the failing revision as run: it is the one that failed, not one that completed
            recorder.runs[:] = [r for r in recorder.runs if r.revision.revision != failing.revision]
            text = redact(f"{type(error).__name__}: {error}".strip().splitlines()[0])
            failure = self._migration_failed(recorder, failing, error, text, purpose)
            failure.why += (" env.py caught this error (an `except` around context.run_migrations()) and returned "
                            "as if the run had finished, so `alembic upgrade` reports no error for it.")
            failure.fix = ("Fix the migration. `alembic upgrade head` does not show this error, because env.py "
                           "catches it: the error above is the one it hides.")
            return failure
        return MigrationFailed(
            f"env.py returned before the migrations finished (safemigrate tried to {purpose}).",
            "env.py caught an error of a migration (or stopped the run) and returned as if it had finished; "
            "the database is not at the revision it was asked for.",
            "Run `alembic upgrade head` on an empty database to see the error env.py hides.",
        )


def environment_for(settings: Settings, url: URL | None) -> dict[str, str]:
    """The variables env.py gets: the URL in every usual place, and ``[tool.safemigrate.env]`` filled in.

    Without a database (reading the history, rendering SQL offline) they name a SQLite file in a private
    folder: an application that builds its engine when it is imported (``pool_size=``, ``pool_timeout=``)
    gets a URL that accepts a pool's options, which an in-memory ``sqlite://`` refuses.
    """
    if url is None:
        url = placeholder_url()
    elif url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        url = placeholder_url().set(drivername=url.drivername)
    target = url.render_as_string(hide_password=False)
    values = {
        "url": target,
        "backend": url.get_backend_name(),
        "driver": url.get_driver_name(),
        "host": url.host or "",
        "port": str(url.port or ""),
        "database": url.database or "",
        "user": url.username or "",
        "password": str(url.password or ""),
    }
    if values["password"]:
        remember_secret(values["password"])
    env = {URL_OVERRIDE_ENV: target, settings.database_url_env: target}
    for name, template in settings.env.items():
        env[name] = template.format(**values)
    return env


def placeholder_url() -> URL:
    """A SQLite file in a private folder of this process, for env.py when no database is named.

    Nothing is created in it unless the application connects; :func:`remove_placeholder` removes it when
    the process ends (a folder left by a killed process is removed with old throwaway databases).
    """
    global _placeholder_folder
    if _placeholder_folder is None:
        _placeholder_folder = Path(tempfile.gettempdir()) / new_scratch_name()
        _placeholder_folder.mkdir(mode=0o700)
    return URL.create("sqlite", database=str(_placeholder_folder / "no_database_named.db"))


def remove_placeholder() -> None:
    global _placeholder_folder
    if _placeholder_folder is not None:
        shutil.rmtree(_placeholder_folder, ignore_errors=True)
        _placeholder_folder = None


class _RetryWith(Exception):
    """env.py failed before any revision ran, only because of how it was run: run it again this way."""

    def __init__(self, url: URL | None = None, *, anyio_worker: bool = False):
        super().__init__("retry")
        self.url = url
        self.anyio_worker = anyio_worker
        self.failure: SafemigrateError | None = None  # what this run failed with, if the retry cannot help


def _in_anyio_worker(run: Callable[[], T]) -> T:
    """``run()`` in a worker thread of an AnyIO event loop (env.py calls anyio.from_thread.run)."""
    import anyio
    import anyio.to_thread

    async def main() -> T:
        return await anyio.to_thread.run_sync(run)

    return anyio.run(main)


def _ledger_writer(request: EnvRunRequest, journal: Journal | None) -> Callable[[Any, MigrationContext, float], None]:
    rows = request.ledger
    assert rows is not None

    def record(script: Any, context: MigrationContext, duration_ms: float) -> None:
        # still inside the revision's transaction, before its version bump
        assert context.connection is not None
        ledger.record(context.connection, script.revision, rows.digests.get(script.revision, ""),
                      environment=rows.environment, duration_ms=int(duration_ms), backup_id=rows.backup_id,
                      attempt=journal.attempt if journal is not None else None)
        if script.path and reruns_converge(script.path) and ledger.interrupted(context.connection, [script.revision]):
            # this run finished what an interrupted attempt began: closed in the same transaction, so that a
            # kill right after the commit cannot leave the revision applied and its old attempt open
            ledger.resolve(context.connection, script.revision, ledger.CONVERGED, environment=rows.environment)

    return record


def _has_version_rows(connection: Connection) -> bool:
    try:
        with connection.begin_nested():
            return connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() not in (0, None)
    except SQLAlchemyError:
        return False


def _dialect_name(connection: Connection) -> str:
    return "mysql" if connection.dialect.name == "mariadb" else connection.dialect.name


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
def _listening(recorder: Recorder, online: bool) -> Iterator[None]:
    if not online:
        yield
        return
    event.listen(Engine, "do_connect", recorder.on_do_connect)
    event.listen(Engine, "engine_connect", recorder.on_connect)
    event.listen(Engine, "before_cursor_execute", recorder.on_execute)
    event.listen(Engine, "after_cursor_execute", recorder.after_execute)
    event.listen(Engine, "handle_error", recorder.on_error)
    try:
        yield
    finally:
        event.remove(Engine, "handle_error", recorder.on_error)
        event.remove(Engine, "after_cursor_execute", recorder.after_execute)
        event.remove(Engine, "before_cursor_execute", recorder.on_execute)
        event.remove(Engine, "engine_connect", recorder.on_connect)
        event.remove(Engine, "do_connect", recorder.on_do_connect)


def _env_py_advice(exc: BaseException, settings: Settings) -> str:
    """What to set when env.py itself fails, by what it failed on."""
    text = f"{type(exc).__name__}: {exc}"
    if "application context" in text or "current_app" in text:
        return ("env.py runs inside a Flask application: set app = 'package.module:create_app' (or the app "
                "object) in [tool.safemigrate], and give the app its database in [tool.safemigrate.env] as "
                "\"{url}\".")
    if isinstance(exc, KeyError) or "environment variable" in text.lower() or "required" in text.lower():
        return ("env.py (or the application it imports) needs settings: set database_url_env to the variable "
                "that holds the database URL, and any other variable it needs in [tool.safemigrate.env] "
                "(\"{url}\", \"{host}\", \"{database}\"... are filled from the database safemigrate points env.py "
                "at). Run `alembic current` with the same variables to reproduce.")
    if isinstance(exc, AttributeError) and "Config" in text:
        return ("env.py expects something the project's own command line puts on Alembic's Config: provide it in "
                "a function named by `setup` in [tool.safemigrate], which receives the Config before env.py runs.")
    return ("Run `alembic current` to reproduce. If env.py needs settings (environment variables, files), provide "
            f"them in [tool.safemigrate.env] or with a `setup` function; if it builds its own engine, make it use "
            f"${settings.database_url_env}.")


def _needs_async_driver(exc: BaseException) -> bool:
    return isinstance(exc, InvalidRequestError) and "requires an async driver" in str(exc)


def _retry_with(exc: BaseException, url: URL, in_worker: bool) -> _RetryWith | None:
    """How to run env.py again when it failed, before any revision ran, only because of how it was run."""
    if _needs_async_driver(exc):
        variant = async_variant(url)
        return _RetryWith(variant) if variant is not None else None
    if isinstance(exc, MissingGreenlet) and is_async_driver(url):
        return _RetryWith(sync_url(url))  # a sync engine given the user's async driver (e.g. --scratch-url asyncpg)
    if "AnyIO worker thread" in str(exc) and not in_worker and importlib.util.find_spec("anyio") is not None:
        return _RetryWith(anyio_worker=True)
    return None


def async_variant(url: URL) -> URL | None:
    """The same database through an installed async driver, if there is one."""
    candidates = {"sqlite": [("aiosqlite", "aiosqlite")], "postgresql": [("psycopg", "psycopg"),
                  ("asyncpg", "asyncpg")], "mysql": [("aiomysql", "aiomysql"), ("asyncmy", "asyncmy")]}
    for driver, module in candidates.get(backend_of(url), []):
        if driver != url.get_driver_name() and importlib.util.find_spec(module) is not None:
            name = "sqlite" if url.get_backend_name() == "sqlite" else url.get_backend_name()
            return url.set(drivername=f"{name}+{driver}")
    return None


@contextmanager
def _journaling(recorder: Recorder) -> Iterator[None]:
    if recorder.journal is None:
        yield
        return
    recorder.internal = True
    try:
        recorder.journal.open()
    finally:
        recorder.internal = False
    try:
        yield
    finally:
        recorder.journal.close()


@contextmanager
def _timeouts(settings: Settings, backend: str) -> Iterator[None]:
    """lock_timeout / statement_timeout on every connection of a real run, whatever env.py does.

    A blocked ALTER TABLE queues every later query on its table behind it: give up after lock_timeout
    (and retry) instead of stalling the application. MySQL/MariaDB count lock_wait_timeout in seconds.
    """
    lock_ms, statement_ms = settings.lock_timeout_ms, settings.statement_timeout_ms
    if backend == "postgresql":
        statements = [f"SET lock_timeout = '{lock_ms}ms'" if lock_ms else "",
                      f"SET statement_timeout = '{statement_ms}ms'" if statement_ms else ""]
    elif backend == "mysql":
        statements = [f"SET SESSION lock_wait_timeout = {max(1, -(-lock_ms // 1000))}" if lock_ms else ""]
    else:
        statements = []
    statements = [s for s in statements if s]
    if not statements:
        yield
        return

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.close()
        dbapi_connection.commit()  # session settings stay; the connection starts with no transaction

    event.listen(Engine, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(Engine, "connect", on_connect)


def _is_lock_timeout(exc: BaseException | None) -> bool:
    """PostgreSQL's lock_timeout (55P03) or MySQL/MariaDB's lock wait timeout (1205); also a deadlock the
    revision lost (40P01, 1213): the server rolled its transaction back, so it is retried the same way."""
    orig = getattr(exc, "orig", exc)
    if _sqlstate(exc) in {"55P03", "40P01"}:
        return True
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()) or ())
    return bool(args) and args[0] in {1205, 1213}


def _sqlstate(exc: BaseException | None) -> str | None:
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)


#: "out of space" as each database says it: SQLite's SQLITE_FULL, PostgreSQL's disk_full class, MySQL/MariaDB's
#: "table is full", "disk full", "error writing file" with ENOSPC (errno 28)
_SQLITE_FULL = 13
_PG_DISK_FULL = "53100"
_MYSQL_FULL = {1114, 1021}


def _disk_full(exc: BaseException | None) -> bool:
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlite_errorcode", None) == _SQLITE_FULL or _sqlstate(exc) == _PG_DISK_FULL:
        return True
    if isinstance(orig, OSError) and orig.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()) or ())
    return bool(args) and args[0] in _MYSQL_FULL


def _line_in(exc: BaseException, path: Path) -> int | None:
    target = str(path.resolve())
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if os.path.realpath(f.filename) == target]
    return lines[-1] if lines else None


__all__ = ["OFFLINE_URLS", "EnvPy", "async_variant", "same_database"]


_DISK_ERRORS = {errno.EACCES: "it is not writable", errno.EPERM: "it is not writable",
                errno.EROFS: "it is on a read-only file system", errno.ENOSPC: "the disk is full",
                errno.EDQUOT: "the disk quota is used up"}


def _unwritable(exc: BaseException) -> ConfigError | None:
    """The revision file could not be written (read-only folder, full disk): say which and why, not env.py."""
    if not isinstance(exc, OSError) or exc.errno not in _DISK_ERRORS:
        return None
    where = exc.filename or "the versions folder"
    return ConfigError(
        f"The new revision could not be written to {where}: {_DISK_ERRORS[exc.errno]} ({exc.strerror}).",
        "Generating a revision writes a file into the project's versions folder; nothing was applied.",
        "Make the versions folder writable by this user (or free disk space), then run the command again.",
    )
