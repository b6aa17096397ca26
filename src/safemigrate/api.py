"""The library's front door: one project, its operations, their reports.

>>> project = Project.from_pyproject("path/to/project")
>>> report = project.check()
>>> report.ok, [d.description for d in report.differences]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, pool
from sqlalchemy.engine import URL

from safemigrate.config.settings import (
    Environment,
    Settings,
    load_settings,
    resolve_database_url,
    resolve_environment,
    resolve_scratch_url,
)
from safemigrate.core.errors import ConfigError, UsageError
from safemigrate.core.results import (
    CheckReport,
    Difference,
    LiveReport,
    Problem,
    ReviewReport,
    RevisionRun,
    StatusReport,
)
from safemigrate.core.secrets import mask_url
from safemigrate.core.urls import backend_of, parse_url, sync_url, with_driver_of
from safemigrate.guard import signoff
from safemigrate.guard.lint import LintReport, lint_runs
from safemigrate.harness.envpy import EnvRun, ensure_reachable, run_env
from safemigrate.harness.scratch import ScratchDatabase, scratch_database
from safemigrate.project.models import import_metadata
from safemigrate.project.scripts import AlembicProject
from safemigrate.runner.migrate import MigrateReport
from safemigrate.schema import compare as drift

_DIALECTS = {"postgresql", "mysql", "sqlite", "mariadb", "mssql", "oracle"}
_OFFLINE_URLS = {"postgresql": "postgresql+psycopg://", "mysql": "mysql+pymysql://",
                 "mariadb": "mariadb+pymysql://", "sqlite": "sqlite://"}


@dataclass(frozen=True)
class HeadBuild:
    """What one throwaway upgrade to head produced."""

    scratch: str  # description of the throwaway database
    backend: str
    runs: list[RevisionRun]  # statements per revision
    differences: list[Difference]  # the database at head vs. the models
    server_version: int | None  # major version of the scratch server


class Project:
    """A SQLAlchemy + Alembic project configured by ``[tool.safemigrate]``."""

    def __init__(self, settings: Settings, *, database_url: str | None = None, scratch_url: str | None = None,
                 environment: str | None = None, dialect: str | None = None):
        self.settings = settings
        self.alembic = AlembicProject(settings)
        self._database_override = database_url
        self._scratch_override = scratch_url
        self._environment_override = environment
        if dialect is not None and dialect not in _DIALECTS:
            raise UsageError(
                f"Unknown dialect {dialect!r}.",
                "safemigrate renders DDL with SQLAlchemy's dialects.",
                f"Use one of: {', '.join(sorted(_DIALECTS))}.",
            )
        self._dialect_override = dialect
        self._head_build: HeadBuild | None = None

    @classmethod
    def from_pyproject(cls, path: str | Path | None = None, **options: Any) -> Project:
        """The project whose pyproject.toml is at or above ``path`` (default: the working directory)."""
        return cls(load_settings(path), **options)

    # -- resolved settings ---------------------------------------------
    @cached_property
    def environment(self) -> Environment:
        return resolve_environment(self.settings, self._environment_override)

    @cached_property
    def _database(self) -> tuple[URL | None, str]:
        raw, source = resolve_database_url(self.settings, self._database_override, self.alembic.ini_url())
        return (parse_url(raw) if raw else None), source

    @property
    def database_url(self) -> URL | None:
        """The live database (password included: never print it; use mask_url)."""
        return self._database[0]

    @property
    def scratch_server(self) -> URL | None:
        raw = resolve_scratch_url(self.settings, self._scratch_override)
        return parse_url(raw) if raw else None

    def target_dialect(self) -> str:
        """The dialect DDL is rendered for: --dialect, the config, the live database, else the scratch's."""
        if self._dialect_override:
            return self._dialect_override
        if self.settings.dialect:
            return self.settings.dialect
        if self.database_url is not None:
            return backend_of(self.database_url)
        return self.scratch_backend

    @property
    def scratch_backend(self) -> str:
        return backend_of(self.scratch_server) if self.scratch_server is not None else "sqlite"

    def _require_live(self) -> URL:
        if self.database_url is None:
            var = self.settings.database_url_env
            raise ConfigError(
                f"No database URL: ${var} is unset and [tool.safemigrate] has no database_url.",
                "This command inspects a live database and needs to know which one.",
                f"Set {var} (or SAFEMIGRATE_DATABASE_URL), or pass --database-url.",
            )
        return self.database_url

    def metadata_for(self, options: dict[str, Any]) -> MetaData | list[MetaData]:
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
        return target

    # -- building a throwaway database ------------------------------------
    @contextmanager
    def built(self, target: str = "heads",
              inspect: Callable[[MigrationContext], Any] | None = None) -> Iterator[tuple[ScratchDatabase, EnvRun]]:
        """A throwaway database upgraded to ``target`` through the project's env.py."""
        self.alembic.heads  # noqa: B018 - an empty or broken history fails before any database is made
        with scratch_database(self.scratch_server) as scratch:
            url = with_driver_of(scratch.url, self.database_url)
            run = run_env(self.alembic, url, target=target, inspect=inspect)
            yield scratch, run

    def head_build(self) -> HeadBuild:
        """One throwaway upgrade to head, shared by check, review and lint (built once per Project)."""
        if self._head_build is None:
            dialect = self.target_dialect()
            compare = self._compare_here(dialect)

            def inspect(context: MigrationContext) -> tuple[list[Difference], int | None]:
                assert context.connection is not None
                info = context.connection.dialect.server_version_info
                return compare(context), (info[0] if info else None)

            with self.built("heads", inspect=inspect) as (scratch, run):
                differences, version = run.inspected
                self._head_build = HeadBuild(scratch.describe(), scratch.backend, run.runs, differences, version)
        return self._head_build

    def forget_history(self) -> None:
        """The migration history changed (a revision was generated): reload it, rebuild on next use."""
        self.alembic.__dict__.pop("script", None)
        self.alembic.__dict__.pop("heads", None)
        self._head_build = None

    def _compare_here(self, dialect: str) -> Callable[[MigrationContext], list[Difference]]:
        def inspect(context: MigrationContext) -> list[Difference]:
            metadata = self.metadata_for(context.opts)
            assert context.connection is not None
            ctx = drift.comparison_context(context.connection, context.opts,
                                           compare_server_default=self.settings.compare_server_default)
            return drift.compare(ctx, metadata, dialect)
        return inspect

    def _head_problems(self) -> list[Problem]:
        heads = self.alembic.heads
        if len(heads) < 2:
            return []
        return [Problem(
            "multiple_heads",
            f"The migration history has {len(heads)} heads ({', '.join(heads)}): two branches each added a revision "
            "on the same parent.",
            "Join them with `alembic merge -m \"merge heads\" heads`, or re-parent the newer revision "
            "(set its down_revision to the other head).",
        )]

    # -- operations -------------------------------------------------------
    def check(self) -> CheckReport:
        """Models vs. migrations: upgrade a throwaway database to head and compare."""
        started = time.perf_counter()
        problems = self._head_problems()
        notes: list[str] = []
        dialect = self.target_dialect()
        build = self.head_build()
        if {"mariadb": "mysql"}.get(dialect, dialect) != self.scratch_backend:
            where = ("leave --scratch-url unset (SQLite is the default)" if dialect == "sqlite"
                     else f"pass --scratch-url (or set scratch_url) to a {dialect} server")
            notes.append(
                f"The migrations ran on {self.scratch_backend} but the DDL is rendered for {dialect}: migrations "
                f"and types specific to {dialect} are not checked faithfully. For a faithful check, {where}."
            )
        return CheckReport(
            scratch=build.scratch, dialect=dialect, heads=list(self.alembic.heads),
            differences=build.differences, problems=problems, revisions_applied=len(build.runs),
            duration_ms=round((time.perf_counter() - started) * 1000, 1), notes=notes,
        )

    def _read_live(self, dialect: str) -> EnvRun:
        url = self._require_live()
        ensure_reachable(url)

        def inspect(context: MigrationContext) -> dict[str, Any]:
            heads = list(context.get_current_heads())
            return {"heads": heads, "versus_models": self._compare_here(dialect)(context)}

        return run_env(self.alembic, url, inspect=inspect, mutate=False, purpose="read the live database")

    def _revision_problems(self, db_heads: list[str]) -> tuple[list[Problem], list[str]]:
        problems = self._head_problems()
        unknown = [h for h in db_heads if not self.alembic.known(h)]
        if unknown:
            problems.append(Problem(
                "unknown_revision",
                f"The database is at revision {', '.join(unknown)}, which this code does not have: the database was "
                "migrated by newer code (it is ahead), or that revision file was deleted or renamed.",
                "Deploy the code that contains that revision, or restore the missing file. Do not run migrations "
                "from this code against this database.",
            ))
            return problems, []
        pending = self.alembic.pending(db_heads)
        if pending:
            problems.append(Problem(
                "database_behind",
                f"The database is behind the code: {len(pending)} revision(s) not applied "
                f"({', '.join(pending[:5])}{', ...' if len(pending) > 5 else ''}).",
                "Apply them with `safemigrate migrate` (or `alembic upgrade head`).",
            ))
        return problems, pending

    def check_live(self) -> LiveReport:
        """The live database against the models and against the revision it claims."""
        url = self._require_live()
        dialect = self._dialect_override or backend_of(url)
        live = self._read_live(dialect)
        db_heads = live.inspected["heads"]
        problems, pending = self._revision_problems(db_heads)
        notes: list[str] = []
        out_of_band: list[Difference] = []
        if db_heads and not any(p.code == "unknown_revision" for p in problems):
            out_of_band = self._out_of_band(url, db_heads, live.options, dialect, notes)
        elif not db_heads:
            notes.append("The database has no Alembic revision recorded, so there is no revision to compare it with.")
        return LiveReport(
            database=mask_url(url), dialect=dialect, database_heads=db_heads, code_heads=list(self.alembic.heads),
            pending=pending, problems=problems, versus_models=live.inspected["versus_models"],
            out_of_band=out_of_band, notes=notes,
        )

    def _out_of_band(self, url: URL, db_heads: list[str], options: dict[str, Any], dialect: str,
                     notes: list[str]) -> list[Difference]:
        scratch_backend = self.scratch_backend
        if scratch_backend != backend_of(url):
            notes.append(
                f"Out-of-band changes were not checked: the live database is {backend_of(url)} and the throwaway "
                f"database would be {scratch_backend}, whose schemas cannot be compared exactly. Pass --scratch-url "
                f"(or set scratch_url) to a {backend_of(url)} server where safemigrate may create databases."
            )
            return []
        version_table = options.get("version_table", "alembic_version")
        version_schema = options.get("version_table_schema")
        models = self.metadata_for(options)
        reflected: MetaData | None = None
        with scratch_database(self.scratch_server) as scratch:
            scratch_url = with_driver_of(scratch.url, url)
            for head in db_heads:
                run = run_env(self.alembic, scratch_url, target=head,
                              inspect=lambda ctx: drift.reflect(ctx.connection, models, version_table, version_schema),
                              purpose=f"rebuild the schema of revision {head}")
                reflected = run.inspected
        assert reflected is not None
        label = f"revision {', '.join(db_heads)}"
        engine = create_engine(sync_url(url), poolclass=pool.NullPool)
        try:
            with engine.connect() as conn:
                opts = {**options, "target_metadata": reflected}
                ctx = drift.comparison_context(conn, opts, compare_server_default=self.settings.compare_server_default)
                return drift.compare(ctx, reflected, dialect, reference=label)
        finally:
            engine.dispose()

    def status(self) -> StatusReport:
        """Environment, revisions, pending work and a one-line drift verdict."""
        env = self.environment
        code_heads = list(self.alembic.heads)
        url, source = self._database
        if url is None:
            return StatusReport(
                environment=env.describe(), environment_assumed=env.assumed, database=None, database_source="",
                database_heads=None, code_heads=code_heads, pending=[], problems=self._head_problems(),
                drift=f"unknown: no database configured (set {self.settings.database_url_env})", differences=0,
            )
        live = self._read_live(self._dialect_override or backend_of(url))
        db_heads = live.inspected["heads"]
        problems, pending = self._revision_problems(db_heads)
        differences = live.inspected["versus_models"]
        if any(p.code == "unknown_revision" for p in problems):
            verdict = "unknown revision: the database is ahead of this code or a revision file is missing"
        elif pending:
            verdict = f"behind: {len(pending)} pending revision(s); the models are compared after `migrate`"
        elif differences:
            verdict = (f"drift: {len(differences)} difference(s) between the database and the models "
                       "(details: safemigrate check --live)")
        else:
            verdict = "in sync: the database is at head and matches the models"
        return StatusReport(
            environment=env.describe(), environment_assumed=env.assumed, database=mask_url(url),
            database_source=source, database_heads=db_heads, code_heads=code_heads, pending=pending,
            problems=problems, drift=verdict, differences=0 if pending else len(differences),
        )

    def review(self, revision_range: str | None = None, *, offline: bool = False,
               dialect: str | None = None) -> ReviewReport:
        """The SQL of each pending (or given) revision."""
        if revision_range:
            wanted = [r.revision for r in self.alembic.in_range(revision_range)]
            label = revision_range
        elif self.database_url is not None:
            live = self._read_live(self.target_dialect())
            _, pending = self._revision_problems(live.inspected["heads"])
            wanted, label = pending, "pending"
        else:
            self.alembic.heads  # noqa: B018 - an empty history is an error
            wanted = [r.revision for r in self.alembic.in_range("base:heads")]
            label = "base:heads (no database configured: every revision)"
        notes: list[str] = []
        if not wanted:
            return ReviewReport(mode="offline" if offline else "captured", dialect=dialect or self.target_dialect(),
                                range=label, revisions=[], notes=["Nothing to review: no pending revisions."])
        if offline:
            dialect = dialect or self.target_dialect()
            if dialect not in _OFFLINE_URLS:
                raise UsageError(f"Offline review supports {', '.join(_OFFLINE_URLS)}, not {dialect!r}.",
                                 "Alembic renders offline SQL through a SQLAlchemy dialect.",
                                 "Pass --dialect postgresql, mysql or sqlite.")
            run = run_env(self.alembic, parse_url(_OFFLINE_URLS[dialect]), target="heads",
                          offline_dialect=dialect, purpose="render the SQL offline")
            runs = run.runs
            notes.append("Offline mode: SQL rendered by Alembic's --sql mode without a database; migrations that "
                         "read the database cannot be rendered this way.")
        else:
            build = self.head_build()
            runs, dialect = build.runs, build.backend
            notes.append(f"Captured from a real upgrade of a {build.scratch}.")
        selected = set(wanted)
        chosen: list[RevisionRun] = [r for r in runs if r.revision.revision in selected]
        return ReviewReport(mode="offline" if offline else "captured", dialect=dialect or "",
                            range=label, revisions=chosen, notes=notes)

    # -- lint ---------------------------------------------------------------
    def lint(self, revision_range: str | None = None, *, pg_version: int | None = None) -> LintReport:
        """Lint-rule findings for the revisions in ``revision_range`` (default: all after start_after)."""
        spec = revision_range or "base:heads"
        selected = [r.revision for r in self.alembic.in_range(spec)]
        notes: list[str] = []
        if self.settings.start_after and not revision_range:
            old = {r.revision for r in self.alembic.in_range(f"base:{self.settings.start_after}")}
            selected = [r for r in selected if r not in old]
            notes.append(f"Revisions up to {self.settings.start_after} (start_after) are not linted.")
        dialect = self.target_dialect()
        scratch_backend = self.scratch_backend
        version = pg_version or self.settings.pg_version
        if scratch_backend == dialect:
            build = self.head_build()
            runs, mode = build.runs, "captured"
            if dialect == "postgresql" and version is None:
                version = build.server_version
        else:
            run = run_env(self.alembic, parse_url(_OFFLINE_URLS.get(dialect, "sqlite://")), target="heads",
                          offline_dialect=dialect, purpose=f"render the SQL for {dialect}")
            runs, mode = run.runs, "offline"
            notes.append(
                f"The SQL was rendered offline for {dialect} (Alembic's --sql mode) because the throwaway database "
                f"would be {scratch_backend}; pass --scratch-url to a {dialect} server to lint what the revisions "
                "really send (data migrations, op.get_bind())."
            )
        version = version or 15
        wanted = set(selected)
        chosen = [r for r in runs if r.revision.revision in wanted]
        declared = {}
        for run_ in chosen:
            script = self.alembic.get(run_.revision.revision)
            if script is not None:
                declared[run_.revision.revision] = signoff.declared(vars(script.module))
        findings = lint_runs(chosen, dialect=dialect, pg_version=version, lock_timeout_set=self._helper_sets_timeouts(),
                             declared=declared, root=self.settings.root)
        return LintReport(mode=mode, dialect=dialect, pg_version=version,
                          revisions=[r.revision.revision for r in chosen], findings=findings, notes=notes)

    def _helper_sets_timeouts(self) -> bool:
        """True when env.py is safemigrate's helper, which sets lock_timeout on PostgreSQL."""
        from safemigrate.init.adopt import uses_helper

        return uses_helper(self.alembic.script_location / "env.py") and self.settings.lock_timeout not in {"0", ""}

    # -- applying -------------------------------------------------------------
    def migrate(self, *, dry_run: bool = False, lock_wait: float = 600.0, retries: int = 3,
                backoff: float = 2.0) -> MigrateReport:
        """Auto-sync in development, fail fast in production (see runner/migrate.py)."""
        from safemigrate.runner.migrate import migrate

        return migrate(self, dry_run=dry_run, lock_wait=lock_wait, retries=retries, backoff=backoff)

    def accept_change(self, revision: str, reason: str) -> str:
        """Record in the ledger that an applied revision's file was changed on purpose."""
        from safemigrate.state import ledger

        script = self.alembic.get(revision)
        if script is None:
            raise UsageError(f"There is no revision {revision!r} in this project.",
                             "Only a revision the code has can be accepted.",
                             "Use an id from `alembic history`.")
        if not reason.strip():
            raise UsageError("--reason is empty.", "The ledger keeps why an applied migration changed.",
                             "Say why, e.g. --reason 'fixed a typo in a comment'.")
        url = self._require_live()
        engine = create_engine(sync_url(url), poolclass=pool.NullPool)
        try:
            with engine.begin() as conn:
                ledger.ensure(conn)
                digest = ledger.checksum(script.path)
                ledger.record(conn, script.revision, digest, environment=self.environment.name,
                              action="accepted", note=reason.strip())
        finally:
            engine.dispose()
        return digest

