"""The application start-up guard (``require_current_schema``) and the cached code heads it reads."""

from safemigrate.core.errors import SchemaNotCurrent
from safemigrate.startup.guard import require_current_revision, require_current_schema

__all__ = ["SchemaNotCurrent", "require_current_revision", "require_current_schema"]
