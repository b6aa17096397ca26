"""rewrite-column-values: ALTER COLUMN ... TYPE ... USING an expression that computes new values."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    existing_table_commands,
    looks_at,
    placed,
    py_str,
    quote_ident,
    quoted_relation,
    sign_off_fix,
    sql_of,
    type_sql,
    using_is_plain,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("rewrite-column-values", severity="error", category="destructive",
      summary="ALTER COLUMN ... TYPE ... USING an expression replaces every value of the column")
@looks_at(ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """``ALTER COLUMN ... TYPE ... USING <expression>`` stores, for every row, what the
    expression computes instead of the column's value: ``USING left(name, 2)`` or
    ``USING 'x' || id`` overwrite the old values for good, whatever the type, and no
    row count changes to show it. A ``USING`` that is the column itself or a plain
    cast of it (``USING quantity::bigint``) converts the values without recomputing
    them and is not reported (the type change is judged by the column-type rules).
    The run-time guard refuses a recomputed column in production; this rule shows it
    before. Columns of a table created in the same revision are not reported.

    Bad::

        def upgrade():
            op.alter_column("users", "name", type_=sa.String(2), postgresql_using="left(name, 2)")

    Good::

        # keep the old values: add a column, fill it in batches, switch the code over,
        # and drop the old column in a later revision
        def upgrade():
            op.add_column("users", sa.Column("initials", sa.String(2)))
    """
    for cmd, alter, table, where, _ctx in existing_table_commands(statement, context,
                                                                  AlterTableType.AT_AlterColumnType,
                                                                  definition=ast.ColumnDef):
        using = cmd.def_.raw_default
        if using is None or using_is_plain(cmd.name, using):
            continue
        target = f"{table}.{cmd.name}"
        expression = sql_of(using) or "..."
        sql = (f"ALTER TABLE {quoted_relation(alter.relation)} ALTER COLUMN {quote_ident(cmd.name)} "
               f"TYPE {type_sql(cmd.def_.typeName)} USING {expression}")
        yield placed(Violation(
            message=f"Changing column `{target}` with USING {_short(expression)} replaces every value of the "
                    "column with what the expression computes: the old values are gone.",
            help=f"Keep the old values: add a new column, fill it from `{cmd.name}` in batches, switch the code "
                 "over and drop the old column in a later revision; a plain cast "
                 f"(USING {quote_ident(cmd.name)}::{type_sql(cmd.def_.typeName)}) converts the values instead.",
            target=target,
            fix=sign_off_fix("rewrite-column-values", target, "the old values are not needed",
                             f"op.execute({py_str(sql)})"),
        ), where)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."
