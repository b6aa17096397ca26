"""safemigrate: a safe, code-first migration workflow for SQLAlchemy + Alembic."""

from .errors import (
    ConfigError,
    DatabaseUnreachable,
    EnvPyError,
    MetadataError,
    MigrationFailed,
    RevisionGraphError,
    SafemigrateError,
    UsageError,
)
from .guard.signoff import allow
from .project import Project
from .results import CheckReport, Difference, LiveReport, ReviewReport, StatusReport

from ._version import __version__

__all__ = [
    "CheckReport", "ConfigError", "allow", "DatabaseUnreachable", "Difference", "EnvPyError", "LiveReport",
    "MetadataError", "MigrationFailed", "Project", "ReviewReport", "RevisionGraphError", "SafemigrateError",
    "StatusReport", "UsageError", "__version__",
]
