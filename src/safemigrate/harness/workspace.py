"""A project and the databases it works with: resolved settings, env.py's processes, the build at head.

Every operation below the API (checks, runner, backup, CI) takes a
:class:`Workspace`; :class:`safemigrate.api.Project` is one, with the
operations as methods. A workspace keeps one env.py process per database
(:mod:`safemigrate.harness.session`) until it is closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.engine import URL

from safemigrate.config.settings import (
    INI_SOURCE,
    Environment,
    Settings,
    load_settings,
    resolve_database_url,
    resolve_environment,
    resolve_scratch_url,
)
from safemigrate.core.errors import ConfigError, InternalError, UsageError
from safemigrate.core.results import Difference, RevisionRun
from safemigrate.core.urls import anchored, backend_of, parse_url, with_driver_of
from safemigrate.guard.selection import check_lint_settings
from safemigrate.harness.requests import EnvRunRequest, EnvRunResult, Reads
from safemigrate.harness.scratch import ScratchDatabase, scratch_database
from safemigrate.harness.session import EnvSession
from safemigrate.project.history import History
from safemigrate.project.layout import Layout

NO_READS = Reads()
DIALECTS = {"postgresql", "mysql", "sqlite", "mariadb", "mssql", "oracle"}


@dataclass(frozen=True)
class HeadBuild:
    """What one throwaway upgrade to head produced."""

    scratch: str  # description of the throwaway database
    backend: str
    runs: list[RevisionRun]  # statements per revision
    differences: list[Difference] | None  # the database at head vs. the models (None: the comparison failed)
    server_version: int | None  # major version of the scratch server
    comparison_error: str | None = None
    comparison_traceback: str = ""
    reflected: MetaData | None = None  # the schema at head, when the build was asked to reflect it

    def require_differences(self) -> list[Difference]:
        """The differences, or a clear error when Alembic's comparison failed on these models."""
        if self.differences is None:
            raise InternalError(
                f"Alembic's comparison of the models with the migrated database failed: {self.comparison_error}",
                "The migrations ran (review and lint work), but safemigrate could not compare the result with "
                "the models; this is a limitation of safemigrate or Alembic, not a problem of the project.",
                "Please report it with the message and the details; `safemigrate lint` and `review` still work.",
                details=self.comparison_traceback,
            )
        return self.differences


