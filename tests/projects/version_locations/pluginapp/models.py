"""All tables: the core and the installed plugins."""

from pluginapp import billing, core  # noqa: F401  (register the tables)
from pluginapp.db import Base

__all__ = ["Base"]
