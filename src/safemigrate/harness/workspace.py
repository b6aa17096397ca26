"""A project and the databases it works with: resolved settings, and the throwaway build at head.

Every operation below the API (checks, runner, backup, CI) takes a
:class:`Workspace`; :class:`safemigrate.api.Project` is one, with the
operations as methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData
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
from safemigrate.core.results import Difference, RevisionRun
from safemigrate.core.urls import backend_of, parse_url, with_driver_of
from safemigrate.harness.envpy import EnvRun, run_env
from safemigrate.harness.scratch import ScratchDatabase, scratch_database
from safemigrate.project.models import import_metadata
from safemigrate.project.scripts import AlembicProject
from safemigrate.schema import compare as drift

DIALECTS = {"postgresql", "mysql", "sqlite", "mariadb", "mssql", "oracle"}


@dataclass(frozen=True)
class HeadBuild:
    """What one throwaway upgrade to head produced."""

    scratch: str  # description of the throwaway database
    backend: str
    runs: list[RevisionRun]  # statements per revision
    differences: list[Difference]  # the database at head vs. the models
    server_version: int | None  # major version of the scratch server


class Workspace:
    """A SQLAlchemy + Alembic project configured by ``[tool.safemigrate]``, with its databases resolved."""

    def __init__(self, settings: Settings, *, database_url: str | None = None, scratch_url: str | None = None,
                 environment: str | None = None, dialect: str | None = None):
        self.settings = settings
        self.alembic = AlembicProject(settings)
        self._database_override = database_url
        self._scratch_override = scratch_url
        self._environment_override = environment
        if dialect is not None and dialect not in DIALECTS:
            raise UsageError(
                f"Unknown dialect {dialect!r}.",
                "safemigrate renders DDL with SQLAlchemy's dialects.",
                f"Use one of: {', '.join(sorted(DIALECTS))}.",
            )
        self.dialect_override = dialect
        self._head_build: HeadBuild | None = None

    @classmethod
    def from_pyproject(cls, path: str | Path | None = None, **options: Any) -> Any:
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
    def database_source(self) -> str:
        """Where the live database URL came from, for messages."""
        return self._database[1]

    @property
    def scratch_server(self) -> URL | None:
        raw = resolve_scratch_url(self.settings, self._scratch_override)
        return parse_url(raw) if raw else None

    def target_dialect(self) -> str:
        """The dialect DDL is rendered for: --dialect, the config, the live database, else the scratch's."""
        if self.dialect_override:
            return self.dialect_override
        if self.settings.dialect:
            return self.settings.dialect
        if self.database_url is not None:
            return backend_of(self.database_url)
        return self.scratch_backend

    @property
    def scratch_backend(self) -> str:
        return backend_of(self.scratch_server) if self.scratch_server is not None else "sqlite"

    def require_live(self) -> URL:
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
        return target  # type: ignore[no-any-return]

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
        """One throwaway upgrade to head, shared by check, review and lint (built once per workspace)."""
        if self._head_build is None:
            dialect = self.target_dialect()
            compare = self.comparison(dialect)

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

    def comparison(self, dialect: str) -> Callable[[MigrationContext], list[Difference]]:
        """An inspect callback: the database behind env.py's context vs. the models, DDL for ``dialect``."""
        def inspect(context: MigrationContext) -> list[Difference]:
            metadata = self.metadata_for(context.opts)
            assert context.connection is not None
            ctx = drift.comparison_context(context.connection, context.opts,
                                           compare_server_default=self.settings.compare_server_default)
            return drift.compare(ctx, metadata, dialect)
        return inspect