class Workspace:
    """A SQLAlchemy + Alembic project configured by ``[tool.safemigrate]``, with its databases resolved."""

    def __init__(self, settings: Settings, *, database_url: str | None = None, scratch_url: str | None = None,
                 environment: str | None = None, dialect: str | None = None, verbose: bool = False):
        self.settings = settings
        check_lint_settings(settings.lint)  # rule ids are known here, not in the config layer
        self.layout = Layout(settings)
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
        self.verbose = verbose
        self._head_build: HeadBuild | None = None
        self._history: History | None = None
        self._sessions: dict[str, EnvSession] = {}

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
        raw, source = resolve_database_url(self.settings, self._database_override, self.layout.ini_url())
        return (anchored(parse_url(raw), self.settings.root) if raw else None), source

    @property
    def database_url(self) -> URL | None:
        """The live database (password included: never print it; use mask_url)."""
        return self._database[0]

    @property
    def database_source(self) -> str:
        """Where the live database URL came from, for messages."""
        return self._database[1]

    @property
    def database_named(self) -> URL | None:
        """The live database when the user named it (flag, variable, key), not an ini's default."""
        return self.database_url if self.database_source != INI_SOURCE else None

    @property
    def scratch_server(self) -> URL | None:
        raw = resolve_scratch_url(self.settings, self._scratch_override)
        return parse_url(raw) if raw else None

    def target_dialect(self) -> str:
        """The dialect DDL is rendered for.

        --dialect, the dialect key, the live database named by the user, the scratch server, an ini's
        usable URL, else SQLite.
        """
        if self.dialect_override:
            return self.dialect_override
        if self.settings.dialect:
            return self.settings.dialect
        if self.database_named is not None:
            return backend_of(self.database_named)
        if self.scratch_server is not None:
            return backend_of(self.scratch_server)
        if self.database_url is not None:
            return backend_of(self.database_url)
        return "sqlite"

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

    def helper_sets_timeouts(self) -> bool:
        """True when revisions run with lock_timeout set: `safemigrate migrate` sets it for any env.py, and
        safemigrate's env.py helper for plain `alembic upgrade`."""
        return self.settings.lock_timeout_ms > 0

    # -- env.py's processes ---------------------------------------------------
    def session(self, url: URL | None) -> EnvSession:
        """The env.py process for ``url`` (one per database; None: reading the history only)."""
        key = url.render_as_string(hide_password=False) if url is not None else ""
        if key not in self._sessions:
            self._sessions[key] = EnvSession(self.settings, url, dialect=self.target_dialect(),
                                             verbose=self.verbose)
        return self._sessions[key]

    def live(self) -> EnvSession:
        return self.session(self.require_live())

    def close(self) -> None:
        """End every env.py process of this workspace."""
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the processes end with their pipes
            pass

    # -- the history ----------------------------------------------------------
    @property
    def history(self) -> History:
        """The migration history, loaded where env.py runs (the revision files import project code)."""
        if self._history is None:
            opened = next(iter(self._sessions.values()), None)
            session = opened or self.session(self.database_named)
            self._history = self._inventory(session)
        return self._history

    def baseline_covered(self) -> list[str]:
        """The revisions the baseline stands for (``baseline_revision``): never replayed on a throwaway database."""
        name = self.settings.baseline_revision
        if not name or not self.settings.baseline:
            return []
        return [r.revision for r in self.history.in_range(f"base:{name}")]

    def _inventory(self, session: EnvSession) -> History:
        inventory = session.inventory()
        return History(inventory.revisions, Path(inventory.script_location), self.settings.root)

    def forget_history(self) -> None:
        """The migration history changed (a revision was generated): reload it, rebuild on next use."""
        self.close()
        self._history = None
        self._head_build = None

    # -- throwaway databases ----------------------------------------------------
    @contextmanager
    def scratch(self) -> Iterator[tuple[ScratchDatabase, EnvSession]]:
        """A new throwaway database and the env.py process for it (ended before the database is dropped)."""
        with scratch_database(self.scratch_server) as scratch:
            # the driver the user named (an async one for an async env.py), not the sync one safemigrate uses
            url = with_driver_of(scratch.url, self.database_named or self.scratch_server)
            session = EnvSession(self.settings, url, dialect=self.target_dialect(), verbose=self.verbose,
                                 throwaway=True)
            try:
                if self._history is None:
                    self._history = self._inventory(session)
                yield scratch, session
            finally:
                session.close()

    @contextmanager
    def built(self, target: str = "heads", reads: Reads = NO_READS, *,
              purpose: str = "build the throwaway database") -> Iterator[tuple[ScratchDatabase, EnvSession,
                                                                             EnvRunResult]]:
        """A throwaway database upgraded to ``target`` through the project's env.py."""
        with self.scratch() as (scratch, session):
            self.history.heads  # noqa: B018 - an empty history fails before any revision runs
            result = session.run(EnvRunRequest("upgrade", target, reads, purpose=purpose, baseline=True))
            yield scratch, session, result

    def head_build(self, *, reflect: bool = False) -> HeadBuild:
        """One throwaway upgrade to head, shared by check, review, lint and the comparison of a live database
        at head with its revision's schema (``reflect``): built once per workspace."""
        if self._head_build is None or (reflect and self._head_build.reflected is None):
            reads = Reads(models=self.target_dialect(), server_version=True, reflect=reflect)
            with self.built("heads", reads) as (scratch, _, run):
                self._head_build = HeadBuild(scratch.describe(), scratch.backend, run.runs, run.differences,
                                             run.server_version, run.comparison_error, run.comparison_traceback,
                                             run.reflected)
        return self._head_build
