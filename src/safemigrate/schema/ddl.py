"""The DDL of an Alembic operation, rendered offline for a dialect, and only when it runs there.

Rendered SQL is shown as "the DDL that fixes it", so it must run on the
dialect it is rendered for. SQLite has no ALTER COLUMN and cannot add or drop
constraints: those changes are rendered as the table rebuild Alembic's batch
mode performs (create a copy, copy the rows, drop, rename), from the table as
the database has it. What cannot be rendered faithfully (an index whose
expressions were not reflected, syntax newer than the server) is said in an
SQL comment instead of printed as a fix.
"""

from __future__ import annotations

import io
from typing import Any

from alembic.operations import Operations
from alembic.operations import ops as alembic_ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, Table

#: Operations SQLite's ALTER TABLE cannot perform: they need a table rebuild.
_REBUILT_ON_SQLITE = (alembic_ops.AlterColumnOp, alembic_ops.DropConstraintOp, alembic_ops.CreateForeignKeyOp,
                      alembic_ops.CreateUniqueConstraintOp, alembic_ops.CreateCheckConstraintOp,
                      alembic_ops.CreatePrimaryKeyOp)
#: Syntax a PostgreSQL server older than the version given does not accept.
_PG_SINCE = {"NULLS NOT DISTINCT": 15}


def needs_rebuild(op: Any) -> bool:
    return isinstance(op, _REBUILT_ON_SQLITE)


def render_sql(op: Any, dialect: str, *, server_version: int | None = None) -> list[str]:
    """The statements ``op`` emits on ``dialect``, rendered offline."""
    buffer = io.StringIO()
    context = _offline(dialect, buffer)
    try:
        Operations(context).invoke(op)
    except NotImplementedError as exc:
        return [f"-- {dialect} cannot do this with ALTER TABLE ({exc}); "
                "use op.batch_alter_table(), which rebuilds the table"]
    except Exception as exc:  # rendering is best effort; the code is still shown
        return [f"-- could not render for {dialect}: {type(exc).__name__}: {exc}"]
    return [_checked(sql, dialect, server_version) for sql in _statements(buffer)]


def render_rebuild(context: MigrationContext, table_name: str, schema: str | None, ops: list[Any]) -> list[str]:
    """SQLite: the batch-mode rebuild of ``table_name`` that applies ``ops``, from the table the database has."""
    if context.connection is None:
        return ["-- SQLite cannot do this with ALTER TABLE: apply it with op.batch_alter_table(), which rebuilds "
                "the table"]
    try:
        table = Table(table_name, MetaData(), schema=schema, autoload_with=context.connection)
    except Exception as exc:  # the table is not there to copy: say so rather than print a wrong rebuild
        return [f"-- SQLite rebuilds the table for this change, and {table_name} could not be read ({exc}); "
                "apply it with op.batch_alter_table()"]
    buffer = io.StringIO()
    operations = Operations(_offline("sqlite", buffer))
    try:
        with operations.batch_alter_table(table_name, schema=schema, copy_from=table, recreate="always") as batch:
            for op in ops:
                batch.invoke(op)
    except Exception as exc:
        return [f"-- could not render the SQLite rebuild of {table_name}: {type(exc).__name__}: {exc}; apply it "
                "with op.batch_alter_table()"]
    return _statements(buffer)


def _offline(dialect: str, buffer: io.StringIO) -> MigrationContext:
    return MigrationContext.configure(dialect_name=dialect,
                                      opts={"as_sql": True, "output_buffer": buffer, "literal_binds": True})


def _statements(buffer: io.StringIO) -> list[str]:
    # Alembic ends every statement with ";" and a blank line; keep the bare statements.
    return [chunk.strip()[:-1].rstrip() if chunk.strip().endswith(";") else chunk.strip()
            for chunk in buffer.getvalue().split("\n\n") if chunk.strip()]


def _checked(sql: str, dialect: str, server_version: int | None) -> str:
    compact = " ".join(sql.split())
    if "()" in compact and compact.upper().startswith(("CREATE INDEX", "CREATE UNIQUE INDEX")):
        return ("-- this index's columns or expressions were not read from the database, so its DDL cannot be "
                f"rendered: write it by hand ({compact})")
    if dialect == "postgresql" and server_version is not None:
        for syntax, since in _PG_SINCE.items():
            if syntax in compact.upper() and server_version < since:
                return f"-- PostgreSQL {server_version} does not accept {syntax} (it needs {since}+): {compact}"
    return sql
