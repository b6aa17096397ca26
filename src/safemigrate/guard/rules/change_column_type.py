"""change-column-type: ALTER COLUMN ... TYPE that always rewrites the table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    existing_table_commands,
    looks_at,
    op_table,
    placed,
    py_str,
    quote_ident,
    quoted_relation,
    relation,
    rewrite_free_sources,
    sa_type,
    sql_of,
    type_sql,
    using_is_plain,
    with_imports,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("change-column-type", severity="error", category="locking",
      summary="Changing a column's type rewrites the table under an ACCESS EXCLUSIVE lock")
@looks_at(ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Changing a column to a type that PostgreSQL cannot reach by relabelling the stored
    values (``integer`` to ``bigint``, ``json`` to ``jsonb``, ``text`` to ``uuid``, a
    ``USING`` expression that computes new values...) rewrites the whole table and rebuilds
    its indexes while holding an ACCESS EXCLUSIVE lock: reads and writes wait until it
    finishes. Changes that may be free, such as widening a ``varchar``, are reported by
    ``change-column-type-may-rewrite`` instead.

    Bad::

        def upgrade():
            op.alter_column("orders", "quantity", type_=sa.BigInteger())

    Good::

        # Migration 1: a new column; write both from the application (or a trigger)
        def upgrade():
            op.add_column("orders", sa.Column("quantity_new", sa.BigInteger()))

        # Backfill in batches, outside a migration transaction:
        #   UPDATE orders SET quantity_new = quantity WHERE id BETWEEN ... AND ...
        # Migration 2: once reads use quantity_new, drop the old column
        def upgrade():
            op.drop_column("orders", "quantity")
    """
    for cmd, alter, table, where, ctx in existing_table_commands(statement, context,
                                                                 AlterTableType.AT_AlterColumnType,
                                                                 definition=ast.ColumnDef):
        type_node = cmd.def_.typeName
        plain = using_is_plain(cmd.name, cmd.def_.raw_default)
        if plain and rewrite_free_sources(type_node, ctx.pg_version) is not None:
            continue
        shown = type_sql(type_node)
        computed = "" if plain else " with a USING expression"
        yield placed(Violation(
            message=f"Changing `{table}.{cmd.name}` to `{shown}`{computed} rewrites `{table}` and rebuilds its "
                    "indexes under an ACCESS EXCLUSIVE lock: reads and writes wait until it finishes.",
            help="Add a new column of the new type, write both columns (application or trigger), backfill old "
                 "rows in batches, move reads to the new column, then drop the old one. Sign the change off "
                 f"only if `{table}` is small.",
            target=f"{table}.{cmd.name}",
            fix=_fix(alter.relation, cmd.name, type_node, None if plain else cmd.def_.raw_default),
        ), where)


def _fix(rel: Any, column: str, type_node: Any, using: Any) -> str:
    table = relation(rel)
    new = f"{column}_new"
    bare, schema = op_table(table)
    kind = sa_type(type_node)
    value = sql_of(using) if using is not None else f"{quote_ident(column)}::{type_sql(type_node)}"
    if kind is not None:
        add = f"op.add_column({bare}, sa.Column({py_str(new)}, {kind}){schema})"
    else:
        add = f"op.execute({py_str(f'ALTER TABLE {quoted_relation(rel)} ADD COLUMN {new} {type_sql(type_node)}')})"
    return with_imports(
        "# Migration 1: a new column; write both columns from the application (or a trigger)\n"
        f"{add}\n\n"
        "# Backfill in batches, outside a migration transaction:\n"
        f"#   UPDATE {quoted_relation(rel)} SET {quote_ident(new)} = {value} WHERE id BETWEEN ... AND ...\n"
        f"# Migration 2 (a later revision, once reads use {new}):\n"
        f"op.drop_column({bare}, {py_str(column)}{schema})")
