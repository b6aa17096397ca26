"""safemigrate: a safe, code-first migration workflow for SQLAlchemy + Alembic.

Names are imported on first use (PEP 562), so that ``from safemigrate import
allow`` in a migration file, or the linter alone, does not load everything.
"""

# ruff: noqa: F401 - the names below are this package's public API, imported lazily (PEP 562)

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from safemigrate._version import __version__

_EXPORTS = {
    "Project": ".api",
    "allow": ".guard.signoff",
    "CheckReport": ".core.results", "Difference": ".core.results", "LiveReport": ".core.results",
    "ReviewReport": ".core.results", "StatusReport": ".core.results",
    "SafemigrateError": ".core.errors", "ConfigError": ".core.errors", "DatabaseUnreachable": ".core.errors",
    "EnvPyError": ".core.errors", "MetadataError": ".core.errors", "MigrationFailed": ".core.errors",
    "RevisionGraphError": ".core.errors", "UsageError": ".core.errors",
    "require_current_schema": ".startup.guard", "require_current_revision": ".startup.guard",
    "SchemaNotCurrent": ".core.errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'safemigrate' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # for type checkers and IDEs
    from safemigrate.api import Project
    from safemigrate.core.errors import (
        ConfigError,
        DatabaseUnreachable,
        EnvPyError,
        MetadataError,
        MigrationFailed,
        RevisionGraphError,
        SafemigrateError,
        SchemaNotCurrent,
        UsageError,
    )
    from safemigrate.core.results import CheckReport, Difference, LiveReport, ReviewReport, StatusReport
    from safemigrate.guard.signoff import allow
    from safemigrate.startup.guard import require_current_revision, require_current_schema
