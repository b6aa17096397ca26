"""add-column-not-null-without-default: ADD COLUMN ... NOT NULL with no DEFAULT on an existing table."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    ConstrType,
    add_column_code,
    column_constraints,
    column_default,
    existing_table_commands,
    looks_at,
    placed,
    quote_ident,
    quoted_relation,
    type_name,
    with_imports,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

_IMPLICIT_VALUE = {"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"}


@rule("add-column-not-null-without-default", severity="error", category="locking",
      summary="Adding a NOT NULL column without a default fails on a table that has rows")
@looks_at(ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Existing rows get NULL in a new column, so ``ADD COLUMN ... NOT NULL`` without a
    DEFAULT fails with a not-null violation as soon as the table has one row: the
    migration passes on an empty development database and stops in production. Add the
    column nullable, backfill it, then make it NOT NULL; or give it a server default,
    which PostgreSQL 11+ adds without rewriting the table.

    Bad::

        def upgrade():
            op.add_column("orders", sa.Column("currency", sa.Text(), nullable=False))

    Good::

        def upgrade():
            op.add_column("orders", sa.Column("currency", sa.Text(), nullable=False,
                                              server_default="EUR"))
    """
    for cmd, alter, table, where, _ in existing_table_commands(statement, context, AlterTableType.AT_AddColumn,
                                                               definition=ast.ColumnDef):
        column = cmd.def_
        required = column.is_not_null or column_constraints(column, ConstrType.CONSTR_NOTNULL,
                                                            ConstrType.CONSTR_PRIMARY)
        has_value = (column_default(column) is not None or type_name(column.typeName) in _IMPLICIT_VALUE
                     or column_constraints(column, ConstrType.CONSTR_IDENTITY, ConstrType.CONSTR_GENERATED))
        if not required or has_value:
            continue
        name = column.colname
        add = add_column_code(alter.relation, column, without=(ConstrType.CONSTR_PRIMARY,), nullable=True)
        yield placed(Violation(
            message=f"Adding `{table}.{name}` as NOT NULL without a default fails as soon as `{table}` has a "
                    "row: every existing row would hold NULL.",
            help="Give it a server default (instant on PostgreSQL 11+), or add it nullable, backfill it, and "
                 "make it NOT NULL afterwards.",
            target=f"{table}.{name}",
            fix=with_imports(
                f"{add}\n"
                "# backfill in batches, outside a migration transaction:\n"
                f"#   UPDATE {quoted_relation(alter.relation)} SET {quote_ident(name)} = ... "
                f"WHERE {quote_ident(name)} IS NULL AND id BETWEEN ... AND ...\n"
                "# then, in a later migration, make it NOT NULL (see the set-not-null rule)"),
        ), where)
