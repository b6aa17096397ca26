"""prefer-bigint-primary-key: a 32-bit (or 16-bit) integer primary key in a new table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    ConstrType,
    alter_commands,
    column_constraints,
    looks_at,
    placed,
    py_str,
    relation,
    statements_run,
    string_values,
    type_name,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

_SMALL = {"int4": ("integer", "2,147,483,647", "sa.BigInteger()"),
          "serial": ("serial", "2,147,483,647", "sa.BigInteger()"),
          "serial4": ("serial", "2,147,483,647", "sa.BigInteger()"),
          "int2": ("smallint", "32,767", "sa.BigInteger()"),
          "smallserial": ("smallserial", "32,767", "sa.BigInteger()"),
          "serial2": ("smallserial", "32,767", "sa.BigInteger()")}


@rule("prefer-bigint-primary-key", severity="warning", category="locking",
      summary="An integer primary key runs out of values, and widening it later rewrites the table")
@looks_at(ast.CreateStmt, ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """An ``integer`` (or ``serial``) primary key stops at 2,147,483,647, ``smallint`` at
    32,767: inserts then fail. Changing it to ``bigint`` later rewrites the table, its
    indexes and every table whose foreign keys reference it, each under an ACCESS
    EXCLUSIVE lock. ``bigint`` costs four more bytes per row; choose it now.

    Bad::

        def upgrade():
            op.create_table("orders", sa.Column("id", sa.Integer(), primary_key=True))

    Good::

        def upgrade():
            op.create_table("orders", sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True))
    """
    for node, where, _ in statements_run(statement.node, context):
        for table, column in _small_keys(node):
            kind, limit, better = _SMALL[type_name(column.typeName)]
            yield placed(Violation(
                message=f"Primary key `{table}.{column.colname}` is {kind}: inserts fail once it passes {limit}, "
                        f"and changing it to bigint later rewrites `{table}` and the tables that reference it.",
                help="Use bigint (sa.BigInteger, with sa.Identity() for generated values) for primary keys.",
                target=f"{table}.{column.colname}",
                fix=f"sa.Column({py_str(column.colname)}, {better}{_identity(column)}, primary_key=True)",
            ), where)


def _small_keys(node: Any) -> Iterator[tuple[str, Any]]:
    """(table, ColumnDef) for each integer primary-key column ``node`` creates."""
    if isinstance(node, ast.CreateStmt):
        table = relation(node.relation)
        columns = [e for e in node.tableElts or () if isinstance(e, ast.ColumnDef)]
        keys = {c.colname for c in columns if column_constraints(c, ConstrType.CONSTR_PRIMARY)}
        for element in node.tableElts or ():
            if isinstance(element, ast.Constraint) and element.contype == ConstrType.CONSTR_PRIMARY:
                names = string_values(element.keys)
                if len(names) == 1:  # a composite key's parts are usually foreign keys: their own type decides
                    keys.update(names)
    elif isinstance(node, ast.AlterTableStmt):
        table = relation(node.relation)
        columns = [cmd.def_ for cmd in alter_commands(node)
                   if cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef)]
        keys = {c.colname for c in columns if column_constraints(c, ConstrType.CONSTR_PRIMARY)}
    else:
        return
    for column in columns:
        if (column.colname in keys and column.typeName is not None and not column.typeName.arrayBounds
                and type_name(column.typeName) in _SMALL):
            yield table, column


def _identity(column: Any) -> str:
    generated = "serial" in type_name(column.typeName) or column_constraints(column, ConstrType.CONSTR_IDENTITY)
    return ", sa.Identity()" if generated else ""
