"""The library's front door: one project, its operations, their reports.

>>> project = Project.from_pyproject("path/to/project")
>>> report = project.check()
>>> report.ok, [d.description for d in report.differences]

Like Alembic's ``command.py``, this is a flat list of operations over lower
layers: each method calls one function of :mod:`safemigrate.checks`,
:mod:`safemigrate.runner` or :mod:`safemigrate.backup`, which take the
:class:`~safemigrate.harness.workspace.Workspace` a Project is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safemigrate.checks.check import check as _check
from safemigrate.checks.lint import lint as _lint
from safemigrate.checks.live import check_live as _check_live
from safemigrate.checks.live import status as _status
from safemigrate.checks.review import review as _review
from safemigrate.config.rehearsal import Budgets
from safemigrate.config.settings import load_settings
from safemigrate.core.results import CheckReport, LiveReport, ReviewReport, StatusReport
from safemigrate.guard.lint import LintReport
from safemigrate.harness.workspace import HeadBuild, Workspace
from safemigrate.rehearsal.rehearse import CopySource, RehearsalReport
from safemigrate.rehearsal.rehearse import rehearse as _rehearse
from safemigrate.runner.accept import accept_change as _accept_change
from safemigrate.runner.accept import reseal as _reseal
from safemigrate.runner.accept import resolve_interrupted as _resolve_interrupted
from safemigrate.runner.migrate import MigrateReport
from safemigrate.runner.migrate import migrate as _migrate

__all__ = ["HeadBuild", "Project"]


class Project(Workspace):
    """A SQLAlchemy + Alembic project configured by ``[tool.safemigrate]``."""

    @classmethod
    def from_pyproject(cls, path: str | Path | None = None, **options: Any) -> Project:
        """The project whose pyproject.toml is at or above ``path`` (default: the working directory)."""
        return cls(load_settings(path), **options)

    def check(self) -> CheckReport:
        """Models vs. migrations: upgrade a throwaway database to head and compare."""
        return _check(self)

    def check_live(self) -> LiveReport:
        """The live database against the models and against the revision it claims."""
        return _check_live(self)

    def status(self) -> StatusReport:
        """Environment, revisions, pending work and a one-line drift verdict."""
        return _status(self)

    def review(self, revision_range: str | None = None, *, offline: bool = False,
               dialect: str | None = None) -> ReviewReport:
        """The SQL of each pending (or given) revision."""
        return _review(self, revision_range, offline=offline, dialect=dialect)

    def lint(self, revision_range: str | None = None, *, pg_version: int | None = None) -> LintReport:
        """Lint-rule findings for the revisions in ``revision_range`` (default: all after start_after)."""
        return _lint(self, revision_range, pg_version=pg_version)

    def migrate(self, *, dry_run: bool = False, lock_wait: float = 600.0, retries: int = 3,
                backoff: float = 2.0, to: str | None = None, phase: str | None = None) -> MigrateReport:
        """Auto-sync in development, fail fast in production (see runner/migrate.py); ``to``: stop at that revision;
        ``phase``: ``expand`` or ``contract`` of expand–contract changes (runner/phases.py)."""
        return _migrate(self, dry_run=dry_run, lock_wait=lock_wait, retries=retries, backoff=backoff, to=to,
                        phase=phase)

    def accept_change(self, revision: str, reason: str) -> str:
        """Record in the ledger that an applied revision's file was changed on purpose."""
        return _accept_change(self, revision, reason)

    def resolve_interrupted(self, revision: str, reason: str) -> list[str]:
        """Record that an interrupted revision's committed steps were finished or undone by hand."""
        return _resolve_interrupted(self, revision, reason)

    def reseal_ledger(self, reason: str) -> list[str]:
        """Accept the ledger as it stands after a change outside safemigrate; returns what was wrong."""
        return _reseal(self, reason)

    def rehearse(self, revision_range: str | None = None, *, source: CopySource, budgets: Budgets | None = None,
                 blocker_ms: int | None = None, retries: int = 3, record: bool | None = None) -> RehearsalReport:
        """Run the pending revisions (or a range) on a copy with volume, measuring each statement's stalls."""
        return _rehearse(self, revision_range, source=source, budgets=budgets, blocker_ms=blocker_ms,
                         retries=retries, record=record)
