"""Helpers shared by the PostgreSQL rules, in one namespace: ``from ..pg import relation, ...``.

- :mod:`.pgast`: names, types and subcommands of pglast nodes;
- :mod:`.pgwalk`: walking statements, including those DO blocks, functions and rules run;
- :mod:`.pgtruth`: whether a condition is constant-true (a WHERE that filters nothing);
- :mod:`.glot`: the sqlglot counterparts for MySQL and SQLite;
- :mod:`.pgfix`: SQL and Alembic code for fixes, in the user's names.
"""

from .glot import *  # noqa: F403
from .pgast import *  # noqa: F403
from .pgfix import *  # noqa: F403
from .pgtruth import *  # noqa: F403
from .pgwalk import *  # noqa: F403
