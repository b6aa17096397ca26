"""safemigrate: a safe, code-first migration workflow for SQLAlchemy + Alembic.

Names are imported on first use (PEP 562), so that ``from safemigrate import
allow`` in a migration file, or the linter alone, does not load everything.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS = {
    "Project": ".project",
    "allow": ".guard.signoff",
    "CheckReport": ".results", "Difference": ".results", "LiveReport": ".results", "ReviewReport": ".results",
    "StatusReport": ".results",
    "SafemigrateError": ".errors", "ConfigError": ".errors", "DatabaseUnreachable": ".errors",
    "EnvPyError": ".errors", "MetadataError": ".errors", "MigrationFailed": ".errors",
    "RevisionGraphError": ".errors", "UsageError": ".errors",
    "require_current_schema": ".startup", "require_current_revision": ".startup", "SchemaNotCurrent": ".startup",
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
    from .errors import (ConfigError, DatabaseUnreachable, EnvPyError, MetadataError, MigrationFailed,  # noqa: F401
                         RevisionGraphError, SafemigrateError, UsageError)
    from .guard.signoff import allow  # noqa: F401
    from .project import Project  # noqa: F401
    from .results import CheckReport, Difference, LiveReport, ReviewReport, StatusReport  # noqa: F401
    from .startup import SchemaNotCurrent, require_current_revision, require_current_schema  # noqa: F401
