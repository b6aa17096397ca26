"""Helpers shared by the PostgreSQL rules, in one namespace: ``from ..pg import relation, ...``.

- :mod:`.pgast`: names, types and subcommands of pglast nodes;
- :mod:`.pgwalk`: walking statements, including those DO blocks, functions and rules run;
- :mod:`.pgcreated`: the tables, views, sequences and schemas a statement creates;
- :mod:`.pgtruth`: whether a condition is constant-true (a WHERE that filters nothing);
- :mod:`.glot`: the sqlglot counterparts for MySQL and SQLite;
- :mod:`.pgfix`: SQL and Alembic code for fixes, in the user's names.
"""

from safemigrate.guard.analysis.glot import *  # noqa: F403
from safemigrate.guard.analysis.pgast import *  # noqa: F403
from safemigrate.guard.analysis.pgfix import *  # noqa: F403
from safemigrate.guard.analysis.pgtruth import *  # noqa: F403
from safemigrate.guard.analysis.pgwalk import *  # noqa: F403
