"""Alembic environment, managed by safemigrate.

safemigrate reads [tool.safemigrate] in pyproject.toml for the models and the
database URL, and configures Alembic safely (type and server-default
comparison, one transaction per revision, batch mode on SQLite). Keyword
arguments of run_migrations() go to context.configure(), for example
include_object=... to skip tables the models do not own.
"""

from safemigrate.env import run_migrations

run_migrations()
