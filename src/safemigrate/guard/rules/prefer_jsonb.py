"""prefer-jsonb: a json column where jsonb is almost always meant."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    alter_commands,
    looks_at,
    op_table,
    placed,
    py_str,
    quote_ident,
    relation,
    statements_run,
    type_name,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("prefer-jsonb", severity="warning", category="locking",
      summary="A json column should almost always be jsonb")
@looks_at(ast.CreateStmt, ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """``json`` stores the raw text: it is parsed again on every access, cannot be indexed
    with GIN and has no equality operator, so ``DISTINCT``, ``GROUP BY``, ``UNION`` and
    unique constraints fail on it. ``jsonb`` has none of these problems. SQLAlchemy's
    ``sa.JSON`` creates ``json`` on PostgreSQL; use ``postgresql.JSONB``. Converting an
    existing column later rewrites the table, so choose now.

    Bad::

        def upgrade():
            op.add_column("events", sa.Column("payload", sa.JSON()))

    Good::

        from sqlalchemy.dialects import postgresql

        def upgrade():
            op.add_column("events", sa.Column("payload", postgresql.JSONB()))
    """
    for node, where, _ in statements_run(statement.node, context):
        for table, column, change, array in _json_columns(node):
            bare, schema = op_table(table)
            jsonb = "postgresql.ARRAY(postgresql.JSONB())" if array else "postgresql.JSONB()"
            if change:
                cast = f"{quote_ident(column)}::jsonb" + ("[]" if array else "")
                code = (f"op.alter_column({bare}, {py_str(column)}, type_={jsonb}, "
                        f"postgresql_using={py_str(cast)}{schema})")
            elif isinstance(node, ast.CreateStmt):
                code = f"# in op.create_table({bare}, ...):\nsa.Column({py_str(column)}, {jsonb})"
            else:
                code = f"op.add_column({bare}, sa.Column({py_str(column)}, {jsonb}){schema})"
            yield placed(Violation(
                message=f"`{table}.{column}` is declared {'json[]' if array else 'json'}, which keeps the raw text: "
                        "it is parsed again on every access, cannot be indexed with GIN, and DISTINCT, GROUP BY and "
                        "UNION fail on it.",
                help="Use jsonb (postgresql.JSONB in SQLAlchemy), unless you must keep key order, duplicate keys or "
                     "whitespace exactly.",
                target=f"{table}.{column}",
                fix="from sqlalchemy.dialects import postgresql\n\n" + code,
            ), where)


def _json_columns(node: Any) -> Iterator[tuple[str, str, bool, bool]]:
    """(table, column, is a type change, is an array) for every json column ``node`` declares."""
    if isinstance(node, ast.CreateStmt):
        table = relation(node.relation)
        for element in node.tableElts or ():
            if isinstance(element, ast.ColumnDef) and _is_json(element.typeName):
                yield table, element.colname or "", False, _is_array(element.typeName)
    elif isinstance(node, ast.AlterTableStmt):
        table = relation(node.relation)
        for cmd in alter_commands(node):
            if cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                if _is_json(cmd.def_.typeName):
                    yield table, cmd.def_.colname or "", False, _is_array(cmd.def_.typeName)
            elif cmd.subtype == AlterTableType.AT_AlterColumnType and isinstance(cmd.def_, ast.ColumnDef):
                if _is_json(cmd.def_.typeName):
                    yield table, cmd.name or "", True, _is_array(cmd.def_.typeName)


def _is_array(type_: Any) -> bool:
    return bool(type_ is not None and type_.arrayBounds)


def _is_json(node: Any) -> bool:
    return node is not None and type_name(node).rsplit(".", 1)[-1] == "json"
