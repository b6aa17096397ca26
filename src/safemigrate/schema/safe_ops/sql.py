"""The SQL of a safe form, for the fix ``check`` shows beside the code (PostgreSQL).

The code ``check`` prints is the rewritten revision (:mod:`.render`); the SQL it
prints must be the same steps, not the naive statement the rewrite replaced.
"""

from __future__ import annotations

import copy
from typing import Any

from alembic.operations import ops as alembic_ops
from sqlalchemy.dialects import postgresql

from safemigrate.schema.ddl import render_sql
from safemigrate.schema.safe_ops.forms import (
    ConcurrentIndexOp,
    NotValidConstraintOp,
    SetNotNullOp,
    UniqueUsingIndexOp,
    VolatileDefaultColumnOp,
)

_QUOTE = postgresql.dialect().identifier_preparer.quote


def safe_sql(op: Any, server_version: int | None = None) -> list[str] | None:
    """The statements of ``op``'s safe form in order, or None when ``op`` is not a safe form."""
    if isinstance(op, ConcurrentIndexOp):
        return render_sql(op.op, "postgresql", server_version=server_version)
    if isinstance(op, SetNotNullOp):
        return _not_null(op)
    if isinstance(op, NotValidConstraintOp):
        schema, table = op.table
        naive = copy.copy(op.op)
        naive.kw = {**getattr(op.op, "kw", {}), "postgresql_not_valid": True}
        rendered = render_sql(naive, "postgresql", server_version=server_version)
        if rendered and "NOT VALID" not in rendered[-1]:
            rendered[-1] += " NOT VALID"
        name = _QUOTE(str(op.op.constraint_name))
        return [*rendered, f"ALTER TABLE {_table(schema, table)} VALIDATE CONSTRAINT {name}"]
    if isinstance(op, UniqueUsingIndexOp):
        index = copy.copy(op.index)
        index.kw = {**op.index.kw, "postgresql_concurrently": True}
        kind = "PRIMARY KEY" if isinstance(op.op, alembic_ops.CreatePrimaryKeyOp) else "UNIQUE"
        steps = [statement for step in getattr(op, "not_null", []) for statement in _not_null(step)]
        return [*steps, *render_sql(index, "postgresql", server_version=server_version),
                f"ALTER TABLE {_table(op.op.schema, op.op.table_name)} ADD CONSTRAINT "
                f"{_QUOTE(str(op.op.constraint_name))} {kind} USING INDEX {_QUOTE(str(op.index.index_name))}"]
    if isinstance(op, VolatileDefaultColumnOp):
        table = _table(op.op.schema, op.op.table_name)
        column = _QUOTE(op.op.column.name)
        steps = [*render_sql(op.add, "postgresql", server_version=server_version),
                 f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {op.expression}",
                 f"-- then, in batches of the primary key, each its own transaction: UPDATE {table} "
                 f"SET {column} = {op.expression} WHERE {column} IS NULL AND <key range>"]
        return steps + (_not_null(op.not_null) if op.not_null is not None else [])
    return None


def _not_null(op: SetNotNullOp) -> list[str]:
    table, column, check = _table(op.op.schema, op.op.table_name), _QUOTE(op.op.column_name), _QUOTE(op.check_name)
    return [f"ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({column} IS NOT NULL) NOT VALID",
            f"ALTER TABLE {table} VALIDATE CONSTRAINT {check}",
            f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL",
            f"ALTER TABLE {table} DROP CONSTRAINT {check}"]


def _table(schema: str | None, name: str) -> str:
    return f"{_QUOTE(schema)}.{_QUOTE(name)}" if schema else _QUOTE(name)
